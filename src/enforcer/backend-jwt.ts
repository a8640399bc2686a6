import { type KeyObject, X509Certificate, createHash, createPrivateKey, createPublicKey, randomUUID, sign } from 'node:crypto';

/**
 * The backend JWT (reference C.11): who is calling, signed by the enforcer, for the upstream to
 * trust. Fixes CC's quirks: base64url segments, `exp`/`iat` in seconds, `sub` kept, and the token
 * never outlives the caller's. One token per caller token and API, cached until shortly before it
 * expires.
 */

export interface BackendJwtOptions {
  /** The upstream request header that carries it (CC: X-JWT-Assertion). */
  headerName: string;
  /** PEM private key: RSA (RS256), EC P-256 (ES256) or Ed25519 (EdDSA). */
  privateKeyPem: string;
  /** PEM certificate of that key, for the `x5t` header; the `kid` is derived from the key either way. */
  certificatePem?: string;
  ttlSeconds: number;
  claimDialect: string;
  /** Cached tokens kept; the least recently used goes beyond it. */
  cacheSize?: number;
}

/** What the enforcer knows about a caller once authentication and subscription passed. */
export interface Caller {
  api: { id: string; name: string; version: string; context: string };
  keyType: string;
  /** Subscription policy. */
  tier?: string;
  application?: { uuid: string; name: string; owner: string; policy: string; attributes?: Record<string, string> };
  endUser?: string;
  /** The caller's token claims (copied, except the ones that describe that token itself). */
  claims: Readonly<Record<string, unknown>>;
  /** The caller token's expiry, ms. */
  expiresAt: number;
  /** Identifies the caller's token: its jti, else its signature. */
  tokenId: string;
}

/** Claims of the caller's token not copied into the backend JWT: they describe that token, not the caller. */
const NOT_COPIED = new Set(['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti', 'application', 'tierInfo', 'subscribedAPIs', 'keytype', 'token_type']);
/** Re-sign this long before expiry so an upstream never receives a token about to lapse. */
const RENEW_MS = 30_000;

export class BackendJwtIssuer {
  readonly headerName: string;
  private readonly key: KeyObject;
  private readonly header: string;
  private readonly alg: 'RS256' | 'ES256' | 'EdDSA';
  private readonly cache = new Map<string, { token: string; expiresAt: number }>();
  private readonly cacheSize: number;

  constructor(private readonly options: BackendJwtOptions) {
    this.headerName = options.headerName.toLowerCase();
    this.key = createPrivateKey(options.privateKeyPem);
    const type = this.key.asymmetricKeyType;
    const curve = this.key.asymmetricKeyDetails?.namedCurve;
    if (type === 'rsa') this.alg = 'RS256';
    else if (type === 'ec' && curve === 'prime256v1') this.alg = 'ES256';
    else if (type === 'ed25519') this.alg = 'EdDSA';
    else throw new Error(`backend JWT key: ${type}${curve ? ` (${curve})` : ''} is not RSA, EC P-256 or Ed25519`);
    const spki = createPublicKey(this.key).export({ type: 'spki', format: 'der' });
    const header: Record<string, string> = { typ: 'JWT', alg: this.alg, kid: createHash('sha256').update(spki).digest('base64url') };
    if (options.certificatePem) header.x5t = Buffer.from(new X509Certificate(options.certificatePem).fingerprint.replace(/:/g, ''), 'hex').toString('base64url');
    this.header = b64url(JSON.stringify(header));
    this.cacheSize = options.cacheSize ?? 10_000;
  }

  /** The backend JWT for this caller, from the cache while it is fresh. */
  forCaller(c: Caller, now = Date.now()): string {
    const cacheKey = `${c.api.id}\n${c.keyType}\n${c.tokenId}`;
    const hit = this.cache.get(cacheKey);
    if (hit && now < hit.expiresAt - RENEW_MS) return hit.token;
    const expiresAt = Math.min(now + this.options.ttlSeconds * 1000, c.expiresAt);
    const token = this.sign(this.claims(c, now, expiresAt));
    this.cache.delete(cacheKey);
    if (this.cache.size >= this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(cacheKey, { token, expiresAt });
    return token;
  }

  private claims(c: Caller, now: number, expiresAt: number): Record<string, unknown> {
    const d = this.options.claimDialect;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(c.claims)) if (!NOT_COPIED.has(k)) out[k] = v;
    const app = c.application;
    Object.assign(out, {
      iss: 'wso2.org/products/am',
      sub: c.endUser,
      iat: Math.floor(now / 1000),
      exp: Math.floor(expiresAt / 1000),
      jti: randomUUID(),
      [`${d}/apiname`]: c.api.name,
      [`${d}/apicontext`]: c.api.context,
      [`${d}/version`]: c.api.version,
      [`${d}/keytype`]: c.keyType,
      [`${d}/tier`]: c.tier,
      [`${d}/usertype`]: 'APPLICATION_USER',
      [`${d}/enduser`]: c.endUser,
      [`${d}/subscriber`]: app?.owner,
      [`${d}/applicationUUId`]: app?.uuid,
      [`${d}/applicationname`]: app?.name,
      [`${d}/applicationtier`]: app?.policy,
      [`${d}/applicationAttributes`]: app?.attributes,
    });
    for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
    return out;
  }

  private sign(claims: Record<string, unknown>): string {
    const input = `${this.header}.${b64url(JSON.stringify(claims))}`;
    const digest = this.alg === 'EdDSA' ? null : 'sha256';
    const sig = sign(digest, Buffer.from(input), this.alg === 'ES256' ? { key: this.key, dsaEncoding: 'ieee-p1363' } : this.key);
    return `${input}.${sig.toString('base64url')}`;
  }
}

const b64url = (s: string): string => Buffer.from(s).toString('base64url');
