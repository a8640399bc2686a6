import * as grpc from '@grpc/grpc-js';
import { ADMIN_SERVICE, addAdminService } from '../../src/admin/adminService';
import { addReflection } from '../../src/admin/reflection';
import { encodeMessage, messageJson } from '../../src/envoy/any';
import { serviceDefinition } from '../../src/envoy/grpcService';
import { messageType } from '../../src/envoy/protos';
import { LISTENER, ROUTE } from '../../src/envoy/typeUrls';
import { SnapshotCache, type NamedResource } from '../../src/xds/cache';
import { XdsServer } from '../../src/xds/server';
import { bindLoopback, shutdown } from '../helpers/ads';
import { bufCurlOk } from '../helpers/buf';
import { listener } from '../helpers/resources';

/**
 * The admin service's Explain: the route a group's routers pick for a request, worked out by the
 * adapter on the route table it serves, so a client receives the answer and not the table.
 */

const ROUTES = 3000;

/** One RouteConfiguration of `ROUTES` routes (/api{i}/items/{id} → cluster c{i}), as a big label has. */
function bigRouteTable(name: string, clusterPrefix: string): NamedResource {
  const routes = Array.from({ length: ROUTES }, (_, i) => ({
    name: `Api${i}:1.0:/items/{id}`,
    match: { safe_regex: { regex: `^/api${i}/1\\.0/items/[^/]+/?$` }, headers: [{ name: ':method', string_match: { exact: 'GET' } }] },
    route: { cluster: `${clusterPrefix}${i}`, timeout: '60s' },
  }));
  return { name, value: encodeMessage(ROUTE, { name, virtual_hosts: [{ name: 'localhost', domains: ['localhost', 'localhost:*'], routes }] }) };
}

let cache: SnapshotCache;
let xds: XdsServer;
let server: grpc.Server;
let address: string;
let client: grpc.Client & Record<string, any>;

beforeAll(async () => {
  cache = new SnapshotCache();
  xds = new XdsServer(cache, { debounceMs: 0 });
  server = new grpc.Server();
  addAdminService(server, xds);
  addReflection(server, [ADMIN_SERVICE]);
  address = `127.0.0.1:${await bindLoopback(server)}`;
  const Client = grpc.makeGenericClientConstructor(serviceDefinition(ADMIN_SERVICE), 'admin');
  client = new Client(address, grpc.credentials.createInsecure()) as grpc.Client & Record<string, any>;
  cache.setGroup('Default', { [LISTENER]: [listener('http', 'default')], [ROUTE]: [bigRouteTable('default', 'c')] });
});
afterAll(async () => {
  client.close();
  xds.close();
  await shutdown(server);
});

/** The call's decoded answer and its size on the wire. */
function explain(req: object): Promise<{ res: Record<string, any>; bytes: number }> {
  return new Promise((resolve, reject) =>
    client.Explain(req, (err: grpc.ServiceError | null, res: object) => {
      if (err) return reject(err);
      const type = messageType('apimconnect.admin.v1.ExplainResponse');
      resolve({ res: messageJson(type, res), bytes: type.encode(res).finish().length });
    }),
  );
}

test('answers with the chosen route, and with no more than the answer', async () => {
  const { res, bytes } = await explain({ group: 'Default', method: 'GET', url: `http://localhost:9090/api${ROUTES - 1}/1.0/items/7` });
  expect(res.listener).toBe('http :9090');
  expect(res.explanation).toMatchObject({ matched: true, routeConfig: 'default', routeIndex: ROUTES - 1, routeName: `Api${ROUTES - 1}:1.0:/items/{id}`, cluster: `c${ROUTES - 1}` });
  // A field the explanation leaves out is absent, not null (as `ctl explain --json` always printed it).
  expect(JSON.stringify(res.explanation)).not.toContain('null');
  const table = cache.get('Default', ROUTE, 'default')!.value.length;
  expect(table).toBeGreaterThan(200_000);
  expect(bytes).toBeLessThan(2_000);
});

test('near misses and the Host the routes see', async () => {
  const miss = await explain({ group: 'Default', method: 'POST', url: 'http://localhost:9090/api3/1.0/items/7' });
  expect(miss.res.explanation).toMatchObject({ matched: false, reason: 'no route', nearMisses: [{ routeIndex: 3, routeName: 'Api3:1.0:/items/{id}' }] });
  const hosted = await explain({ group: 'Default', method: 'GET', url: 'http://127.0.0.1:9090/api3/1.0/items/7', headers: { Host: 'localhost:9090' } });
  expect(hosted.res.explanation).toMatchObject({ matched: true, cluster: 'c3', authority: 'localhost:9090' });
  expect(hosted.res.host).toBeUndefined(); // this listener keeps the port
});

test('what it cannot explain is said plainly, with the status that fits', async () => {
  const refusal = (req: object): Promise<grpc.ServiceError> => explain(req).then(() => Promise.reject(new Error('answered')), (err: grpc.ServiceError) => err);
  expect(await refusal({ group: 'Nope', method: 'GET', url: 'http://localhost/' })).toMatchObject({ code: grpc.status.NOT_FOUND, details: 'explain: no node group "Nope"' });
  expect(await refusal({ group: 'Default', method: 'GET', url: 'http://localhost/', route_config: 'other' })).toMatchObject({
    code: grpc.status.NOT_FOUND,
    details: 'explain: the label has no RouteConfiguration "other" (it has: "default")',
  });
  expect(await refusal({ group: 'Default', method: 'GET', url: '/api1/1.0/items/7' })).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
});

test('a changed route table is explained as it is now', async () => {
  const url = 'http://localhost:9090/api5/1.0/items/7';
  expect((await explain({ group: 'Default', method: 'GET', url })).res.explanation.cluster).toBe('c5');
  cache.setType('Default', ROUTE, [bigRouteTable('default', 'next-')]);
  expect((await explain({ group: 'Default', method: 'GET', url })).res.explanation.cluster).toBe('next-5');
});

test('buf curl calls it with no schema file (reflection)', async () => {
  const out = await bufCurlOk([
    '-d',
    JSON.stringify({ group: 'Default', method: 'GET', url: 'http://localhost:9090/api9/1.0/items/1' }),
    `http://${address}/${ADMIN_SERVICE}/Explain`,
  ]);
  expect(JSON.parse(out)).toMatchObject({ listener: 'http :9090', explanation: { matched: true, routeIndex: 9 } });
});
