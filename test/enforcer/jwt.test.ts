import * as crypto from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { encodeMessage } from '../../src/envoy/any';
import { messageType } from '../../src/envoy/protos';
import { ENFORCER_KEY_MANAGER } from '../../src/envoy/typeUrls';
import type { EnforcerKeyManager } from '../../src/enforcer/jwt-issuers';
import { keyManagerResource } from '../../src/translate/keyManagers';
import { selfSignedCertificate } from '../helpers/certs';
import {
  IssuerRegistry,
  JWT_FAILURES,
  JwtValidator,
  denyBody,
  type JwtFailureKind,
  type JwtResult,
  type PendingValidation,
} from '../../src/enforcer/jwt';

// ---- keys and token minting (no library: node:crypto signs every alg we accept) ----

const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsa2 = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const p256 = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const p384 = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' });
const p521 = crypto.generateKeyPairSync('ec', { namedCurve: 'P-521' });
const ed = crypto.generateKeyPairSync('ed25519');

const pem = (k: crypto.KeyObject): string => k.export({ type: 'spki', format: 'pem' }) as string;
const b64 = (o: unknown): string => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)).toString('base64url');

function signRaw(alg: string, key: crypto.KeyObject | Buffer, input: string): Buffer {
  const data = Buffer.from(input);
  const hash = `sha${alg.slice(2)}`;
  if (alg.startsWith('RS')) return crypto.sign(hash, data, { key: key as crypto.KeyObject, padding: crypto.constants.RSA_PKCS1_PADDING });
  if (alg.startsWith('PS')) {
    return crypto.sign(hash, data, {
      key: key as crypto.KeyObject,
      padding: crypto.constants.RSA_PKCS1_PSS_PADDING,
      saltLength: crypto.constants.RSA_PSS_SALTLEN_DIGEST,
    });
  }
  if (alg.startsWith('ES')) return crypto.sign(hash, data, { key: key as crypto.KeyObject, dsaEncoding: 'ieee-p1363' });
  if (alg.startsWith('HS')) return crypto.createHmac(hash, key as Buffer).update(data).digest();
  if (alg === 'EdDSA') return crypto.sign(null, data, key as crypto.KeyObject);
  return Buffer.alloc(0); // none
}

function mint(alg: string, key: crypto.KeyObject | Buffer, claims: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const input = `${b64({ alg, typ: 'JWT', ...header })}.${b64(claims)}`;
  return `${input}.${signRaw(alg, key, input).toString('base64url')}`;
}

const NOW = Date.UTC(2030, 0, 1);
const sec = (ms: number): number => Math.floor(ms / 1000);
const ISS = 'https://idp.example.com/oauth2/token';
const claims = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  iss: ISS,
  sub: 'alice',
  azp: 'client-1',
  scope: 'read write',
  exp: sec(NOW) + 3600,
  jti: 'tok-1',
  ...extra,
});

function sync(r: JwtResult | PendingValidation): JwtResult {
  if (r.ok === 'pending') throw new Error('expected a synchronous result');
  return r;
}

function kindOf(r: JwtResult | PendingValidation): JwtFailureKind | 'ok' {
  const s = sync(r);
  return s.ok ? 'ok' : s.kind;
}

// ---- a JWKS server on 127.0.0.1:0 ----

interface JwksServer {
  url: string;
  hits: () => number;
  setKeys: (keys: object[]) => void;
  close: () => Promise<void>;
}

async function jwksServer(initial: object[]): Promise<JwksServer> {
  let keys = initial;
  let hits = 0;
  const server = http.createServer((_req, res) => {
    hits++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/jwks`,
    hits: () => hits,
    setKeys: (k) => {
      keys = k;
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}

const jwk = (k: crypto.KeyObject, kid: string, extra: object = {}): object => ({ ...k.export({ format: 'jwk' }), kid, use: 'sig', ...extra });

// ---- tests ----

describe('JwtValidator with a PEM key', () => {
  const registry = new IssuerRegistry();
  registry.setConfigIssuers([{ name: 'IdP', issuer: ISS, certificate: pem(rsa.publicKey) }]);
  const v = new JwtValidator(registry);

  test('a valid RS256 token gives the issuer, claims, consumer key, scopes, keytype, signature', () => {
    const token = mint('RS256', rsa.privateKey, claims({ keytype: 'SANDBOX' }));
    const r = sync(v.validate(token, NOW));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.issuer.name).toBe('IdP');
    expect(r.consumerKey).toBe('client-1');
    expect(r.scopes).toEqual(['read', 'write']);
    expect(r.keyType).toBe('SANDBOX');
    expect(r.jti).toBe('tok-1');
    expect(r.signature).toBe(token.split('.')[2]);
    expect(r.expiresAt).toBe((sec(NOW) + 3600) * 1000);
    expect(r.issuer.validateSubscription).toBe(true);
  });

  test('scopes given as an array', () => {
    const r = sync(v.validate(mint('RS384', rsa.privateKey, claims({ scope: ['a', 'b', 7] })), NOW));
    expect(r.ok && r.scopes).toEqual(['a', 'b']);
  });

  test('a cached token is answered synchronously with the same result, until it expires', () => {
    const token = mint('RS512', rsa.privateKey, claims({ exp: sec(NOW) + 60 }));
    const first = sync(v.validate(token, NOW));
    const second = v.validate(token, NOW + 1000);
    expect(second).toBe(first); // the very object: no re-verification
    expect(kindOf(v.validate(token, NOW + 60_000 + 4_000))).toBe('ok'); // inside the 5 s skew
    expect(kindOf(v.validate(token, NOW + 60_000 + 5_000))).toBe('expired');
  });

  test.each([
    ['PS256', rsa.privateKey, rsa.publicKey],
    ['PS512', rsa.privateKey, rsa.publicKey],
    ['ES256', p256.privateKey, p256.publicKey],
    ['ES384', p384.privateKey, p384.publicKey],
    ['ES512', p521.privateKey, p521.publicKey],
    ['EdDSA', ed.privateKey, ed.publicKey],
  ])('a valid %s token', (alg, priv, pub) => {
    const reg = new IssuerRegistry();
    reg.setConfigIssuers([{ name: 'IdP', issuer: ISS, certificate: pem(pub) }]);
    expect(kindOf(new JwtValidator(reg).validate(mint(alg, priv, claims()), NOW))).toBe('ok');
  });

  test('revocation ids: jti, the signature, and for ECDSA the (r, n - s) spelling, which verifies too', () => {
    const rs = sync(v.validate(mint('RS256', rsa.privateKey, claims({ jti: 'j-1' })), NOW));
    expect(rs.ok && rs.revocationIds).toEqual(['j-1', rs.ok && rs.signature]);
    const reg = new IssuerRegistry();
    reg.setConfigIssuers([{ name: 'IdP', issuer: ISS, certificate: pem(p256.publicKey) }]);
    const ec = new JwtValidator(reg);
    const token = mint('ES256', p256.privateKey, claims({ jti: undefined }));
    const r = sync(ec.validate(token, NOW));
    if (!r.ok) throw new Error(r.detail);
    expect(r.revocationIds).toHaveLength(2);
    expect(r.revocationIds[0]).toBe(r.signature);
    const mirrored = `${token.slice(0, token.lastIndexOf('.'))}.${r.revocationIds[1]}`;
    const m = sync(ec.validate(mirrored, NOW));
    expect(m.ok && [...m.revocationIds].sort()).toEqual([...r.revocationIds].sort());
  });

  test('hostile tokens each give their failure kind, and nothing throws', () => {
    const good = mint('RS256', rsa.privateKey, claims());
    const [h, p, s] = good.split('.') as [string, string, string];
    const rsaPubPem = pem(rsa.publicKey);
    const cases: [string, string, JwtFailureKind][] = [
      ['alg none', `${b64({ alg: 'none' })}.${p}.`, 'unsupported_alg'],
      ['alg None', `${b64({ alg: 'None' })}.${p}.${s}`, 'unsupported_alg'],
      ['HS256 keyed with the RSA public key', mint('HS256', Buffer.from(rsaPubPem), claims()), 'unsupported_alg'],
      ['expired', mint('RS256', rsa.privateKey, claims({ exp: sec(NOW) - 10 })), 'expired'],
      ['not yet valid', mint('RS256', rsa.privateKey, claims({ nbf: sec(NOW) + 60 })), 'not_yet_valid'],
      ['wrong issuer', mint('RS256', rsa.privateKey, claims({ iss: 'https://evil.example.com' })), 'unknown_issuer'],
      ['no issuer', mint('RS256', rsa.privateKey, claims({ iss: undefined })), 'unknown_issuer'],
      ['missing exp', mint('RS256', rsa.privateKey, claims({ exp: undefined })), 'missing_exp'],
      ['exp as a string', mint('RS256', rsa.privateKey, claims({ exp: String(sec(NOW) + 60) })), 'malformed'],
      ['signed by another key', mint('RS256', rsa2.privateKey, claims()), 'bad_signature'],
      ['payload swapped', `${h}.${b64(claims({ sub: 'mallory' }))}.${s}`, 'bad_signature'],
      ['truncated signature', `${h}.${p}.${s.slice(0, -10)}`, 'bad_signature'],
      ['empty signature', `${h}.${p}.`, 'malformed'],
      ['ES256 against an RSA key', mint('ES256', p256.privateKey, claims()), 'key_mismatch'],
      ['bad base64 (standard alphabet)', `${h}.${p}.${s.replace(/[-_]/g, '+')}+/`, 'malformed'],
      ['padding', `${h}=.${p}.${s}`, 'malformed'],
      ['non-canonical last character', `${h}.${p}.${s.slice(0, -1)}${flipUnusedBits(s)}`, 'malformed'],
      ['header not JSON', `${b64('{alg:RS256')}.${p}.${s}`, 'malformed'],
      ['header a JSON array', `${b64(['RS256'])}.${p}.${s}`, 'malformed'],
      ['payload not JSON', `${h}.${b64('hello')}.${s}`, 'malformed'],
      ['two parts', `${h}.${p}`, 'malformed'],
      ['four parts', `${good}.${s}`, 'malformed'],
      ['empty', '', 'malformed'],
      ['oversized', `${h}.${b64(claims({ pad: 'x'.repeat(20_000) }))}.${s}`, 'malformed'],
      ['crit header', mint('RS256', rsa.privateKey, claims(), { crit: ['b64'], b64: false }), 'malformed'],
      ['kid an object', mint('RS256', rsa.privateKey, claims(), { kid: { $ne: 1 } }), 'malformed'],
    ];
    const fresh = new JwtValidator(registry);
    for (const [name, token, kind] of cases) {
      let got: string;
      try {
        got = kindOf(fresh.validate(token, NOW));
      } catch (e) {
        got = `threw ${String(e)}`;
      }
      expect(`${name}: ${got}`).toBe(`${name}: ${kind}`);
    }
  });

  test('audience, when the issuer sets one', () => {
    const reg = new IssuerRegistry();
    reg.setConfigIssuers([{ name: 'IdP', issuer: ISS, certificate: pem(rsa.publicKey), audience: ['api://shop'] }]);
    const va = new JwtValidator(reg);
    expect(kindOf(va.validate(mint('RS256', rsa.privateKey, claims({ aud: ['x', 'api://shop'] })), NOW))).toBe('ok');
    expect(kindOf(va.validate(mint('RS256', rsa.privateKey, claims({ aud: 'api://shop' })), NOW))).toBe('ok');
    expect(kindOf(va.validate(mint('RS256', rsa.privateKey, claims({ aud: 'api://bank' })), NOW))).toBe('audience_mismatch');
    expect(kindOf(va.validate(mint('RS256', rsa.privateKey, claims()), NOW))).toBe('audience_mismatch');
  });

  test('failures carry Choreo Connect codes and bodies', () => {
    const r = sync(v.validate(mint('RS256', rsa.privateKey, claims({ exp: sec(NOW) - 100 })), NOW));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect([r.status, r.code, r.message]).toEqual([401, 900901, 'Invalid Credentials']);
    expect(r.detail).toMatch(/expired/);
    expect(JSON.parse(denyBody(r))).toEqual({
      code: '900901',
      error_message: 'Invalid Credentials',
      error_description: 'Invalid Credentials. Make sure you have provided the correct security credentials',
    });
    expect(JWT_FAILURES.malformed.description).toBe(
      'Not a JWT token. Failed to decode the token header. Make sure you have provided the correct security credentials',
    );
    expect(JWT_FAILURES.jwks_unavailable).toMatchObject({ status: 401, code: 900900, message: 'Unclassified Authentication Failure' });
  });

  test('a registry change voids cached results', () => {
    const reg = new IssuerRegistry();
    reg.setConfigIssuers([{ name: 'IdP', issuer: ISS, certificate: pem(rsa.publicKey) }]);
    const vc = new JwtValidator(reg);
    const token = mint('RS256', rsa.privateKey, claims());
    expect(kindOf(vc.validate(token, NOW))).toBe('ok');
    reg.setConfigIssuers([{ name: 'IdP', issuer: ISS, certificate: pem(rsa2.publicKey) }]);
    expect(kindOf(vc.validate(token, NOW))).toBe('bad_signature');
    reg.setConfigIssuers([]);
    expect(kindOf(vc.validate(token, NOW))).toBe('unknown_issuer');
  });

  test('the cache is bounded (least recently used goes first)', () => {
    const vc = new JwtValidator(registry, { cacheSize: 3 });
    const tokens = [1, 2, 3, 4].map((i) => mint('RS256', rsa.privateKey, claims({ jti: `t${i}` })));
    const first = sync(vc.validate(tokens[0] as string, NOW));
    for (const t of tokens.slice(1, 3)) vc.validate(t, NOW);
    expect(vc.validate(tokens[0] as string, NOW)).toBe(first); // touch t1: t2 is now the oldest
    vc.validate(tokens[3] as string, NOW);
    expect(vc.cachedTokens).toBe(3);
    expect(vc.validate(tokens[0] as string, NOW)).toBe(first);
    const t2 = sync(vc.validate(tokens[1] as string, NOW)); // evicted: verified again, a new object
    expect(t2.ok && t2.jti).toBe('t2');
    expect(vc.validate(tokens[1] as string, NOW)).toBe(t2);
  });
});

/** The same bytes, spelled with different unused low bits in the last character. */
function flipUnusedBits(s: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = alphabet.indexOf(s[s.length - 1] as string);
  return alphabet[last ^ 1] as string; // 256-byte RSA signature: 342 chars, the last one carries 4 unused bits
}

describe('JwtValidator with a JWKS', () => {
  let server: JwksServer;
  let clock = 0;
  let registry: IssuerRegistry;
  let v: JwtValidator;

  beforeEach(async () => {
    server = await jwksServer([jwk(rsa.publicKey, 'k1'), jwk(ed.publicKey, 'k-ed')]);
    clock = 1_000_000;
    registry = new IssuerRegistry({ jwks: { clock: () => clock, minRefreshIntervalMs: 10_000, timeoutMs: 1000 } });
    registry.setConfigIssuers([{ name: 'IdP', issuer: ISS, jwksUrl: server.url }]);
    v = new JwtValidator(registry);
  });
  afterEach(() => server.close());

  test('first use fetches the JWKS once; then kids resolve synchronously', async () => {
    const t1 = mint('RS256', rsa.privateKey, claims(), { kid: 'k1' });
    const first = v.validate(t1, NOW);
    expect(first.ok).toBe('pending');
    expect((await v.validateAsync(t1, NOW)).ok).toBe(true);
    expect(kindOf(v.validate(mint('EdDSA', ed.privateKey, claims(), { kid: 'k-ed' }), NOW))).toBe('ok');
    expect(server.hits()).toBe(1);
  });

  test('key rotation: a new kid causes one refresh, then validates; unknown kids are bounded', async () => {
    await v.validateAsync(mint('RS256', rsa.privateKey, claims(), { kid: 'k1' }), NOW);
    expect(server.hits()).toBe(1);

    server.setKeys([jwk(rsa2.publicKey, 'k2'), jwk(rsa.publicKey, 'k1')]);
    clock += 10_000;
    const rotated = mint('RS256', rsa2.privateKey, claims(), { kid: 'k2' });
    expect(kindOf(await v.validateAsync(rotated, NOW))).toBe('ok');
    expect(server.hits()).toBe(2);

    // A flood of unknown kids inside the interval: no fetch, answered synchronously.
    for (let i = 0; i < 50; i++) {
      expect(kindOf(v.validate(mint('RS256', rsa2.privateKey, claims({ jti: `x${i}` }), { kid: `nope-${i}` }), NOW))).toBe('unknown_key');
    }
    expect(server.hits()).toBe(2);

    // Concurrent unknown kids after the interval share a single fetch.
    clock += 10_000;
    const many = await Promise.all(
      [1, 2, 3].map((i) => v.validateAsync(mint('RS256', rsa2.privateKey, claims({ jti: `y${i}` }), { kid: `gone-${i}` }), NOW)),
    );
    expect(many.map((r) => (r.ok ? 'ok' : r.kind))).toEqual(['unknown_key', 'unknown_key', 'unknown_key']);
    expect(server.hits()).toBe(3);
  });

  test('a key dropped from the JWKS voids tokens cached under it', async () => {
    const t1 = mint('RS256', rsa.privateKey, claims(), { kid: 'k1' });
    expect(kindOf(await v.validateAsync(t1, NOW))).toBe('ok');
    server.setKeys([jwk(rsa2.publicKey, 'k2')]);
    clock += 10_000;
    await v.validateAsync(mint('RS256', rsa2.privateKey, claims(), { kid: 'k2' }), NOW); // triggers the refresh
    expect(kindOf(v.validate(t1, NOW))).toBe('unknown_key');
  });

  test('kid is only a map key: path, URL and prototype tricks find nothing and fetch nothing extra', async () => {
    await v.validateAsync(mint('RS256', rsa.privateKey, claims(), { kid: 'k1' }), NOW);
    const tricks = ['../../etc/passwd', '/dev/null', 'http://127.0.0.1:1/jwks', `${server.url}?kid=k1`, '__proto__', 'constructor', 'k1\u0000', ' k1'];
    for (const kid of tricks) {
      expect(`${kid}: ${kindOf(v.validate(mint('RS256', rsa.privateKey, claims({ jti: kid }), { kid }), NOW))}`).toBe(`${kid}: unknown_key`);
    }
    // jku/x5u/jwk headers are ignored: the attacker's embedded key is not used.
    const evil = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const embedded = mint('RS256', evil.privateKey, claims(), { kid: 'k1', jwk: evil.publicKey.export({ format: 'jwk' }), jku: 'http://127.0.0.1:1/' });
    expect(kindOf(v.validate(embedded, NOW))).toBe('bad_signature');
    expect(server.hits()).toBe(1);
  });

  test('keys older than maxAge are used at once and refreshed in the background', async () => {
    const t1 = mint('RS256', rsa.privateKey, claims(), { kid: 'k1' });
    await v.validateAsync(t1, NOW);
    clock += 15 * 60_000;
    expect(kindOf(v.validate(mint('RS256', rsa.privateKey, claims({ jti: 'other' }), { kid: 'k1' }), NOW))).toBe('ok');
    for (let i = 0; i < 100 && server.hits() < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(server.hits()).toBe(2);
  });

  test('a JWK alg pins the algorithm', async () => {
    server.setKeys([jwk(rsa.publicKey, 'k1', { alg: 'PS256' })]);
    expect(kindOf(await v.validateAsync(mint('RS256', rsa.privateKey, claims(), { kid: 'k1' }), NOW))).toBe('key_mismatch');
    expect(kindOf(v.validate(mint('PS256', rsa.privateKey, claims(), { kid: 'k1' }), NOW))).toBe('ok');
  });

  test('a JWKS URL with a password in it: neither the failure nor the log shows the password', async () => {
    const logged: string[] = [];
    const reg = new IssuerRegistry({ log: { warn: (m, meta) => logged.push(`${m} ${JSON.stringify(meta)}`) }, jwks: { timeoutMs: 1000 } });
    const url = server.url.replace('http://', 'http://svc:jwks-pass-5d2e@');
    reg.setConfigIssuers([{ name: 'IdP', issuer: ISS, jwksUrl: url }]);
    const r = await new JwtValidator(reg).validateAsync(mint('RS256', rsa.privateKey, claims(), { kid: 'k1' }), NOW);
    expect(r.ok ? 'ok' : r.kind).toBe('jwks_unavailable'); // fetch refuses URLs with credentials
    expect(r.ok ? '' : r.detail).toContain('svc:***@');
    expect(logged.length).toBeGreaterThan(0);
    expect(`${r.ok ? '' : r.detail}\n${logged.join('\n')}`).not.toContain('jwks-pass-5d2e');
  });

  test('an unreachable JWKS gives 900900 and is retried only after the interval', async () => {
    await server.close();
    const token = mint('RS256', rsa.privateKey, claims(), { kid: 'k1' });
    const r = await v.validateAsync(token, NOW);
    expect(r.ok ? 'ok' : [r.kind, r.code]).toEqual(['jwks_unavailable', 900900]);
    expect(kindOf(v.validate(token, NOW))).toBe('jwks_unavailable'); // inside the interval: no new fetch, no wait
    server = await jwksServer([]); // afterEach closes this one
  });
});

describe('IssuerRegistry', () => {
  // APIM's key manager as the adapter translates it and the enforcer's view decodes it.
  const KeyManagerType = messageType('apimconnect.enforcer.v1.KeyManager');
  const km = (name: string, configuration: Record<string, unknown>, enabled = true): EnforcerKeyManager => {
    const wire = encodeMessage(ENFORCER_KEY_MANAGER, keyManagerResource({ name, type: 'default', enabled, organization: 'carbon.super', configuration }));
    return KeyManagerType.toObject(KeyManagerType.decode(wire), { defaults: true }) as EnforcerKeyManager;
  };
  const der64 = rsa2.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');

  test('a key manager with the same issuer replaces the config issuer (warned); deleting it brings the config issuer back', () => {
    const warnings: string[] = [];
    const reg = new IssuerRegistry({ log: { warn: (m) => warnings.push(m) } });
    reg.setConfigIssuers([
      { name: 'Resident Key Manager', issuer: ISS, certificate: pem(rsa.publicKey), validateSubscription: false },
      { name: 'MGW', issuer: 'https://localhost:9095/testkey', certificate: pem(rsa.publicKey) },
    ]);
    expect(reg.forIssuer('carbon.super', ISS)?.name).toBe('Resident Key Manager');

    reg.setKeyManagers([km('Keycloak', { issuer: ISS, self_validate_jwt: true, certificate_type: 'PEM', certificate_value: der64, consumer_key_claim: 'client_id', scopes_claim: 'scp' })]);
    const fromKm = reg.forIssuer('carbon.super', ISS);
    expect(fromKm).toMatchObject({ name: 'Keycloak', source: 'keyManager', validateSubscription: true, consumerKeyClaim: 'client_id', scopesClaim: 'scp' });
    expect(fromKm?.certificateKey).toBeDefined();
    expect(warnings.some((w) => /replaced by external KeyManager/.test(w))).toBe(true);
    expect(reg.forIssuer('carbon.super', 'https://localhost:9095/testkey')?.name).toBe('MGW');

    const v = new JwtValidator(reg);
    const t = mint('RS256', rsa2.privateKey, claims({ client_id: 'ck', scp: ['s1'] }));
    const r = sync(v.validate(t, NOW));
    expect(r.ok && [r.consumerKey, r.scopes]).toEqual(['ck', ['s1']]);

    reg.setKeyManagers([]);
    expect(reg.forIssuer('carbon.super', ISS)).toMatchObject({ name: 'Resident Key Manager', source: 'config', validateSubscription: false });
  });

  test('only enabled, self-validating key managers with an issuer become issuers', () => {
    const reg = new IssuerRegistry();
    reg.setKeyManagers([
      km('off', { issuer: 'https://a', self_validate_jwt: true, jwks_endpoint: 'http://127.0.0.1:1/a' }, false),
      km('opaque', { issuer: 'https://b', self_validate_jwt: false, jwks_endpoint: 'http://127.0.0.1:1/b' }),
      km('no-issuer', { self_validate_jwt: true, jwks_endpoint: 'http://127.0.0.1:1/c' }),
      km('str-true', { issuer: 'https://d', self_validate_jwt: 'true', jwks_endpoint: 'http://127.0.0.1:1/d' }),
      // APIM's newer event format: the keys under additionalProperties
      km('nested', { uuid: 'x', additionalProperties: { issuer: 'https://e', self_validate_jwt: true, certificate_type: 'JWKS', certificate_value: 'http://127.0.0.1:1/e', jwks_endpoint: 'http://127.0.0.1:1/ignored' } }),
    ]);
    expect(reg.list().map((i) => i.name).sort()).toEqual(['nested', 'str-true']);
    expect(reg.forIssuer('carbon.super', 'https://e')?.jwks?.url).toBe('http://127.0.0.1:1/e'); // certificate_type JWKS wins over jwks_endpoint
    expect(reg.forIssuer('carbon.super', 'https://d')).toMatchObject({ consumerKeyClaim: 'azp', scopesClaim: 'scope' });
  });

  test('PEM certificate_value may be base64 of PEM text; a bad one leaves the issuer unusable (900900)', () => {
    const reg = new IssuerRegistry({ log: { warn: () => undefined } });
    reg.setKeyManagers([
      km('pem', { issuer: 'https://pem', self_validate_jwt: true, certificate_type: 'PEM', certificate_value: Buffer.from(pem(p256.publicKey)).toString('base64') }),
      km('junk', { issuer: 'https://junk', self_validate_jwt: true, certificate_type: 'PEM', certificate_value: 'bm90IGEga2V5' }),
    ]);
    expect(reg.forIssuer('carbon.super', 'https://pem')?.certificateKey).toBeDefined();
    expect(reg.forIssuer('carbon.super', 'https://junk')?.problems.length).toBeGreaterThan(0);
    const v = new JwtValidator(reg);
    expect(kindOf(v.validate(mint('ES256', p256.privateKey, claims({ iss: 'https://pem' })), NOW))).toBe('ok');
    const r = sync(v.validate(mint('ES256', p256.privateKey, claims({ iss: 'https://junk' })), NOW));
    expect(r.ok ? 'ok' : [r.kind, r.code]).toEqual(['issuer_misconfigured', 900900]);
  });

  test('an X.509 certificate, as PEM (config) and as base64 DER (key manager)', () => {
    const certPem = selfSignedCertificate('idp', rsa.privateKey);
    const certDer64 = new crypto.X509Certificate(certPem).raw.toString('base64');
    const reg = new IssuerRegistry();
    reg.setConfigIssuers([{ name: 'cfg', issuer: 'https://cfg', certificate: certPem }]);
    reg.setKeyManagers([km('km', { issuer: 'https://km', self_validate_jwt: true, certificate_type: 'PEM', certificate_value: certDer64 })]);
    const v = new JwtValidator(reg);
    expect(kindOf(v.validate(mint('RS256', rsa.privateKey, claims({ iss: 'https://cfg' })), NOW))).toBe('ok');
    expect(kindOf(v.validate(mint('RS256', rsa.privateKey, claims({ iss: 'https://km' })), NOW))).toBe('ok');
  });
});

describe('issuers by organization', () => {
  const ALPHA = 'alpha.com';
  const BETA = 'beta.com';
  const RESIDENT_ISS = 'https://localhost:9443/oauth2/token';
  const km = (organization: string, name: string, iss: string, key: crypto.KeyObject): EnforcerKeyManager => ({
    name,
    organization,
    issuer: iss,
    jwks_url: '',
    certificate_pem: pem(key),
    consumer_key_claim: '',
    scopes_claim: '',
  });

  test('two organizations with a key manager of one name and one issuer: each verifies only its own APIs\' tokens, in any order', () => {
    for (const order of [[km(ALPHA, 'Corp IdP', ISS, rsa.publicKey), km(BETA, 'Corp IdP', ISS, rsa2.publicKey)], [km(BETA, 'Corp IdP', ISS, rsa2.publicKey), km(ALPHA, 'Corp IdP', ISS, rsa.publicKey)]]) {
      const reg = new IssuerRegistry();
      reg.setKeyManagers(order);
      expect(reg.forIssuer(ALPHA, ISS)).toMatchObject({ name: 'Corp IdP', organization: ALPHA });
      expect(reg.forIssuer(BETA, ISS)).toMatchObject({ name: 'Corp IdP', organization: BETA });
      expect(reg.forIssuer('carbon.super', ISS)).toBeUndefined(); // nobody's fallback

      const v = new JwtValidator(reg);
      const alphaToken = mint('RS256', rsa.privateKey, claims());
      const betaToken = mint('RS256', rsa2.privateKey, claims());
      // verified (and cached) for its own organization first: the cache never answers for another
      expect(kindOf(v.validate(betaToken, NOW, undefined, BETA))).toBe('ok');
      expect(kindOf(v.validate(betaToken, NOW, undefined, ALPHA))).toBe('bad_signature');
      expect(kindOf(v.validate(alphaToken, NOW, undefined, ALPHA))).toBe('ok');
      expect(kindOf(v.validate(alphaToken, NOW, undefined, BETA))).toBe('bad_signature');
      expect(kindOf(v.validate(alphaToken, NOW, undefined, 'gamma.com'))).toBe('unknown_issuer');
    }
  });

  test('the super tenant\'s Resident Key Manager is every organization\'s fallback; another organization\'s, whatever its name, is nobody\'s', () => {
    const reg = new IssuerRegistry();
    reg.setKeyManagers([
      km('carbon.super', 'Resident Key Manager', RESIDENT_ISS, rsa.publicKey),
      km(BETA, 'Resident Key Manager', 'https://beta-resident/token', rsa2.publicKey),
      // beta claims the super tenant's issuer: for beta's APIs only
      km(BETA, 'Sneaky', RESIDENT_ISS, rsa2.publicKey),
    ]);
    expect(reg.forIssuer(ALPHA, RESIDENT_ISS)).toMatchObject({ name: 'Resident Key Manager', organization: 'carbon.super' });
    expect(reg.forIssuer(BETA, RESIDENT_ISS)).toMatchObject({ name: 'Sneaky', organization: BETA });
    expect(reg.forIssuer(ALPHA, 'https://beta-resident/token')).toBeUndefined();
    // an organization's own key manager comes before the fallback
    reg.setKeyManagers([km('carbon.super', 'Resident Key Manager', RESIDENT_ISS, rsa.publicKey), km(ALPHA, 'Alpha RKM', RESIDENT_ISS, rsa2.publicKey)]);
    expect(reg.forIssuer(ALPHA, RESIDENT_ISS)).toMatchObject({ name: 'Alpha RKM', organization: ALPHA });
    expect(reg.forIssuer(BETA, RESIDENT_ISS)).toMatchObject({ name: 'Resident Key Manager', organization: 'carbon.super' });
  });

  test('config-file issuers serve every organization, except where its own key manager (or the resident one) claims the issuer', () => {
    const warnings: unknown[] = [];
    const reg = new IssuerRegistry({ log: { warn: (m, meta) => warnings.push([m, meta]) } });
    reg.setConfigIssuers([{ name: 'Operator IdP', issuer: ISS, certificate: pem(rsa.publicKey) }]);
    reg.setKeyManagers([km(BETA, 'Beta IdP', ISS, rsa2.publicKey)]);
    expect(reg.forIssuer(ALPHA, ISS)).toMatchObject({ name: 'Operator IdP', source: 'config' });
    expect(reg.forIssuer('carbon.super', ISS)).toMatchObject({ name: 'Operator IdP', source: 'config' });
    expect(reg.forIssuer(BETA, ISS)).toMatchObject({ name: 'Beta IdP', source: 'keyManager' });
    expect(JSON.stringify(warnings)).toContain('Beta IdP (beta.com)');
    // the super tenant's Resident Key Manager is everyone's: it replaces the config issuer for all (CC)
    reg.setKeyManagers([km(BETA, 'Beta IdP', ISS, rsa2.publicKey), km('carbon.super', 'Resident Key Manager', ISS, rsa2.publicKey)]);
    expect(reg.forIssuer(ALPHA, ISS)).toMatchObject({ name: 'Resident Key Manager', source: 'keyManager' });
    expect(reg.forIssuer(BETA, ISS)).toMatchObject({ name: 'Beta IdP' });
    reg.setKeyManagers([]);
    expect(reg.forIssuer(BETA, ISS)).toMatchObject({ name: 'Operator IdP', source: 'config' });
  });

  test('two key managers of one organization claiming one issuer: the first by name, whatever the order they came in', () => {
    for (const order of [[km(ALPHA, 'B', ISS, rsa2.publicKey), km(ALPHA, 'A', ISS, rsa.publicKey)], [km(ALPHA, 'A', ISS, rsa.publicKey), km(ALPHA, 'B', ISS, rsa2.publicKey)]]) {
      const reg = new IssuerRegistry({ log: { warn: () => undefined } });
      reg.setKeyManagers(order);
      expect(reg.forIssuer(ALPHA, ISS)?.name).toBe('A');
    }
  });
});

describe('cost (printed, not asserted)', () => {
  test('cached and uncached validate', () => {
    const lines: string[] = [];
    for (const [alg, priv, pub] of [
      ['RS256', rsa.privateKey, rsa.publicKey],
      ['ES256', p256.privateKey, p256.publicKey],
      ['EdDSA', ed.privateKey, ed.publicKey],
    ] as const) {
      const reg = new IssuerRegistry();
      reg.setConfigIssuers([{ name: 'IdP', issuer: ISS, certificate: pem(pub) }]);
      const n = 2000;
      const tokens = Array.from({ length: n }, (_, i) => mint(alg, priv, claims({ jti: `j${i}`, pad: 'x'.repeat(600) })));
      const v = new JwtValidator(reg, { cacheSize: n });
      let t0 = process.hrtime.bigint();
      for (const t of tokens) v.validate(t, NOW);
      const uncached = Number(process.hrtime.bigint() - t0) / n / 1000;
      t0 = process.hrtime.bigint();
      for (let round = 0; round < 5; round++) for (const t of tokens) v.validate(t, NOW);
      const cached = Number(process.hrtime.bigint() - t0) / (n * 5) / 1000;
      lines.push(`${alg} (${tokens[0]?.length} chars): uncached ${uncached.toFixed(1)} µs, cached ${cached.toFixed(2)} µs`);
    }
    console.log(`JWT validate cost\n${lines.join('\n')}`);
  });
});
