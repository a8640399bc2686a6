import * as grpc from '@grpc/grpc-js';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { addAdminService } from '../../src/admin/adminService';
import type { Problem } from '../../src/model/problems';
import { SnapshotCache } from '../../src/xds/cache';
import { XdsServer } from '../../src/xds/server';
import { parseConfig } from '../../src/config/config';
import { createLogger } from '../../src/config/log';
import { CLUSTER } from '../../src/envoy/typeUrls';
import { startAdapter, type Adapter } from '../../src/cli/adapter';
import { runCtl } from '../../src/cli/ctl';
import { printable } from '../../src/cli/terminal';
import { AdsStream, bindLoopback, node, shutdown, waitFor } from '../helpers/ads';
import { cluster } from '../helpers/resources';

/** Raw control characters a terminal would act on: C0 (bar the newline between lines), DEL, C1. */
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

let dir: string;
let adapter: Adapter;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'apis-ctl-'));
  // A bare definition broken (reported at line 4, where the list should have ended): its problem must name the file once, with the line.
  fs.writeFileSync(path.join(dir, 'orders.yaml'), "openapi: 3.0.0\ninfo: {title: Orders, version: '1'}\npaths: [unclosed\n");
  const config = parseConfig(`[adapter]\nhost = "127.0.0.1"\nxdsPort = 0\nhttpPort = 0\ndebounceMs = 0\napisDirectory = ${JSON.stringify(dir)}\n`, 'test.toml');
  adapter = await startAdapter(config, createLogger('error', 'test'));
  adapter.cache.setType('Default', CLUSTER, [cluster('pets')]);
});
afterAll(async () => {
  await adapter.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function ctl(command: string, json = false): Promise<string[]> {
  const lines: string[] = [];
  await runCtl(command, [], { address: `127.0.0.1:${adapter.port}`, json, watch: false, group: '' }, (l) => lines.push(...l.split('\n')));
  return lines;
}

test('printable escapes control characters, ANSI sequences and bidi overrides, and leaves the rest', () => {
  expect(printable('a\x1b[31mred\x1b[0m\nline\r\t\x00\x7f\u009b2J\u202eevil é ✓')).toBe('a\\e[31mred\\e[0m\\nline\\r\\t\\x00\\x7f\\x9b2J\\u{202e}evil é ✓');
});

test('ctl nodes prints a node id and NACK text chosen by an xDS client escaped, on one row, in tables and JSON', async () => {
  const id = 'router\x1b[2J\x1b[H-1';
  const error = 'bad cluster\x1b[31m\nrouter-0  Default  1/delta  Cluster  ok  ok  yes\u009b1A';
  const s = new AdsStream(`127.0.0.1:${adapter.port}`, 'delta');
  try {
    s.send({ node: node(id, 'Default'), type_url: CLUSTER });
    const r = await s.next();
    s.send({ type_url: CLUSTER, response_nonce: r.nonce, error_detail: { code: 3, message: error } });
    await waitFor(() => adapter.xds.streams().some((st) => st.types.get(CLUSTER)?.lastNack !== undefined));

    const table = await ctl('nodes');
    expect(table).toHaveLength(2); // the header and one row: the newline in the NACK made no second one
    for (const line of table) expect(line).not.toMatch(RAW_CONTROL);
    expect(table[1]).toContain('router\\e[2J\\e[H-1');
    expect(table[1]).toContain('bad cluster\\e[31m\\nrouter-0  Default  1/delta  Cluster  ok  ok  yes\\x9b1A');

    const json = await ctl('nodes', true);
    for (const line of json) expect(line).not.toMatch(RAW_CONTROL);
    const parsed = JSON.parse(json.join('\n'));
    expect(parsed[0].node_id).toBe(id);
    expect(parsed[0].types[0].last_nack.error).toBe(error);
  } finally {
    s.close();
  }
});

test('ctl problems names a bare definition once, with its line', async () => {
  const table = await ctl('problems');
  expect(table[1]).toMatch(new RegExp(`^project\\s+-\\s+${dir.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}/orders\\.yaml:4\\s+malformed YAML`));
  expect(table[1]).not.toContain('orders.yaml/orders.yaml');
});

describe('ctl problems with many reasons, some of several lines (an API served in part lists the routes left out)', () => {
  const partial = {
    kind: 'partial',
    group: 'Default',
    apiId: 'box-2.0',
    apiName: 'Box',
    apiVersion: '2.0',
    source: 'apis/box.json',
    reasons: [
      '2 routes left out:',
      'GET /files/{file_id}#add_shared_link (line 120): a path key holds "#"',
      'TRACE /folders (line 300): TRACE is not served\nquarantined  Default  Evil 1  apis/evil.json  fake row\x1b[2J',
    ],
    since: new Date(),
  } as unknown as Problem;
  const other: Problem = { kind: 'quarantined', group: 'Default', apiName: 'Shop', apiVersion: '1', source: 'apis/shop.yaml', reasons: ['one'], since: new Date() };
  let server: grpc.Server;
  let xds: XdsServer;
  let address: string;
  beforeAll(async () => {
    xds = new XdsServer(new SnapshotCache(), { debounceMs: 0 });
    server = new grpc.Server();
    addAdminService(server, xds, { problems: () => [partial, other] });
    address = `127.0.0.1:${await bindLoopback(server)}`;
  });
  afterAll(async () => {
    xds.close();
    await shutdown(server);
  });

  test('one row per problem with its source once; each reason, and each line of one, under REASON', async () => {
    const lines: string[] = [];
    await runCtl('problems', [], { address, json: false, watch: false, group: '' }, (l) => lines.push(l));
    const at = lines[0].indexOf('REASON');
    expect(lines[1]).toMatch(/^partial\s+Default\s+Box 2\.0\s+apis\/box\.json\s+2 routes left out:$/);
    expect(lines.slice(2, 5).map((l) => [l.slice(0, at).trim(), l.slice(at)])).toEqual([
      ['', 'GET /files/{file_id}#add_shared_link (line 120): a path key holds "#"'],
      ['', 'TRACE /folders (line 300): TRACE is not served'],
      // a line of a reason cannot pass for a row: it starts under REASON, its escapes escaped
      ['', 'quarantined  Default  Evil 1  apis/evil.json  fake row\\e[2J'],
    ]);
    expect(lines[5]).toMatch(/^quarantined\s+Default\s+Shop 1\s+apis\/shop\.yaml\s+one$/);
    expect(lines).toHaveLength(6);
    expect(lines.join('\n').split('apis/box.json').length - 1).toBe(1);
    for (const line of lines) expect(line).not.toMatch(RAW_CONTROL);
  });

  test('--json keeps the reasons as they are', async () => {
    const lines: string[] = [];
    await runCtl('problems', [], { address, json: true, watch: false, group: '' }, (l) => lines.push(l));
    expect(JSON.parse(lines.join('\n'))[0].reasons).toEqual(partial.reasons);
  });
});
