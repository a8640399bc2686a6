import * as crypto from 'node:crypto';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { parseConfig } from '../../src/config/config';
import { createLogger } from '../../src/config/log';
import { startAdapter, type Adapter } from '../../src/cli/adapter';
import { CLUSTER_HEADER, ROUTE_METADATA_NAMESPACE, WWW_AUTHENTICATE, decide, type Decision } from '../../src/enforcer/check';
import { BackendJwtIssuer } from '../../src/enforcer/backend-jwt';
import { IssuerRegistry, JwtValidator } from '../../src/enforcer/jwt';
import { RevocationSet } from '../../src/enforcer/revocations';
import { AUTHORIZATION_SERVICE, ResponseEncoder, checkResponseFor, startEnforcerServer, type EnforcerServer } from '../../src/enforcer/server';
import { EnforcerView, type EnforcerApi } from '../../src/enforcer/view';
import { serviceDefinition } from '../../src/envoy/grpcService';
import { messageType } from '../../src/envoy/protos';
import { silentLog } from '../../src/xds/log';
import * as names from '../../src/translate/names';
import { waitFor } from '../helpers/ads';
import { api as modelApi, endpointSet } from '../helpers/apis';
import { selfSignedCertificate } from '../helpers/certs';
import { addReflection } from '../../src/admin/reflection';
import { bufCurl } from '../helpers/buf';
import { b64json, mintJwt } from '../helpers/jwt';

const APIS = path.join(__dirname, '..', '..', 'apis');
const ISS = 'https://localhost:9443/oauth2/token';
const KM = 'Resident Key Manager';
const AUD_ISS = 'https://aud.example.com/token';
const ORG = 'carbon.super';
const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const apikeySigner = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const publisherSigner = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });

const mint = (claims: Record<string, unknown>, opts: { alg?: 'RS256' | 'none'; key?: crypto.KeyObject } = {}): string => mintJwt(claims, opts.key ?? rsa.privateKey, opts.alg);
const sec = (ms: number): number => Math.floor(ms / 1000);
const token = (extra: Record<string, unknown> = {}): string =>
  mint({ iss: ISS, sub: 'alice', azp: 'ck-prod', scope: 'openid', jti: crypto.randomUUID(), exp: sec(Date.now()) + 3600, ...extra });

let adapter: Adapter;
let view: EnforcerView;
let idleView: EnforcerView | undefined;
let revoked: RevocationSet;
let jwt: JwtValidator;
let server: EnforcerServer;
let idle: EnforcerServer | undefined;
let client: grpc.Client & { Check: Function };
let petstore: EnforcerApi;
let orders: EnforcerApi;

const ClientCtor = grpc.makeGenericClientConstructor(serviceDefinition(AUTHORIZATION_SERVICE), 'Authorization');
const HealthCtor = grpc.makeGenericClientConstructor(serviceDefinition('grpc.health.v1.Health'), 'Health');
const CheckResponse = messageType('envoy.service.auth.v3.CheckResponse');

interface Reply {
  status: { code?: number; message?: string };
  ok_response?: { headers?: Array<{ header: { key: string; value: string } }>; headers_to_remove?: string[] };
  denied_response?: { status: { code: number }; headers?: Array<{ header: { key: string; value: string } }>; body: string };
  dynamic_metadata?: { fields: Record<string, { stringValue: string }> };
}

function check(apiId: string, template: string, method: string, headers: Record<string, string> = {}, requestPath = template, certificate?: string): Promise<Reply> {
  const req = {
    attributes: {
      // As Envoy passes a client certificate (include_peer_certificate): URL-encoded PEM.
      ...(certificate ? { source: { certificate: encodeURIComponent(certificate) } } : {}),
      request: { http: { id: 'r-1', method, path: requestPath, host: 'localhost', headers: { ':method': method, ':path': requestPath, ...headers } } },
      route_metadata_context: {
        filter_metadata: { [ROUTE_METADATA_NAMESPACE]: { fields: { apiId: { stringValue: apiId }, path: { stringValue: template } } } },
      },
    },
  };
  return new Promise((resolve, reject) =>
    client.Check(req, (err: Error | null, res: unknown) => (err ? reject(err) : resolve(CheckResponse.toObject(res as never, { defaults: false }) as Reply))),
  );
}
const bearer = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` });
const headerOf = (r: Reply, name: string): string | undefined =>
  (r.ok_response?.headers ?? r.denied_response?.headers ?? []).find((h) => h.header.key === name)?.header.value;
const denied = (r: Reply): { status: number; code: string; body: Record<string, string>; www?: string } => {
  expect(r.denied_response).toBeDefined();
  const body = JSON.parse(r.denied_response!.body) as Record<string, string>;
  return { status: r.denied_response!.status.code, code: body.code!, body, www: headerOf(r, 'www-authenticate') };
};

function health(port: number): Promise<string> {
  const c = new HealthCtor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & { Check: Function };
  const Resp = messageType('grpc.health.v1.HealthCheckResponse');
  return new Promise((resolve, reject) =>
    c.Check({ service: '' }, (err: Error | null, res: unknown) => {
      c.close();
      if (err) reject(err);
      else resolve((Resp.toObject(res as never, { enums: String }) as { status: string }).status);
    }),
  );
}

beforeAll(async () => {
  const config = parseConfig(`[adapter]\nhost = "127.0.0.1"\nxdsPort = 0\nhttpPort = 0\ndebounceMs = 0\napisDirectory = ${JSON.stringify(APIS)}\n`, 'test.toml');
  adapter = await startAdapter(config, createLogger('error', 'test'));
  const apis = [...adapter.pipeline.current.apis.values()];
  const pet = apis.find((a) => a.name === 'PetStore')!;
  const ord = apis.find((a) => a.name === 'Orders')!;
  adapter.pipeline.apply([
    { kind: 'Upserted', collection: 'applications', value: { uuid: 'app-1', name: 'Shop', owner: 'alice', policy: 'Unlimited', attributes: {}, organization: ORG } },
    { kind: 'Upserted', collection: 'applications', value: { uuid: 'app-2', name: 'Blocked', owner: 'bob', policy: 'Unlimited', attributes: {}, organization: ORG } },
    { kind: 'Upserted', collection: 'applications', value: { uuid: 'app-3', name: 'Lonely', owner: 'carol', policy: 'Unlimited', attributes: {}, organization: ORG } },
    { kind: 'Upserted', collection: 'keyMappings', value: { consumerKey: 'ck-prod', keyManager: KM, keyType: 'PRODUCTION', appUuid: 'app-1', organization: ORG } },
    { kind: 'Upserted', collection: 'keyMappings', value: { consumerKey: 'ck-sand', keyManager: KM, keyType: 'SANDBOX', appUuid: 'app-1', organization: ORG } },
    { kind: 'Upserted', collection: 'keyMappings', value: { consumerKey: 'ck-blocked', keyManager: KM, keyType: 'PRODUCTION', appUuid: 'app-2', organization: ORG } },
    { kind: 'Upserted', collection: 'keyMappings', value: { consumerKey: 'ck-unsub', keyManager: KM, keyType: 'PRODUCTION', appUuid: 'app-3', organization: ORG } },
    { kind: 'Upserted', collection: 'subscriptions', value: { uuid: 'sub-1', apiUuid: pet.id, appUuid: 'app-1', policy: 'Unlimited', state: 'UNBLOCKED', organization: ORG } },
    { kind: 'Upserted', collection: 'subscriptions', value: { uuid: 'sub-2', apiUuid: ord.id, appUuid: 'app-1', policy: 'Unlimited', state: 'UNBLOCKED', organization: ORG } },
    { kind: 'Upserted', collection: 'subscriptions', value: { uuid: 'sub-3', apiUuid: pet.id, appUuid: 'app-2', policy: 'Unlimited', state: 'BLOCKED', organization: ORG } },
  ]);

  view = new EnforcerView({ address: `127.0.0.1:${adapter.port}`, label: 'Default', nodeId: 'enforcer-1', backoff: { initialMs: 50, maxMs: 200 } });
  const registry = new IssuerRegistry();
  registry.setConfigIssuers([
    { name: KM, issuer: ISS, certificate: rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string },
    // CC's default: no iss of its own, found by name.
    { name: 'APIM APIkey', issuer: '', certificate: apikeySigner.publicKey.export({ type: 'spki', format: 'pem' }) as string },
    { name: 'APIM Publisher', issuer: 'https://localhost:9443/publisher', certificate: publisherSigner.publicKey.export({ type: 'spki', format: 'pem' }) as string },
    { name: 'Audience IdP', issuer: AUD_ISS, certificate: rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string, audience: ['https://api.example.com'] },
  ]);
  jwt = new JwtValidator(registry);
  revoked = new RevocationSet({ pruneIntervalMs: 0 });
  server = await startEnforcerServer({ host: '127.0.0.1', port: 0, view, jwt, revoked, log: silentLog, register: addReflection });
  client = new ClientCtor(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure()) as unknown as typeof client;
  await view.whenReady();
  await waitFor(() => view.subscription(pet.id, 'app-2', ORG) !== undefined && view.subscription(ord.id, 'app-1', ORG) !== undefined);
  petstore = view.api(pet.id)!;
  orders = view.api(ord.id)!;
}, 30_000);

afterAll(async () => {
  client?.close();
  await server?.stop();
  await idle?.stop();
  idleView?.close();
  view?.close();
  revoked?.stop();
  await adapter.stop();
});

test('replies are encoded once per distinct content, and every field of a decision tells them apart', () => {
  const enc = new ResponseEncoder();
  const allow = (over: Partial<Extract<Decision, { allow: true }>> = {}): Decision => ({
    allow: true,
    subject: { api: petstore, resource: petstore.resources[0]!, keyType: 'PRODUCTION', user: 'alice' },
    headers: { [CLUSTER_HEADER]: 'c1' },
    headersToRemove: ['authorization'],
    dynamicMetadata: { k: 'v' },
    reason: 'r1',
    ...over,
  });
  const first = enc.encode(allow());
  expect(enc.encode(allow({ reason: 'another reason' })).equals(first)).toBe(true); // the reason is for logs only
  const plain = (d: Decision): object => CheckResponse.toObject(CheckResponse.fromObject(checkResponseFor(d)), { defaults: false });
  expect(CheckResponse.toObject(CheckResponse.decode(first), { defaults: false })).toEqual(plain(allow()));
  // Response headers (new on every request) are framed into the memoised reply: the same message.
  const counted = allow({ rateLimit: { limit: 10, remaining: 7, resetSeconds: 42 } });
  expect(CheckResponse.toObject(CheckResponse.decode(enc.encode(counted)), { defaults: false })).toEqual(plain(counted));
  expect((plain(counted) as any).ok_response.response_headers_to_add.map((h: any) => `${h.header.key}=${h.header.value}`)).toEqual(['ratelimit-limit=10', 'ratelimit-remaining=7', 'ratelimit-reset=42']);
  // Long values grow every length around them; the memoised body is left as it was.
  const big = allow({ rateLimit: { limit: 1e15, remaining: 999_999_999_999_999, resetSeconds: 86_400 } });
  expect(CheckResponse.toObject(CheckResponse.decode(enc.encode(big)), { defaults: false })).toEqual(plain(big));
  expect(enc.encode(allow()).equals(first)).toBe(true);
  const variants = [
    allow({ headers: { [CLUSTER_HEADER]: 'c2' } }),
    allow({ headers: { [CLUSTER_HEADER]: 'c1', authorization: 'Basic x' } }),
    allow({ headersToRemove: [] }),
    allow({ headersToRemove: ['apikey'] }),
    allow({ queryParamsToRemove: ['authorization'] }),
    allow({ dynamicMetadata: { k: 'w' } }),
  ];
  const encoded = variants.map((d) => enc.encode(d).toString('base64'));
  expect(new Set([first.toString('base64'), ...encoded]).size).toBe(variants.length + 1);
  const deny = (code: string): Decision => ({ allow: false, status: 401, code, body: `{"code":"${code}"}`, headers: {}, dynamicMetadata: {}, reason: '' });
  expect(enc.encode(deny('900901')).equals(enc.encode(deny('900900')))).toBe(false);
});

test('reflection: buf curl finds Check and calls it without schema files', async () => {
  const url = `http://127.0.0.1:${server.port}`;
  const services = await bufCurl(['--list-services', url], undefined, 60_000);
  expect(services.stdout.split('\n')).toEqual(expect.arrayContaining([AUTHORIZATION_SERVICE, 'grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection']));
  const body = JSON.stringify({
    attributes: {
      request: { http: { method: 'GET', path: '/pets', headers: { authorization: `Bearer ${token()}` } } },
      routeMetadataContext: { filterMetadata: { [ROUTE_METADATA_NAMESPACE]: { apiId: petstore.id, path: '/pets' } } },
    },
  });
  const res = await bufCurl([`${url}/${AUTHORIZATION_SERVICE}/Check`, '-d', body], undefined, 60_000);
  expect({ code: res.code, stderr: res.stderr }).toEqual({ code: 0, stderr: '' });
  expect(JSON.parse(res.stdout).okResponse.headers).toEqual(expect.arrayContaining([expect.objectContaining({ header: { key: CLUSTER_HEADER, value: 'carbon-super_localhost_PetStore_1-0-0_637a771f_prod' } })]));
});

test('the constants copied into the enforcer match the translator', () => {
  expect(ROUTE_METADATA_NAMESPACE).toBe(names.ROUTE_METADATA_NAMESPACE);
  expect(CLUSTER_HEADER).toBe(names.CLUSTER_HEADER);
});

test('health: SERVING once the view is ready; NOT_SERVING before', async () => {
  expect(await health(server.port)).toBe('SERVING');
  // a view whose adapter never answers is never ready
  idleView = new EnforcerView({ address: '127.0.0.1:1', label: 'Default', nodeId: 'enforcer-idle', backoff: { initialMs: 50, maxMs: 200 } });
  idle = await startEnforcerServer({ host: '127.0.0.1', port: 0, view: idleView, jwt, revoked, log: silentLog });
  expect(await health(idle.port)).toBe('NOT_SERVING');
});

test('a valid subscribed production token is allowed to the production cluster, credentials removed', async () => {
  const r = await check(petstore.id, '/pets', 'GET', bearer(token()), '/petstore/1.0.0/pets');
  expect(r.status.code ?? 0).toBe(0);
  expect(r.ok_response).toBeDefined();
  const res = petstore.resources.find((x) => x.path === '/pets')!;
  expect(headerOf(r, CLUSTER_HEADER)).toBe(res.production_cluster);
  expect(res.production_cluster).toBe('carbon-super_localhost_PetStore_1-0-0_637a771f_prod');
  expect(r.ok_response!.headers_to_remove).toContain('authorization');
  expect(r.ok_response!.headers_to_remove ?? []).not.toContain(CLUSTER_HEADER);
  expect(r.dynamic_metadata!.fields['choreo-connect-enforcer-reply']!.stringValue).toBe('Ok');
});

test('no token: 401 / 900901 with the Bearer challenge', async () => {
  const r = await check(petstore.id, '/pets', 'GET');
  expect(r.status.code).toBe(grpc.status.UNAUTHENTICATED);
  const d = denied(r);
  expect(d).toMatchObject({ status: 401, code: '900901', www: WWW_AUTHENTICATE });
  expect(d.body).toEqual({
    code: '900901',
    error_message: 'Invalid Credentials',
    error_description: 'Invalid Credentials. Make sure you have provided the correct security credentials',
  });
  expect(headerOf(r, 'content-type')).toBe('application/json');
  expect(r.dynamic_metadata!.fields['choreo-connect-enforcer-reply']!.stringValue).toBe('Ok');
  // not a Bearer JWT at all: the same
  expect(denied(await check(petstore.id, '/pets', 'GET', { authorization: 'Basic YWxpY2U6c2VjcmV0' }))).toMatchObject({ status: 401, code: '900901' });
});

test('expired, alg none, wrong key and revoked tokens: 401 / 900901', async () => {
  const expired = token({ exp: sec(Date.now()) - 3600 });
  expect(denied(await check(petstore.id, '/pets', 'GET', bearer(expired)))).toMatchObject({ status: 401, code: '900901', www: WWW_AUTHENTICATE });
  const none = mint({ iss: ISS, azp: 'ck-prod', exp: sec(Date.now()) + 3600 }, { alg: 'none' });
  expect(denied(await check(petstore.id, '/pets', 'GET', bearer(`${none}AAAA`)))).toMatchObject({ status: 401, code: '900901' });
  const forged = mint({ iss: ISS, azp: 'ck-prod', exp: sec(Date.now()) + 3600 }, { key: other.privateKey });
  expect(denied(await check(petstore.id, '/pets', 'GET', bearer(forged)))).toMatchObject({ status: 401, code: '900901' });

  const jti = crypto.randomUUID();
  const t = token({ jti });
  expect((await check(petstore.id, '/pets', 'GET', bearer(t))).ok_response).toBeDefined(); // valid, and now cached
  revoked.add({ id: jti, expiresAt: Date.now() + 3_600_000 });
  const d = denied(await check(petstore.id, '/pets', 'GET', bearer(t)));
  expect(d).toMatchObject({ status: 401, code: '900901' });
  expect(d.body.error_description).toBe('Invalid JWT token. Make sure you have provided the correct security credentials');
});

test('subscription validation: unsubscribed 403 / 900908, blocked 401 / 900907, unknown consumer key 403', async () => {
  const unsub = denied(await check(petstore.id, '/pets', 'GET', bearer(token({ azp: 'ck-unsub' }))));
  expect(unsub).toMatchObject({ status: 403, code: '900908', www: WWW_AUTHENTICATE });
  expect(unsub.body.error_message).toBe('Resource forbidden');
  const blocked = await check(petstore.id, '/pets', 'GET', bearer(token({ azp: 'ck-blocked' })));
  expect(denied(blocked)).toMatchObject({ status: 401, code: '900907' });
  expect(denied(await check(petstore.id, '/pets', 'GET', bearer(token({ azp: 'nobody' }))))).toMatchObject({ status: 403, code: '900908' });
  // app-1 is subscribed to orders, app-3 to nothing
  expect(denied(await check(orders.id, '/orders', 'GET', bearer(token({ azp: 'ck-unsub' }))))).toMatchObject({ status: 403, code: '900908' });
});

test('scopes: the operation needs one of its scopes, else 403 / 900910', async () => {
  const d = denied(await check(petstore.id, '/pets', 'POST', bearer(token({ scope: 'openid' }))));
  expect(d).toMatchObject({ status: 403, code: '900910' });
  expect(d.body.error_description).toBe('User is NOT authorized to access the Resource: /pets. Scope validation failed.');
  expect((await check(petstore.id, '/pets', 'POST', bearer(token({ scope: 'openid pets:write' })))).ok_response).toBeDefined();
});

test('a sandbox key goes to the sandbox cluster', async () => {
  const r = await check(orders.id, '/orders', 'GET', bearer(token({ azp: 'ck-sand' })));
  const res = orders.resources.find((x) => x.path === '/orders')!;
  expect(res.sandbox_cluster).not.toBe('');
  expect(headerOf(r, CLUSTER_HEADER)).toBe(res.sandbox_cluster);
  // a keytype claim overrides the key mapping
  const p = await check(orders.id, '/orders', 'GET', bearer(token({ azp: 'ck-sand', keytype: 'PRODUCTION' })));
  expect(headerOf(p, CLUSTER_HEADER)).toBe(res.production_cluster);
});

test('a sandbox key on a resource without a sandbox endpoint: 401 with a clear message', async () => {
  // every API in apis/ has a sandbox endpoint: the same API without one, through decide()
  const noSandbox: EnforcerApi = { ...petstore, resources: petstore.resources.map((r) => ({ ...r, sandbox_cluster: '' })) };
  const stub = { api: (id: string) => (id === petstore.id ? noSandbox : undefined), application: view.application.bind(view), keyMapping: view.keyMapping.bind(view), subscription: view.subscription.bind(view) };
  const req = {
    attributes: {
      request: { http: { method: 'GET', path: '/petstore/1.0.0/pets', headers: bearer(token({ azp: 'ck-sand' })) } },
      route_metadata_context: { filter_metadata: { [ROUTE_METADATA_NAMESPACE]: { apiId: petstore.id, path: '/pets' } } },
    },
  };
  const d = (await decide(req, { view: stub, jwt, revoked })) as Decision;
  expect(d).toMatchObject({ allow: false, status: 401, code: '900901' });
  expect(!d.allow && JSON.parse(d.body).error_description).toBe(
    'Sandbox key offered to an API with no sandbox endpoint. Make sure you have provided the correct security credentials',
  );
});

test('the same API in another organization: this organization\'s token and API key reach nothing there (key mapping, application and subscription are looked up in the API\'s organization)', async () => {
  const elsewhere: EnforcerApi = { ...petstore, organization: 'beta.com' };
  const request = (api: EnforcerApi, headers: Record<string, string>) => {
    const stub = { api: (id: string) => (id === api.id ? api : undefined), application: view.application.bind(view), keyMapping: view.keyMapping.bind(view), subscription: view.subscription.bind(view) };
    const req = {
      attributes: {
        request: { http: { method: 'GET', path: '/petstore/1.0.0/pets', headers } },
        route_metadata_context: { filter_metadata: { [ROUTE_METADATA_NAMESPACE]: { apiId: api.id, path: '/pets' } } },
      },
    };
    return decide(req, { view: stub, jwt, revoked }) as Promise<Decision> | Decision;
  };
  const t = token();
  const key = apiKey();
  expect(await request(petstore, bearer(t))).toMatchObject({ allow: true });
  expect(await request(petstore, { apikey: key })).toMatchObject({ allow: true });
  // ck-prod and app-1 are carbon.super's: not beta.com's, though the config-file issuer serves every organization
  expect(await request(elsewhere, bearer(t))).toMatchObject({ allow: false, status: 403, code: '900908', reason: expect.stringContaining('organization beta.com') });
  expect(await request(elsewhere, { apikey: key })).toMatchObject({ allow: false, status: 403, code: '900908', reason: expect.stringContaining('organization beta.com') });
});

test('without subscription validation an API key reaches only the APIs its subscribedAPIs name by context: another organization\'s API of the same name and version is not one of them', async () => {
  const registry = new IssuerRegistry();
  registry.setConfigIssuers([{ name: 'APIM APIkey', issuer: '', certificate: apikeySigner.publicKey.export({ type: 'spki', format: 'pem' }) as string, validateSubscription: false }]);
  const keysOnly = new JwtValidator(registry);
  const tenant: EnforcerApi = { ...petstore, id: 'beta-petstore', organization: 'beta.com', context: '/t/beta.com/petstore', base_path: '/t/beta.com/petstore/1.0.0' };
  const request = (api: EnforcerApi, key: string) => {
    const stub = { api: (id: string) => (id === api.id ? api : undefined), application: view.application.bind(view), keyMapping: view.keyMapping.bind(view), subscription: view.subscription.bind(view) };
    const req = {
      attributes: {
        request: { http: { method: 'GET', path: `${api.base_path}/pets`, headers: { apikey: key } } },
        route_metadata_context: { filter_metadata: { [ROUTE_METADATA_NAMESPACE]: { apiId: api.id, path: '/pets' } } },
      },
    };
    return decide(req, { view: stub, jwt: keysOnly, revoked }) as Promise<Decision> | Decision;
  };
  expect(await request(petstore, apiKey())).toMatchObject({ allow: true });
  expect(await request(tenant, apiKey())).toMatchObject({ allow: false, status: 403, code: '900908' });
  expect(await request(tenant, apiKey({ subscribedAPIs: [{ name: 'PetStore', context: tenant.base_path, version: '1.0.0' }] }))).toMatchObject({ allow: true });
  // a name alone, or a context that is not a string, names nothing
  expect(await request(petstore, apiKey({ subscribedAPIs: [{ name: 'PetStore', version: '1.0.0' }] }))).toMatchObject({ allow: false, status: 403, code: '900908' });
  expect(await request(petstore, apiKey({ subscribedAPIs: [{ name: 'PetStore', context: ['/petstore/1.0.0'], version: '1.0.0' }] }))).toMatchObject({ allow: false, status: 403 });
});

test('an unsecured operation is allowed without a token', async () => {
  const op = petstore.resources.find((r) => r.path === '/health')!;
  expect(op.operations[0]!.secured).toBe(false);
  const r = await check(petstore.id, '/health', 'GET');
  expect(r.ok_response).toBeDefined();
  expect(headerOf(r, CLUSTER_HEADER)).toBe(op.production_cluster);
});

test('fail closed: unknown API 404, no route metadata 500, unknown method 404, OPTIONS answered 204 and not forwarded', async () => {
  const unknown = denied(await check('no-such-api', '/pets', 'GET', bearer(token())));
  expect(unknown).toMatchObject({ status: 404, code: '404' });
  expect(denied(await check(petstore.id, '/nope', 'GET', bearer(token())))).toMatchObject({ status: 404 });
  expect(denied(await check(petstore.id, '/health', 'PATCH'))).toMatchObject({ status: 404 });
  const options = await check(petstore.id, '/pets', 'OPTIONS');
  expect(options.ok_response).toBeUndefined();
  expect(options.denied_response?.status.code).toBe(204);
  expect(headerOf(options, 'allow')).toBe('OPTIONS, GET, POST');
  const bare = await new Promise<Reply>((resolve, reject) =>
    client.Check({ attributes: { request: { http: { method: 'GET', path: '/x' } } } }, (err: Error | null, res: unknown) =>
      err ? reject(err) : resolve(CheckResponse.toObject(res as never) as Reply),
    ),
  );
  expect(denied(bare)).toMatchObject({ status: 500 });
  expect(bare.status.code).toBe(grpc.status.INTERNAL);
});

test('a throwing view denies with 500 (fail closed)', () => {
  const broken = { api: () => { throw new Error('boom'); }, application: () => undefined, keyMapping: () => undefined, subscription: () => undefined };
  const req = { attributes: { route_metadata_context: { filter_metadata: { [ROUTE_METADATA_NAMESPACE]: { apiId: 'a', path: '/p' } } } } };
  expect(decide(req, { view: broken, jwt, revoked })).toMatchObject({ allow: false, status: 500, code: '900900' });
});

test('subscription states: ON_HOLD 403 / 900909, PROD_ONLY_BLOCKED refuses production keys only', async () => {
  adapter.pipeline.apply([
    { kind: 'Upserted', collection: 'subscriptions', value: { uuid: 'sub-3', apiUuid: petstore.id, appUuid: 'app-2', policy: 'Unlimited', state: 'ON_HOLD', organization: ORG } },
  ]);
  await waitFor(() => view.subscription(petstore.id, 'app-2', ORG)?.state === 'ON_HOLD');
  expect(denied(await check(petstore.id, '/pets', 'GET', bearer(token({ azp: 'ck-blocked' }))))).toMatchObject({ status: 403, code: '900909' });
  adapter.pipeline.apply([
    { kind: 'Upserted', collection: 'subscriptions', value: { uuid: 'sub-3', apiUuid: petstore.id, appUuid: 'app-2', policy: 'Unlimited', state: 'PROD_ONLY_BLOCKED', organization: ORG } },
  ]);
  await waitFor(() => view.subscription(petstore.id, 'app-2', ORG)?.state === 'PROD_ONLY_BLOCKED');
  expect(denied(await check(petstore.id, '/pets', 'GET', bearer(token({ azp: 'ck-blocked' }))))).toMatchObject({ status: 401, code: '900907' });
  const sand = await check(petstore.id, '/pets', 'GET', bearer(token({ azp: 'ck-blocked', keytype: 'SANDBOX' })));
  expect(headerOf(sand, CLUSTER_HEADER)).toBe(petstore.resources.find((r) => r.path === '/pets')!.sandbox_cluster);
});

test('an API in lifecycle BLOCKED: 503 / 700700, secured or not', async () => {
  const blockedApi: EnforcerApi = { ...petstore, lifecycle_status: 'BLOCKED' };
  const stub = { api: () => blockedApi, application: view.application.bind(view), keyMapping: view.keyMapping.bind(view), subscription: view.subscription.bind(view) };
  const req = (p: string, headers: Record<string, string> = {}) => ({
    attributes: {
      request: { http: { method: 'GET', path: p, headers } },
      route_metadata_context: { filter_metadata: { [ROUTE_METADATA_NAMESPACE]: { apiId: petstore.id, path: p } } },
    },
  });
  expect(await decide(req('/pets', bearer(token())), { view: stub, jwt, revoked })).toMatchObject({ allow: false, status: 503, code: '700700' });
  expect(await decide(req('/health'), { view: stub, jwt, revoked })).toMatchObject({ allow: false, status: 503, code: '700700' });
});

// ---- API keys (C.9): JWTs APIM signs, carrying the application and the subscribed APIs

function apiKey(extra: Record<string, unknown> = {}, key: crypto.KeyObject = apikeySigner.privateKey): string {
  return mint(
    {
      iss: 'https://localhost:9443/oauth2/token', sub: 'alice@carbon.super', keytype: 'PRODUCTION', token_type: 'apiKey', jti: crypto.randomUUID(),
      iat: sec(Date.now()), exp: sec(Date.now()) + 3600,
      application: { id: 1, uuid: 'app-1', name: 'Shop', owner: 'alice', tier: 'Unlimited' },
      subscribedAPIs: [{ name: 'PetStore', context: '/petstore/1.0.0', version: '1.0.0', publisher: 'admin', subscriptionTier: 'Unlimited' }],
      ...extra,
    },
    { key },
  );
}

test('API key in the apikey header: allowed to the production cluster, the key stripped', async () => {
  const r = await check(petstore.id, '/pets', 'GET', { apikey: apiKey() }, '/petstore/1.0.0/pets');
  expect(r.ok_response).toBeDefined();
  expect(headerOf(r, CLUSTER_HEADER)).toBe('carbon-super_localhost_PetStore_1-0-0_637a771f_prod');
  expect(r.ok_response!.headers_to_remove).toEqual(['apikey']);
});

test('API key in the query: allowed, and the router is told to drop the parameter', async () => {
  const r = await check(petstore.id, '/pets', 'GET', {}, `/petstore/1.0.0/pets?limit=2&apikey=${apiKey()}`);
  expect(r.ok_response).toBeDefined();
  expect((r.ok_response as { query_parameters_to_remove?: string[] }).query_parameters_to_remove).toEqual(['apikey']);
  expect(r.ok_response!.headers_to_remove ?? []).toEqual([]);
});

test('hostile and unusable API keys are refused with their codes', async () => {
  const code = async (headers: Record<string, string>, p = '/petstore/1.0.0/pets'): Promise<[number, string]> => {
    const d = denied(await check(petstore.id, '/pets', 'GET', headers, p));
    return [d.status, d.code];
  };
  expect(await code({ apikey: apiKey({}, other.privateKey) })).toEqual([401, '900901']); // not APIM's signature
  expect(await code({ apikey: apiKey({ exp: sec(Date.now()) - 60 }) })).toEqual([401, '900901']); // expired
  expect(await code({ apikey: apiKey({ token_type: 'InternalKey' }) })).toEqual([401, '900901']);
  expect(await code({ apikey: `${apiKey().split('.').slice(0, 2).join('.')}.` })).toEqual([401, '900901']); // no signature
  const jti = crypto.randomUUID();
  revoked.add({ id: jti, expiresAt: Date.now() + 3_600_000 });
  expect(await code({ apikey: apiKey({ jti }) })).toEqual([401, '900901']);
  // subscriptions come from the adapter: unknown application, not subscribed, blocked
  expect(await code({ apikey: apiKey({ application: { uuid: 'app-nope', name: 'Ghost' } }) })).toEqual([403, '900908']);
  expect(await code({ apikey: apiKey({ application: { uuid: 'app-3', name: 'Lonely' } }) })).toEqual([403, '900908']);
  expect(await code({ apikey: apiKey({ application: { uuid: 'app-2', name: 'Blocked' } }) })).toEqual([401, '900907']);
});

test('a sandbox API key goes to the sandbox cluster', async () => {
  const r = await check(petstore.id, '/pets', 'GET', { apikey: apiKey({ keytype: 'SANDBOX' }) });
  expect(headerOf(r, CLUSTER_HEADER)).toBe(petstore.resources.find((x) => x.path === '/pets')!.sandbox_cluster);
  expect(headerOf(r, CLUSTER_HEADER)).toMatch(/_sandbox$/);
});

test('an API key is not a bearer token, and an API that does not take API keys ignores them', async () => {
  // signed with the key manager's key and its iss, as APIM signs both: still refused as a bearer token
  const asBearer = mint({ iss: ISS, sub: 'alice', azp: 'ck-prod', token_type: 'apiKey', jti: crypto.randomUUID(), exp: sec(Date.now()) + 3600, application: { uuid: 'app-1' } });
  expect(denied(await check(petstore.id, '/pets', 'GET', bearer(asBearer)))).toMatchObject({ status: 401, code: '900901' });
  expect(orders.security_schemes).not.toContain('api_key');
  const r = denied(await check(orders.id, orders.resources[0]!.path, orders.resources[0]!.operations[0]!.method, { apikey: apiKey() }));
  expect(r).toMatchObject({ status: 401, code: '900901' });
});

test('API key restrictions: permittedIP (CIDR) and permittedReferer (wildcards) → 403 / 900908', async () => {
  const req = (key: string, ip: string, referer?: string) => ({
    attributes: {
      source: { address: { socket_address: { address: ip } } },
      request: { http: { method: 'GET', path: '/petstore/1.0.0/pets', headers: { apikey: key, ...(referer ? { referer } : {}) } } },
      route_metadata_context: { filter_metadata: { [ROUTE_METADATA_NAMESPACE]: { apiId: petstore.id, path: '/pets' } } },
    },
  });
  const deps = { view, jwt, revoked };
  const byIp = apiKey({ permittedIP: '10.1.0.0/16, 192.168.7.7' });
  expect(await decide(req(byIp, '10.1.200.3'), deps)).toMatchObject({ allow: true });
  expect(await decide(req(byIp, '192.168.7.7'), deps)).toMatchObject({ allow: true });
  expect(await decide(req(byIp, '10.2.0.1'), deps)).toMatchObject({ allow: false, status: 403, code: '900908' });
  const byReferer = apiKey({ permittedReferer: 'https://*.shop.example/*' });
  expect(await decide(req(byReferer, '1.2.3.4', 'https://www.shop.example/cart'), deps)).toMatchObject({ allow: true });
  // `*` inside the pattern stays within one path segment; only a trailing `*` takes the rest
  expect(await decide(req(byReferer, '1.2.3.4', 'https://evil.example/?x=.shop.example/'), deps)).toMatchObject({ allow: false, status: 403, code: '900908' });
  expect(await decide(req(byReferer, '1.2.3.4'), deps)).toMatchObject({ allow: false, status: 403 });
});

test('backend JWT: allowed callers (JWT and API key) carry one about them; denied ones do not', async () => {
  const signer = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const backendJwt = new BackendJwtIssuer({ headerName: 'X-JWT-Assertion', privateKeyPem: signer.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, ttlSeconds: 900, claimDialect: 'http://wso2.org/claims' });
  const deps = { view, jwt, revoked, backendJwt };
  const req = (headers: Record<string, string>) => ({
    attributes: {
      request: { http: { method: 'GET', path: '/petstore/1.0.0/pets', headers } },
      route_metadata_context: { filter_metadata: { [ROUTE_METADATA_NAMESPACE]: { apiId: petstore.id, path: '/pets' } } },
    },
  });
  const claimsOf = (d: Decision): Record<string, unknown> => {
    expect(d.allow).toBe(true);
    const t = d.headers['x-jwt-assertion']!;
    const [h, c, s] = t.split('.');
    expect(crypto.verify('sha256', Buffer.from(`${h}.${c}`), signer.publicKey, Buffer.from(s!, 'base64url'))).toBe(true);
    return JSON.parse(Buffer.from(c!, 'base64url').toString()) as Record<string, unknown>;
  };
  const viaJwt = claimsOf(await decide(req(bearer(token())), deps));
  expect(viaJwt).toMatchObject({ sub: 'alice', 'http://wso2.org/claims/applicationUUId': 'app-1', 'http://wso2.org/claims/apiname': 'PetStore', 'http://wso2.org/claims/tier': 'Unlimited' });
  const viaKey = claimsOf(await decide(req({ apikey: apiKey() }), deps));
  expect(viaKey).toMatchObject({ sub: 'alice@carbon.super', 'http://wso2.org/claims/applicationname': 'Shop', 'http://wso2.org/claims/keytype': 'PRODUCTION' });
  const refused = await decide(req(bearer(token({ azp: 'ck-unsub' }))), deps);
  expect(refused.allow).toBe(false);
  expect(refused.headers['x-jwt-assertion']).toBeUndefined();
});

// ---- internal keys (C.9): the Publisher's try-out keys

test('internal keys: any secured API whose context and version the key names, before any other scheme', async () => {
  const internalKey = (api: EnforcerApi, extra: Record<string, unknown> = {}, key = publisherSigner.privateKey): string =>
    mint({ iss: 'https://localhost:9443/publisher', sub: 'admin', token_type: 'InternalKey', keytype: 'PRODUCTION', jti: crypto.randomUUID(), exp: sec(Date.now()) + 600, subscribedAPIs: [{ name: api.name, context: api.base_path, version: api.version }], ...extra }, { key });
  const ok = await check(petstore.id, '/pets', 'GET', { 'internal-key': internalKey(petstore) });
  expect(headerOf(ok, CLUSTER_HEADER)).toBe('carbon-super_localhost_PetStore_1-0-0_637a771f_prod');
  expect(ok.ok_response!.headers_to_remove).toEqual(['internal-key']);
  // an OAuth2-only API takes them too, and the internal key wins over a bad bearer token
  const op = orders.resources[0]!;
  expect((await check(orders.id, op.path, op.operations[0]!.method, { 'internal-key': internalKey(orders), authorization: 'Bearer x.y.z' })).ok_response).toBeDefined();

  const code = async (k: string): Promise<[number, string]> => {
    const d = denied(await check(petstore.id, '/pets', 'GET', { 'internal-key': k }));
    return [d.status, d.code];
  };
  expect(await code(internalKey(orders))).toEqual([403, '900908']); // names another API
  expect(await code(internalKey(petstore, { subscribedAPIs: [{ name: 'PetStore', context: petstore.base_path, version: '2.0.0' }] }))).toEqual([403, '900908']);
  expect(await code(internalKey(petstore, { token_type: 'apiKey' }))).toEqual([401, '900901']);
  expect(await code(internalKey(petstore, {}, other.privateKey))).toEqual([401, '900901']);
  expect(await code(internalKey(petstore, { exp: sec(Date.now()) - 60 }))).toEqual([401, '900901']);
  const jti = crypto.randomUUID();
  revoked.add({ id: jti, expiresAt: Date.now() + 600_000 });
  expect(await code(internalKey(petstore, { jti }))).toEqual([401, '900901']);
});

test('hostile tokens through Check: each denied 401 / 900901 with the challenge, and the enforcer keeps answering', async () => {
  const good = token();
  const [h, p, s] = good.split('.') as [string, string, string];
  const hs256 = (() => {
    const input = `${b64json({ alg: 'HS256', typ: 'JWT' })}.${p}`;
    return `${input}.${crypto.createHmac('sha256', rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string).update(input).digest('base64url')}`;
  })();
  const cases: Record<string, string> = {
    'alg none': `${b64json({ alg: 'none' })}.${p}.`,
    'HS256 keyed with the RSA public key': hs256,
    'kid with a path trick': mint({ iss: ISS, sub: 'alice', azp: 'ck-prod', exp: sec(Date.now()) + 60 }, { key: other.privateKey }).replace(/^[^.]+/, b64json({ alg: 'RS256', kid: '../../etc/passwd' })),
    expired: token({ exp: sec(Date.now()) - 60 }),
    'not yet valid': token({ nbf: sec(Date.now()) + 600 }),
    'wrong issuer': token({ iss: 'https://evil.example.com' }),
    'bad base64': `${h}.${p}.${s.replace(/[-_]/g, '+')}+/`,
    oversized: `${h}.${b64json({ pad: 'x'.repeat(20_000) })}.${s}`,
    'truncated signature': `${h}.${p}.${s.slice(0, -10)}`,
    'payload swapped': `${h}.${b64json({ iss: ISS, sub: 'mallory', azp: 'ck-prod', exp: sec(Date.now()) + 600 })}.${s}`,
    'unknown kid': mint({ iss: ISS, sub: 'alice', azp: 'ck-prod', exp: sec(Date.now()) + 60 }, { key: other.privateKey }).replace(/^[^.]+/, b64json({ alg: 'RS256', kid: 'no-such-key' })),
    'wrong audience': token({ iss: AUD_ISS, aud: 'https://other.example.com' }),
  };
  for (const [name, t] of Object.entries(cases)) {
    const d = denied(await check(petstore.id, '/pets', 'GET', bearer(t)));
    expect(`${name}: ${d.status} ${d.code} ${d.www !== undefined}`).toBe(`${name}: 401 900901 true`);
  }
  expect((await check(petstore.id, '/pets', 'GET', bearer(good))).ok_response).toBeDefined();
  // The right audience passes validation (and then fails subscription: that issuer has no key mappings).
  expect(denied(await check(petstore.id, '/pets', 'GET', bearer(token({ iss: AUD_ISS, aud: 'https://api.example.com' }))))).toMatchObject({ status: 403, code: '900908' });
});

describe('mutual TLS (the certificate the router passes) and backend Basic credentials', () => {
  const partner = selfSignedCertificate('partner');
  const stranger = selfSignedCertificate('stranger');
  const secured = [{ path: '/pets', operations: [{ method: 'GET' as const, secured: true, scopes: [] }] }];
  const variants = {
    CertOnly: ['mutualssl', 'mutualssl_mandatory'],
    CertOrToken: ['oauth2', 'mutualssl', 'mutualssl_mandatory'],
    CertAndToken: ['oauth2', 'mutualssl', 'mutualssl_mandatory', 'oauth_basic_auth_api_key_mandatory'],
    TokenMaybeCert: ['oauth2', 'mutualssl'],
  };
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    const apis = Object.entries(variants).map(([name, schemes]) =>
      modelApi({
        name,
        context: `/${name.toLowerCase()}`,
        resources: secured,
        security: { schemes, authorizationHeader: 'Authorization', apiKeyHeader: 'apikey' },
        clientCertificates: [{ alias: 'partner', pem: partner, tier: 'Gold' }],
      }),
    );
    const basic = modelApi({
      name: 'Basic',
      context: '/basic',
      resources: [...secured, { path: '/open', operations: [{ method: 'GET', secured: false, scopes: [] }] }],
      endpoints: { production: { ...endpointSet('https://backend.example.com/v1'), basicAuth: { username: 'svc', password: 'p@ss:word' } }, sandbox: endpointSet('https://sandbox.example.com/v1') },
    });
    adapter.pipeline.apply([
      ...[...apis, basic].map((api) => ({ kind: 'ApiDeployed' as const, api })),
      ...[...apis, basic].map((api) => ({ kind: 'Upserted' as const, collection: 'subscriptions' as const, value: { uuid: `sub-${api.name}`, apiUuid: api.id, appUuid: 'app-1', policy: 'Unlimited', state: 'UNBLOCKED', organization: ORG } })),
    ]);
    for (const api of [...apis, basic]) ids[api.name] = api.id;
    await waitFor(() => [...apis, basic].every((a) => view.subscription(a.id, 'app-1', ORG) !== undefined && view.api(a.id) !== undefined));
  });

  const outcome = async (name: string, opts: { cert?: string; token?: boolean }): Promise<string> => {
    const r = await check(ids[name]!, '/pets', 'GET', opts.token ? bearer(token()) : {}, '/pets', opts.cert);
    if (r.ok_response) return `allowed ${headerOf(r, CLUSTER_HEADER)}`;
    const d = denied(r);
    return `${d.status} ${d.code}`;
  };

  test('each combination of mandatory and optional, with the listed certificate, another one, or none', async () => {
    const results: Record<string, string[]> = {};
    for (const name of Object.keys(variants)) {
      results[name] = [
        await outcome(name, { cert: partner }),
        await outcome(name, { cert: stranger }),
        await outcome(name, {}),
        await outcome(name, { cert: partner, token: true }),
        await outcome(name, { cert: stranger, token: true }),
        await outcome(name, { token: true }),
      ];
    }
    const ok = (name: string): string => `allowed ${names.clusterName(modelApi({ name }), 'production')}`;
    expect(results).toEqual({
      // [listed cert, other cert, nothing, listed cert + token, other cert + token, token only]
      CertOnly: [ok('CertOnly'), '401 900900', '401 900901', ok('CertOnly'), '401 900900', '401 900901'],
      CertOrToken: [ok('CertOrToken'), '401 900900', '401 900901', ok('CertOrToken'), '401 900900', '401 900901'],
      CertAndToken: ['401 900901', '401 900900', '401 900901', ok('CertAndToken'), '401 900900', '401 900901'],
      TokenMaybeCert: ['401 900901', '401 900901', '401 900901', ok('TokenMaybeCert'), ok('TokenMaybeCert'), ok('TokenMaybeCert')],
    });
  });

  test('a listed certificate outside its validity period, or garbage, is refused', () => {
    const api = view.api(ids.CertOnly!)!;
    const req = (cert: string) => ({
      attributes: {
        request: { http: { method: 'GET', path: '/pets', headers: {} } },
        route_metadata_context: { filter_metadata: { [ROUTE_METADATA_NAMESPACE]: { apiId: api.id, path: '/pets' } } },
        source: { certificate: encodeURIComponent(cert) },
      },
    });
    const deps = (now: number) => ({ view, jwt, revoked, now });
    const at = (cert: string, now: number): string => {
      const d = decide(req(cert), deps(now)) as Decision;
      return d.allow ? 'allowed' : `${d.status} ${d.code}: ${d.reason}`;
    };
    expect(at(partner, Date.now())).toBe('allowed');
    expect(at(partner, Date.now() + 3 * 86_400_000)).toMatch(/^401 900900: client certificate CN=partner is outside its validity period/);
    expect(at('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----', Date.now())).toMatch(/^401 900900: the client certificate does not parse/);
  });

  test('a backend that requires Basic credentials gets them instead of the caller\'s token; its sandbox does not', async () => {
    const basic = `Basic ${Buffer.from('svc:p@ss:word').toString('base64')}`;
    const prod = await check(ids.Basic!, '/pets', 'GET', bearer(token()));
    expect(headerOf(prod, 'authorization')).toBe(basic);
    expect(prod.ok_response?.headers_to_remove ?? []).not.toContain('authorization');
    const open = await check(ids.Basic!, '/open', 'GET');
    expect(headerOf(open, 'authorization')).toBe(basic);
    const sandbox = await check(ids.Basic!, '/pets', 'GET', bearer(token({ azp: 'ck-sand' })));
    expect(headerOf(sandbox, CLUSTER_HEADER)).toBe('carbon-super_localhost_Basic_1-0-0_0d92ec4c_sandbox');
    expect(headerOf(sandbox, 'authorization')).toBeUndefined();
    expect(sandbox.ok_response?.headers_to_remove).toContain('authorization');
  });
});
