import * as crypto from 'node:crypto';
import { BackendJwtIssuer } from '../../src/enforcer/backend-jwt';
import { ROUTE_METADATA_NAMESPACE, decide, type DecideDeps, type Decision } from '../../src/enforcer/check';
import { IssuerRegistry, JwtValidator } from '../../src/enforcer/jwt';
import { RevocationSet } from '../../src/enforcer/revocations';
import type { EnforcerApi, EnforcerApplication, EnforcerKeyMapping, EnforcerSubscription } from '../../src/enforcer/view';

/**
 * Claims of every odd JSON type, through decide() for each kind of credential (bearer JWT, API
 * key, internal key): each gets CC's answer for a bad credential (C.14), never a 500, and the
 * shapes that are merely unusual (a far-future exp, a numeric sub) are still allowed. A backend
 * JWT is issued for allowed callers, so claims are also serialized again on the way out.
 */

const NOW = Date.UTC(2030, 0, 1);
const sec = Math.floor(NOW / 1000);
const ISS = 'https://localhost:9443/oauth2/token';
const AUD_ISS = 'https://aud.example.com/token';
const KM = 'Resident Key Manager';
const idp = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const apikeySigner = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const publisher = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const pem = (k: crypto.KeyObject): string => k.export({ type: 'spki', format: 'pem' }) as string;
const b64 = (s: string): string => Buffer.from(s).toString('base64url');

/** A token over raw JSON text (so a test can write `1e400`, duplicate keys or `__proto__`). */
function mintText(payload: string, key: crypto.KeyObject, header = '{"alg":"RS256","typ":"JWT"}'): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${crypto.sign('sha256', Buffer.from(input), key).toString('base64url')}`;
}
const mint = (claims: Record<string, unknown>, key: crypto.KeyObject): string => mintText(JSON.stringify(claims), key);

const api: EnforcerApi = {
  id: 'api-1', name: 'PetStore', version: '1.0.0', context: '/petstore', base_path: '/petstore/1.0.0', vhost: 'localhost', type: 'HTTP',
  organization: 'carbon.super', is_default_version: false, lifecycle_status: 'PUBLISHED', security_schemes: ['oauth2', 'api_key'],
  authorization_header: '', api_key_header: '', throttling_tier: 'Unlimited', revision: '1', client_certificates: [],
  resources: [
    {
      path: '/pets',
      operations: [
        { method: 'GET', secured: true, scopes: [], throttling_tier: '' },
        { method: 'POST', secured: true, scopes: ['pets:write'], throttling_tier: '' },
      ],
      production_cluster: 'prod', sandbox_cluster: 'sand', production_authorization: '', sandbox_authorization: '',
    },
  ],
};
const app: EnforcerApplication = { uuid: 'app-1', id: 1, name: 'Shop', owner: 'alice', policy: 'Unlimited', attributes: {}, organization: 'carbon.super' };
const mapping: EnforcerKeyMapping = { consumer_key: 'ck', key_manager: KM, key_type: 'PRODUCTION', application_uuid: 'app-1', organization: 'carbon.super' };
const sub: EnforcerSubscription = { uuid: 'sub-1', api_id: 'api-1', application_uuid: 'app-1', policy: 'Unlimited', state: 'UNBLOCKED', organization: 'carbon.super' };
const view: DecideDeps['view'] = {
  api: (id) => (id === api.id ? api : undefined),
  application: (uuid) => (uuid === app.uuid ? app : undefined),
  keyMapping: (ck, km) => (ck === mapping.consumer_key && km === mapping.key_manager ? mapping : undefined),
  subscription: (apiId, appUuid) => (apiId === sub.api_id && appUuid === sub.application_uuid ? sub : undefined),
};

function depsWith(apiKeysValidateSubscription: boolean): DecideDeps {
  const registry = new IssuerRegistry();
  registry.setConfigIssuers([
    { name: KM, issuer: ISS, certificate: pem(idp.publicKey) },
    { name: 'Audience IdP', issuer: AUD_ISS, certificate: pem(idp.publicKey), audience: ['https://api.example.com'] },
    { name: 'APIM APIkey', issuer: '', certificate: pem(apikeySigner.publicKey), validateSubscription: apiKeysValidateSubscription },
    { name: 'APIM Publisher', issuer: 'https://localhost:9443/publisher', certificate: pem(publisher.publicKey) },
  ]);
  const backend = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    view,
    jwt: new JwtValidator(registry),
    revoked: new RevocationSet({ pruneIntervalMs: 0 }),
    backendJwt: new BackendJwtIssuer({ headerName: 'X-JWT-Assertion', privateKeyPem: backend.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, ttlSeconds: 3600, claimDialect: 'http://wso2.org/claims' }),
    now: NOW,
  };
}
const deps = depsWith(true);
const standalone = depsWith(false); // API keys checked against their own subscribedAPIs

function request(headers: Record<string, string>, method = 'GET', clientIp = '127.0.0.1'): Parameters<typeof decide>[0] {
  return {
    attributes: {
      source: { address: { socket_address: { address: clientIp } } },
      request: { http: { method, path: '/petstore/1.0.0/pets', headers } },
      route_metadata_context: { filter_metadata: { [ROUTE_METADATA_NAMESPACE]: { apiId: api.id, path: '/pets' } } },
    },
  };
}

/** `allow <cluster>` or `<status> <code>`. */
async function outcome(headers: Record<string, string>, d: DecideDeps = deps, method = 'GET', clientIp?: string): Promise<string> {
  const r: Decision = await decide(request(headers, method, clientIp), d);
  if (!r.allow) return `${r.status} ${r.code}`;
  // An allowed caller's claims went into a backend JWT (internal keys get none, as in CC).
  if (!headers['internal-key']) expect(r.headers['x-jwt-assertion']).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
  return `allow ${r.headers['x-wso2-cluster-header']}`;
}

/** JSON text of arrays nested `levels` deep. */
const nested = (levels: number): string => '['.repeat(levels) + ']'.repeat(levels);
const throwsOnString = { toString: 0 }; // String() of it throws: what a converted claim would do

describe('bearer JWTs', () => {
  const base = { iss: ISS, sub: 'alice', azp: 'ck', scope: 'openid', exp: sec + 3600 };
  const bearer = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` });
  const claims = (extra: Record<string, unknown>): string => mint({ ...base, ...extra }, idp.privateKey);
  const withText = (replace: string, by: string): string => mintText(JSON.stringify(base).replace(replace, by), idp.privateKey);

  test.each<[string, string, string]>([
    ['exp 1e300 (valid, practically forever)', claims({ exp: 1e300 }), 'allow prod'],
    ['exp the largest double (ms overflow to Infinity)', claims({ exp: Number.MAX_VALUE }), 'allow prod'],
    ['exp -1e300', claims({ exp: -1e300 }), '401 900901'],
    ['exp 1e400 (JSON for Infinity)', withText(`"exp":${sec + 3600}`, '"exp":1e400'), '401 900901'],
    ['exp -1e400', withText(`"exp":${sec + 3600}`, '"exp":-1e400'), '401 900901'],
    ['exp a string', claims({ exp: '1e300' }), '401 900901'],
    ['exp null', claims({ exp: null }), '401 900901'],
    ['exp true', claims({ exp: true }), '401 900901'],
    ['exp an array', claims({ exp: [sec + 60] }), '401 900901'],
    ['exp an object', claims({ exp: { $gt: 0 } }), '401 900901'],
    ['exp only under __proto__', withText(`"exp":${sec + 3600}`, `"__proto__":{"exp":${sec + 3600}}`), '401 900901'],
    ['exp twice, the last one valid', withText(`"exp":${sec + 3600}`, `"exp":1,"exp":${sec + 3600}`), 'allow prod'],
    ['nbf 1e300', claims({ nbf: 1e300 }), '401 900901'],
    ['nbf -1e300', claims({ nbf: -1e300 }), 'allow prod'],
    ['nbf 1e400', withText(`"exp":`, '"nbf":1e400,"exp":'), '401 900901'],
    ['nbf a string', claims({ nbf: '0' }), '401 900901'],
    ['iat 1e300', claims({ iat: 1e300 }), 'allow prod'],
    ['iat an object', claims({ iat: {} }), '401 900901'],
    ['iss an object', claims({ iss: { toString: ISS } }), '401 900901'],
    ['iss an array', claims({ iss: [ISS] }), '401 900901'],
    ['iss a number', claims({ iss: 5 }), '401 900901'],
    ['sub an object', claims({ sub: throwsOnString }), 'allow prod'],
    ['sub a number', claims({ sub: 5 }), 'allow prod'],
    ['azp an object', claims({ azp: throwsOnString }), '403 900908'],
    ['azp an array', claims({ azp: ['ck'] }), '403 900908'],
    ['keytype an object', claims({ keytype: throwsOnString }), 'allow prod'],
    ['keytype a number', claims({ keytype: 5 }), 'allow prod'],
    ['keytype lower case', claims({ keytype: 'sandbox' }), 'allow sand'],
    ['token_type an object', claims({ token_type: throwsOnString }), 'allow prod'],
    ['jti an object', claims({ jti: throwsOnString }), 'allow prod'],
    ['scope a number', claims({ scope: 5 }), 'allow prod'],
    ['scope an object', claims({ scope: { openid: true } }), 'allow prod'],
    ['constructor and toString claims', claims({ constructor: 'x', toString: 'y', hasOwnProperty: 1 }), 'allow prod'],
    ['a claim nested 31 levels', withText('"exp":', `"x":${nested(31)},"exp":`), 'allow prod'],
    ['a claim nested 32 levels', withText('"exp":', `"x":${nested(32)},"exp":`), '401 900901'],
    ['a claim nested 5000 levels (its backend JWT would overflow the stack)', withText('"exp":', `"x":${nested(5000)},"exp":`), '401 900901'],
    ['kid an object', mintText(JSON.stringify(base), idp.privateKey, '{"alg":"RS256","kid":{"toString":0}}'), '401 900901'],
    ['kid 2000 characters', mintText(JSON.stringify(base), idp.privateKey, `{"alg":"RS256","kid":"${'k'.repeat(2000)}"}`), '401 900901'],
    ['typ a number', mintText(JSON.stringify(base), idp.privateKey, '{"alg":"RS256","typ":5}'), 'allow prod'],
    ['alg an array', mintText(JSON.stringify(base), idp.privateKey, '{"alg":["RS256"]}'), '401 900901'],
    ['alg an object', mintText(JSON.stringify(base), idp.privateKey, '{"alg":{"toString":0}}'), '401 900901'],
  ])('%s', async (_name, token, want) => {
    expect(await outcome(bearer(token))).toBe(want);
  });

  test('scope in odd shapes grants nothing: POST needs pets:write', async () => {
    expect(await outcome(bearer(claims({ scope: { 'pets:write': true } })), deps, 'POST')).toBe('403 900910');
    expect(await outcome(bearer(claims({ scope: [5, null, {}, ['pets:write']] })), deps, 'POST')).toBe('403 900910');
    expect(await outcome(bearer(claims({ scope: ['pets:write', 5] })), deps, 'POST')).toBe('allow prod');
  });

  test('aud in odd shapes, for an issuer that requires one', async () => {
    const aud = (v: unknown): string => mint({ ...base, iss: AUD_ISS, aud: v }, idp.privateKey);
    for (const v of [5, {}, [{}], [5], null, { 'https://api.example.com': true }, throwsOnString]) {
      expect(`${JSON.stringify(v)}: ${await outcome(bearer(aud(v)))}`).toBe(`${JSON.stringify(v)}: 401 900901`);
    }
    // Valid (the issuer has no key mappings, so subscription validation then refuses it).
    expect(await outcome(bearer(aud([5, 'https://api.example.com'])))).toBe('403 900908');
  });
});

describe('API keys', () => {
  const base = {
    iss: ISS, sub: 'alice@carbon.super', keytype: 'PRODUCTION', token_type: 'apiKey', jti: 'k-1', exp: sec + 3600,
    application: { id: 1, uuid: 'app-1', name: 'Shop', owner: 'alice', tier: 'Unlimited' },
    subscribedAPIs: [{ name: 'PetStore', context: '/petstore/1.0.0', version: '1.0.0' }],
  };
  const key = (extra: Record<string, unknown>): Record<string, string> => ({ apikey: mint({ ...base, ...extra }, apikeySigner.privateKey) });

  test.each<[string, Record<string, unknown>, string]>([
    ['as issued', {}, 'allow prod'],
    ['exp 1e300', { exp: 1e300 }, 'allow prod'],
    ['exp -1e300', { exp: -1e300 }, '401 900901'],
    ['nbf 1e300', { nbf: 1e300 }, '401 900901'],
    ['application a string', { application: 'app-1' }, '403 900908'],
    ['application an array', { application: ['app-1'] }, '403 900908'],
    ['application.uuid an object', { application: { uuid: throwsOnString } }, '403 900908'],
    ['application.uuid a number', { application: { uuid: 1 } }, '403 900908'],
    ['application.name an object', { application: { uuid: 'app-1', name: throwsOnString } }, 'allow prod'],
    ['keytype an object', { keytype: throwsOnString }, 'allow prod'],
    ['token_type an object', { token_type: throwsOnString }, 'allow prod'],
    ['permittedIP a number', { permittedIP: 5 }, 'allow prod'],
    ['permittedIP an array', { permittedIP: ['10.0.0.1'] }, 'allow prod'],
    ['permittedIP with a prefix beyond 32', { permittedIP: '127.0.0.1/999' }, '403 900908'],
    ['permittedIP with a prefix that is not a number', { permittedIP: '127.0.0.1/abc' }, '403 900908'],
    ['permittedIP with an empty prefix (not everyone)', { permittedIP: '10.0.0.0/' }, '403 900908'],
    ['permittedIP with two prefixes', { permittedIP: '127.0.0.1/8/8' }, '403 900908'],
    ['permittedIP garbage then the caller', { permittedIP: 'x, 1.2.3.4/64, 127.0.0.0/8' }, 'allow prod'],
    ['permittedReferer an object', { permittedReferer: throwsOnString }, 'allow prod'],
  ])('%s', async (_name, extra, want) => {
    expect(await outcome(key(extra))).toBe(want);
  });

  test('permittedReferer: wildcards stay within a segment, and a hostile pattern costs linear time', async () => {
    const referer = (pattern: string, value: string): Promise<string> => outcome({ ...key({ permittedReferer: pattern }), referer: value });
    expect(await referer('https://*.shop.example/*', 'https://www.shop.example/cart/1')).toBe('allow prod');
    expect(await referer('https://*.shop.example/*', 'https://evil.example/?.shop.example/')).toBe('403 900908');
    expect(await referer('https://*.shop.example/*', 'https://www.shop.example')).toBe('403 900908');
    expect(await referer('https://shop.example/a*b', 'https://shop.example/a/b')).toBe('403 900908');
    expect(await referer('https://shop.example/a*b*c', 'https://shop.example/abxbc')).toBe('allow prod');
    expect(await referer('(.+)+$', '(.+)+$')).toBe('allow prod'); // regex characters are literal
    expect(await referer('(.+)+$', 'aaaa')).toBe('403 900908');
    const started = Date.now();
    // With a backtracking regex this took minutes.
    expect(await referer(`${'*a'.repeat(40)}b`, 'a'.repeat(5000))).toBe('403 900908');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  test('subscribedAPIs in odd shapes, when keys are checked against their own list', async () => {
    const own = async (v: unknown): Promise<string> => outcome(key({ subscribedAPIs: v }), standalone);
    for (const v of [{}, 'PetStore', 5, [null, 5, 'PetStore'], [{ name: throwsOnString, version: '1.0.0' }], [{ name: 'PetStore', version: 1 }]]) {
      expect(`${JSON.stringify(v)}: ${await own(v)}`).toBe(`${JSON.stringify(v)}: 403 900908`);
    }
    expect(await own([5, { name: 'PetStore', context: '/petstore/1.0.0', version: '1.0.0' }])).toBe('allow prod');
  });
});

describe('internal keys (signed by the APIM Publisher)', () => {
  const base = { iss: 'https://localhost:9443/publisher', sub: 'admin', token_type: 'InternalKey', keytype: 'PRODUCTION', jti: 'i-1', exp: sec + 600 };
  const internal = (extra: Record<string, unknown>): Record<string, string> => ({
    'internal-key': mint({ ...base, subscribedAPIs: [{ name: 'PetStore', context: '/petstore/1.0.0', version: '1.0.0' }], ...extra }, publisher.privateKey),
  });

  test.each<[string, Record<string, unknown>, string]>([
    ['as issued', {}, 'allow prod'],
    ['context an object String() throws on', { subscribedAPIs: [{ name: 'PetStore', context: throwsOnString, version: '1.0.0' }] }, '403 900908'],
    ['context a number', { subscribedAPIs: [{ context: 5, version: '1.0.0' }] }, '403 900908'],
    ['context null', { subscribedAPIs: [{ context: null, version: '1.0.0' }] }, '403 900908'],
    ['context an array', { subscribedAPIs: [{ context: ['/petstore/1.0.0'], version: '1.0.0' }] }, '403 900908'],
    ['version a number', { subscribedAPIs: [{ context: '/petstore/1.0.0', version: 1 }] }, '403 900908'],
    ['subscribedAPIs an object', { subscribedAPIs: { context: '/petstore/1.0.0', version: '1.0.0' } }, '403 900908'],
    ['subscribedAPIs of odd entries, then the right one', { subscribedAPIs: [null, 5, 'x', [], { context: '/petstore/1.0.0', version: '1.0.0' }] }, 'allow prod'],
    ['token_type an object String() throws on', { token_type: throwsOnString }, '401 900901'],
    ['token_type a number', { token_type: 7 }, '401 900901'],
    ['keytype an object', { keytype: throwsOnString }, 'allow prod'],
    ['exp 1e300', { exp: 1e300 }, 'allow prod'],
    ['exp -1e300', { exp: -1e300 }, '401 900901'],
    ['nbf 1e300', { nbf: 1e300 }, '401 900901'],
  ])('%s', async (_name, extra, want) => {
    expect(await outcome(internal(extra))).toBe(want);
  });
});
