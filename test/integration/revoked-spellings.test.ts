import * as crypto from 'node:crypto';
import * as path from 'node:path';
import { messageType } from '../../src/envoy/protos';
import type { GatewayEvent } from '../../src/model/state';
import { waitFor } from '../helpers/ads';
import { serveFolder, type Served } from '../helpers/served';
import { b64json } from '../helpers/jwt';

/**
 * A token without `jti` is revoked by its signature segment, as APIM sends it (reference E). The
 * same token must stay refused under every other spelling of that signature an attacker can make
 * without the key: ECDSA's (r, n - s), a PSS signature without its leading zero byte, Ed25519's
 * S + L, and non-canonical base64url of any segment. Adapter and enforcer as `all` runs them;
 * the revocation reaches the enforcer the way an APIM event does (adapter state → xDS).
 */

const APIS = path.join(__dirname, '..', '..', 'apis');
const ORG = 'carbon.super';

const ORDERS: Record<string, bigint> = {
  ES256: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  ES384: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  ES512: 0x1fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
};
const ED25519_L = 2n ** 252n + 27742317777372353535851937790883648493n;

interface Idp {
  alg: 'ES256' | 'ES384' | 'ES512' | 'PS256' | 'EdDSA';
  keys: crypto.KeyPairKeyObjectResult;
  iss: string;
  consumerKey: string;
}

const idps: Idp[] = [
  { alg: 'ES256', keys: crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }) },
  { alg: 'ES384', keys: crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' }) },
  { alg: 'ES512', keys: crypto.generateKeyPairSync('ec', { namedCurve: 'P-521' }) },
  { alg: 'PS256', keys: crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }) },
  { alg: 'EdDSA', keys: crypto.generateKeyPairSync('ed25519') },
].map((x) => ({ ...(x as Pick<Idp, 'alg' | 'keys'>), iss: `https://idp-${x.alg.toLowerCase()}.example.com/token`, consumerKey: `ck-${x.alg.toLowerCase()}` }));

function sign(idp: Idp, input: string): Buffer {
  const data = Buffer.from(input);
  const k = idp.keys.privateKey;
  if (idp.alg === 'EdDSA') return crypto.sign(null, data, k);
  if (idp.alg === 'PS256') return crypto.sign('sha256', data, { key: k, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
  return crypto.sign(`sha${idp.alg.slice(2)}`, data, { key: k, dsaEncoding: 'ieee-p1363' });
}

/** A token without jti; for PS256 one whose signature starts with a zero byte (1 in 256, so a few hundred tries). */
function mint(idp: Idp): { token: string; input: string; sig: Buffer } {
  for (let i = 0; ; i++) {
    const input = `${b64json({ alg: idp.alg, typ: 'JWT' })}.${b64json({ iss: idp.iss, sub: 'alice', azp: idp.consumerKey, exp: Math.floor(Date.now() / 1000) + 600, n: i })}`;
    const sig = sign(idp, input);
    if (idp.alg !== 'PS256' || sig[0] === 0) return { token: `${input}.${sig.toString('base64url')}`, input, sig };
  }
}

/** The spelling of the same signature an attacker can make without the key. */
function respelled(idp: Idp, sig: Buffer): Buffer {
  if (idp.alg === 'PS256') return sig.subarray(1); // OpenSSL verifies PSS with leading zeros dropped
  if (idp.alg === 'EdDSA') {
    const s = BigInt(`0x${Buffer.from(sig.subarray(32)).reverse().toString('hex')}`) + ED25519_L; // little-endian S
    return Buffer.concat([sig.subarray(0, 32), Buffer.from(s.toString(16).padStart(64, '0'), 'hex').reverse()]);
  }
  const half = sig.length / 2;
  const s = BigInt(`0x${sig.subarray(half).toString('hex')}`);
  return Buffer.concat([sig.subarray(0, half), Buffer.from((ORDERS[idp.alg]! - s).toString(16).padStart(half * 2, '0'), 'hex')]);
}

/**
 * The segment with its last character's unused low bit set: the same bytes to a lenient decoder.
 * Undefined when its length leaves no unused bits (a multiple of 3 bytes).
 */
function nonCanonical(segment: string): string | undefined {
  if (segment.length % 4 === 0) return undefined;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  return segment.slice(0, -1) + alphabet[alphabet.indexOf(segment.at(-1)!) | 1]!;
}

let served: Served | undefined;
let adapter: Served['adapter'];
let enforcer: Served['enforcer'];
let client: Served['client'];
let apiId: string;
const CheckResponse = messageType('envoy.service.auth.v3.CheckResponse');

beforeAll(async () => {
  served = await serveFolder(APIS);
  ({ adapter, enforcer, client } = served);

  apiId = [...adapter.pipeline.current.apis.values()].find((a) => a.name === 'PetStore')!.id;
  adapter.pipeline.apply([
    { kind: 'Upserted', collection: 'applications', value: { uuid: 'app-1', name: 'Shop', owner: 'alice', policy: 'Unlimited', attributes: {}, organization: ORG } },
    { kind: 'Upserted', collection: 'subscriptions', value: { uuid: 'sub-1', apiUuid: apiId, appUuid: 'app-1', policy: 'Unlimited', state: 'UNBLOCKED', organization: ORG } },
    ...idps.flatMap((idp): GatewayEvent[] => {
      const pem = idp.keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const name = `${idp.alg} IdP`;
      return [
        {
          kind: 'Upserted',
          collection: 'keyManagers',
          value: { name, type: 'custom', enabled: true, organization: ORG, configuration: { issuer: idp.iss, self_validate_jwt: true, certificate_type: 'PEM', certificate_value: Buffer.from(pem).toString('base64') } },
        },
        { kind: 'Upserted', collection: 'keyMappings', value: { consumerKey: idp.consumerKey, keyManager: name, keyType: 'PRODUCTION', appUuid: 'app-1', organization: ORG } },
      ];
    }),
  ]);
  await waitFor(() => enforcer.view.subscription(apiId, 'app-1', ORG) !== undefined, 10_000);
}, 30_000);

afterAll(async () => {
  await served?.stop();
});

function check(token: string): Promise<{ allowed: boolean; status?: number; code?: string }> {
  const req = {
    attributes: {
      request: { http: { method: 'GET', path: '/pets', host: 'localhost', headers: { ':method': 'GET', authorization: `Bearer ${token}` } } },
      route_metadata_context: { filter_metadata: { 'apimconnect.route': { fields: { apiId: { stringValue: apiId }, path: { stringValue: '/pets' } } } } },
    },
  };
  return new Promise((resolve, reject) =>
    client.Check(req, (err: Error | null, res: unknown) => {
      if (err) return reject(err);
      const r = CheckResponse.toObject(res as never, { defaults: false }) as { denied_response?: { status: { code: number }; body: string } };
      if (!r.denied_response) return resolve({ allowed: true });
      resolve({ allowed: false, status: r.denied_response.status.code, code: (JSON.parse(r.denied_response.body) as { code: string }).code });
    }),
  );
}

/** Checks until `want` (the key manager or the revocation is on its way over xDS), then the last answer. */
async function settle(token: string, want: boolean): Promise<boolean> {
  let r = await check(token);
  for (let i = 0; i < 100 && r.allowed !== want; i++) {
    await new Promise((res) => setTimeout(res, 20));
    r = await check(token);
  }
  return r.allowed;
}

test.each(idps.map((idp) => [idp.alg, idp] as const))('%s: a token revoked by its signature stays refused under another spelling of it', async (_alg, idp) => {
  const { token, input, sig } = mint(idp);
  const [h, p, s] = token.split('.') as [string, string, string];
  const other = respelled(idp, sig);
  // The other spelling does verify with the key alone: the attack is real, not a broken token.
  const verifies = idp.alg === 'EdDSA'
    ? crypto.verify(null, Buffer.from(input), idp.keys.publicKey, other)
    : idp.alg === 'PS256'
      ? crypto.verify('sha256', Buffer.from(input), { key: idp.keys.publicKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, other)
      : crypto.verify(`sha${idp.alg.slice(2)}`, Buffer.from(input), { key: idp.keys.publicKey, dsaEncoding: 'ieee-p1363' }, other);
  expect(verifies).toBe(idp.alg !== 'EdDSA'); // OpenSSL refuses Ed25519's S >= L on its own
  const respelledToken = `${input}.${other.toString('base64url')}`;
  const nc = { h: nonCanonical(h), p: nonCanonical(p), s: nonCanonical(s) };
  const spellings: Record<string, string> = { 'other signature': respelledToken };
  if (nc.s) spellings['non-canonical signature'] = `${h}.${p}.${nc.s}`;
  if (nc.p) spellings['non-canonical payload'] = `${h}.${nc.p}.${s}`;
  if (nc.h) spellings['non-canonical header'] = `${nc.h}.${p}.${s}`;
  // ES384 and ES512 signatures (96 and 132 bytes) have no unused bits; the payload's varies with the claims.
  expect(nc.s === undefined).toBe(idp.alg === 'ES384' || idp.alg === 'ES512');
  expect(await settle(token, true)).toBe(true);
  // ECDSA's mirror is a valid token in its own right until its original is revoked; the others never were.
  expect((await check(respelledToken)).allowed).toBe(idp.alg.startsWith('ES'));

  // Revoked the way APIM revokes a token without jti: its signature segment. For ES384, the
  // attacker's spelling is the one revoked (an operator copied it from a log): the original must go too.
  const revokedId = idp.alg === 'ES384' ? other.toString('base64url') : s;
  adapter.pipeline.apply([{ kind: 'Upserted', collection: 'revokedTokens', value: { id: revokedId, expiresAt: Date.now() + 600_000, tokenType: 'JWT', organization: ORG } }]);
  expect(await settle(idp.alg === 'ES384' ? respelledToken : token, false)).toBe(false);
  for (const [name, t] of Object.entries({ original: token, ...spellings })) {
    const r = await check(t);
    expect(`${name}: ${r.allowed} ${r.status} ${r.code}`).toBe(`${name}: false 401 900901`);
  }
}, 20_000);
