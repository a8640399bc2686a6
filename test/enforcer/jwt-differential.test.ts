import * as crypto from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as jose from 'jose';
import { IssuerRegistry, JwtValidator } from '../../src/enforcer/jwt';

/**
 * Differential test: every token of a generated corpus gets the same accept/reject answer from
 * our validator and from `jose` configured the same way (allowed algorithms, key, issuer, `exp`
 * required, clock and tolerance). Where our policy is deliberately stricter, the case is
 * classified by a named rule below, from the token alone, and must be refused by us; each rule
 * must also be shown to matter (jose accepts at least one of its cases), so none goes stale.
 * Generation is seeded; keys are fresh, and no answer depends on their values.
 */

const NOW = Date.UTC(2030, 0, 1); // a whole second: jose counts in seconds
const SKEW = 5;
const ISS = 'https://idp.example.com/token';
const ALLOWED = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const ALL_ALGS = [...ALLOWED, 'HS256', 'HS384', 'HS512', 'none', 'ES256K', 'Ed25519', 'RS1', 'rs256'];
const MAX_TOKEN = 16 * 1024;

// ---- seeded randomness (mulberry32) ----
let seed = 0x5eed1;
function random(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;

// ---- keys ----
const gen = {
  rsa: () => crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }),
  ec: (namedCurve: string) => crypto.generateKeyPairSync('ec', { namedCurve }),
  ed25519: () => crypto.generateKeyPairSync('ed25519'),
};
const keys = {
  rsa: gen.rsa(),
  rsa3072: crypto.generateKeyPairSync('rsa', { modulusLength: 3072 }),
  rsa1024: crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }),
  p256: gen.ec('P-256'),
  p384: gen.ec('P-384'),
  p521: gen.ec('P-521'),
  k256: gen.ec('secp256k1'),
  ed25519: gen.ed25519(),
  ed448: crypto.generateKeyPairSync('ed448'),
};
/** Same type and size, another key: what a forger has. */
const wrong = { rsa: gen.rsa(), p256: gen.ec('P-256'), p384: gen.ec('P-384'), p521: gen.ec('P-521'), ed25519: gen.ed25519() };

type Pair = crypto.KeyPairKeyObjectResult;
const b64 = (x: string | Buffer): string => Buffer.from(x).toString('base64url');
const json = (o: unknown): string => JSON.stringify(o);
const pemOf = (k: crypto.KeyObject): string => k.export({ type: 'spki', format: 'pem' }) as string;

/** An RSA public key relabelled as RSASSA-PSS only (id-RSASSA-PSS, no parameters): node makes it an 'rsa-pss' key. */
function pssOnly(pub: crypto.KeyObject): crypto.KeyObject {
  const der = pub.export({ type: 'spki', format: 'der' });
  const algId = Buffer.from('300b06092a864886f70d01010a', 'hex');
  // SEQUENCE { AlgorithmIdentifier (15 bytes for rsaEncryption + NULL), BIT STRING }: keep the BIT STRING.
  const headerLength = der[1]! & 0x80 ? 2 + (der[1]! & 0x7f) : 2;
  const bitString = der.subarray(headerLength + 15);
  const body = Buffer.concat([algId, bitString]);
  const length = body.length < 0x80 ? Buffer.from([body.length]) : body.length < 0x100 ? Buffer.from([0x81, body.length]) : Buffer.from([0x82, body.length >> 8, body.length & 0xff]);
  return crypto.createPublicKey({ key: Buffer.concat([Buffer.from([0x30]), length, body]), format: 'der', type: 'spki' });
}

// ---- signing ----
function sign(alg: string, key: crypto.KeyObject | Buffer, input: string): Buffer {
  const data = Buffer.from(input);
  const bits = alg.slice(2);
  if (/^RS(256|384|512)$/.test(alg)) return crypto.sign(`sha${bits}`, data, key as crypto.KeyObject);
  if (/^PS/.test(alg)) return crypto.sign(`sha${bits}`, data, { key: key as crypto.KeyObject, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(bits) / 8 });
  if (/^ES(256|384|512)$/.test(alg)) return crypto.sign(`sha${bits}`, data, { key: key as crypto.KeyObject, dsaEncoding: 'ieee-p1363' });
  if (alg === 'ES256K') return crypto.sign('sha256', data, { key: key as crypto.KeyObject, dsaEncoding: 'ieee-p1363' });
  if (alg === 'EdDSA' || alg === 'Ed25519') return crypto.sign(null, data, key as crypto.KeyObject);
  if (/^HS/.test(alg)) return crypto.createHmac(`sha${bits}`, key as Buffer).update(data).digest();
  if (alg === 'RS1') return crypto.sign('sha1', data, key as crypto.KeyObject);
  return Buffer.alloc(0);
}

const goodClaims = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ iss: ISS, sub: 'alice', azp: 'client', exp: NOW / 1000 + 600, ...extra });
function token(alg: string, key: crypto.KeyObject | Buffer, payload: string = json(goodClaims()), header: string = json({ alg, typ: 'JWT' })): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${b64(sign(alg, key, input))}`;
}

// ---- verifiers: the same issuer and key configured in both ----
interface Verifier {
  name: string;
  ours: JwtValidator;
  jose: (t: string) => Promise<unknown>;
  /** RSA modulus bytes, for the signature-length rule. */
  rsaBytes?: number;
  /** Keys in its JWKS, when it has one. */
  jwksKeys?: number;
  /** Its key is labelled RSASSA-PSS (ours gets that key; jose, which cannot import it, the same key as plain RSA). */
  pssOnly?: boolean;
}
const joseOptions = (extra: jose.JWTVerifyOptions = {}): jose.JWTVerifyOptions => ({ algorithms: ALLOWED, issuer: ISS, requiredClaims: ['exp'], currentDate: new Date(NOW), clockTolerance: SKEW, ...extra });

function certificateVerifier(name: string, pub: crypto.KeyObject, opts: { audience?: string[]; josePub?: crypto.KeyObject } = {}): Verifier {
  const registry = new IssuerRegistry();
  registry.setConfigIssuers([{ name, issuer: ISS, certificate: pemOf(pub), audience: opts.audience }]);
  const modulus = pub.asymmetricKeyDetails?.modulusLength;
  return {
    name,
    ours: new JwtValidator(registry),
    jose: (t) => jose.jwtVerify(t, opts.josePub ?? pub, joseOptions(opts.audience ? { audience: opts.audience } : {})),
    rsaBytes: modulus ? modulus / 8 : undefined,
    pssOnly: pub.asymmetricKeyType === 'rsa-pss',
  };
}

// ---- the rules where we deliberately refuse what jose accepts ----
function lenient(segment: string | undefined): unknown {
  try {
    return JSON.parse(Buffer.from(segment ?? '', 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
}
function depth(v: unknown): number {
  if (typeof v !== 'object' || v === null) return 0;
  return 1 + Math.max(0, ...(Array.isArray(v) ? v : Object.values(v)).map(depth));
}
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const RULES: Record<string, (t: string, v: Verifier) => boolean> = {
  /** One token, one spelling (RFC 7515 base64url: no padding, no other alphabet, no stray bits), so a revocation by signature cannot be dodged. */
  'non-canonical base64url': (t) => t.split('.').some((s) => !/^[A-Za-z0-9_-]*$/.test(s) || Buffer.from(s, 'base64url').toString('base64url') !== s),
  /** We implement no JWS extension, so any `crit` is refused (RFC 7515 4.1.11); jose knows b64. */
  'crit header': (t) => isObject(lenient(t.split('.')[0])) && (lenient(t.split('.')[0]) as Record<string, unknown>).crit !== undefined,
  /** A NumericDate must be a finite number: 1e400 parses to Infinity, which would mean "never expires". */
  'non-finite time claim': (t) => {
    const p = lenient(t.split('.')[1]);
    return isObject(p) && ['exp', 'nbf', 'iat'].some((c) => typeof p[c] === 'number' && !Number.isFinite(p[c]));
  },
  /** `kid` must be a string (RFC 7515 4.1.4) of reasonable length, even where the key is not chosen by it. */
  'kid not a short string': (t) => {
    const h = lenient(t.split('.')[0]);
    return isObject(h) && h.kid !== undefined && (typeof h.kid !== 'string' || h.kid.length > 1024);
  },
  /** An RSA signature is exactly as long as the modulus (RFC 8017 8.1.2/8.2.2); OpenSSL lets PSS lose leading zeros. */
  'RSA signature not modulus-length': (t, v) => {
    const h = lenient(t.split('.')[0]);
    return v.rsaBytes !== undefined && isObject(h) && typeof h.alg === 'string' && /^(RS|PS)/.test(h.alg) && Buffer.from(t.split('.')[2] ?? '', 'base64').length !== v.rsaBytes;
  },
  /** Tokens are bounded before any parsing. */
  'longer than 16 KiB': (t) => t.length > MAX_TOKEN,
  /** Claims are serialized again (backend JWT); JSON.stringify recurses. */
  'nested deeper than 32': (t) => depth(lenient(t.split('.')[0])) > 32 || depth(lenient(t.split('.')[1])) > 32,
  /** Without a kid a JWKS key is used only when the set holds exactly one (CC: the certificate or the only key); jose picks by key type. */
  'no kid, several JWKS keys': (t, v) => {
    const h = lenient(t.split('.')[0]);
    return (v.jwksKeys ?? 0) > 1 && isObject(h) && h.kid === undefined;
  },
  /** A key labelled RSASSA-PSS verifies PS* only, never PKCS#1 v1.5 (jose cannot import such a key: it is given the plain RSA key). */
  'RS* with a PSS-only key': (t, v) => {
    const h = lenient(t.split('.')[0]);
    return v.pssOnly === true && isObject(h) && typeof h.alg === 'string' && h.alg.startsWith('RS');
  },
};

// ---- mutations of a token's text ----
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const ODD = `${ALPHABET}=+/. %\n\t"{}`;
function mutate(t: string): string {
  const i = Math.floor(random() * t.length);
  const parts = t.split('.');
  switch (Math.floor(random() * 9)) {
    case 0:
      return t.slice(0, i) + pick([...ODD]) + t.slice(i + 1); // replace a character
    case 1:
      return t.slice(0, i) + t.slice(i + 1); // drop one
    case 2:
      return t.slice(0, i) + pick([...ODD]) + t.slice(i); // insert one
    case 3:
      return t.slice(0, i); // truncate
    case 4: {
      const k = Math.floor(random() * parts.length); // a segment's last character, stray bits and all
      const s = parts[k]!;
      parts[k] = s.slice(0, -1) + pick([...ALPHABET]);
      return parts.join('.');
    }
    case 5:
      return [...parts, pick(parts)].join('.'); // an extra segment
    case 6:
      return [parts[0], parts[2], parts[1]].join('.'); // segments swapped
    case 7:
      return parts.map((s, k) => (k === Math.floor(random() * 3) ? `${s}${pick(['=', '==', '==='])}` : s)).join('.'); // padding
    default:
      return parts.map((s) => (random() < 0.5 ? s.replace(/-/g, '+').replace(/_/g, '/') : s)).join('.'); // standard alphabet
  }
}

interface Case {
  name: string;
  token: string;
  verifier: Verifier;
}

let jwksServer: http.Server;
const cases: Case[] = [];

beforeAll(async () => {
  // A JWKS with one key of each type, each with a kid; ours fetches it once, jose reads it locally.
  const jwks = {
    keys: [
      { ...keys.rsa.publicKey.export({ format: 'jwk' }), kid: 'r1', use: 'sig' },
      { ...keys.p256.publicKey.export({ format: 'jwk' }), kid: 'e1' },
      { ...keys.ed25519.publicKey.export({ format: 'jwk' }), kid: 'd1', use: 'sig' },
    ],
  };
  jwksServer = http.createServer((_req, res) => res.end(JSON.stringify(jwks)));
  await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
  const registry = new IssuerRegistry();
  registry.setConfigIssuers([{ name: 'jwks', issuer: ISS, jwksUrl: `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks` }]);
  const localSet = jose.createLocalJWKSet(jwks as jose.JSONWebKeySet);
  const jwksVerifier: Verifier = { name: 'jwks', ours: new JwtValidator(registry), jose: (t) => jose.jwtVerify(t, localSet, joseOptions()), jwksKeys: 3 };

  const v = {
    rsa: certificateVerifier('rsa 2048', keys.rsa.publicKey),
    rsa3072: certificateVerifier('rsa 3072', keys.rsa3072.publicKey),
    rsa1024: certificateVerifier('rsa 1024', keys.rsa1024.publicKey),
    // jose imports a KeyObject through JWK, which has no RSASSA-PSS key type: it gets the same key as plain RSA.
    pss: certificateVerifier('rsa-pss key', pssOnly(keys.rsa.publicKey), { josePub: keys.rsa.publicKey }),
    p256: certificateVerifier('P-256', keys.p256.publicKey),
    p384: certificateVerifier('P-384', keys.p384.publicKey),
    p521: certificateVerifier('P-521', keys.p521.publicKey),
    k256: certificateVerifier('secp256k1', keys.k256.publicKey),
    ed25519: certificateVerifier('Ed25519', keys.ed25519.publicKey),
    ed448: certificateVerifier('Ed448', keys.ed448.publicKey),
    aud: certificateVerifier('rsa 2048 with audience', keys.rsa.publicKey, { audience: ['api://shop', 'api://other'] }),
  };
  const add = (name: string, t: string, verifier: Verifier): void => {
    cases.push({ name, token: t, verifier });
  };

  // 1. Every algorithm, with the verifier's own key, a forger's key of the same type, and confusions.
  const secretFromPublicKey = (p: Pair): Buffer => Buffer.from(pemOf(p.publicKey));
  const signersFor: Array<[Verifier, Pair, Pair | undefined]> = [
    [v.rsa, keys.rsa, wrong.rsa], [v.rsa3072, keys.rsa3072, wrong.rsa], [v.rsa1024, keys.rsa1024, undefined], [v.pss, keys.rsa, wrong.rsa],
    [v.p256, keys.p256, wrong.p256], [v.p384, keys.p384, wrong.p384], [v.p521, keys.p521, wrong.p521], [v.k256, keys.k256, wrong.p256],
    [v.ed25519, keys.ed25519, wrong.ed25519], [v.ed448, keys.ed448, wrong.ed25519],
  ];
  const allPairs: Pair[] = Object.values(keys);
  for (const [verifier, own, forger] of signersFor) {
    for (const alg of ALL_ALGS) {
      for (const [who, key] of [['own key', own.privateKey], ['forger', forger?.privateKey], ['HMAC secret = public key PEM', secretFromPublicKey(own)], ['empty secret', Buffer.alloc(0)]] as const) {
        if (!key) continue;
        const isSecret = Buffer.isBuffer(key);
        if (isSecret !== (alg.startsWith('HS') || alg === 'none')) continue;
        try {
          add(`${verifier.name}: ${alg} by ${who}`, token(alg, key, json(goodClaims()), json({ alg, typ: 'JWT' })), verifier);
        } catch {
          // this key cannot make this algorithm's signatures at all
        }
      }
      // Every other key, for alg/key-type mismatches
      for (const other of allPairs) {
        if (other === own) continue;
        try {
          add(`${verifier.name}: ${alg} by another key type (${other.privateKey.asymmetricKeyType})`, token(alg, other.privateKey), verifier);
        } catch {
          // not a pairing that can sign
        }
      }
    }
  }

  // 2. Claims (and their JSON) through the main verifiers.
  const exp = NOW / 1000 + 600;
  const claimTexts: Array<[string, string]> = [
    ['valid', json(goodClaims())],
    ['exp at now - tolerance (expired)', json(goodClaims({ exp: NOW / 1000 - SKEW }))],
    ['exp at now - tolerance + 1', json(goodClaims({ exp: NOW / 1000 - SKEW + 1 }))],
    ['exp fractional, just expired', json(goodClaims({ exp: NOW / 1000 - SKEW - 0.5 }))],
    ['exp fractional, just valid', json(goodClaims({ exp: NOW / 1000 - SKEW + 0.5 }))],
    ['no exp', json({ iss: ISS, sub: 'alice' })],
    ['exp a string', json(goodClaims({ exp: String(exp) }))],
    ['exp null', json(goodClaims({ exp: null }))],
    ['exp an array', json(goodClaims({ exp: [exp] }))],
    ['exp 1e300', json(goodClaims({ exp: 1e300 }))],
    ['exp -1e300', json(goodClaims({ exp: -1e300 }))],
    ['exp 1e400', json(goodClaims()).replace(`"exp":${exp}`, '"exp":1e400')],
    ['exp -0', json(goodClaims()).replace(`"exp":${exp}`, '"exp":-0')],
    ['exp as 1.0e9 spelling', json(goodClaims()).replace(`"exp":${exp}`, `"exp":${exp}.000e0`)],
    ['exp a huge integer literal', json(goodClaims()).replace(`"exp":${exp}`, '"exp":123456789012345678901234567890')],
    ['exp twice, last valid', json(goodClaims()).replace(`"exp":${exp}`, `"exp":1,"exp":${exp}`)],
    ['exp twice, last expired', json(goodClaims()).replace(`"exp":${exp}`, `"exp":${exp},"exp":1`)],
    ['exp only under __proto__', json({ iss: ISS }).replace('}', `,"__proto__":{"exp":${exp}}}`)],
    ['nbf in the future beyond tolerance', json(goodClaims({ nbf: NOW / 1000 + SKEW + 1 }))],
    ['nbf at now + tolerance', json(goodClaims({ nbf: NOW / 1000 + SKEW }))],
    ['nbf 1e300', json(goodClaims({ nbf: 1e300 }))],
    ['nbf -1e400', json(goodClaims()).replace('"exp"', '"nbf":-1e400,"exp"')],
    ['nbf a string', json(goodClaims({ nbf: '0' }))],
    ['iat in the future', json(goodClaims({ iat: NOW / 1000 + 3600 }))],
    ['iat a string', json(goodClaims({ iat: 'now' }))],
    ['iat 1e400', json(goodClaims()).replace('"exp"', '"iat":1e400,"exp"')],
    ['iss wrong', json(goodClaims({ iss: 'https://evil.example.com/token' }))],
    ['iss missing', json({ sub: 'alice', exp })],
    ['iss an array', json(goodClaims({ iss: [ISS] }))],
    ['iss with a trailing slash', json(goodClaims({ iss: `${ISS}/` }))],
    ['aud a string', json(goodClaims({ aud: 'api://shop' }))],
    ['aud an array with a match', json(goodClaims({ aud: [5, 'api://other'] }))],
    ['aud another', json(goodClaims({ aud: 'api://nope' }))],
    ['aud a number', json(goodClaims({ aud: 5 }))],
    ['aud an object', json(goodClaims({ aud: { 'api://shop': true } }))],
    ['payload a JSON array', json([goodClaims()])],
    ['payload a string', json('claims')],
    ['payload null', 'null'],
    ['payload with whitespace around', ` \n${json(goodClaims())}\t `],
    ['payload with a BOM', `\ufeff${json(goodClaims())}`],
    ['payload with trailing garbage', `${json(goodClaims())}x`],
    ['payload with an escaped lone surrogate', json(goodClaims()).replace('"alice"', '"\\ud800"')],
    ['payload with a NUL', json(goodClaims({ sub: 'a\u0000b' }))],
    ['payload nested 31 deep', json(goodClaims()).replace('"alice"', '['.repeat(31) + ']'.repeat(31))],
    ['payload nested 40 deep', json(goodClaims()).replace('"alice"', '['.repeat(40) + ']'.repeat(40))],
    ['payload over 16 KiB', json(goodClaims({ pad: 'x'.repeat(13_000) }))],
  ];
  for (const verifier of [v.rsa, v.p256, v.ed25519, v.aud]) {
    const [alg, key] = verifier === v.p256 ? ['ES256', keys.p256.privateKey] : verifier === v.ed25519 ? ['EdDSA', keys.ed25519.privateKey] : ['RS256', keys.rsa.privateKey];
    for (const [name, text] of claimTexts) add(`${verifier.name}: ${name}`, token(alg, key, text), verifier);
    // Invalid UTF-8 in the signed payload and header.
    const bad = Buffer.concat([Buffer.from(json(goodClaims()).slice(0, -1)), Buffer.from(',"x":"\xff\xfe"}', 'latin1')]);
    const input = `${b64(json({ alg }))}.${b64(bad)}`;
    add(`${verifier.name}: payload not UTF-8`, `${input}.${b64(sign(alg, key, input))}`, verifier);

    // 3. Headers.
    const headers: Array<[string, string]> = [
      ['kid a string', json({ alg, kid: 'any' })],
      ['kid an object', json({ alg, kid: { a: 1 } })],
      ['kid 2000 characters', json({ alg, kid: 'k'.repeat(2000) })],
      ['crit b64 with b64 true', json({ alg, crit: ['b64'], b64: true })],
      ['crit b64 with b64 false', json({ alg, crit: ['b64'], b64: false })],
      ['b64 false without crit', json({ alg, b64: false })],
      ['crit unknown', json({ alg, crit: ['exp'] })],
      ['crit empty', json({ alg, crit: [] })],
      ['alg twice, last none', `{"alg":"${alg}","alg":"none"}`],
      ['alg twice, last real', `{"alg":"none","alg":"${alg}"}`],
      ['alg missing', json({ typ: 'JWT' })],
      ['alg a number', json({ alg: 256 })],
      ['alg lower case', json({ alg: alg.toLowerCase() })],
      ['alg with a space', json({ alg: `${alg} ` })],
      ['typ odd', json({ alg, typ: 5 })],
      ['cty JWT (nested)', json({ alg, cty: 'JWT' })],
      ['jku and x5u to elsewhere', json({ alg, jku: 'https://evil.example/jwks', x5u: 'https://evil.example/cert' })],
      ['jwk embedded (forger key)', json({ alg, jwk: wrong.rsa.publicKey.export({ format: 'jwk' }) })],
      ['header a JSON array', json([alg])],
      ['header nested 40 deep', json({ alg, x: JSON.parse('['.repeat(40) + ']'.repeat(40)) })],
    ];
    for (const [name, header] of headers) add(`${verifier.name}: header ${name}`, token(alg, key, json(goodClaims()), header), verifier);
  }

  // 4. Signature spellings.
  const es = token('ES256', keys.p256.privateKey);
  const [eh, ep, esig] = es.split('.') as [string, string, string];
  const raw = Buffer.from(esig, 'base64url');
  const n256 = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
  const s = BigInt(`0x${raw.subarray(32).toString('hex')}`);
  const hex = (x: bigint): Buffer => Buffer.from(x.toString(16).padStart(64, '0'), 'hex');
  add('P-256: (r, n - s)', `${eh}.${ep}.${b64(Buffer.concat([raw.subarray(0, 32), hex(n256 - s)]))}`, v.p256);
  add('P-256: (r, s + n) does not fit', `${eh}.${ep}.${b64(Buffer.concat([raw.subarray(0, 32), Buffer.from((s + n256).toString(16).padStart(66, '0'), 'hex')]))}`, v.p256);
  add('P-256: DER signature', `${eh}.${ep}.${b64(crypto.sign('sha256', Buffer.from(`${eh}.${ep}`), keys.p256.privateKey))}`, v.p256);
  add('P-256: r = 0, s = 0', `${eh}.${ep}.${b64(Buffer.alloc(64))}`, v.p256);
  add('P-256: s = 0', `${eh}.${ep}.${b64(Buffer.concat([raw.subarray(0, 32), Buffer.alloc(32)]))}`, v.p256);
  const ed = token('EdDSA', keys.ed25519.privateKey);
  const [dh, dp, dsig] = ed.split('.') as [string, string, string];
  const edRaw = Buffer.from(dsig, 'base64url');
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  const sPlusL = BigInt(`0x${Buffer.from(edRaw.subarray(32)).reverse().toString('hex')}`) + L;
  add('Ed25519: S + L', `${dh}.${dp}.${b64(Buffer.concat([edRaw.subarray(0, 32), Buffer.from(sPlusL.toString(16).padStart(64, '0'), 'hex').reverse()]))}`, v.ed25519);
  for (const alg of ['PS256', 'PS384', 'PS512', 'RS256']) {
    // A signature that starts with a zero byte (1 in 256), then without it, and with one more.
    let t = '';
    for (let i = 0; ; i++) {
      t = token(alg, keys.rsa.privateKey, json(goodClaims({ n: i })));
      if (Buffer.from(t.split('.')[2]!, 'base64url')[0] === 0) break;
    }
    const [rh, rp, rs] = t.split('.') as [string, string, string];
    const sig = Buffer.from(rs, 'base64url');
    add(`rsa 2048: ${alg} with a leading zero byte`, t, v.rsa);
    add(`rsa 2048: ${alg} without its leading zero byte`, `${rh}.${rp}.${b64(sig.subarray(1))}`, v.rsa);
    add(`rsa 2048: ${alg} with two leading zero bytes`, `${rh}.${rp}.${b64(Buffer.concat([Buffer.alloc(1), sig]))}`, v.rsa);
  }

  // 5. JWKS: kid right, another key's, unknown, absent.
  const jwksSigners: Array<[string, string, crypto.KeyObject]> = [['r1', 'RS256', keys.rsa.privateKey], ['e1', 'ES256', keys.p256.privateKey], ['d1', 'EdDSA', keys.ed25519.privateKey]];
  for (const [kid, alg, key] of jwksSigners) {
    for (const k of ['r1', 'e1', 'd1', 'nope', undefined]) {
      add(`jwks: ${alg} with kid ${k ?? '(none)'}`, token(alg, key, json(goodClaims()), json(k === undefined ? { alg } : { alg, kid: k })), jwksVerifier);
    }
    add(`jwks: ${alg} kid ${kid} by a forger`, token(alg, alg === 'RS256' ? wrong.rsa.privateKey : alg === 'ES256' ? wrong.p256.privateKey : wrong.ed25519.privateKey, json(goodClaims()), json({ alg, kid })), jwksVerifier);
  }

  // 6. Seeded random mutations of valid tokens, for each main verifier.
  const bases: Array<[Verifier, string]> = [
    [v.rsa, token('RS256', keys.rsa.privateKey)], [v.rsa, token('PS384', keys.rsa.privateKey)], [v.p256, es], [v.p384, token('ES384', keys.p384.privateKey)],
    [v.p521, token('ES512', keys.p521.privateKey)], [v.ed25519, ed], [jwksVerifier, token('ES256', keys.p256.privateKey, json(goodClaims()), json({ alg: 'ES256', kid: 'e1' }))],
  ];
  for (const [verifier, base] of bases) {
    for (let i = 0; i < 150; i++) {
      let t = base;
      for (let m = 1 + Math.floor(random() * 2); m > 0; m--) t = mutate(t);
      add(`${verifier.name}: mutation ${i} of ${base.split('.')[0]!.slice(0, 12)}…`, t, verifier);
    }
  }
}, 60_000);

afterAll(() => new Promise<void>((r) => jwksServer.close(() => r())));

test('our validator and jose agree on every token, except where a named rule says we refuse', async () => {
  const started = Date.now();
  const disagreements: string[] = [];
  const ruleMattered = new Map<string, number>(Object.keys(RULES).map((r) => [r, 0]));
  let accepted = 0;
  for (const c of cases) {
    let ours: boolean;
    try {
      ours = (await c.verifier.ours.validateAsync(c.token, NOW)).ok === true;
    } catch (e) {
      disagreements.push(`${c.name}: our validator threw ${String(e)}`);
      continue;
    }
    const theirs = await c.verifier.jose(c.token).then(
      () => true,
      () => false,
    );
    const rules = Object.entries(RULES).filter(([, applies]) => applies(c.token, c.verifier)).map(([name]) => name);
    if (ours) accepted++;
    if (rules.length > 0) {
      if (ours) disagreements.push(`${c.name}: accepted although ${rules.join(', ')} (${c.token.slice(0, 80)})`);
      if (theirs && rules.length === 1) ruleMattered.set(rules[0]!, ruleMattered.get(rules[0]!)! + 1);
    } else if (ours !== theirs) {
      disagreements.push(`${c.name}: ours ${ours ? 'accepts' : 'refuses'}, jose ${theirs ? 'accepts' : 'refuses'} (${c.token.slice(0, 80)})`);
    }
  }
  expect(disagreements).toEqual([]);
  // Every rule is exercised by a case jose accepts (and only that rule applies): no stale exception.
  expect(Object.fromEntries([...ruleMattered].filter(([, n]) => n === 0))).toEqual({});
  // The corpus is not trivially all-refused, and large.
  expect(cases.length).toBeGreaterThan(2000);
  expect(accepted).toBeGreaterThan(100);
  expect(Date.now() - started).toBeLessThan(20_000);
}, 60_000);
