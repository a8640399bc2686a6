import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseConfig } from '../../src/config/config';
import { createLogger } from '../../src/config/log';
import { startAdapter, type Adapter } from '../../src/cli/adapter';
import { api } from '../helpers/apis';
import { buildCli } from '../helpers/cli';

/**
 * The real CLI with its output going into a pipe that a slow reader drains (as `| jq`, `| less`
 * or a script does), against a real adapter serving enough that every output is well over the
 * 64 KiB a pipe holds: everything arrives, and the exit code with it.
 */

jest.setTimeout(180_000);

const APIS = 200;
const BROKEN = 500;

let main: string;
let dir: string;
let adapter: Adapter;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctl-pipe-'));
  // Definitions that do not parse: one problem each, its reason a YAML error of several lines.
  for (let i = 0; i < BROKEN; i++) {
    fs.writeFileSync(path.join(dir, `broken-definition-number-${String(i).padStart(4, '0')}.yaml`), `openapi: 3.0.0\ninfo: {title: B${i}, version: '1'}\npaths: [unclosed\n`);
  }
  const config = parseConfig(`[adapter]\nhost = "127.0.0.1"\nxdsPort = 0\nhttpPort = 0\ndebounceMs = 0\napisDirectory = ${JSON.stringify(dir)}\n`, 'test.toml');
  [main, adapter] = await Promise.all([buildCli(), startAdapter(config, createLogger('error', 'test'))]);
  adapter.pipeline.apply([{ kind: 'ApisReplaced', labels: ['Default'], apis: Array.from({ length: APIS }, (_, i) => api({ name: `Api${i}`, context: `/api${i}` })) }]);
});
afterAll(async () => {
  await adapter.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs `apim-connect ARGS` with stdout and stderr piped to a reader that takes a chunk every 50 ms. */
function piped(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [main, ...args, '--address', `127.0.0.1:${adapter.port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out.push(chunk);
      child.stdout.pause();
      setTimeout(() => child.stdout.resume(), 50);
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString(), stderr }));
  });
}

test('ctl dump: the whole group as valid JSON', async () => {
  const { code, stdout, stderr } = await piped('ctl', 'dump', 'Default');
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  expect(stdout.length).toBeGreaterThan(4 * 65536);
  const dump = JSON.parse(stdout);
  const table = dump.types.find((t: { type_url: string }) => t.type_url.endsWith('RouteConfiguration')).resources[0].resource;
  const apiIds = new Set(table.virtual_hosts.flatMap((v: { routes: Array<{ metadata?: any }> }) => v.routes.map((r) => r.metadata?.filter_metadata['apimconnect.route'].apiId)));
  for (const i of [0, APIS - 1]) expect(apiIds.has(`Api${i}-1.0.0`)).toBe(true);
});

test('ctl state apis: every API', async () => {
  const { code, stdout } = await piped('ctl', 'state', 'apis');
  expect(code).toBe(0);
  expect(stdout.length).toBeGreaterThan(65536);
  expect(JSON.parse(stdout)).toHaveLength(APIS);
});

test('ctl problems: a table whose last row arrives, each problem once', async () => {
  const { code, stdout } = await piped('ctl', 'problems');
  expect(code).toBe(0);
  expect(stdout.length).toBeGreaterThan(65536);
  const lines = stdout.split('\n');
  expect(lines.pop()).toBe(''); // ends with a whole line
  const rows = lines.filter((l) => l.startsWith('project '));
  expect(rows).toHaveLength(BROKEN);
  for (let i = 0; i < BROKEN; i++) expect(rows[i]).toContain(`broken-definition-number-${String(i).padStart(4, '0')}.yaml`);
});

test('exit codes and errors survive the pipe too: "no route" exits 1, bad input 2 with no stack', async () => {
  const none = await piped('ctl', 'explain', 'GET', 'http://localhost:9090/nothing/here');
  expect(none.code).toBe(1);
  expect(none.stdout.trimEnd().split('\n').pop()).toBe('no route (no API route matched; the not-found route answers 404 without asking the enforcer)');
  for (const args of [['ctl', 'explain', 'GET'], ['ctl', 'dump'], ['ctl', 'snapshots', '--bogus']]) {
    const bad = await piped(...args);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^apim-connect: /);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  }
});
