/**
 * A real xDS client (@grpc/grpc-js-xds, SotW ADS) against our XdsServer: it resolves
 * `xds:///backend.test` through LDS → RDS → CDS → EDS, follows EDS changes on a live channel,
 * NACKs resources it cannot use (the admin API must show the NACK with the client's own error
 * text) and keeps working on its last good config until the resource is fixed.
 *
 * grpc-js-xds keeps process-wide state (bootstrap read once, one singleton XdsClient), so every
 * step that uses the real client lives in this one file, in order.
 */
import * as grpc from '@grpc/grpc-js';
import { addAdminService } from '../../src/admin/adminService';
import { serviceDefinition } from '../../src/envoy/grpcService';
import { messageType } from '../../src/envoy/protos';
import { CLUSTER, ENDPOINT, LISTENER, ROUTE } from '../../src/envoy/typeUrls';
import { SnapshotCache } from '../../src/xds/cache';
import { XdsServer, xdsChannelOptions } from '../../src/xds/server';
import { bindLoopback, shutdown } from '../helpers/ads';
import { cluster, endpoints, listener, routeConfig } from '../helpers/resources';

const GROUP = 'Default';
const NODE_ID = 'grpc-xds-it-node';
const TARGET = 'backend.test';
const ROUTE_NAME = 'backend-route';
const CLUSTER_NAME = 'backend-cluster';
const HEALTH = 'grpc.health.v1.Health';
const ADMIN = 'apimconnect.admin.v1.AdminService';

jest.setTimeout(20_000);

// ---------------------------------------------------------------------------------------------
// servers

interface Stack {
  cache: SnapshotCache;
  xds: XdsServer;
  server: grpc.Server;
  address: string;
}

/** XdsServer (ADS) + admin service on one loopback port, as the adapter serves them. */
async function startControlPlane(): Promise<Stack> {
  const cache = new SnapshotCache();
  const xds = new XdsServer(cache, { debounceMs: 0 });
  const server = new grpc.Server(xdsChannelOptions({ sendBytes: 16 * 1024 * 1024, receiveBytes: 4 * 1024 * 1024 }));
  xds.addTo(server);
  addAdminService(server, xds);
  const port = await bindLoopback(server);
  return { cache, xds, server, address: `127.0.0.1:${port}` };
}

interface Backend {
  name: string;
  port: number;
  server: grpc.Server;
  calls: number;
}

/** A grpc.health.v1.Health server that says who it is (initial metadata `x-backend`, and status). */
async function startBackend(name: string, status: 'SERVING' | 'NOT_SERVING'): Promise<Backend> {
  const server = new grpc.Server();
  const backend: Backend = { name, port: 0, server, calls: 0 };
  server.addService(serviceDefinition(HEALTH), {
    Check: (call: grpc.ServerUnaryCall<unknown, object>, done: grpc.sendUnaryData<object>) => {
      backend.calls++;
      const md = new grpc.Metadata();
      md.set('x-backend', name);
      call.sendMetadata(md);
      done(null, { status });
    },
    Watch: (call: grpc.ServerWritableStream<unknown, object>) => call.end(),
  });
  backend.port = await bindLoopback(server);
  return backend;
}



// ---------------------------------------------------------------------------------------------
// resources



// ---------------------------------------------------------------------------------------------
// clients

const HealthClient = grpc.makeGenericClientConstructor(serviceDefinition(HEALTH), 'Health');
const AdminClient = grpc.makeGenericClientConstructor(serviceDefinition(ADMIN), 'AdminService');
const HealthCheckResponse = messageType('grpc.health.v1.HealthCheckResponse');
const ListNodesResponse = messageType('apimconnect.admin.v1.ListNodesResponse');

type Unary = (req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: object) => void) => grpc.ClientUnaryCall;

interface Answer {
  backend: string;
  status: string;
}

/** One Check over the xDS channel: which backend answered. */
function check(client: grpc.Client, ms = 2000): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    let backend = '';
    const method = (client as unknown as Record<string, Unary>).Check.bind(client);
    const call = method({ service: '' }, new grpc.Metadata(), { deadline: Date.now() + ms }, (err, res) => {
      if (err) return reject(err);
      const obj = HealthCheckResponse.toObject(res as never, { enums: String }) as { status: string };
      resolve({ backend, status: obj.status });
    });
    call.on('metadata', (md: grpc.Metadata) => {
      backend = String(md.get('x-backend')[0] ?? '');
    });
  });
}

/** Calls until `backend` answers (errors while the client is still resolving are retried). */
async function untilBackend(client: grpc.Client, backend: string, ms: number): Promise<{ attempts: number; lastError?: string }> {
  const end = Date.now() + ms;
  let attempts = 0;
  let last = '';
  while (Date.now() < end) {
    attempts++;
    try {
      const a = await check(client, Math.max(100, Math.min(2000, end - Date.now())));
      if (a.backend === backend) return { attempts };
      last = `answered by ${a.backend}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(25);
  }
  throw new Error(`${backend} did not answer within ${ms} ms after ${attempts} attempts; last: ${last}`);
}

interface Nack {
  version: string;
  nonce: string;
  error: string;
}

interface TypeStatus {
  type_url: string;
  wildcard: boolean;
  subscribed: number;
  last_sent_version: string;
  last_sent_nonce: string;
  last_acked_version: string;
  last_nack?: Nack | null;
  responses_sent: string;
}

interface NodeStream {
  node_id: string;
  cluster: string;
  group: string;
  protocol: string;
  user_agent: string;
  types: TypeStatus[];
}

function listNodes(admin: grpc.Client, group = ''): Promise<NodeStream[]> {
  return new Promise<NodeStream[]>((resolve, reject) => {
    const method = (admin as unknown as Record<string, Unary>).ListNodes.bind(admin);
    method({ group }, new grpc.Metadata(), { deadline: Date.now() + 2000 }, (err, res) => {
      if (err) return reject(err);
      const obj = ListNodesResponse.toObject(res as never, { longs: String, enums: String, defaults: true }) as { nodes: NodeStream[] };
      resolve(obj.nodes);
    });
  });
}

/** The status of one type on the (single) stream of our node. */
async function typeStatus(admin: grpc.Client, typeUrl: string): Promise<TypeStatus | undefined> {
  const nodes = (await listNodes(admin, GROUP)).filter((n) => n.node_id === NODE_ID);
  if (nodes.length !== 1) return undefined;
  return nodes[0].types.find((t) => t.type_url === typeUrl);
}

/** Polls the admin API until `cond` holds for the type's status; returns that status. */
async function untilStatus(admin: grpc.Client, typeUrl: string, cond: (t: TypeStatus) => boolean, ms: number, what: string): Promise<TypeStatus> {
  const end = Date.now() + ms;
  let last: TypeStatus | undefined;
  while (Date.now() < end) {
    last = await typeStatus(admin, typeUrl);
    if (last && cond(last)) return last;
    await sleep(25);
  }
  throw new Error(`${what}: not reached within ${ms} ms; last status ${JSON.stringify(last)}`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// the test

describe('@grpc/grpc-js-xds as a real xDS client', () => {
  let cp: Stack;
  let b1: Backend;
  let b2: Backend;
  let client: grpc.Client;
  let admin: grpc.Client;
  const savedBootstrap = process.env.GRPC_XDS_BOOTSTRAP_CONFIG;
  const savedBootstrapFile = process.env.GRPC_XDS_BOOTSTRAP;

  beforeAll(async () => {
    [cp, b1, b2] = await Promise.all([startControlPlane(), startBackend('backend-1', 'SERVING'), startBackend('backend-2', 'NOT_SERVING')]);
    cp.cache.setGroup(GROUP, {
      [LISTENER]: [listener(TARGET, ROUTE_NAME, true)],
      [ROUTE]: [routeConfig(ROUTE_NAME, CLUSTER_NAME)],
      [CLUSTER]: [cluster(CLUSTER_NAME)],
      [ENDPOINT]: [endpoints(CLUSTER_NAME, b1.port)],
    });

    // The bootstrap is read once, when the first xds: channel resolves; GRPC_XDS_BOOTSTRAP wins over it.
    delete process.env.GRPC_XDS_BOOTSTRAP;
    process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
      xds_servers: [{ server_uri: cp.address, channel_creds: [{ type: 'insecure' }], server_features: [] }],
      node: { id: NODE_ID, cluster: GROUP, locality: {} },
    });
    (require('@grpc/grpc-js-xds') as { register(): void }).register();

    admin = new AdminClient(cp.address, grpc.credentials.createInsecure());
    client = new HealthClient(`xds:///${TARGET}`, grpc.credentials.createInsecure());
  });

  afterAll(async () => {
    client?.close();
    admin?.close();
    if (cp) cp.xds.close();
    await Promise.all([cp, b1, b2].filter((x) => x).map((x) => shutdown(x.server)));
    if (savedBootstrap === undefined) delete process.env.GRPC_XDS_BOOTSTRAP_CONFIG;
    else process.env.GRPC_XDS_BOOTSTRAP_CONFIG = savedBootstrap;
    if (savedBootstrapFile !== undefined) process.env.GRPC_XDS_BOOTSTRAP = savedBootstrapFile;
  });

  it('resolves xds:///backend.test through LDS, RDS, CDS and EDS and reaches backend 1', async () => {
    const t0 = Date.now();
    await untilBackend(client, 'backend-1', 10_000);
    const first = Date.now() - t0;
    for (let i = 0; i < 5; i++) expect(await check(client)).toEqual({ backend: 'backend-1', status: 'SERVING' });
    expect(b2.calls).toBe(0);

    // The client ACKed every type; it is one SotW stream of group Default, named by the bootstrap.
    const nodes = (await listNodes(admin)).filter((n) => n.node_id === NODE_ID);
    expect(nodes).toHaveLength(1);
    const [n] = nodes;
    expect(n).toMatchObject({ cluster: GROUP, group: GROUP, protocol: 'sotw' });
    expect(n.user_agent).toMatch(/grpc/i);
    const byType = new Map(n.types.map((t) => [t.type_url, t]));
    for (const typeUrl of [LISTENER, ROUTE, CLUSTER, ENDPOINT]) {
      const t = byType.get(typeUrl);
      expect(t ? typeUrl : `no status for ${typeUrl}`).toBe(typeUrl);
      // ACKs come on the next request; poll for the last one.
      const acked = await untilStatus(admin, typeUrl, (s) => s.last_acked_version !== '' && s.last_acked_version === s.last_sent_version, 3000, `ACK of ${typeUrl}`);
      expect(acked.last_acked_version).toBe(cp.cache.typeSet(GROUP, typeUrl)?.version);
      expect(acked.last_nack ?? null).toBeNull();
    }
    // grpc-js-xds subscribes by name, never by wildcard.
    expect(byType.get(LISTENER)).toMatchObject({ wildcard: false, subscribed: 1 });
    expect(byType.get(ENDPOINT)).toMatchObject({ wildcard: false, subscribed: 1 });
    console.log(`grpc-js-xds: first call answered by backend-1 after ${first} ms`);
  });

  it('follows an EDS change on the same channel: backend 2 answers', async () => {
    const before = await typeStatus(admin, ENDPOINT);
    cp.cache.setType(GROUP, ENDPOINT, [endpoints(CLUSTER_NAME, b2.port)]);
    const t0 = Date.now();
    await untilBackend(client, 'backend-2', 10_000);
    const switched = Date.now() - t0;
    const callsBefore = b1.calls;
    for (let i = 0; i < 5; i++) expect(await check(client)).toEqual({ backend: 'backend-2', status: 'NOT_SERVING' });
    expect(b1.calls).toBe(callsBefore);

    const eds = await untilStatus(admin, ENDPOINT, (s) => s.last_acked_version === cp.cache.typeSet(GROUP, ENDPOINT)?.version, 3000, 'EDS ACK');
    expect(eds.last_acked_version).not.toBe(before?.last_acked_version);
    expect(eds.last_sent_version).toBe(eds.last_acked_version);
    console.log(`grpc-js-xds: EDS switch to backend-2 took ${switched} ms`);
  });

  it('NACKs a cluster with lb_policy LEAST_REQUEST; the admin API shows the client error; calls keep working', async () => {
    const good = await untilStatus(admin, CLUSTER, (s) => s.last_acked_version === s.last_sent_version, 3000, 'CDS in sync');
    const sentBefore = Number(good.responses_sent);

    cp.cache.upsert(GROUP, CLUSTER, [cluster(CLUSTER_NAME, 1, 'LEAST_REQUEST')]);
    const bad = cp.cache.typeSet(GROUP, CLUSTER)?.version as string;
    expect(bad).not.toBe(good.last_acked_version);

    const nacked = await untilStatus(admin, CLUSTER, (s) => !!s.last_nack && s.last_nack.nonce === s.last_sent_nonce, 5000, 'CDS NACK');
    expect(nacked.last_sent_version).toBe(bad);
    expect(nacked.last_acked_version).toBe(good.last_acked_version);
    const nack = nacked.last_nack as Nack;
    expect(nack.version).toBe(bad);
    expect(nack.error.length).toBeGreaterThan(0);
    // grpc-js-xds's own validation message, e.g. "backend-cluster: load_balancing_policy unset and unsupported lb_policy: LEAST_REQUEST".
    expect(nack.error).toContain('LEAST_REQUEST');
    expect(nack.error).toMatch(/lb_policy/);

    // The client keeps its last good cluster: calls still reach backend 2.
    for (let i = 0; i < 5; i++) expect(await check(client)).toEqual({ backend: 'backend-2', status: 'NOT_SERVING' });

    // A NACK does not make the server resend: one more response (the bad one), then nothing.
    await sleep(300);
    const quiet = (await typeStatus(admin, CLUSTER)) as TypeStatus;
    expect(Number(quiet.responses_sent)).toBe(sentBefore + 1);
    expect(quiet.last_sent_nonce).toBe(nack.nonce);
    console.log(`grpc-js-xds NACK error text: ${nack.error}`);
  });

  it('ACKs the fixed cluster: last_acked_version catches up with last_sent_version', async () => {
    // A different valid cluster (connect_timeout 2 s), so the fixed version is a new one.
    cp.cache.upsert(GROUP, CLUSTER, [cluster(CLUSTER_NAME, 2)]);
    const fixed = cp.cache.typeSet(GROUP, CLUSTER)?.version as string;
    const s = await untilStatus(admin, CLUSTER, (t) => t.last_acked_version === fixed, 5000, 'CDS ACK after fix');
    expect(s.last_sent_version).toBe(fixed);
    expect(s.last_acked_version).toBe(s.last_sent_version);
    // The NACK stays on record, for the version that was rejected.
    expect(s.last_nack?.version).not.toBe(fixed);
    expect(s.last_nack?.error).toContain('LEAST_REQUEST');
    // A changed cluster re-warms: EDS was sent again and ACKed too.
    await untilStatus(admin, ENDPOINT, (t) => t.last_acked_version === t.last_sent_version, 3000, 'EDS in sync after CDS fix');
    for (let i = 0; i < 3; i++) expect(await check(client)).toEqual({ backend: 'backend-2', status: 'NOT_SERVING' });
  });

  it('NACKs EDS with a hostname instead of an IP, keeps backend 2, then follows the fix to backend 1', async () => {
    const good = await untilStatus(admin, ENDPOINT, (s) => s.last_acked_version === s.last_sent_version, 3000, 'EDS in sync');
    cp.cache.setType(GROUP, ENDPOINT, [endpoints(CLUSTER_NAME, b1.port, 'localhost')]);
    const bad = cp.cache.typeSet(GROUP, ENDPOINT)?.version as string;

    const nacked = await untilStatus(admin, ENDPOINT, (s) => !!s.last_nack && s.last_nack.version === bad, 5000, 'EDS NACK');
    expect(nacked.last_acked_version).toBe(good.last_acked_version);
    expect(nacked.last_nack?.error).toContain('localhost');
    expect(nacked.last_nack?.error).toMatch(/not a valid IPv4 or IPv6 address/);
    for (let i = 0; i < 3; i++) expect(await check(client)).toEqual({ backend: 'backend-2', status: 'NOT_SERVING' });

    cp.cache.setType(GROUP, ENDPOINT, [endpoints(CLUSTER_NAME, b1.port)]);
    await untilBackend(client, 'backend-1', 10_000);
    const s = await untilStatus(admin, ENDPOINT, (t) => t.last_acked_version === cp.cache.typeSet(GROUP, ENDPOINT)?.version, 3000, 'EDS ACK after fix');
    expect(s.last_sent_version).toBe(s.last_acked_version);
  });
});
