import * as grpc from '@grpc/grpc-js';
import { messageType } from '../../src/envoy/protos';
import { CLUSTER, ROUTE } from '../../src/envoy/typeUrls';
import type { SnapshotCache } from '../../src/xds/cache';
import { DeltaXdsClient, type XdsChange } from '../../src/xds/client';
import { DeltaStream } from '../../src/xds/delta';
import type { Log } from '../../src/xds/log';
import { XdsServer, xdsChannelOptions } from '../../src/xds/server';
import { startServer, waitFor, type TestServer } from '../helpers/ads';
import { cluster, routeConfig } from '../helpers/resources';

interface ClusterView {
  name: string;
  connect_timeout?: { seconds?: number };
}

const Cluster = messageType('envoy.config.cluster.v3.Cluster');

/** Decodes a Cluster; a name starting with "bad" stands for a resource the enforcer cannot use. */
function decodeCluster(value: Uint8Array, name: string): ClusterView {
  const c = Cluster.toObject(Cluster.decode(value), { longs: Number, enums: String }) as ClusterView;
  if (name.startsWith('bad')) throw new Error(`cluster ${name} is not allowed here`);
  if (c.name !== name) throw new Error(`named ${c.name}`);
  return c;
}

/** A Log that records what was logged, to check state changes are logged once. */
function recordingLog(): Log & { lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (message: string) => void lines.push(`${level} ${message}`);
  return { lines, debug: () => undefined, info: at('info'), warn: at('warn'), error: at('error') };
}

let srv: TestServer;
let client: DeltaXdsClient<unknown> | undefined;
const servers: TestServer[] = [];

function connect(log?: Log): DeltaXdsClient<unknown> {
  client = new DeltaXdsClient<unknown>({
    address: srv.address,
    node: { id: 'enforcer-1', cluster: 'Default' },
    typeUrls: [CLUSTER, ROUTE],
    decode: { [CLUSTER]: decodeCluster },
    backoff: { initialMs: 20, maxMs: 200 },
    log,
  });
  return client;
}

function changes(c: DeltaXdsClient<unknown>): XdsChange[] {
  const seen: XdsChange[] = [];
  c.onChange((x) => seen.push({ ...x, updated: [...x.updated].sort(), removed: [...x.removed].sort() }));
  return seen;
}

const timeout = (c: DeltaXdsClient<unknown>, name: string): number | undefined =>
  (c.get(CLUSTER, name) as ClusterView | undefined)?.connect_timeout?.seconds;
const clusterState = () => srv.xds.streams()[0]?.types.get(CLUSTER);

/** An ADS server over an existing cache, on a given address (retried while the port is still being released). */
async function serveAt(cache: SnapshotCache, address: string, receiveBytes = 4 * 1024 * 1024): Promise<TestServer> {
  const xds = new XdsServer(cache, { debounceMs: 0 });
  const grpcServer = new grpc.Server(xdsChannelOptions({ sendBytes: 64 * 1024 * 1024, receiveBytes }));
  xds.addTo(grpcServer);
  for (let i = 0; ; i++) {
    try {
      await new Promise<number>((resolve, reject) =>
        grpcServer.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
      );
      break;
    } catch (err) {
      if (i >= 50) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  const stop = (): Promise<void> => {
    xds.close();
    grpcServer.forceShutdown();
    return Promise.resolve();
  };
  const s = { cache, xds, grpcServer, address, stop };
  servers.push(s);
  return s;
}

beforeEach(async () => {
  srv = await startServer();
  servers.push(srv);
  srv.cache.ensureGroup('Default');
});
afterEach(async () => {
  client?.close();
  client = undefined;
  jest.restoreAllMocks();
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

describe('DeltaXdsClient', () => {
  test('initial view: every type, decoded, ready and ACKed', async () => {
    srv.cache.setType('Default', CLUSTER, [cluster('a'), cluster('b', 2)]);
    srv.cache.setType('Default', ROUTE, [routeConfig('r1', 'a')]);
    const c = connect();
    expect(c.ready).toBe(false);
    await c.whenReady();
    expect(c.ready).toBe(true);
    expect(c.connected).toBe(true);
    expect([...c.entries(CLUSTER).keys()].sort()).toEqual(['a', 'b']);
    expect(timeout(c, 'b')).toBe(2);
    expect(c.entries(CLUSTER).get('a')!.version).toBe(srv.cache.get('Default', CLUSTER, 'a')!.version);
    // no decoder for routes: the raw message bytes are kept
    expect(Buffer.from(c.get(ROUTE, 'r1') as Uint8Array)).toEqual(Buffer.from(srv.cache.get('Default', ROUTE, 'r1')!.value));
    await waitFor(() => clusterState()?.lastAckedVersion === srv.cache.typeSet('Default', CLUSTER)!.version);
    await waitFor(() => srv.xds.streams()[0].types.get(ROUTE)?.lastAckedVersion === srv.cache.typeSet('Default', ROUTE)!.version);
    expect(srv.xds.streams()[0].node).toMatchObject({ id: 'enforcer-1', cluster: 'Default' });
  });

  test('an empty type still counts towards ready', async () => {
    srv.cache.setType('Default', CLUSTER, [cluster('a')]);
    const c = connect();
    await c.whenReady();
    expect(c.entries(ROUTE).size).toBe(0);
  });

  test('an update and a removal arrive, and are reported', async () => {
    srv.cache.setType('Default', CLUSTER, [cluster('a'), cluster('b')]);
    const c = connect();
    await c.whenReady();
    const seen = changes(c);

    srv.cache.upsert('Default', CLUSTER, [cluster('a', 9)]);
    await waitFor(() => seen.length === 1);
    expect(seen[0]).toEqual({ typeUrl: CLUSTER, updated: ['a'], removed: [] });
    expect(timeout(c, 'a')).toBe(9);

    srv.cache.remove('Default', CLUSTER, ['b']);
    await waitFor(() => seen.length === 2);
    expect(seen[1]).toEqual({ typeUrl: CLUSTER, updated: [], removed: ['b'] });
    expect(c.get(CLUSTER, 'b')).toBeUndefined();
    await waitFor(() => clusterState()?.lastAckedVersion === srv.cache.typeSet('Default', CLUSTER)!.version);
    expect(clusterState()!.lastNack).toBeUndefined();
  });

  test('a response with a resource the decoder rejects is NACKed whole; the old view stays', async () => {
    srv.cache.setType('Default', CLUSTER, [cluster('a')]);
    const log = recordingLog();
    const c = connect(log);
    await c.whenReady();
    const seen = changes(c);
    const ackedBefore = clusterState()!.lastAckedVersion;

    // one response carrying a good change and a bad resource
    srv.cache.upsert('Default', CLUSTER, [cluster('a', 5), cluster('bad-1')]);
    await waitFor(() => clusterState()?.lastNack !== undefined);
    const nack = clusterState()!.lastNack!;
    expect(nack.error).toContain('bad-1: cluster bad-1 is not allowed here');
    expect(nack.error).toContain('1 of 2 resources rejected');
    expect(nack.version).toBe(srv.cache.typeSet('Default', CLUSTER)!.version);
    expect(clusterState()!.lastAckedVersion).toBe(ackedBefore);
    expect(timeout(c, 'a')).toBe(1); // the good half was not applied either
    expect(c.get(CLUSTER, 'bad-1')).toBeUndefined();
    expect(seen).toEqual([]);
    expect(c.ready).toBe(true);
    expect(log.lines.filter((l) => l.startsWith('warn xDS response rejected'))).toHaveLength(1);

    // the next good push is applied and ACKed
    srv.cache.upsert('Default', CLUSTER, [cluster('c')]);
    await waitFor(() => seen.length === 1);
    expect(seen[0]).toEqual({ typeUrl: CLUSTER, updated: ['c'], removed: [] });
    await waitFor(() => clusterState()?.lastAckedVersion === srv.cache.typeSet('Default', CLUSTER)!.version);
  });

  test('not ready while the first response of a type is rejected; ready once a good one arrives', async () => {
    srv.cache.setType('Default', CLUSTER, [cluster('bad-0')]);
    const c = connect();
    let readyAt = 0;
    void c.whenReady().then(() => (readyAt = Date.now()));
    await waitFor(() => clusterState()?.lastNack !== undefined);
    expect(c.ready).toBe(false);
    expect(c.connected).toBe(true);
    srv.cache.setType('Default', CLUSTER, [cluster('a')]);
    await waitFor(() => readyAt > 0);
    expect([...c.entries(CLUSTER).keys()]).toEqual(['a']);
  });

  test('server restarted on the same port: the view serves meanwhile, only what changed is resent', async () => {
    srv.cache.setType('Default', CLUSTER, [cluster('a'), cluster('b'), cluster('c')]);
    srv.cache.setType('Default', ROUTE, [routeConfig('r1', 'a')]);
    const log = recordingLog();
    const c = connect(log);
    await c.whenReady();
    await waitFor(() => clusterState()?.lastAckedVersion === srv.cache.typeSet('Default', CLUSTER)!.version);
    const heldBefore = Object.fromEntries([...c.entries(CLUSTER)].map(([n, r]) => [n, r.version]));
    const seen = changes(c);

    // the adapter dies
    const { cache, address } = srv;
    await srv.stop();
    await waitFor(() => !c.connected);
    const requests: Array<{ type_url: string; initial_resource_versions: Record<string, string> }> = [];
    // Record what the new server is asked, from now on (handle() is the stream's request entry point).
    const proto = DeltaStream.prototype as unknown as { handle(req: unknown): void };
    const original = proto.handle;
    jest.spyOn(proto, 'handle').mockImplementation(function (this: unknown, req: unknown) {
      requests.push(req as (typeof requests)[number]);
      original.call(this, req);
    });

    await new Promise((r) => setTimeout(r, 300)); // several failed retries
    expect(c.ready).toBe(true);
    expect(timeout(c, 'a')).toBe(1);
    expect([...c.entries(CLUSTER).keys()].sort()).toEqual(['a', 'b', 'c']);

    // while it is away: b changes, c goes, d appears; a and the route stay the same
    cache.setType('Default', CLUSTER, [cluster('a'), cluster('b', 7), cluster('d')]);
    srv = await serveAt(cache, address);
    await waitFor(() => c.connected, 5000);
    await waitFor(() => clusterState()?.lastAckedVersion === cache.typeSet('Default', CLUSTER)!.version);
    await waitFor(() => srv.xds.streams()[0].types.get(ROUTE)?.lastAckedVersion === cache.typeSet('Default', ROUTE)!.version);

    // the client said what it holds ...
    const initial = requests.filter((r) => r.type_url === CLUSTER && Object.keys(r.initial_resource_versions).length > 0);
    expect(initial).toHaveLength(1);
    expect(initial[0].initial_resource_versions).toEqual(heldBefore);
    expect(Object.keys(requests.find((r) => r.type_url === ROUTE)!.initial_resource_versions)).toEqual(['r1']);
    // ... so only the changes came back: not a, and nothing for routes
    expect(seen).toEqual([{ typeUrl: CLUSTER, updated: ['b', 'd'], removed: ['c'] }]);
    expect(timeout(c, 'b')).toBe(7);
    expect([...c.entries(CLUSTER).keys()].sort()).toEqual(['a', 'b', 'd']);
    expect(c.entries(CLUSTER).get('a')!.version).toBe(heldBefore.a);

    // state changes logged once each, not once per retry
    expect(log.lines.filter((l) => l.includes('disconnected'))).toHaveLength(1);
    expect(log.lines.filter((l) => l === 'info xDS server connected')).toHaveLength(2);
    expect(log.lines.filter((l) => l.includes('not reachable'))).toHaveLength(0);
  });

  test('a reconnect that names more than the server will receive is logged as an error on every retry; the view keeps serving', async () => {
    srv.cache.setType('Default', CLUSTER, Array.from({ length: 2000 }, (_, i) => cluster(`cluster-with-a-long-name-${String(i).padStart(8, '0')}`)));
    const log = recordingLog();
    const c = connect(log);
    await c.whenReady();
    const { cache, address } = srv;
    await srv.stop();
    await waitFor(() => !c.connected);
    // 2,000 names and versions are about 100 KB: over a 64 KiB receive limit.
    srv = await serveAt(cache, address, 64 * 1024);
    await waitFor(() => log.lines.filter((l) => l.startsWith('error xDS stream refused: a message over a gRPC size limit')).length >= 2, 10_000);
    expect(c.connected).toBe(false);
    expect(c.entries(CLUSTER).size).toBe(2000);
  });

  test('no server at all: not ready, logged once, close() rejects whenReady and leaves nothing running', async () => {
    await srv.stop();
    const log = recordingLog();
    const c = connect(log);
    const ready = c.whenReady();
    await new Promise((r) => setTimeout(r, 300));
    expect(c.ready).toBe(false);
    expect(c.connected).toBe(false);
    expect(log.lines).toEqual([`warn xDS server not reachable; retrying`]);
    c.close();
    await expect(ready).rejects.toThrow('closed');
    await expect(c.whenReady()).rejects.toThrow('closed');
  });
});
