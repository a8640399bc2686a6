/**
 * Why a JWT was refused, and the deny response Choreo Connect sends for it (reference C.6, C.13,
 * C.14). CC folds every validator failure (bad signature, expired, unknown issuer, ...) into one
 * 401 / 900901 "Invalid Credentials" body and keeps the reason for its logs; we do the same, so
 * clients see CC's exact bodies and a caller cannot probe which check failed. The reason travels
 * in `detail`, for logs only.
 */

export type JwtFailureKind =
  /** Not a compact JWS: wrong part count, bad base64url, not JSON objects, bad claim types, too big. */
  | 'malformed'
  /** `alg` outside the allow-list: none, HS*, anything unknown. */
  | 'unsupported_alg'
  /** `iss` missing or not a registered issuer. */
  | 'unknown_issuer'
  /** No key of the issuer has the token's `kid` (after the bounded JWKS refresh). */
  | 'unknown_key'
  /** The key found cannot verify this `alg` (RSA key with ES256, P-384 key with ES256, ...). */
  | 'key_mismatch'
  | 'bad_signature'
  | 'missing_exp'
  | 'expired'
  | 'not_yet_valid'
  | 'audience_mismatch'
  /** The issuer's JWKS could not be fetched or parsed: our side's problem, not the client's. */
  | 'jwks_unavailable'
  /** The issuer has neither a usable certificate nor a JWKS URL. */
  | 'issuer_misconfigured';

export interface DenyResponse {
  status: number;
  /** CC's numeric code; the body carries it as a string. */
  code: number;
  message: string;
  description: string;
}

const HINT = 'Make sure you have provided the correct security credentials';

/** CC: `APISecurityException(401, 900901, "Invalid Credentials")` + ". " + the 900901 hint. */
const INVALID_CREDENTIALS: DenyResponse = {
  status: 401,
  code: 900901,
  message: 'Invalid Credentials',
  description: `Invalid Credentials. ${HINT}`,
};

/** CC: a Nimbus parse error; this body is asserted by CC's integration tests. */
const NOT_A_JWT: DenyResponse = {
  status: 401,
  code: 900901,
  message: 'Invalid Credentials',
  description: `Not a JWT token. Failed to decode the token header. ${HINT}`,
};

/** CC: an EnforcerException in the validator (JWKS fetch failed, key type unusable). 900900 has no hint. */
const UNCLASSIFIED: DenyResponse = {
  status: 401,
  code: 900900,
  message: 'Unclassified Authentication Failure',
  description: 'Unclassified Authentication Failure',
};

export const JWT_FAILURES: Readonly<Record<JwtFailureKind, DenyResponse>> = {
  malformed: NOT_A_JWT,
  unsupported_alg: INVALID_CREDENTIALS,
  unknown_issuer: INVALID_CREDENTIALS,
  unknown_key: INVALID_CREDENTIALS,
  key_mismatch: INVALID_CREDENTIALS,
  bad_signature: INVALID_CREDENTIALS,
  missing_exp: INVALID_CREDENTIALS,
  expired: INVALID_CREDENTIALS,
  not_yet_valid: INVALID_CREDENTIALS,
  audience_mismatch: INVALID_CREDENTIALS,
  jwks_unavailable: UNCLASSIFIED,
  issuer_misconfigured: UNCLASSIFIED,
};

/** One member per kind, so `switch (f.kind)` narrows and is checked for exhaustiveness. */
export type JwtFailure = {
  [K in JwtFailureKind]: DenyResponse & {
    ok: false;
    kind: K;
    /** Why, in words, for logs. Never put it in the response: it would tell an attacker which check failed. */
    detail: string;
  };
}[JwtFailureKind];

export function jwtFailure(kind: JwtFailureKind, detail: string): JwtFailure {
  return { ok: false, kind, detail, ...JWT_FAILURES[kind] } as JwtFailure;
}

/** The JSON body CC sends (C.13): `code` is a string. */
export function denyBody(f: DenyResponse): string {
  return JSON.stringify({ code: String(f.code), error_message: f.message, error_description: f.description });
}
