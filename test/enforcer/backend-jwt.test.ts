import * as crypto from 'node:crypto';
import { BackendJwtIssuer, type Caller } from '../../src/enforcer/backend-jwt';

const D = 'http://wso2.org/claims';
const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const pem = (k: crypto.KeyObject): string => k.export({ type: 'pkcs8', format: 'pem' }) as string;

const NOW = Date.UTC(2026, 10, 26, 12, 0, 0);
const caller = (over: Partial<Caller> = {}): Caller => ({
  api: { id: 'api-1', name: 'PetStore', version: '1.0.0', context: '/petstore/1.0.0' },
  keyType: 'PRODUCTION',
  tier: 'Gold',
  application: { uuid: 'app-1', name: 'Shop', owner: 'alice', policy: 'Unlimited', attributes: { team: 'web' } },
  endUser: 'alice@carbon.super',
  claims: { iss: 'https://idp', sub: 'alice@carbon.super', aud: 'x', exp: NOW / 1000 + 7200, jti: 'j-1', scope: 'read', email: 'alice@example.com', subscribedAPIs: [] },
  expiresAt: NOW + 7_200_000,
  tokenId: 'j-1',
  ...over,
});

function decode(token: string): { header: Record<string, unknown>; claims: Record<string, unknown>; input: string; sig: Buffer } {
  const [h, c, s] = token.split('.');
  return { header: JSON.parse(Buffer.from(h!, 'base64url').toString()), claims: JSON.parse(Buffer.from(c!, 'base64url').toString()), input: `${h}.${c}`, sig: Buffer.from(s!, 'base64url') };
}

const issuer = (privateKeyPem = pem(rsa.privateKey), ttlSeconds = 900): BackendJwtIssuer =>
  new BackendJwtIssuer({ headerName: 'X-JWT-Assertion', privateKeyPem, ttlSeconds, claimDialect: D });

test('RS256, base64url segments, times in seconds, sub kept, caller claims copied but not the ones about the caller token', () => {
  const t = issuer().forCaller(caller(), NOW);
  expect(t).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  const { header, claims, input, sig } = decode(t);
  expect(header).toMatchObject({ typ: 'JWT', alg: 'RS256' });
  expect(typeof header.kid).toBe('string');
  expect(crypto.verify('sha256', Buffer.from(input), rsa.publicKey, sig)).toBe(true);
  expect(claims).toMatchObject({
    iss: 'wso2.org/products/am', sub: 'alice@carbon.super', iat: NOW / 1000, exp: NOW / 1000 + 900,
    scope: 'read', email: 'alice@example.com',
    [`${D}/apiname`]: 'PetStore', [`${D}/apicontext`]: '/petstore/1.0.0', [`${D}/version`]: '1.0.0', [`${D}/keytype`]: 'PRODUCTION',
    [`${D}/tier`]: 'Gold', [`${D}/enduser`]: 'alice@carbon.super', [`${D}/subscriber`]: 'alice', [`${D}/applicationUUId`]: 'app-1',
    [`${D}/applicationname`]: 'Shop', [`${D}/applicationtier`]: 'Unlimited', [`${D}/applicationAttributes`]: { team: 'web' },
  });
  expect(claims.jti).not.toBe('j-1');
  expect(claims.aud).toBeUndefined();
  expect(claims.subscribedAPIs).toBeUndefined();
});

test('never outlives the caller token; cached per caller token, API and key type; re-signed near expiry', () => {
  const b = issuer();
  const short = decode(b.forCaller(caller({ tokenId: 'short', expiresAt: NOW + 60_000 }), NOW)).claims;
  expect(short.exp).toBe(NOW / 1000 + 60);
  const first = b.forCaller(caller(), NOW);
  expect(b.forCaller(caller(), NOW + 1000)).toBe(first);
  expect(b.forCaller(caller({ api: { id: 'api-2', name: 'Orders', version: 'v2', context: '/orders/v2' } }), NOW)).not.toBe(first);
  expect(b.forCaller(caller({ keyType: 'SANDBOX' }), NOW)).not.toBe(first);
  const later = b.forCaller(caller(), NOW + 890_000); // within the renewal margin of its 900 s
  expect(later).not.toBe(first);
  expect(decode(later).claims.exp).toBe((NOW + 890_000) / 1000 + 900);
});

test('EC P-256 signs ES256 and Ed25519 signs EdDSA; other keys are refused at construction', () => {
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const es = decode(issuer(pem(ec.privateKey)).forCaller(caller(), NOW));
  expect(es.header.alg).toBe('ES256');
  expect(crypto.verify('sha256', Buffer.from(es.input), { key: ec.publicKey, dsaEncoding: 'ieee-p1363' }, es.sig)).toBe(true);
  const ed = crypto.generateKeyPairSync('ed25519');
  const eddsa = decode(issuer(pem(ed.privateKey)).forCaller(caller(), NOW));
  expect(eddsa.header.alg).toBe('EdDSA');
  expect(crypto.verify(null, Buffer.from(eddsa.input), ed.publicKey, eddsa.sig)).toBe(true);
  expect(() => issuer(pem(crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey))).toThrow(/not RSA, EC P-256 or Ed25519/);
  expect(() => issuer('not a key')).toThrow();
});
