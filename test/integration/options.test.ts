import * as crypto from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { parseConfig } from '../../src/config/config';
import { createLogger } from '../../src/config/log';
import { startAdapter, type Adapter } from '../../src/cli/adapter';
import { runExplain } from '../../src/cli/explain';
import { CLUSTER_HEADER, ROUTE_METADATA_NAMESPACE } from '../../src/enforcer/check';
import { IssuerRegistry, JwtValidator } from '../../src/enforcer/jwt';
import { RevocationSet } from '../../src/enforcer/revocations';
import { AUTHORIZATION_SERVICE, startEnforcerServer, type EnforcerServer } from '../../src/enforcer/server';
import { EnforcerView } from '../../src/enforcer/view';
import { serviceDefinition } from '../../src/envoy/grpcService';
import { messageType } from '../../src/envoy/protos';
import { silentLog } from '../../src/xds/log';
import { waitFor } from '../helpers/ads';
import { api as modelApi, endpointSet } from '../helpers/apis';
import { mintJwt } from '../helpers/jwt';

/**
 * Finding 3 of issue 11: an OPTIONS request that is not a CORS preflight, on a secured resource.
 * The request goes through the route table the adapter serves (ctl explain evaluates it as Envoy
 * does) and the route's metadata to a real enforcer over gRPC: it must be answered 204 with
 * `Allow`, never forwarded with the backend's credentials; a preflight is the CORS filter's; an
 * API's own OPTIONS operation is secured like any other.
 */

const ISS = 'https://idp.example.com/token';
const signer = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const BASIC = `Basic ${Buffer.from('svc:backend-secret').toString('base64')}`;

const vault = modelApi({
  name: 'Vault',
  context: '/vault',
  endpoints: { production: { ...endpointSet('https://backend.example.com/v1'), basicAuth: { username: 'svc', password: 'backend-secret' } } },
  cors: { enabled: true, allowOrigins: ['https://app.example.com'], allowMethods: ['GET', 'OPTIONS'], allowHeaders: ['authorization'], exposeHeaders: [], allowCredentials: false },
  resources: [
    { path: '/items', operations: [{ method: 'GET', secured: true, scopes: [] }, { method: 'POST', secured: true, scopes: [] }] },
    { path: '/items/{id}', operations: [{ method: 'GET', secured: true, scopes: [] }] },
    { path: '/admin', operations: [{ method: 'GET', secured: true, scopes: [] }, { method: 'OPTIONS', secured: true, scopes: [] }] },
  ],
});

interface Reply {
  status: { code?: number };
  ok_response?: { headers?: Array<{ header: { key: string; value: string } }> };
  denied_response?: { status: { code: number }; headers?: Array<{ header: { key: string; value: string } }>; body?: string };
}

let adapter: Adapter;
let view: EnforcerView;
let revoked: RevocationSet;
let server: EnforcerServer;
let client: grpc.Client & { Check: Function };
const CheckResponse = messageType('envoy.service.auth.v3.CheckResponse');

beforeAll(async () => {
  const config = parseConfig('[adapter]\nhost = "127.0.0.1"\nxdsPort = 0\nhttpPort = 0\ndebounceMs = 0\napisDirectory = ""\n', 'test.toml');
  adapter = await startAdapter(config, createLogger('error', 'test'));
  adapter.pipeline.apply([{ kind: 'ApiDeployed', api: vault }]);
  view = new EnforcerView({ address: `127.0.0.1:${adapter.port}`, label: 'Default', nodeId: 'enforcer-options', backoff: { initialMs: 50, maxMs: 200 } });
  const registry = new IssuerRegistry();
  registry.setConfigIssuers([{ name: 'IdP', issuer: ISS, certificate: signer.publicKey.export({ type: 'spki', format: 'pem' }) as string, validateSubscription: false }]);
  revoked = new RevocationSet({ pruneIntervalMs: 0 });
  server = await startEnforcerServer({ host: '127.0.0.1', port: 0, view, jwt: new JwtValidator(registry), revoked, log: silentLog });
  client = new (grpc.makeGenericClientConstructor(serviceDefinition(AUTHORIZATION_SERVICE), 'Authorization'))(
    `127.0.0.1:${server.port}`,
    grpc.credentials.createInsecure(),
  ) as unknown as typeof client;
  await view.whenReady();
  await waitFor(() => view.api(vault.id) !== undefined);
}, 30_000);

afterAll(async () => {
  client?.close();
  await server?.stop();
  view?.close();
  revoked?.stop();
  await adapter?.stop();
});

/** The route the label's router picks (as `ctl explain --json` reports it). */
async function explain(method: string, path: string, headers: string[] = []): Promise<Record<string, any>> {
  const lines: string[] = [];
  await runExplain([method, `http://localhost:9090${path}`, ...headers.flatMap((h) => ['-H', h])], { address: `127.0.0.1:${adapter.port}`, label: 'Default', json: true }, (l) => lines.push(l));
  return JSON.parse(lines.join('\n'));
}

/** What the router sends the enforcer for that route: the route's metadata, the request as sent. */
async function checkVia(route: Record<string, any>, method: string, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  const meta = route.enforcer.routeMetadata[ROUTE_METADATA_NAMESPACE] as { apiId: string; path: string };
  const req = {
    attributes: {
      request: { http: { id: 'r-1', method, path, host: 'localhost', headers: { ':method': method, ':path': path, ...headers } } },
      route_metadata_context: { filter_metadata: { [ROUTE_METADATA_NAMESPACE]: { fields: { apiId: { stringValue: meta.apiId }, path: { stringValue: meta.path } } } } },
    },
  };
  return new Promise((resolve, reject) =>
    client.Check(req, (err: Error | null, res: unknown) => (err ? reject(err) : resolve(CheckResponse.toObject(res as never, { defaults: false }) as Reply))),
  );
}

const headerOf = (r: Reply, name: string): string | undefined =>
  (r.ok_response?.headers ?? r.denied_response?.headers ?? []).find((h) => h.header.key === name)?.header.value;

describe('OPTIONS on a secured resource', () => {
  test('without Origin: routed to the enforcer, which answers 204 with Allow and never forwards it', async () => {
    for (const [path, allow] of [['/vault/1.0.0/items', 'OPTIONS, GET, POST'], ['/vault/1.0.0/items/7', 'OPTIONS, GET']] as const) {
      const route = await explain('OPTIONS', path);
      expect(route).toMatchObject({ apiRoute: true, action: 'route', enforcer: { disabled: false } });
      const r = await checkVia(route, 'OPTIONS', path);
      expect(r.ok_response).toBeUndefined();
      expect(r.denied_response?.status.code).toBe(204);
      expect(headerOf(r, 'allow')).toBe(allow);
      expect(r.denied_response?.body ?? '').toBe('');
      // Neither the backend's credentials nor its cluster appear anywhere in the answer.
      expect(JSON.stringify(r)).not.toContain(BASIC);
      expect(headerOf(r, CLUSTER_HEADER)).toBeUndefined();
    }
  });

  test('a real preflight meets the API CORS policy on its route (the CORS filter answers it before ext_authz)', async () => {
    const route = await explain('OPTIONS', '/vault/1.0.0/items', ['Origin: https://app.example.com', 'Access-Control-Request-Method: GET']);
    expect(route.cors).toMatchObject({ from: 'route', policy: { allow_origin_string_match: [{ exact: 'https://app.example.com' }], allow_methods: 'GET,OPTIONS' } });
    // Were it to reach the enforcer anyway (an origin the policy refuses), it is still not forwarded.
    const r = await checkVia(route, 'OPTIONS', '/vault/1.0.0/items', { origin: 'https://evil.example.com', 'access-control-request-method': 'GET' });
    expect(r.denied_response?.status.code).toBe(204);
  });

  test('an API that defines OPTIONS: the operation needs a token like any other', async () => {
    const route = await explain('OPTIONS', '/vault/1.0.0/admin');
    const anonymous = await checkVia(route, 'OPTIONS', '/vault/1.0.0/admin');
    expect(anonymous.denied_response?.status.code).toBe(401);
    expect(JSON.parse(anonymous.denied_response!.body!)).toMatchObject({ code: '900901' });
    expect(JSON.stringify(anonymous)).not.toContain(BASIC);
    const token = mintJwt({ iss: ISS, sub: 'alice', azp: 'ck', exp: Math.floor(Date.now() / 1000) + 600 }, signer.privateKey);
    const ok = await checkVia(route, 'OPTIONS', '/vault/1.0.0/admin', { authorization: `Bearer ${token}` });
    expect(ok.ok_response).toBeDefined();
    expect(headerOf(ok, 'authorization')).toBe(BASIC);
  });
});
