import { hash as digest } from 'node:crypto';
import { SUPER_TENANT } from '../model/access';
import { redactUrl } from '../config/config';
import { type JwtFailure, jwtFailure } from './jwt-failures';
import type { Issuer, IssuerRegistry } from './jwt-issuers';
import { type JwsAlg, type JwksKeySet, type VerifyKey, isAllowedAlg, signatureSpellings, verifySignature } from './jwt-keys';

export { type DenyResponse, type JwtFailure, type JwtFailureKind, JWT_FAILURES, denyBody, jwtFailure } from './jwt-failures';
export { type EnforcerKeyManager, type Issuer, type IssuerDefinition, IssuerRegistry, keyManagerIssuer } from './jwt-issuers';
export { type JwksOptions, type JwsAlg, JwksKeySet, publicKeyFrom } from './jwt-keys';

/**
 * JWT (OAuth2 bearer) validation for the enforcer's hot path (reference C.6), stricter than CC:
 * alg allow-list beyond RS* (PS, ES, EdDSA) with the key type checked, `exp` required, `nbf` and
 * optional audience checked. A token already verified is answered from a cache, synchronously;
 * a cache miss with a known key is verified synchronously too. Only an unknown `kid` (or a JWKS
 * never loaded) waits, on one bounded fetch per issuer.
 */

export interface ValidatedToken {
  ok: true;
  issuer: Issuer;
  claims: Readonly<Record<string, unknown>>;
  jti?: string;
  /** The JWS signature segment: the revocation id of a token without `jti` (reference E). */
  signature: string;
  /**
   * Every id APIM may have revoked this token under: its `jti`, its signature segment, and each
   * other spelling of that signature which verifies too (ECDSA's (r, n - s)), so a revoked token
   * cannot come back re-spelled.
   */
  revocationIds: readonly string[];
  /** From the issuer's consumerKeyClaim; absent when the token does not carry it (subscription check then fails). */
  consumerKey?: string;
  scopes: readonly string[];
  /** The `keytype` claim (PRODUCTION/SANDBOX), which overrides the key mapping's (C.6 step 13). */
  keyType?: string;
  subject?: string;
  /** `exp`, in ms. */
  expiresAt: number;
}

export type JwtResult = ValidatedToken | JwtFailure;

/** validate() could not finish without fetching the issuer's JWKS; await `result`. */
export interface PendingValidation {
  ok: 'pending';
  result: Promise<JwtResult>;
}

export interface JwtValidatorOptions {
  /** Allowed clock difference on `exp` and `nbf`. CC: 5 s (`timestampSkew`). */
  clockSkewSeconds?: number;
  /** Tokens longer than this are refused before any parsing. */
  maxTokenLength?: number;
  /** Verified tokens remembered; the least recently used is dropped beyond it. CC: 10,000. */
  cacheSize?: number;
}

interface Parsed {
  alg: JwsAlg;
  kid?: string;
  claims: Record<string, unknown>;
  signingInput: Buffer;
  signature: Buffer;
  signatureText: string;
}

interface CacheEntry {
  result: ValidatedToken;
  /** The key set the token was verified with and its epoch then: a refresh that drops keys voids the entry. */
  jwks?: JwksKeySet;
  jwksEpoch: number;
}

export class JwtValidator {
  private readonly skewMs: number;
  private readonly maxLength: number;
  private readonly cacheSize: number;
  /** sha256(token) → verified result. A Map keeps insertion order, which makes it an LRU. */
  private readonly cache = new Map<string, CacheEntry>();

  constructor(
    private readonly registry: IssuerRegistry,
    options: JwtValidatorOptions = {},
  ) {
    this.skewMs = (options.clockSkewSeconds ?? 5) * 1000;
    this.maxLength = options.maxTokenLength ?? 16 * 1024;
    this.cacheSize = options.cacheSize ?? 10_000;
  }

  /**
   * Synchronous unless the issuer's JWKS must be fetched first; never throws. The issuer is the
   * one `organization` accepts for the token's `iss` (the API's organization: see IssuerRegistry),
   * or `signedBy` when given (API keys: verified by issuer name, whatever their `iss`).
   */
  validate(token: string, now = Date.now(), signedBy?: Issuer, organization = SUPER_TENANT): JwtResult | PendingValidation {
    if (token.length > this.maxLength) return jwtFailure('malformed', `token longer than ${this.maxLength} characters`);
    // Hashed so the cache holds no bearer tokens (one-shot: a Hash object per check costs more
    // than the hashing). Keyed by how it was verified too: an API key never answers a bearer-token
    // lookup, and a token verified for one organization's APIs never answers for another's.
    const hash = digest('sha256', signedBy ? `key\0${signedBy.name}\0${token}` : `org\0${organization}\0${token}`, 'base64');
    const hit = this.fromCache(hash, now);
    if (hit) return hit;

    const parsed = parse(token);
    if (!parsed.ok) return parsed.failure;
    const iss = parsed.value.claims.iss;
    const issuer = signedBy ?? (typeof iss === 'string' ? this.registry.forIssuer(organization, iss) : undefined);
    if (!issuer) return jwtFailure('unknown_issuer', `no issuer of organization ${organization} for iss ${JSON.stringify(iss)?.slice(0, 200)}`);

    const key = this.findKey(parsed.value, issuer);
    if (key === 'fetch') {
      const set = issuer.jwks as JwksKeySet;
      const result = set
        .refresh()
        .then((fetched) => {
          const again = this.findKey(parsed.value, issuer, false);
          return again === 'fetch' || again === undefined ? noKey(parsed.value, issuer, !fetched) : this.finish(parsed.value, issuer, again, hash, now);
        })
        .catch((e: unknown) => jwtFailure('jwks_unavailable', `unexpected: ${String(e)}`)); // refresh() does not reject; belt and braces
      return { ok: 'pending', result };
    }
    if (key === undefined) return noKey(parsed.value, issuer, false);
    return this.finish(parsed.value, issuer, key, hash, now);
  }

  /** validate(), awaiting a JWKS fetch when one is needed. */
  async validateAsync(token: string, now = Date.now(), signedBy?: Issuer, organization = SUPER_TENANT): Promise<JwtResult> {
    const r = this.validate(token, now, signedBy, organization);
    return r.ok === 'pending' ? r.result : r;
  }

  /** The issuer API keys are verified with, if one is configured. */
  apiKeyIssuer(): Issuer | undefined {
    return this.registry.apiKeyIssuer();
  }

  /** The issuer internal keys are verified with, if one is configured. */
  internalKeyIssuer(): Issuer | undefined {
    return this.registry.internalKeyIssuer();
  }

  get cachedTokens(): number {
    return this.cache.size;
  }

  private fromCache(hash: string, now: number): JwtResult | undefined {
    const entry = this.cache.get(hash);
    if (!entry) return undefined;
    const r = entry.result;
    // The issuer object is replaced on any registry change, and a JWKS refresh that drops keys bumps
    // the epoch: either means the token must be verified again against what is configured now.
    const stale = !this.registry.isCurrent(r.issuer) || (entry.jwks !== undefined && entry.jwks.epoch !== entry.jwksEpoch);
    if (stale) {
      this.cache.delete(hash);
      return undefined;
    }
    if (now >= r.expiresAt + this.skewMs) {
      this.cache.delete(hash);
      return jwtFailure('expired', `token expired at ${dateText(r.expiresAt)}`);
    }
    this.cache.delete(hash); // re-insert: most recently used last
    this.cache.set(hash, entry);
    return r;
  }

  /**
   * The key to verify with, following CC's order: a `kid` with a JWKS → the JWKS; otherwise the
   * certificate; a JWKS-only issuer and no `kid` → its single key. 'fetch' means the JWKS must be
   * (re)loaded first and a fetch is allowed now.
   */
  private findKey(p: Parsed, issuer: Issuer, mayFetch = true): VerifyKey | 'fetch' | undefined {
    const set = issuer.jwks;
    if (set && (p.kid !== undefined || !issuer.certificateKey)) {
      const key = set.find(p.kid);
      if (key) {
        set.refreshIfStale();
        return key;
      }
      return mayFetch && set.canRefresh() ? 'fetch' : undefined;
    }
    return issuer.certificateKey;
  }

  /** Signature, then time and audience claims; the result is cached when valid. */
  private finish(p: Parsed, issuer: Issuer, key: VerifyKey, hash: string, now: number): JwtResult {
    if (!key.algs.has(p.alg)) {
      return jwtFailure('key_mismatch', `${p.alg} cannot be verified with a ${key.key.asymmetricKeyType} key of issuer ${issuer.name}`);
    }
    if (!verifySignature(p.alg, key.key, p.signingInput, p.signature)) {
      return jwtFailure('bad_signature', `signature does not verify with issuer ${issuer.name}'s key`);
    }
    const c = p.claims;
    if (c.exp === undefined) return jwtFailure('missing_exp', 'token has no exp');
    const expiresAt = (c.exp as number) * 1000;
    if (now >= expiresAt + this.skewMs) return jwtFailure('expired', `token expired at ${dateText(expiresAt)}`);
    if (c.nbf !== undefined && now < (c.nbf as number) * 1000 - this.skewMs) {
      return jwtFailure('not_yet_valid', `token not valid before ${dateText((c.nbf as number) * 1000)}`);
    }
    if (issuer.audience) {
      const aud = typeof c.aud === 'string' ? [c.aud] : Array.isArray(c.aud) ? c.aud : [];
      if (!aud.some((a) => typeof a === 'string' && issuer.audience?.includes(a))) {
        return jwtFailure('audience_mismatch', `aud does not name any of ${issuer.audience.join(', ')}`);
      }
    }
    const jti = nonEmpty(c.jti);
    const spellings = signatureSpellings(p.alg, p.signature).map((b) => b.toString('base64url'));
    const result: ValidatedToken = {
      ok: true,
      issuer,
      claims: c,
      jti,
      signature: p.signatureText,
      revocationIds: jti === undefined ? [p.signatureText, ...spellings] : [jti, p.signatureText, ...spellings],
      consumerKey: nonEmpty(c[issuer.consumerKeyClaim]),
      scopes: scopesOf(c[issuer.scopesClaim]),
      keyType: nonEmpty(c.keytype),
      subject: nonEmpty(c.sub),
      expiresAt,
    };
    this.remember(hash, { result, jwks: key === issuer.certificateKey ? undefined : issuer.jwks, jwksEpoch: issuer.jwks?.epoch ?? 0 });
    return result;
  }

  private remember(hash: string, entry: CacheEntry): void {
    if (this.cacheSize <= 0) return;
    if (this.cache.size >= this.cacheSize) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(hash, entry);
  }
}

/** Why no key was found: our configuration or JWKS fetch (900900), or the token's kid (900901). */
function noKey(p: Parsed, issuer: Issuer, fetchFailed: boolean): JwtFailure {
  const set = issuer.jwks;
  if (!issuer.certificateKey && !set) return jwtFailure('issuer_misconfigured', `issuer ${issuer.name} has no usable key`);
  if (set && (fetchFailed || (!set.loaded && set.lastError !== undefined))) {
    return jwtFailure('jwks_unavailable', `JWKS ${redactUrl(set.url)}: ${set.lastError ?? 'not loaded'}`);
  }
  const kid = p.kid === undefined ? 'no kid' : `kid ${JSON.stringify(p.kid.slice(0, 100))}`;
  return jwtFailure('unknown_key', `no key of issuer ${issuer.name} for ${kid}`);
}

/** Base64url as RFC 7515 wants it: the URL alphabet, no padding, non-empty. */
const B64URL = /^[A-Za-z0-9_-]+$/;

/**
 * Decodes one segment, or undefined. The round trip refuses non-canonical encodings (stray bits in
 * the last character): otherwise one signature has several spellings, and a revoked token keyed
 * by its signature text could come back under another.
 */
function segment(s: string): Buffer | undefined {
  if (!B64URL.test(s)) return undefined;
  const bytes = Buffer.from(s, 'base64url');
  return bytes.toString('base64url') === s ? bytes : undefined;
}

/** Refuses bytes that are not UTF-8 (RFC 7515 5.2, RFC 7519 7.2; Buffer's decoder would substitute U+FFFD). */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

function jsonObject(bytes: Buffer): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(UTF8.decode(bytes));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * JSON nesting a token may have. Claims are serialized again later (the backend JWT copies them),
 * and JSON.stringify recurses: a 16 KiB token of brackets would overflow the stack there.
 */
const MAX_DEPTH = 32;

/** Whether `v` nests containers more than `levels` deep; stops descending at the limit. */
function tooDeep(v: unknown, levels: number): boolean {
  if (typeof v !== 'object' || v === null) return false;
  if (levels === 0) return true;
  for (const x of Array.isArray(v) ? v : Object.values(v)) if (tooDeep(x, levels - 1)) return true;
  return false;
}

type ParseResult = { ok: true; value: Parsed } | { ok: false; failure: JwtFailure };

const fail = (kind: JwtFailure['kind'], detail: string): ParseResult => ({ ok: false, failure: jwtFailure(kind, detail) });

/** A compact JWS, strictly: three base64url parts, JSON object header and payload, claim types checked. */
function parse(token: string): ParseResult {
  const parts = token.split('.');
  if (parts.length !== 3) return fail('malformed', `${parts.length} parts, not 3`);
  const [h, p, s] = parts as [string, string, string];
  const headerBytes = segment(h);
  const header = headerBytes && jsonObject(headerBytes);
  if (!header) return fail('malformed', 'header is not base64url JSON object');
  if (tooDeep(header, MAX_DEPTH)) return fail('malformed', `header nested deeper than ${MAX_DEPTH} levels`);
  // The alg comes first so that `none` and HS* are named as such, whatever else is wrong.
  if (!isAllowedAlg(header.alg)) return fail('unsupported_alg', `alg ${JSON.stringify(header.alg)?.slice(0, 50)} is not allowed`);
  // We understand no JWS extensions, and RFC 7515 4.1.11 says to refuse a token that requires one.
  if (header.crit !== undefined) return fail('malformed', 'crit header present');
  if (header.kid !== undefined && (typeof header.kid !== 'string' || header.kid.length > 1024)) {
    return fail('malformed', 'kid is not a string of reasonable length');
  }
  const payloadBytes = segment(p);
  const claims = payloadBytes && jsonObject(payloadBytes);
  if (!claims) return fail('malformed', 'payload is not base64url JSON object');
  if (tooDeep(claims, MAX_DEPTH)) return fail('malformed', `payload nested deeper than ${MAX_DEPTH} levels`);
  for (const name of ['exp', 'nbf', 'iat'] as const) {
    const v = claims[name];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) return fail('malformed', `${name} is not a number`);
  }
  const signature = segment(s);
  if (!signature) return fail('malformed', 'signature is not base64url');
  return {
    ok: true,
    value: {
      alg: header.alg,
      kid: header.kid as string | undefined,
      claims,
      signingInput: Buffer.from(`${h}.${p}`, 'ascii'),
      signature,
      signatureText: s,
    },
  };
}

/** A space-separated string or an array of strings (C.6 step 9). */
function scopesOf(v: unknown): string[] {
  if (typeof v === 'string') return v.split(/\s+/).filter(Boolean);
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string' && x !== '');
  return [];
}

/** A time for a log line: ISO 8601 when a Date can hold it (±8.64e15 ms), else the number. */
function dateText(ms: number): string {
  return Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : `${ms / 1000} s after the epoch`;
}

function nonEmpty(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}
