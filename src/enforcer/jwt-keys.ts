import * as crypto from 'node:crypto';
import { redactUrl, redactUrlsIn } from '../config/config';

/**
 * Public keys, the algorithms each may verify, and an issuer's JWKS with a bounded refresh.
 * node:crypto verifies every allowed algorithm synchronously, which keeps a cache miss with a
 * known key off the event loop's promise machinery (a JOSE library's async verify would not).
 */

export type JwsAlg = 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA';

interface AlgSpec {
  hash: string | null;
  family: 'rsa' | 'pss' | 'ec' | 'eddsa';
  /** ECDSA: the curve the key must be on, and the exact raw (r||s) signature length. */
  curve?: string;
  sigLength?: number;
  /** ECDSA: the curve's order n. (r, s) and (r, n - s) both verify: see signatureSpellings(). */
  order?: bigint;
}

/** The allow-list. `none` and HS* are absent on purpose: with a public key, HMAC would be forgeable. */
const ALGS: Readonly<Record<JwsAlg, AlgSpec>> = {
  RS256: { hash: 'sha256', family: 'rsa' },
  RS384: { hash: 'sha384', family: 'rsa' },
  RS512: { hash: 'sha512', family: 'rsa' },
  PS256: { hash: 'sha256', family: 'pss' },
  PS384: { hash: 'sha384', family: 'pss' },
  PS512: { hash: 'sha512', family: 'pss' },
  ES256: { hash: 'sha256', family: 'ec', curve: 'prime256v1', sigLength: 64, order: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n },
  ES384: {
    hash: 'sha384',
    family: 'ec',
    curve: 'secp384r1',
    sigLength: 96,
    order: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  },
  ES512: {
    hash: 'sha512',
    family: 'ec',
    curve: 'secp521r1',
    sigLength: 132,
    order: 0x1fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
  },
  EdDSA: { hash: null, family: 'eddsa', sigLength: 64 },
};

export function isAllowedAlg(alg: unknown): alg is JwsAlg {
  return typeof alg === 'string' && Object.prototype.hasOwnProperty.call(ALGS, alg);
}

/** Smaller RSA moduli are factorable or close to it; such keys are refused when loaded. */
const MIN_RSA_BITS = 2048;

export interface VerifyKey {
  key: crypto.KeyObject;
  /** The algorithms this key may verify: from its type, narrowed by a JWK's `alg`. */
  algs: ReadonlySet<JwsAlg>;
}

/** Which allowed algorithms a key can verify; empty when its type or size is not acceptable. */
function algsForKey(key: crypto.KeyObject): JwsAlg[] {
  const all = Object.keys(ALGS) as JwsAlg[];
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return (key.asymmetricKeyDetails?.modulusLength ?? 0) >= MIN_RSA_BITS
        ? all.filter((a) => ALGS[a].family === 'rsa' || ALGS[a].family === 'pss')
        : [];
    case 'rsa-pss': // a PSS-only key must not be used for PKCS#1 v1.5
      return (key.asymmetricKeyDetails?.modulusLength ?? 0) >= MIN_RSA_BITS ? all.filter((a) => ALGS[a].family === 'pss') : [];
    case 'ec':
      return all.filter((a) => ALGS[a].curve !== undefined && ALGS[a].curve === key.asymmetricKeyDetails?.namedCurve);
    case 'ed25519':
      return ['EdDSA'];
    default:
      return [];
  }
}

function toVerifyKey(key: crypto.KeyObject, onlyAlg?: unknown): VerifyKey {
  if (key.type !== 'public') key = crypto.createPublicKey(key);
  let algs = algsForKey(key);
  if (onlyAlg !== undefined) algs = algs.filter((a) => a === onlyAlg);
  if (algs.length === 0) throw new Error(`unusable key (${key.asymmetricKeyType ?? 'unknown type'})`);
  return { key, algs: new Set(algs) };
}

/**
 * A PEM text or DER bytes holding an X.509 certificate or a bare public key (SubjectPublicKeyInfo).
 * Throws when none of those parse or the key type is not one we verify with.
 */
export function publicKeyFrom(material: string | Buffer): VerifyKey {
  if (typeof material === 'string') {
    const key = material.includes('BEGIN CERTIFICATE')
      ? new crypto.X509Certificate(material).publicKey
      : crypto.createPublicKey(material);
    return toVerifyKey(key);
  }
  let key: crypto.KeyObject;
  try {
    key = new crypto.X509Certificate(material).publicKey;
  } catch {
    key = crypto.createPublicKey({ key: material, format: 'der', type: 'spki' });
  }
  return toVerifyKey(key);
}

/** Verifies a JWS signature; false (never a throw) on any mismatch. The alg/key pairing is checked by the caller. */
export function verifySignature(alg: JwsAlg, key: crypto.KeyObject, signingInput: Buffer, signature: Buffer): boolean {
  const spec = ALGS[alg];
  if (spec.sigLength !== undefined && signature.length !== spec.sigLength) return false;
  // RFC 8017 8.1.2 / 8.2.2 step 1: exactly the modulus' length. OpenSSL lets a PSS signature lose
  // its leading zero bytes, which would give one token a second spelling (and a revoked one a way back).
  if ((spec.family === 'rsa' || spec.family === 'pss') && signature.length !== Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8)) return false;
  try {
    switch (spec.family) {
      case 'rsa':
        return crypto.verify(spec.hash, signingInput, { key, padding: crypto.constants.RSA_PKCS1_PADDING }, signature);
      case 'pss': // RFC 7518 3.5: MGF1 with the same hash, salt as long as the hash
        return crypto.verify(
          spec.hash,
          signingInput,
          { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: crypto.constants.RSA_PSS_SALTLEN_DIGEST },
          signature,
        );
      case 'ec': // JWS carries raw r||s, not DER
        return crypto.verify(spec.hash, signingInput, { key, dsaEncoding: 'ieee-p1363' }, signature);
      case 'eddsa':
        return crypto.verify(null, signingInput, key, signature);
    }
  } catch {
    return false;
  }
}

/**
 * The other spellings of a verified signature that verify just as well without the private key:
 * for ECDSA, (r, n - s). Everything else has one: RSA signatures are checked to be exactly the
 * modulus' length and below it (OpenSSL), Ed25519 refuses S >= L (OpenSSL), and base64url is
 * checked to be canonical. A token revoked by its signature is looked up under every spelling.
 */
export function signatureSpellings(alg: JwsAlg, signature: Buffer): Buffer[] {
  const n = ALGS[alg].order;
  if (n === undefined) return [];
  const half = signature.length / 2;
  const s = BigInt(`0x${signature.subarray(half).toString('hex')}`);
  if (s === 0n || s >= n) return []; // would not have verified
  const mirrored = Buffer.from((n - s).toString(16).padStart(half * 2, '0'), 'hex');
  return [Buffer.concat([signature.subarray(0, half), mirrored])];
}

export interface JwksOptions {
  /** A JWKS fetch is abandoned after this long. */
  timeoutMs?: number;
  /** At most one fetch per this interval per issuer, however many unknown `kid`s arrive. */
  minRefreshIntervalMs?: number;
  /** Keys older than this are refreshed in the background (still used meanwhile), so removed keys stop working. */
  maxAgeMs?: number;
  /** A JWKS document larger than this is refused. */
  maxBytes?: number;
  /** Keys beyond this count are ignored. */
  maxKeys?: number;
  clock?: () => number;
  log?: { warn(message: string, meta?: object): unknown };
}

type JwksSettings = Required<Omit<JwksOptions, 'log'>> & Pick<JwksOptions, 'log'>;

const JWKS_DEFAULTS: Omit<JwksSettings, 'log'> = {
  timeoutMs: 3000,
  minRefreshIntervalMs: 10_000,
  maxAgeMs: 15 * 60_000,
  maxBytes: 256 * 1024,
  maxKeys: 100,
  clock: Date.now,
};

interface KeySet {
  byKid: Map<string, VerifyKey>;
  all: VerifyKey[];
}

/**
 * One issuer's JWKS. `kid` is only ever a key of `byKid` (a Map, so `__proto__` and friends are
 * plain strings); it is never put into a URL or a path. Concurrent misses share one fetch.
 */
export class JwksKeySet {
  private byKid = new Map<string, VerifyKey>();
  private all: VerifyKey[] = [];
  private loadedAt: number | undefined;
  private lastAttempt = -Infinity;
  private inflight: Promise<boolean> | undefined;
  /** Bumped when a refresh drops a key, so tokens cached under the old set are verified again. */
  epoch = 0;
  /** How many fetches were started; for tests and metrics. */
  fetches = 0;
  lastError: string | undefined;
  private readonly opt: JwksSettings;

  constructor(
    readonly url: string,
    options: JwksOptions = {},
  ) {
    this.opt = { ...JWKS_DEFAULTS, ...options };
  }

  get loaded(): boolean {
    return this.loadedAt !== undefined;
  }

  /** The key for a `kid`; without a `kid`, the only key when there is exactly one. */
  find(kid: string | undefined): VerifyKey | undefined {
    if (kid !== undefined) return this.byKid.get(kid);
    return this.all.length === 1 ? this.all[0] : undefined;
  }

  /** Whether a fetch may start now (or one is already running, which a caller can join). */
  canRefresh(): boolean {
    return this.inflight !== undefined || this.opt.clock() - this.lastAttempt >= this.opt.minRefreshIntervalMs;
  }

  /** Starts a background refresh when the keys are old; never blocks the caller. */
  refreshIfStale(): void {
    if (this.loadedAt !== undefined && this.opt.clock() - this.loadedAt >= this.opt.maxAgeMs && this.canRefresh()) {
      void this.refresh();
    }
  }

  /** Fetches the set, at most once per interval; resolves true when the keys were replaced. Never rejects. */
  refresh(): Promise<boolean> {
    if (this.inflight) return this.inflight;
    if (!this.canRefresh()) return Promise.resolve(false);
    this.lastAttempt = this.opt.clock();
    this.fetches++;
    this.inflight = this.fetchKeys()
      .then((keys) => {
        this.replace(keys);
        this.lastError = undefined;
        return true;
      })
      .catch((e: unknown) => {
        // Keep the keys we had: an IdP outage should not fail tokens we can still verify.
        // fetch quotes the URL it refuses, password and all.
        this.lastError = redactUrlsIn(e instanceof Error ? e.message : String(e));
        this.opt.log?.warn('JWKS fetch failed', { url: redactUrl(this.url), error: this.lastError });
        return false;
      })
      .finally(() => {
        this.inflight = undefined;
      });
    return this.inflight;
  }

  private replace(next: KeySet): void {
    // Rare (one fetch per interval at most), so a quadratic compare over <= maxKeys keys is fine.
    const dropped =
      [...this.byKid].some(([kid, k]) => !next.byKid.get(kid)?.key.equals(k.key)) ||
      this.all.some((k) => !next.all.some((n) => n.key.equals(k.key)));
    if (dropped) this.epoch++;
    this.byKid = next.byKid;
    this.all = next.all;
    this.loadedAt = this.opt.clock();
  }

  private async fetchKeys(): Promise<KeySet> {
    const res = await fetch(this.url, {
      signal: AbortSignal.timeout(this.opt.timeoutMs),
      redirect: 'error', // a redirect could point the key source anywhere
      headers: { accept: 'application/json' },
    });
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
    const doc: unknown = JSON.parse(await readLimited(res, this.opt.maxBytes));
    const list = (doc as { keys?: unknown })?.keys;
    if (!Array.isArray(list)) throw new Error('not a JWKS (no "keys" array)');
    const next: KeySet = { byKid: new Map(), all: [] };
    for (const jwk of list.slice(0, this.opt.maxKeys)) {
      const parsed = importJwk(jwk);
      if (typeof parsed === 'string') {
        this.opt.log?.warn('JWKS key skipped', { url: redactUrl(this.url), reason: parsed });
        continue;
      }
      // The first key wins a duplicated kid, so a later entry cannot shadow it.
      if (parsed.kid !== undefined && next.byKid.has(parsed.kid)) continue;
      if (parsed.kid !== undefined) next.byKid.set(parsed.kid, parsed.key);
      next.all.push(parsed.key);
    }
    return next;
  }
}

/** A JWK as a verification key, or why it is not one. Private parts, if any, are dropped. */
function importJwk(jwk: unknown): { kid?: string; key: VerifyKey } | string {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return 'not an object';
  const j = jwk as Record<string, unknown>;
  if (j.use !== undefined && j.use !== 'sig') return `use ${String(j.use)}`;
  if (j.kty !== 'RSA' && j.kty !== 'EC' && j.kty !== 'OKP') return `kty ${String(j.kty)}`;
  if (j.kid !== undefined && typeof j.kid !== 'string') return 'kid is not a string';
  if (j.alg !== undefined && !isAllowedAlg(j.alg)) return `alg ${String(j.alg)}`;
  try {
    const key = crypto.createPublicKey({ key: j as crypto.JsonWebKey, format: 'jwk' });
    return { kid: j.kid as string | undefined, key: toVerifyKey(key, j.alg) };
  } catch (e) {
    return e instanceof Error ? e.message : 'unreadable';
  }
}

/** The body as text, refusing (and cancelling) one larger than `max` bytes. */
async function readLimited(res: Response, max: number): Promise<string> {
  const declared = Number(res.headers.get('content-length'));
  if (declared > max) throw new Error(`JWKS larger than ${max} bytes`);
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      throw new Error(`JWKS larger than ${max} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
