import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as winston from 'winston';
import { LocalFolderSource } from '../../../src/sources/local/folder';
import { parseProject, readProject } from '../../../src/sources/local/project';
import { ProjectParser } from '../../../src/sources/worker/parser';
import { bigDefinition } from '../../helpers/big-definition';

const REPO = path.join(__dirname, '../../..');
const PATHS = 2000; // about 2.2 MB of YAML, 2000 resources

/** Largest gap between ticks of a 5 ms interval while `work` runs. */
async function longestStall<T>(work: () => Promise<T>): Promise<{ result: T; stall: number; took: number }> {
  let last = Date.now();
  let stall = 0;
  const timer = setInterval(() => {
    const now = Date.now();
    stall = Math.max(stall, now - last);
    last = now;
  }, 5);
  const started = Date.now();
  try {
    const result = await work();
    return { result, stall: Math.max(stall, Date.now() - last), took: Date.now() - started };
  } finally {
    clearInterval(timer);
  }
}

describe('API projects are parsed on a worker thread', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'apis-worker-'));
    fs.writeFileSync(path.join(dir, 'big.yaml'), bigDefinition(PATHS));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('the event loop keeps ticking while a multi-MB definition is parsed', async () => {
    expect(fs.statSync(path.join(dir, 'big.yaml')).size).toBeGreaterThan(2 * 1024 * 1024);
    const source = new LocalFolderSource({ dir, defaultVhost: 'localhost', logger: winston.createLogger({ silent: true }), rescanMs: 0 });
    try {
      const { result, stall, took } = await longestStall(() => source.scan());
      expect(result.errors).toEqual([]);
      expect(result.events).toHaveLength(1);
      expect(result.events[0].kind === 'ApiDeployed' && result.events[0].api.resources).toHaveLength(PATHS);

      // The same parse on this thread stalls it for all of its duration: that is the scale.
      const inline = await longestStall(async () => parseProject(readProject(path.join(dir, 'big.yaml')), { defaultVhost: 'localhost' }));
      expect(inline.stall).toBeGreaterThan(500);
      expect(stall).toBeLessThan(inline.stall / 4);
      expect(took).toBeGreaterThan(stall * 2);
    } finally {
      await source.close();
    }
  }, 180_000);

  test('a parse that outgrows the worker heap fails alone, with the reason; the next one gets a fresh worker', async () => {
    const huge = fs.mkdtempSync(path.join(os.tmpdir(), 'apis-flood-'));
    fs.writeFileSync(path.join(huge, 'flood.yaml'), `x: [${'"xxxxxxxxxxxxxxx",'.repeat(300_000)}1]\n`);
    fs.copyFileSync(path.join(REPO, 'apis/orders.yaml'), path.join(huge, 'orders.yaml'));
    const parser = new ProjectParser({ workers: 1, maxHeapMb: 64 });
    try {
      const limits = { maxBytes: 64 * 1024 * 1024, maxNodes: 10_000_000, maxDepth: 100 };
      const flood = await parser.project(huge, 'flood.yaml', 'apis/flood.yaml', undefined, { defaultVhost: 'localhost', limits });
      expect(flood.error?.message).toBe('apis/flood.yaml: cannot parse: the worker ran out of memory (over 64 MB)');
      const orders = await parser.project(huge, 'orders.yaml', 'apis/orders.yaml', undefined, { defaultVhost: 'localhost' });
      expect(orders.error).toBeUndefined();
      expect(orders.api?.name).toBe('Orders');
    } finally {
      await parser.close();
      fs.rmSync(huge, { recursive: true, force: true });
    }
  }, 120_000);

  test('built code (dist/) loads the worker from its .js files', () => {
    // Inside the repository (.tmp/ is ignored), so the build finds node_modules as dist/ does.
    fs.mkdirSync(path.join(REPO, '.tmp'), { recursive: true });
    const out = fs.mkdtempSync(path.join(REPO, '.tmp/dist-'));
    try {
      execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(REPO, 'tsconfig.build.json'), '--outDir', out], { cwd: REPO, stdio: 'pipe' });
      expect(fs.existsSync(path.join(out, 'sources/worker/parse-entry.js'))).toBe(true);
      const script = `
        const { LocalFolderSource } = require(${JSON.stringify(path.join(out, 'sources/local/folder.js'))});
        const winston = require('winston');
        const source = new LocalFolderSource({ dir: ${JSON.stringify(dir)}, defaultVhost: 'localhost', logger: winston.createLogger({ silent: true }), rescanMs: 0 });
        source.scan().then(async (r) => {
          console.log(JSON.stringify({ deployed: r.events.map((e) => e.api.resources.length), errors: r.errors.map((e) => e.message) }));
          await source.close();
        });`;
      const printed = execFileSync(process.execPath, ['-e', script], { cwd: REPO, encoding: 'utf8', timeout: 150_000 });
      expect(JSON.parse(printed)).toEqual({ deployed: [PATHS], errors: [] });
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  }, 300_000);
});
