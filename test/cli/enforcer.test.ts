import * as crypto from 'crypto';
import * as path from 'path';
import { parseConfig } from '../../src/config/config';
import { createLogger } from '../../src/config/log';
import { startEnforcer } from '../../src/cli/enforcer';
import { messageType } from '../../src/envoy/protos';
import { waitFor } from '../helpers/ads';
import { serveFolder, type Served } from '../helpers/served';
import { mintJwt } from '../helpers/jwt';

/**
 * The enforcer process as `apim-connect all` runs it: fed only by the adapter over xDS. A key
 * manager and a revocation that reach the adapter change its decisions without a restart.
 */

const APIS = path.join(__dirname, '..', '..', 'apis');
const ISS = 'https://idp.example.com/oauth2/token';
const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const mint = (claims: Record<string, unknown>): string => mintJwt(claims, rsa.privateKey);

let served: Served | undefined;
let adapter: Served['adapter'];
let enforcer: Served['enforcer'];
let client: Served['client'];
const CheckResponse = messageType('envoy.service.auth.v3.CheckResponse');

beforeAll(async () => {
  served = await serveFolder(APIS);
  ({ adapter, enforcer, client } = served);
});

afterAll(async () => {
  await served?.stop();
});

function check(apiId: string, template: string, method: string, headers: Record<string, string> = {}): Promise<{ allowed: boolean; status?: number; cluster?: string }> {
  const req = {
    attributes: {
      request: { http: { method, path: template, host: 'localhost', headers: { ':method': method, ...headers } } },
      route_metadata_context: { filter_metadata: { 'apimconnect.route': { fields: { apiId: { stringValue: apiId }, path: { stringValue: template } } } } },
    },
  };
  return new Promise((resolve, reject) =>
    client.Check(req, (err: Error | null, res: unknown) => {
      if (err) return reject(err);
      const r = CheckResponse.toObject(res as never, { defaults: false }) as Record<string, any>;
      if (r.denied_response) return resolve({ allowed: false, status: r.denied_response.status.code });
      const cluster = (r.ok_response?.headers ?? []).find((h: any) => h.header.key === 'x-wso2-cluster-header')?.header.value;
      resolve({ allowed: true, cluster });
    }),
  );
}

test('unsecured operations pass, secured ones need a token from a known issuer', async () => {
  const petstore = [...adapter.pipeline.current.apis.values()].find((a) => a.name === 'PetStore')!;
  expect(await check(petstore.id, '/health', 'GET')).toMatchObject({ allowed: true, cluster: 'carbon-super_localhost_PetStore_1-0-0_637a771f_prod' });
  expect(await check(petstore.id, '/pets', 'GET')).toMatchObject({ allowed: false, status: 401 });
  const t = mint({ iss: ISS, sub: 'alice', azp: 'ck-1', exp: Math.floor(Date.now() / 1000) + 600, jti: 'jti-a' });
  expect(await check(petstore.id, '/pets', 'GET', { authorization: `Bearer ${t}` })).toMatchObject({ allowed: false, status: 401 }); // issuer unknown
});

test('a key manager, a subscription and a revocation reaching the adapter change decisions without a restart', async () => {
  const petstore = [...adapter.pipeline.current.apis.values()].find((a) => a.name === 'PetStore')!;
  const org = 'carbon.super';
  const pem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  adapter.pipeline.apply([
    {
      kind: 'Upserted',
      collection: 'keyManagers',
      value: { name: 'IdP', type: 'custom', enabled: true, organization: org, configuration: { issuer: ISS, self_validate_jwt: true, certificate_type: 'PEM', certificate_value: Buffer.from(pem).toString('base64') } },
    },
    { kind: 'Upserted', collection: 'applications', value: { uuid: 'app-1', name: 'Shop', owner: 'alice', policy: 'Unlimited', attributes: {}, organization: org } },
    { kind: 'Upserted', collection: 'keyMappings', value: { consumerKey: 'ck-1', keyManager: 'IdP', keyType: 'PRODUCTION', appUuid: 'app-1', organization: org } },
    { kind: 'Upserted', collection: 'subscriptions', value: { uuid: 'sub-1', apiUuid: petstore.id, appUuid: 'app-1', policy: 'Gold', state: 'UNBLOCKED', organization: org } },
  ]);
  await waitFor(() => enforcer.view.subscription(petstore.id, 'app-1', org) !== undefined);
  const t = mint({ iss: ISS, sub: 'alice', azp: 'ck-1', exp: Math.floor(Date.now() / 1000) + 600, jti: 'jti-b' });
  const auth = { authorization: `Bearer ${t}` };
  let r = await check(petstore.id, '/pets', 'GET', auth);
  for (let i = 0; i < 50 && !r.allowed; i++) {
    await new Promise((res) => setTimeout(res, 20));
    r = await check(petstore.id, '/pets', 'GET', auth);
  }
  expect(r).toMatchObject({ allowed: true, cluster: 'carbon-super_localhost_PetStore_1-0-0_637a771f_prod' });

  adapter.pipeline.apply([{ kind: 'Upserted', collection: 'revokedTokens', value: { id: 'jti-b', expiresAt: Date.now() + 600_000, tokenType: 'JWT' } }]);
  for (let i = 0; i < 50 && r.allowed; i++) {
    await new Promise((res) => setTimeout(res, 20));
    r = await check(petstore.id, '/pets', 'GET', auth);
  }
  expect(r).toMatchObject({ allowed: false, status: 401 });
}, 30_000);

test('rate limits and blocking conditions reaching the adapter apply at once: 429 after the quota, 403 while blocked', async () => {
  const petstore = [...adapter.pipeline.current.apis.values()].find((a) => a.name === 'PetStore')!;
  const org = 'carbon.super';
  // A day's window, so the test never straddles two windows in practice.
  adapter.pipeline.apply([
    { kind: 'Upserted', collection: 'policies', value: { kind: 'subscription', name: 'Gold', organization: org, defaultLimit: { quotaType: 'requestCount', limit: 3, unitTimeMs: 86_400_000 }, stopOnQuotaReach: true } },
  ]);
  await waitFor(() => enforcer.view.policy('subscription', org, 'Gold')?.default_limit?.limit === 3); // in place of the default Gold
  const t = mint({ iss: ISS, sub: 'alice', azp: 'ck-1', exp: Math.floor(Date.now() / 1000) + 600, jti: 'jti-c' });
  const replies = [];
  for (let i = 0; i < 4; i++) replies.push(await checkFull(petstore.id, '/pets', 'GET', { authorization: `Bearer ${t}` }));
  expect(replies.map((r) => r.status ?? 'allowed')).toEqual(['allowed', 'allowed', 'allowed', 429]);
  expect(replies.map((r) => r.headers['ratelimit-remaining'])).toEqual(['2', '1', '0', '0']);
  expect(replies[0]!.headers['ratelimit-limit']).toBe('3');
  expect(replies[3]!.code).toBe('900804');
  expect(new Date(replies[3]!.headers['retry-after']!).getTime()).toBeGreaterThan(Date.now());

  adapter.pipeline.apply([{ kind: 'Upserted', collection: 'blockingConditions', value: { id: 'b-1', type: 'APPLICATION', value: 'alice:Shop', organization: org } }]);
  await waitFor(() => enforcer.view.blocking().size === 1);
  expect(await checkFull(petstore.id, '/pets', 'GET', { authorization: `Bearer ${t}` })).toMatchObject({ status: 403, code: '900805' });
  adapter.pipeline.apply([{ kind: 'Deleted', collection: 'blockingConditions', key: 'b-1' }]);
  await waitFor(() => enforcer.view.blocking().size === 0);
  expect(await checkFull(petstore.id, '/pets', 'GET', { authorization: `Bearer ${t}` })).toMatchObject({ status: 429, code: '900804' });
}, 30_000);

/** A check's outcome with the headers the client would see (denial headers, or those added to the response). */
function checkFull(apiId: string, template: string, method: string, headers: Record<string, string>): Promise<{ status?: number; code?: string; headers: Record<string, string> }> {
  const req = {
    attributes: {
      request: { http: { method, path: template, host: 'localhost', headers: { ':method': method, ...headers } } },
      route_metadata_context: { filter_metadata: { 'apimconnect.route': { fields: { apiId: { stringValue: apiId }, path: { stringValue: template } } } } },
    },
  };
  type H = Array<{ header: { key: string; value: string } }>;
  const flat = (list: H | undefined): Record<string, string> => Object.fromEntries((list ?? []).map((h) => [h.header.key, h.header.value]));
  return new Promise((resolve, reject) =>
    client.Check(req, (err: Error | null, res: unknown) => {
      if (err) return reject(err);
      const r = CheckResponse.toObject(res as never, { defaults: false }) as { denied_response?: { status: { code: number }; headers?: H; body: string }; ok_response?: { response_headers_to_add?: H } };
      if (r.denied_response) return resolve({ status: r.denied_response.status.code, code: JSON.parse(r.denied_response.body).code, headers: flat(r.denied_response.headers) });
      resolve({ headers: flat(r.ok_response?.response_headers_to_add) });
    }),
  );
}

test('[enforcer.jwtGenerator]: enabled without a usable key stops startup with an error naming the key', async () => {
  const cfg = (extra: string) => parseConfig(`[enforcer]\nport = 0\nhttpPort = 0\n[enforcer.jwtGenerator]\nenabled = true\n${extra}`, 'test.toml');
  const log = createLogger('error', 'test');
  await expect(startEnforcer(cfg(''), log)).rejects.toThrow('enforcer.jwtGenerator.privateKeyPath: required');
  await expect(startEnforcer(cfg('privateKeyPath = "/nonexistent/key.pem"\n'), log)).rejects.toThrow(/enforcer.jwtGenerator.privateKeyPath: .*no such file/);
});

test('[[enforcer.security.tokenService]]: an unreadable certificate stops startup with the entry named', async () => {
  const cfg = parseConfig(
    `[enforcer]\nport = 0\nhttpPort = 0\n[[enforcer.security.tokenService]]\nname = "A"\nissuer = "https://a"\n[[enforcer.security.tokenService]]\nname = "B"\nissuer = "https://b"\ncertificateFilePath = "/nonexistent/b.pem"\n`,
    'test.toml',
  );
  await expect(startEnforcer(cfg, createLogger('error', 'test'))).rejects.toThrow(/enforcer.security.tokenService\[1\].certificateFilePath: .*no such file/);
});
