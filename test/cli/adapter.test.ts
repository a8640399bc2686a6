import * as grpc from '@grpc/grpc-js';
import * as http from 'http';
import { parseConfig } from '../../src/config/config';
import { createLogger } from '../../src/config/log';
import { serviceDefinition } from '../../src/envoy/grpcService';
import { CLUSTER, LISTENER, ROUTE } from '../../src/envoy/typeUrls';
import { startAdapter, type Adapter } from '../../src/cli/adapter';
import { runCtl } from '../../src/cli/ctl';
import { AdsStream, node, waitFor } from '../helpers/ads';
import { bufCurlOk } from '../helpers/buf';
import { cluster } from '../helpers/resources';

let adapter: Adapter;
let httpPort: number;

beforeAll(async () => {
  const config = parseConfig('[adapter]\nhost = "127.0.0.1"\nxdsPort = 0\nhttpPort = 0\ndebounceMs = 0\napisDirectory = ""\n[controlPlane]\nenvironmentLabels = ["Default", "Prod"]\n', 'test.toml');
  adapter = await startAdapter(config, createLogger('error', 'test'));
  adapter.cache.setType('Default', CLUSTER, [cluster('pets'), cluster('orders')]);
  httpPort = (adapter.http.address() as { port: number }).port;
});
afterAll(() => adapter.stop());

const buf = (...args: string[]): Promise<string> => bufCurlOk(args);

async function ctl(command: string, opts: Partial<{ json: boolean; group: string }> = {}, args: string[] = []): Promise<string[]> {
  const lines: string[] = [];
  await runCtl(command, args, { address: `127.0.0.1:${adapter.port}`, json: false, watch: false, group: '', ...opts }, (l) => lines.push(l));
  return lines;
}

describe('the adapter process', () => {
  test('buf curl calls ListSnapshots and Health through reflection, with no schema file', async () => {
    const out = JSON.parse(await buf(`http://127.0.0.1:${adapter.port}/apimconnect.admin.v1.AdminService/ListSnapshots`));
    const groups = Object.fromEntries(out.snapshots.map((s: { group: string; types?: unknown[] }) => [s.group, s.types ?? []]));
    expect(Object.keys(groups).sort()).toEqual(['Default', 'Prod']);
    // the test's clusters, the listener and (empty) route table every label gets, and the
    // enforcers' (empty) types
    const envoyTypes = groups.Default.filter((t: { typeUrl: string }) => t.typeUrl.includes('/envoy.'));
    expect(envoyTypes).toEqual([
      { typeUrl: CLUSTER, version: adapter.cache.typeSet('Default', CLUSTER)!.version, resourceCount: 2 },
      { typeUrl: LISTENER, version: adapter.cache.typeSet('Default', LISTENER)!.version, resourceCount: 1 },
      { typeUrl: ROUTE, version: adapter.cache.typeSet('Default', ROUTE)!.version, resourceCount: 1 },
    ]);
    expect(groups.Default.map((t: { typeUrl: string }) => t.typeUrl)).toContain('type.googleapis.com/apimconnect.enforcer.v1.Api');
    expect(JSON.parse(await buf(`http://127.0.0.1:${adapter.port}/grpc.health.v1.Health/Check`))).toEqual({ status: 'SERVING' });
    const methods = await buf('--list-methods', `http://127.0.0.1:${adapter.port}`);
    for (const m of ['AggregatedDiscoveryService/StreamAggregatedResources', 'AggregatedDiscoveryService/DeltaAggregatedResources', 'AdminService/ListNodes', 'AdminService/WatchSnapshots', 'AdminService/GetConfigDump']) {
      expect(methods).toContain(m);
    }
  });

  test('ctl snapshots and ctl nodes print tables and JSON', async () => {
    const table = await ctl('snapshots');
    expect(table[0]).toMatch(/^GROUP\s+TYPE\s+VERSION\s+RESOURCES\s+UPDATED$/);
    expect(table.find((l) => /^Default\s+Cluster\s/.test(l))).toMatch(/^Default\s+Cluster\s+[0-9a-f]{12}\s+2\s+\d{4}-/);
    expect(table.find((l) => /^Default\s+enforcer.v1.Api\s/.test(l))).toMatch(/^Default\s+enforcer.v1.Api\s+0{12}\s+0\s/);
    expect(table.filter((l) => l.startsWith('Prod') && !l.includes('enforcer.')).map((l) => l.split(/\s+/).slice(1, 4).join(' '))).toEqual([
      'Cluster 000000000000 0',
      expect.stringMatching(/^Listener [0-9a-f]{12} 1$/),
      expect.stringMatching(/^RouteConfiguration [0-9a-f]{12} 1$/),
    ]);

    const s = new AdsStream(`127.0.0.1:${adapter.port}`, 'delta');
    try {
      s.send({ node: node('router-9', 'Default'), type_url: CLUSTER });
      const r = await s.next();
      s.send({ type_url: CLUSTER, response_nonce: r.nonce });
      await waitFor(() => adapter.xds.streams()[0]?.types.get(CLUSTER)?.lastAckedVersion === r.version);
      const nodes = await ctl('nodes');
      expect(nodes[0]).toMatch(/^NODE\s+GROUP\s+STREAM\s+TYPE\s+SENT\s+ACKED\s+SYNCED\s+LAST NACK$/);
      expect(nodes[1]).toMatch(/^router-9\s+Default\s+\d+\/delta\s+Cluster\s+[0-9a-f]{12}\s+[0-9a-f]{12}\s+yes/);
      const json = JSON.parse((await ctl('nodes', { json: true })).join('\n'));
      expect(json[0]).toMatchObject({ node_id: 'router-9', group: 'Default', protocol: 'delta', types: [{ type_url: CLUSTER, wildcard: true, last_acked_version: r.version }] });
    } finally {
      s.close();
    }
  });

  test('ctl dump prints one group as JSON; an unknown group is an error', async () => {
    const dump = JSON.parse((await ctl('dump', {}, ['Default'])).join('\n'));
    const clustersDump = dump.types.find((t: { type_url: string }) => t.type_url === CLUSTER);
    expect(clustersDump.resources.map((x: { name: string }) => x.name)).toEqual(['orders', 'pets']);
    expect(clustersDump.resources[0].resource).toMatchObject({ name: 'orders', type: 'EDS', connect_timeout: '1s' });
    await expect(ctl('dump', {}, ['Nope'])).rejects.toThrow(/no node group "Nope"/);
    await expect(ctl('frobnicate')).rejects.toThrow(/unknown ctl command/);
  });

  test('WatchSnapshots sends the current snapshots, then one message per version change', async () => {
    const Client = grpc.makeGenericClientConstructor(serviceDefinition('apimconnect.admin.v1.AdminService'), 'admin');
    const client = new Client(`127.0.0.1:${adapter.port}`, grpc.credentials.createInsecure()) as unknown as Record<string, (req: object) => grpc.ClientReadableStream<any>>;
    const call = client.WatchSnapshots({ group: 'Default' });
    const seen: any[] = [];
    call.on('data', (m) => seen.push(m));
    call.on('error', () => undefined);
    try {
      await waitFor(() => seen.length === 1);
      expect(seen[0].group).toBe('Default');
      adapter.cache.upsert('Default', CLUSTER, [cluster('pets')]); // same content: no message
      adapter.cache.setType('Prod', CLUSTER, [cluster('other')]); // another group: no message
      adapter.cache.upsert('Default', CLUSTER, [cluster('users')]);
      await waitFor(() => seen.length === 2);
      expect(seen[1].types.find((t: { type_url: string }) => t.type_url === CLUSTER)).toMatchObject({ type_url: CLUSTER, resource_count: 3, version: adapter.cache.typeSet('Default', CLUSTER)!.version });
      adapter.cache.remove('Default', CLUSTER, ['users']);
      await waitFor(() => seen.length === 3);
      await new Promise((r) => setTimeout(r, 100));
      expect(seen).toHaveLength(3);
    } finally {
      call.cancel();
      (client as unknown as grpc.Client).close();
    }
  });

  test('ctl state shows the gateway state: counts per collection, or one collection as JSON', async () => {
    const counts = await ctl('state');
    expect(counts[0]).toMatch(/^revision \d+$/);
    expect(counts).toContainEqual(expect.stringMatching(/^applications\s+0$/));
    expect(JSON.parse((await ctl('state', {}, ['apis'])).join('\n'))).toEqual([]);
    await expect(ctl('state', {}, ['nope'])).rejects.toThrow(/no collection "nope"/);
  });

  test('HTTP /health and /ready', async () => {
    const get = (p: string) => new Promise<number>((resolve, reject) => http.get(`http://127.0.0.1:${httpPort}${p}`, (r) => { r.resume(); resolve(r.statusCode ?? 0); }).on('error', reject));
    expect(await get('/health')).toBe(200);
    expect(await get('/ready')).toBe(200);
    expect(await get('/nope')).toBe(404);
  });
});
