import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Writable } from 'stream';
import * as winston from 'winston';
import { parseConfig } from '../../src/config/config';
import { createLogger } from '../../src/config/log';
import { startAdapter, type Adapter } from '../../src/cli/adapter';
import { runCtl } from '../../src/cli/ctl';
import { Pipeline } from '../../src/cli/pipeline';
import type { Api, Resource } from '../../src/model/api';
import { SnapshotCache } from '../../src/xds/cache';
import { api } from '../helpers/apis';
import { waitFor } from '../helpers/ads';

/**
 * Left-out routes reach the operator (issue 12): the pipeline reports an API served without some
 * of its paths as a `partial` problem, logged once per change; the admin service and `ctl
 * problems` list each left-out route with its path and reason.
 */

/** Text before a parameter in a segment, in a template too long for a regex: no route can serve it. */
const RANGE = "/users/{userId}/workbook/worksheets/{worksheetId}/range(address='{address}')/format/borders/{borderId}/clear";
const get = (p: string): Resource => ({ path: p, operations: [{ method: 'GET', secured: true, scopes: [] }] });

describe('Pipeline', () => {
  const config = parseConfig('', 'test.toml');
  let logs: Array<{ level: string; message: string; [k: string]: unknown }>;
  let pipeline: Pipeline;

  beforeEach(() => {
    logs = [];
    const sink = new Writable({ write: (chunk, _enc, done) => (logs.push(JSON.parse(String(chunk))), done()) });
    const log = winston.createLogger({ level: 'info', format: winston.format.json(), transports: [new winston.transports.Stream({ stream: sink })] });
    pipeline = new Pipeline(new SnapshotCache(), config, log);
  });

  const graph = (resources: Resource[], extra: Partial<Api> = {}): Api => api({ id: 'graph', name: 'Graph', context: '/graph', version: 'v1.0', resources, ...extra });
  const told = (message: string) => logs.filter((l) => l.message === message);

  test('an API served without some routes is a partial problem, logged once while it lasts', () => {
    pipeline.apply([{ kind: 'ApiDeployed', api: graph([get('/users'), get(RANGE)], { skipped: [{ path: '/users#list', at: 'graph.yaml:9', reason: 'not a path' }] }) }]);
    const [problem] = pipeline.problems();
    expect(problem).toMatchObject({
      kind: 'partial',
      group: 'Default',
      apiId: 'graph',
      apiName: 'Graph',
      apiVersion: 'v1.0',
      source: 'test',
      reasons: ['served without 2 paths and operations; the rest of it is served'],
      skipped: [{ path: '/users#list', at: 'graph.yaml:9', reason: 'not a path' }, { path: RANGE, reason: expect.stringMatching(/cannot express it/) }],
    });
    expect(told('API served without some of its paths or operations')).toEqual([
      expect.objectContaining({ level: 'warn', label: 'Default', api: 'Graph v1.0', skipped: ['/users#list (graph.yaml:9): not a path', expect.stringMatching(/^\/users\/\{userId\}.*: its regex/)] }),
    ]);

    // Another API's change: nothing new to say about Graph.
    pipeline.apply([{ kind: 'ApiDeployed', api: api() }]);
    expect(told('API served without some of its paths or operations')).toHaveLength(1);
    const since = pipeline.problems()[0].since;

    // Graph changes to nothing servable: quarantined, said once, and not said to be fine.
    pipeline.apply([{ kind: 'ApiDeployed', api: graph([get(RANGE)]) }]);
    expect(pipeline.problems().map((p) => [p.kind, p.reasons])).toEqual([['quarantined', ['none of its routes can be served (1 path or operation left out)']]]);
    expect(told('API left out of the router config (quarantined)')).toHaveLength(1);
    expect(told('API no longer has paths or operations left out')).toEqual([]);
    expect(pipeline.problems()[0].since.getTime()).toBeGreaterThanOrEqual(since.getTime());

    pipeline.apply([{ kind: 'ApiDeployed', api: graph([get('/users')]) }]);
    expect(pipeline.problems()).toEqual([]);
    expect(told('API no longer quarantined')).toEqual([expect.objectContaining({ id: 'graph' })]);
  });

  test('a long list is logged in part, pointing at ctl problems', () => {
    const skipped = Array.from({ length: 25 }, (_, i) => ({ path: `/x${i}#y`, reason: 'not a path' }));
    pipeline.apply([{ kind: 'ApiDeployed', api: graph([get('/users')], { skipped }) }]);
    const [entry] = told('API served without some of its paths or operations');
    expect(entry.skipped).toHaveLength(20);
    expect(entry.more).toBe('5 more: apim-connect ctl problems');
    expect(pipeline.problems()[0].skipped).toHaveLength(25);
  });
});

describe('ctl problems', () => {
  let dir: string;
  let adapter: Adapter;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'apis-routes-'));
    fs.copyFileSync(path.join(__dirname, '..', 'fixtures', 'projects', 'golden-azure.yaml'), path.join(dir, 'azure.yaml'));
    const config = parseConfig(`[adapter]\nhost = "127.0.0.1"\nxdsPort = 0\nhttpPort = 0\ndebounceMs = 0\napisDirectory = ${JSON.stringify(dir)}\n`, 'test.toml');
    adapter = await startAdapter(config, createLogger('error', 'test'));
    await waitFor(() => adapter.pipeline.problems().length > 0);
  });
  afterAll(async () => {
    await adapter.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function ctl(json = false): Promise<string[]> {
    const lines: string[] = [];
    await runCtl('problems', [], { address: `127.0.0.1:${adapter.port}`, json, watch: false, group: '' }, (l) => lines.push(...l.split('\n')));
    return lines;
  }

  test('lists the API as partial, then each left-out route on a row of its own: source, path, why', async () => {
    const table = await ctl();
    expect(table).toHaveLength(3);
    expect(table[0]).toMatch(/^KIND\s+GROUP\s+API\s+SOURCE\s+REASON$/);
    expect(table[1]).toMatch(/^partial\s+Default\s+ApiManagement 2021-08-01\s+\S*azure\.yaml\s+served without 1 path or operation; the rest of it is served$/);
    expect(table[2]).toMatch(/^route\s+Default\s+ApiManagement 2021-08-01\s+\S*azure\.yaml\s+\/users\/\{userId\}\/workbook\/worksheets\/\{worksheetId\}\/range\(address='\{address\}'\)\/format\/borders\/\{borderId\}\/clear: its regex compiles to an RE2 program/);
  });

  test('--json carries the left-out routes as the admin service sends them', async () => {
    const [problem] = JSON.parse((await ctl(true)).join('\n'));
    expect(problem).toMatchObject({ kind: 'partial', api_name: 'ApiManagement', skipped: [{ path: RANGE, method: '', at: '', reason: expect.stringMatching(/cannot express it: segment "range/) }] });
  });
});
