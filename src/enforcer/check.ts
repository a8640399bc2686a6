import { BlockList, isIP } from 'node:net';
import type { BackendJwtIssuer, Caller } from './backend-jwt';
import type { Issuer, JwtResult, JwtValidator, ValidatedToken } from './jwt';
import { PeerCertificates } from './peer-certificate';
import type { RevocationSet } from './revocations';
import type { EnforcerApi, EnforcerApplication, EnforcerClientCertificate, EnforcerOperation, EnforcerResource, EnforcerSubscription, EnforcerView } from './view';

/**
 * The enforcer's decision for one ext_authz check (reference C): route metadata → API and
 * resource → operation → authentication (mutual TLS, then internal key, JWT or API key) → subscription → scopes →
 * cluster and backend credentials. Synchronous
 * unless the JWT validator must fetch a JWKS first. Fails closed: anything unexpected denies.
 */

// These two must match src/translate/names.ts (ROUTE_METADATA_NAMESPACE, CLUSTER_HEADER); the
// enforcer does not import the translator.
export const ROUTE_METADATA_NAMESPACE = 'apimconnect.route';
export const CLUSTER_HEADER = 'x-wso2-cluster-header';
/** Must match ENFORCER_REPLY_KEY in src/translate/names.ts: its absence tells the router the enforcer did not answer. */
export const ENFORCER_REPLY_KEY = 'choreo-connect-enforcer-reply';

const REPLY_METADATA: Readonly<Record<string, string>> = { [ENFORCER_REPLY_KEY]: 'Ok' };

/** CC's challenge for JWT-capable APIs, plus the fixed error part (C.5). */
export const WWW_AUTHENTICATE = 'Bearer realm="Choreo Connect" , error="invalid_token", error_description="The provided token is invalid"';

/** The parts of an Envoy CheckRequest a decision reads, as plain objects (Structs already converted to JS values). */
export interface CheckRequestLike {
  attributes?: {
    request?: {
      http?: {
        id?: string;
        method?: string;
        path?: string;
        host?: string;
        /** The request's size in bytes, -1 when unknown (a body without Content-Length). */
        size?: number;
        headers?: Record<string, string>;
        header_map?: { headers?: Array<{ key?: string; value?: string; raw_value?: Uint8Array | string }> };
      };
    };
    route_metadata_context?: { filter_metadata?: Record<string, unknown> };
    /** `certificate`: the client's TLS certificate, URL-encoded PEM (ext_authz include_peer_certificate). */
    source?: { address?: { socket_address?: { address?: string } }; certificate?: string };
  };
}

/** Who called what: what the stages after authentication (blocking conditions, rate limits) decide on. */
export interface Subject {
  api: EnforcerApi;
  resource: EnforcerResource;
  /** Every decision sets it; optional for the stages' own tests, which build subjects by hand. */
  operation?: EnforcerOperation;
  keyType: string;
  /** The end user (`sub`, the certificate's subject), `anonymous` when unauthenticated. */
  user: string;
  application?: EnforcerApplication;
  subscription?: EnforcerSubscription;
  /** The caller's token claims, for Traffic Manager conditions and key templates. */
  claims?: Readonly<Record<string, unknown>>;
}

/** A limit, what is left of it, and the seconds until its window ends. */
export interface RateLimitState {
  limit: number;
  remaining: number;
  resetSeconds: number;
}

/** The response headers a RateLimitState becomes, in its fields' order. */
export const RATE_LIMIT_HEADERS = ['ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset'] as const;

export interface AllowDecision {
  allow: true;
  subject: Subject;
  /** The tightest rate limit the request counted against: sent to the client as `RateLimit-*` headers. */
  rateLimit?: RateLimitState;
  /** Set on the upstream request, overwriting. */
  headers: Record<string, string>;
  headersToRemove: string[];
  /** Query parameters the router strips before forwarding (an API key sent in the query). */
  queryParamsToRemove?: string[];
  dynamicMetadata: Record<string, string>;
  /** For logs. */
  reason: string;
}

export interface DenyDecision {
  allow: false;
  status: number;
  /** CC's error code, as the body carries it (a string). */
  code: string;
  /** CC JSON: {code, error_message, error_description}. */
  body: string;
  headers: Record<string, string>;
  dynamicMetadata: Record<string, string>;
  /** Why, for logs only (never in the response). */
  reason: string;
}

export type Decision = AllowDecision | DenyDecision;

export interface DecideDeps {
  view: Pick<EnforcerView, 'api' | 'application' | 'keyMapping' | 'subscription'>;
  jwt: Pick<JwtValidator, 'validate' | 'apiKeyIssuer' | 'internalKeyIssuer'>;
  revoked: Pick<RevocationSet, 'isRevoked'>;
  /** When set, allowed requests carry a backend JWT about their caller (C.11). */
  backendJwt?: Pick<BackendJwtIssuer, 'headerName' | 'forCaller'>;
  /** Parses client certificates (memoized by the server); a private one when absent. */
  certificates?: Pick<PeerCertificates, 'parse'>;
  now?: number;
}

const CREDENTIALS_HINT = 'Make sure you have provided the correct security credentials';

export interface ErrorSpec {
  status: number;
  code: string;
  message: string;
}

/** The enforcer error catalogue (C.14) entries used here. */
export const ERRORS = {
  notFound: { status: 404, code: '404', message: 'Not Found' },
  invalidCredentials: { status: 401, code: '900901', message: 'Invalid Credentials' },
  unclassified: { status: 401, code: '900900', message: 'Unclassified Authentication Failure' },
  internal: { status: 500, code: '900900', message: 'Internal Server Error' },
  subscriptionBlocked: { status: 401, code: '900907', message: 'The requested API is temporarily blocked' },
  forbidden: { status: 403, code: '900908', message: 'Resource forbidden' },
  subscriptionInactive: { status: 403, code: '900909', message: 'The subscription to the API is inactive' },
  scope: { status: 403, code: '900910', message: 'The access token does not allow you to access the requested resource' },
  apiBlocked: { status: 503, code: '700700', message: 'API blocked' },
  requestBlocked: { status: 403, code: '900805', message: 'Message blocked' },
  apiThrottled: { status: 429, code: '900800', message: 'Message throttled out' },
  resourceThrottled: { status: 429, code: '900802', message: 'Message throttled out' },
  applicationThrottled: { status: 429, code: '900803', message: 'Message throttled out' },
  subscriptionThrottled: { status: 429, code: '900804', message: 'Message throttled out' },
  customThrottled: { status: 429, code: '900806', message: 'Message throttled out' },
} as const satisfies Record<string, ErrorSpec>;

export function deny(e: ErrorSpec, description: string, reason: string, authFailure: boolean): DenyDecision {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  // CC adds the challenge to every authentication failure, 403s included (C.5).
  if (authFailure) headers['www-authenticate'] = WWW_AUTHENTICATE;
  return {
    allow: false,
    status: e.status,
    code: e.code,
    body: JSON.stringify({ code: e.code, error_message: e.message, error_description: description }),
    headers,
    dynamicMetadata: { ...REPLY_METADATA },
    reason,
  };
}

/**
 * An OPTIONS request on a path template with no OPTIONS operation: 204 with `Allow` listing the
 * template's methods (CC's CorsFilter), answered by the router without reaching the backend.
 */
function allowedMethods(api: EnforcerApi, path: string): DenyDecision {
  const methods = api.resources.filter((r) => r.path === path).flatMap((r) => r.operations.map((o) => o.method.toUpperCase()));
  const allow = ['OPTIONS', ...new Set(methods)].join(', ');
  return { allow: false, status: 204, code: '204', body: '', headers: { allow }, dynamicMetadata: { ...REPLY_METADATA }, reason: `OPTIONS without an operation on ${path} (API ${api.id})` };
}

const notFound = (reason: string): DenyDecision => deny(ERRORS.notFound, 'The requested resource is not available.', reason, false);
const invalidCredentials = (description: string, reason: string): DenyDecision =>
  deny(ERRORS.invalidCredentials, `${description}. ${CREDENTIALS_HINT}`, reason, true);
const subscriptionFailed = (reason: string): DenyDecision =>
  deny(ERRORS.forbidden, 'User is NOT authorized to access the Resource. API Subscription validation failed.', reason, true);
const apiBlocked = (reason: string): DenyDecision =>
  deny(ERRORS.apiBlocked, 'This API has been blocked temporarily. Please try again later or contact the system administrators.', reason, false);

/** A deny for an unexpected error: fail closed. */
export function internalError(reason: string): DenyDecision {
  return deny(ERRORS.internal, 'Internal error while authorizing the request', reason, false);
}

/** Decides one check. Never throws; a Promise only when the JWT validator must fetch keys. */
export function decide(req: CheckRequestLike, deps: DecideDeps): Decision | Promise<Decision> {
  try {
    const r = decideSync(req, deps);
    if (r instanceof Promise) return r.catch((e: unknown) => internalError(`unexpected error: ${errorText(e)}`));
    return r;
  } catch (e) {
    return internalError(`unexpected error: ${errorText(e)}`);
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? (e.stack ?? e.message) : String(e);
}

interface Matched {
  api: EnforcerApi;
  resource: EnforcerResource;
  operation: EnforcerOperation;
  /** The request path template (for messages). */
  path: string;
}

function decideSync(req: CheckRequestLike, deps: DecideDeps): Decision | Promise<Decision> {
  const http = req.attributes?.request?.http;
  const meta = req.attributes?.route_metadata_context?.filter_metadata?.[ROUTE_METADATA_NAMESPACE] as Record<string, unknown> | undefined;
  const apiId = typeof meta?.apiId === 'string' ? meta.apiId : '';
  const path = typeof meta?.path === 'string' ? meta.path : '';
  if (!apiId || !path) return internalError(`route carries no ${ROUTE_METADATA_NAMESPACE} metadata {apiId, path}: router and enforcer disagree`);
  const api = deps.view.api(apiId);
  if (!api) return notFound(`unknown API ${apiId}`);
  const resource = api.resources.find((r) => r.path === path);
  if (!resource) return notFound(`API ${apiId} has no resource ${path}`);
  const method = (http?.method ?? '').toUpperCase();
  const operation = resource.operations.find((o) => o.method.toUpperCase() === method);
  if (!operation) {
    // Envoy's CORS filter answered any real preflight already; what is left is answered here and
    // never forwarded, as CC's CorsFilter does (C.3): forwarding would hand an unauthenticated
    // caller the backend's credentials.
    if (method === 'OPTIONS') return allowedMethods(api, path);
    return notFound(`API ${apiId} resource ${path} has no ${method} operation`);
  }
  const m: Matched = { api, resource, operation, path };

  const schemes = api.security_schemes.map((s) => s.toLowerCase());
  const appSchemes = schemes.filter((s) => s === 'oauth2' || s === 'api_key' || s === 'basic_auth');
  const mtls = schemes.includes('mutualssl');
  if (!operation.secured || (appSchemes.length === 0 && !mtls)) {
    if (isBlocked(api)) return apiBlocked(`API ${apiId} is BLOCKED`);
    return allowUnsecured(m, 'unsecured operation');
  }
  const headers = headersOf(http);
  const now = deps.now ?? Date.now();
  // Mutual TLS comes first (C.5). It is mandatory when the API says so or offers nothing else;
  // application security is then optional unless the API marks it mandatory too.
  const mtlsMandatory = mtls && (schemes.includes('mutualssl_mandatory') || appSchemes.length === 0);
  const appMandatory = appSchemes.length > 0 && (schemes.includes('oauth_basic_auth_api_key_mandatory') || !mtlsMandatory);
  let viaCertificate: EnforcerClientCertificate | undefined;
  if (mtls) {
    const cert = clientCertificate(api, req, deps, now);
    if (typeof cert === 'string') {
      if (mtlsMandatory) return deny(ERRORS.unclassified, 'Client certificate is not valid for this API', cert, true);
    } else if (cert) viaCertificate = cert;
    else if (mtlsMandatory) return invalidCredentials('Invalid Credentials', `API ${apiId} requires a client certificate and none was presented`);
  }
  // CC's order (C.5): an internal key (whatever the API's schemes), a bearer JWT when the API takes
  // OAuth2, then an API key; the first present decides.
  const internalKey = headers[INTERNAL_KEY_HEADER]?.trim();
  if (internalKey) {
    const issuer = deps.jwt.internalKeyIssuer();
    if (!issuer) return invalidCredentials('Invalid Credentials', 'an internal key was sent but no APIM Publisher issuer is configured');
    return verify(internalKey, 'internal key', 'Invalid Credentials', deps, now, (t) => afterInternalKey(t, m), { signedBy: issuer });
  }
  const headerName = (api.authorization_header || 'authorization').toLowerCase();
  const token = schemes.includes('oauth2') ? bearerToken(headers[headerName]) : undefined;
  if (token !== undefined) {
    return verify(token, 'JWT', 'Invalid JWT token', deps, now, (t) => afterJwt(t, m, headerName, deps), { organization: api.organization });
  }
  const key = schemes.includes('api_key') ? apiKeyOf(api, headers, http?.path ?? '') : undefined;
  if (key) {
    const issuer = deps.jwt.apiKeyIssuer();
    if (!issuer) return invalidCredentials('Invalid Credentials', 'an API key was sent but no APIM APIkey (or APIM Publisher) issuer is configured');
    return verify(key.value, 'API key', 'Invalid Credentials', deps, now, (t) => afterApiKey(t, m, key, req, headers, deps), { signedBy: issuer });
  }
  if (viaCertificate && !appMandatory) {
    if (isBlocked(api)) return apiBlocked(`API ${apiId} is BLOCKED`);
    return routeTo(m, defaultKeyType(resource), { user: viaCertificate.alias }, { headersToRemove: [] }, `client certificate ${viaCertificate.alias}`, {});
  }
  const accepted = [schemes.includes('oauth2') && `a bearer JWT in ${headerName}`, schemes.includes('api_key') && `an API key in ${apiKeyName(api)}`].filter(Boolean);
  return invalidCredentials('Invalid Credentials', accepted.length ? `no credentials: expected ${accepted.join(' or ')}` : `API ${apiId} allows only ${appSchemes.join(', ')}, which this enforcer does not support yet`);
}

/**
 * Verifies a token (with the issuer its `iss` names among those the API's organization accepts,
 * or `signedBy`), refuses failures and revoked tokens with CC's codes, and hands the rest on.
 * `what` names the credential in logs.
 */
function verify(
  token: string,
  what: string,
  revokedMessage: string,
  deps: DecideDeps,
  now: number,
  next: (t: ValidatedToken) => Decision,
  by: { signedBy: Issuer } | { organization: string },
): Decision | Promise<Decision> {
  const finish = (r: JwtResult): Decision => {
    if (r.ok !== true) return deny({ status: r.status, code: String(r.code), message: r.message }, r.description, `${what} refused (${r.kind}): ${r.detail}`, true);
    if (r.revocationIds.some((id) => deps.revoked.isRevoked(id, now))) {
      return invalidCredentials(revokedMessage, `${what} ${r.jti ?? '(no jti)'} is revoked`);
    }
    return next(r);
  };
  const r = 'signedBy' in by ? deps.jwt.validate(token, now, by.signedBy) : deps.jwt.validate(token, now, undefined, by.organization);
  return r.ok === 'pending' ? r.result.then(finish) : finish(r);
}

function afterJwt(t: ValidatedToken, m: Matched, headerName: string, deps: DecideDeps): Decision {
  const type = tokenType(t);
  if (type === 'apikey' || type === 'internalkey') {
    return invalidCredentials('Invalid JWT token', `a ${t.claims.token_type} sent as a bearer token`);
  }

  let keyType = 'PRODUCTION';
  let subscribed: Subscribed | undefined;
  if (t.issuer.validateSubscription) {
    const sub = validateSubscription(t, m, deps);
    if ('allow' in sub) return sub;
    keyType = sub.keyType;
    subscribed = sub;
  }
  // A keytype claim overrides the key mapping's (C.6 step 13).
  if (t.keyType) keyType = t.keyType.toUpperCase();
  if (isBlocked(m.api)) return apiBlocked(`API ${m.api.id} is BLOCKED`);

  // Scopes: at least one of the operation's (C.8).
  if (m.operation.scopes.length > 0 && !m.operation.scopes.some((s) => t.scopes.includes(s))) {
    return deny(
      ERRORS.scope,
      `User is NOT authorized to access the Resource: ${m.path}. Scope validation failed.`,
      `token scopes [${t.scopes.join(' ')}] hold none of [${m.operation.scopes.join(' ')}]`,
      true,
    );
  }

  return routeTo(m, keyType, caller(t, subscribed), { headersToRemove: [headerName] }, `${keyType} token of ${t.subject ?? t.consumerKey ?? 'unknown subject'} (issuer ${t.issuer.name})`, backendJwt(deps, m, t, keyType, subscribed));
}

/** The backend JWT header for an allowed caller, when the enforcer issues them. */
function backendJwt(deps: DecideDeps, m: Matched, t: ValidatedToken, keyType: string, subscribed: Subscribed | undefined): Record<string, string> {
  if (!deps.backendJwt) return {};
  const caller: Caller = {
    api: { id: m.api.id, name: m.api.name, version: m.api.version, context: m.api.base_path },
    keyType,
    application: subscribed?.app,
    tier: subscribed?.sub.policy,
    endUser: t.subject,
    claims: t.claims,
    expiresAt: t.expiresAt,
    tokenId: t.jti ?? t.signature,
  };
  return { [deps.backendJwt.headerName]: deps.backendJwt.forCaller(caller, deps.now) };
}

/** The `token_type` claim, lower-cased: APIM marks API keys (apiKey) and internal keys (InternalKey). */
const tokenType = (t: ValidatedToken): string => (typeof t.claims.token_type === 'string' ? t.claims.token_type.toLowerCase() : '');

/**
 * The key type picks the cluster; an API without that endpoint type refuses the key (A.8). A
 * backend that requires HTTP Basic credentials gets them (C.10), in place of the caller's header.
 */
function routeTo(
  m: Matched,
  keyType: string,
  caller: Pick<Subject, 'user' | 'application' | 'subscription' | 'claims'>,
  strip: { headersToRemove: string[]; queryParamsToRemove?: string[] },
  reason: string,
  headers: Record<string, string>,
): Decision {
  const sandbox = keyType === 'SANDBOX';
  const cluster = sandbox ? m.resource.sandbox_cluster : m.resource.production_cluster;
  if (!cluster) {
    const d = sandbox ? 'Sandbox key offered to an API with no sandbox endpoint' : 'Production key offered to an API with no production endpoint';
    return invalidCredentials(d, `${d} (API ${m.api.id}, resource ${m.path})`);
  }
  const authorization = sandbox ? m.resource.sandbox_authorization : m.resource.production_authorization;
  const set = authorization ? { ...headers, [CLUSTER_HEADER]: cluster, authorization } : { ...headers, [CLUSTER_HEADER]: cluster };
  // A header both set and removed would depend on the router's order of the two: never send both.
  const headersToRemove = authorization ? strip.headersToRemove.filter((h) => h !== 'authorization') : strip.headersToRemove;
  const subject: Subject = { api: m.api, resource: m.resource, operation: m.operation, keyType, ...caller };
  return { allow: true, subject, headers: set, ...strip, headersToRemove, dynamicMetadata: { ...REPLY_METADATA }, reason };
}

/** The caller a validated token names. */
function caller(t: ValidatedToken, subscribed: Subscribed | undefined): Pick<Subject, 'user' | 'application' | 'subscription' | 'claims'> {
  return { user: t.subject ?? 'anonymous', application: subscribed?.app, subscription: subscribed?.sub, claims: t.claims };
}

/** Unsecured and certificate-only requests: production when the resource has it, else sandbox (A.8). */
const defaultKeyType = (r: EnforcerResource): string => (r.production_cluster ? 'PRODUCTION' : 'SANDBOX');

/**
 * The client certificate the router passed, if the API lists it (by SHA-256 fingerprint) and it is
 * within its validity period; a string says why it is refused; undefined when none was passed.
 */
function clientCertificate(api: EnforcerApi, req: CheckRequestLike, deps: DecideDeps, now: number): EnforcerClientCertificate | string | undefined {
  const encoded = req.attributes?.source?.certificate;
  if (!encoded) return undefined;
  const cert = (deps.certificates ?? privateCertificates).parse(encoded);
  if (cert instanceof Error) return cert.message;
  if (now < cert.validFrom || now > cert.validTo) return `client certificate ${cert.subject} is outside its validity period`;
  const known = api.client_certificates.find((c) => c.sha256_fingerprint === cert.fingerprint256);
  return known ?? `client certificate ${cert.subject} (${cert.fingerprint256}) is not one of API ${api.id}'s`;
}

const privateCertificates = new PeerCertificates();

const INTERNAL_KEY_HEADER = 'internal-key';

/** C.9: an internal key (APIM Publisher's try-out key): signed by the Publisher, naming this API's context and version. */
function afterInternalKey(result: ValidatedToken, m: Matched): Decision {
  const c = result.claims;
  if (tokenType(result) !== 'internalkey') return invalidCredentials('Invalid Credentials', `the ${INTERNAL_KEY_HEADER} header holds a token of type ${typeof c.token_type === 'string' ? c.token_type.slice(0, 100) : `(${typeof c.token_type})`}`);
  if (!listsApi(c, m)) {
    return deny(ERRORS.forbidden, 'User is NOT authorized to access the Resource. API Subscription validation failed.', `internal key names no API at ${m.api.base_path} version ${m.api.version}`, true);
  }
  if (isBlocked(m.api)) return apiBlocked(`API ${m.api.id} is BLOCKED`);
  const keyType = (result.keyType ?? 'PRODUCTION').toUpperCase();
  return routeTo(m, keyType, caller(result, undefined), { headersToRemove: [INTERNAL_KEY_HEADER] }, `${keyType} internal key of ${result.subject ?? 'unknown subject'}`, {});
}

interface ApiKey {
  value: string;
  /** Where it came from, to strip it before the request goes upstream. */
  header?: string;
  query?: string;
}

/** The header (and query parameter) name of the API's keys: `apikey` unless the API names another. */
const apiKeyName = (api: EnforcerApi): string => (api.api_key_header || 'apikey').toLowerCase();

/** An API key (three dot-separated parts) in the API's key header, else in the query (C.5 row 30). */
function apiKeyOf(api: EnforcerApi, headers: Record<string, string>, path: string): ApiKey | undefined {
  const name = apiKeyName(api);
  const h = headers[name]?.trim();
  if (h && h.split('.').length === 3) return { value: h, header: name };
  const q = path.indexOf('?');
  if (q < 0) return undefined;
  const v = new URLSearchParams(path.slice(q + 1)).get(name)?.trim();
  return v && v.split('.').length === 3 ? { value: v, query: name } : undefined;
}

/** C.9: an APIM-signed API key, its restrictions, then its application's subscription. */
function afterApiKey(result: ValidatedToken, m: Matched, key: ApiKey, req: CheckRequestLike, headers: Record<string, string>, deps: DecideDeps): Decision {
  const c = result.claims;
  if (tokenType(result) === 'internalkey') return invalidCredentials('Invalid Credentials', 'an internal key sent as an API key');
  const restricted = apiKeyRestriction(c, req, headers);
  if (restricted) return deny(ERRORS.forbidden, 'User is NOT authorized to access the Resource. API key restriction failed.', restricted, true);

  const keyType = (result.keyType ?? 'PRODUCTION').toUpperCase();
  const app = isRecord(c.application) ? c.application : {};
  let subscribed: Subscribed | undefined;
  if (result.issuer.validateSubscription) {
    const appUuid = typeof app.uuid === 'string' ? app.uuid : '';
    const org = m.api.organization;
    const known = appUuid ? deps.view.application(appUuid, org) : undefined;
    if (!known) return subscriptionFailed(`API key names no application ${appUuid || '(none)'} of organization ${org}`);
    const sub = deps.view.subscription(m.api.id, appUuid, org);
    if (!sub) return subscriptionFailed(`application ${appUuid} is not subscribed to API ${m.api.id}`);
    const refused = subscriptionState(sub, keyType);
    if (refused) return refused;
    subscribed = { keyType, app: known, sub };
  } else {
    // No subscriptions to check against (no APIM): the key's own list of subscribed APIs decides.
    if (!listsApi(c, m)) {
      return subscriptionFailed(`API key's subscribedAPIs do not include ${m.api.base_path} version ${m.api.version}`);
    }
  }
  if (isBlocked(m.api)) return apiBlocked(`API ${m.api.id} is BLOCKED`);
  const strip = key.header ? { headersToRemove: [key.header] } : { headersToRemove: [], queryParamsToRemove: [key.query!] };
  return routeTo(m, keyType, caller(result, subscribed), strip, `${keyType} API key of application ${typeof app.name === 'string' ? app.name : '?'}`, backendJwt(deps, m, result, keyType, subscribed));
}

/**
 * Whether a key's `subscribedAPIs` names this API by context and version. The context, not the
 * name, because it is unique across organizations (a tenant's carries `/t/<domain>`): another
 * organization's API of the same name and version is not this one. Claims are the caller's JSON:
 * compared, never converted (String() of {"toString":0} throws).
 */
function listsApi(c: Readonly<Record<string, unknown>>, m: Matched): boolean {
  const listed = Array.isArray(c.subscribedAPIs) ? c.subscribedAPIs : [];
  const contexts = new Set([m.api.base_path, m.api.context]);
  return listed.some((s) => isRecord(s) && typeof s.context === 'string' && contexts.has(s.context) && s.version === m.api.version);
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Whether `text` matches a `*` pattern, everything else literal. A `*` inside the pattern stays
 * within one path segment (`https://*.shop.example/` cannot match `https://evil.example/?.shop.example/`);
 * a trailing `*` takes the rest. No regex: the pattern is the key owner's and the text the
 * caller's, and a backtracking `[^/]*a[^/]*a...` took minutes on a 40-character referer.
 */
function wildcardMatch(pattern: string, text: string): boolean {
  const rest = pattern.endsWith('*');
  const p = (rest ? pattern.slice(0, -1) : pattern).split('/');
  const t = text.split('/');
  // Stars never match a '/', so each '/' of the text is one of the pattern's.
  if (rest ? t.length < p.length : t.length !== p.length) return false;
  return p.every((seg, i) => starMatch(rest && i === p.length - 1 ? `${seg}*` : seg, t[i]!));
}

/** `*` (any run of characters) patterns in linear time: each literal piece at its leftmost place after the one before. */
function starMatch(pattern: string, text: string): boolean {
  const pieces = pattern.split('*');
  if (pieces.length === 1) return pattern === text;
  const first = pieces[0]!;
  const last = pieces[pieces.length - 1]!;
  if (text.length < first.length + last.length || !text.startsWith(first) || !text.endsWith(last)) return false;
  const end = text.length - last.length;
  let at = first.length;
  for (let i = 1; i < pieces.length - 1; i++) {
    const found = text.indexOf(pieces[i]!, at);
    if (found < 0 || found + pieces[i]!.length > end) return false;
    at = found + pieces[i]!.length;
  }
  return true;
}

/** Adds `addr` or `addr/bits` to the list; an entry that is neither permits nothing. */
function addPermitted(list: BlockList, entry: string): void {
  const [addr = '', bits, extra] = entry.split('/');
  const version = isIP(addr);
  if (version === 0 || extra !== undefined) return;
  const family = version === 6 ? 'ipv6' : 'ipv4';
  if (bits === undefined) return list.addAddress(addr, family);
  // Number('') is 0: "1.2.3.4/" must not become "everyone".
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > (version === 6 ? 128 : 32)) return;
  list.addSubnet(addr, Number(bits), family);
}

/** `permittedIP` (addresses and CIDRs) and `permittedReferer` (`*` wildcards), comma-separated; why it is refused, if it is. */
function apiKeyRestriction(c: Readonly<Record<string, unknown>>, req: CheckRequestLike, headers: Record<string, string>): string | undefined {
  const ips = typeof c.permittedIP === 'string' ? c.permittedIP.split(',').map((x) => x.trim()).filter(Boolean) : [];
  if (ips.length) {
    const ip = req.attributes?.source?.address?.socket_address?.address ?? '';
    const allowed = new BlockList();
    for (const entry of ips) addPermitted(allowed, entry);
    if (!isIP(ip) || !allowed.check(ip, isIP(ip) === 6 ? 'ipv6' : 'ipv4')) return `client address ${ip || '(unknown)'} is not in the key's permittedIP ${ips.join(',')}`;
  }
  const referers = typeof c.permittedReferer === 'string' ? c.permittedReferer.split(',').map((x) => x.trim()).filter(Boolean) : [];
  if (referers.length) {
    const referer = headers.referer ?? '';
    if (!referers.some((p) => wildcardMatch(p, referer))) return `referer ${referer || '(none)'} is not in the key's permittedReferer ${referers.join(',')}`;
  }
  return undefined;
}

interface Subscribed {
  keyType: string;
  app: EnforcerApplication;
  sub: EnforcerSubscription;
}

/**
 * C.7: key mapping → application → subscription, and its state, all in the API's organization
 * (one organization's keys never reach another's APIs). The key type, application and
 * subscription on success.
 */
function validateSubscription(t: ValidatedToken, m: Matched, deps: DecideDeps): DenyDecision | Subscribed {
  if (!t.consumerKey) return subscriptionFailed(`token has no ${t.issuer.consumerKeyClaim} claim (consumer key)`);
  const org = m.api.organization;
  const mapping = deps.view.keyMapping(t.consumerKey, t.issuer.name, org);
  if (!mapping) return subscriptionFailed(`no key mapping for consumer key ${t.consumerKey} of ${t.issuer.name} in organization ${org}`);
  const app = deps.view.application(mapping.application_uuid, org);
  if (!app) return subscriptionFailed(`key mapping ${t.consumerKey} names no application ${mapping.application_uuid} of organization ${org}`);
  const sub = deps.view.subscription(m.api.id, app.uuid, org);
  if (!sub) return subscriptionFailed(`application ${app.uuid} (${app.name}) is not subscribed to API ${m.api.id}`);
  const keyType = (t.keyType ?? mapping.key_type ?? 'PRODUCTION').toUpperCase() || 'PRODUCTION';
  return subscriptionState(sub, keyType) ?? { keyType: (mapping.key_type || 'PRODUCTION').toUpperCase(), app, sub };
}

/** The subscription's state refuses this key type (C.7 table), or undefined. */
function subscriptionState(sub: { uuid: string; state: string }, keyType: string): DenyDecision | undefined {
  const state = sub.state.toUpperCase();
  const blockedDescription = 'API Subscription is blocked';
  if (state === 'BLOCKED') return deny(ERRORS.subscriptionBlocked, blockedDescription, `subscription ${sub.uuid} is BLOCKED`, true);
  if (state === 'ON_HOLD' || state === 'REJECTED') {
    return deny(ERRORS.subscriptionInactive, 'The subscription to the API is inactive', `subscription ${sub.uuid} is ${state}`, true);
  }
  if (state === 'PROD_ONLY_BLOCKED' && keyType !== 'SANDBOX') {
    return deny(ERRORS.subscriptionBlocked, blockedDescription, `subscription ${sub.uuid} is PROD_ONLY_BLOCKED and the key is ${keyType}`, true);
  }
  return undefined;
}

function isBlocked(api: EnforcerApi): boolean {
  return api.lifecycle_status.toUpperCase() === 'BLOCKED';
}

/** Unsecured: the default key type's cluster and backend credentials (A.8, C.10); the caller's credentials are left alone (C.4). */
function allowUnsecured(m: Pick<Matched, 'api' | 'resource' | 'operation'>, why: string): AllowDecision {
  const { api, resource } = m;
  const cluster = resource.production_cluster || resource.sandbox_cluster;
  const authorization = resource.production_cluster ? resource.production_authorization : resource.sandbox_authorization;
  return {
    allow: true,
    subject: { api, resource, operation: m.operation, keyType: defaultKeyType(resource), user: 'anonymous' },
    headers: { ...(cluster ? { [CLUSTER_HEADER]: cluster } : {}), ...(authorization ? { authorization } : {}) },
    headersToRemove: cluster ? [] : [CLUSTER_HEADER],
    dynamicMetadata: { ...REPLY_METADATA },
    reason: `${why} (API ${api.id})`,
  };
}

/**
 * Lower-cased request headers, from `headers` or (newer Envoy) `header_map`. Envoy sends header
 * names lower-cased, so `headers` is used as it is unless a name says otherwise.
 */
export function headersOf(http: NonNullable<NonNullable<CheckRequestLike['attributes']>['request']>['http']): Record<string, string> {
  const given = http?.headers ?? {};
  if (!http?.header_map?.headers?.length && allLowerCase(given)) return given;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(given)) out[k.toLowerCase()] = v;
  for (const h of http?.header_map?.headers ?? []) {
    if (!h.key) continue;
    const raw = h.raw_value;
    const v = raw && raw.length > 0 ? (typeof raw === 'string' ? raw : Buffer.from(raw).toString('utf8')) : (h.value ?? '');
    out[h.key.toLowerCase()] = v;
  }
  return out;
}

function allLowerCase(headers: Record<string, string>): boolean {
  for (const k in headers) if (k !== k.toLowerCase()) return false;
  return true;
}

/** CC's JWT `canAuthenticate`: `Bearer <x>`, exactly two parts, and a three-segment token (C.5). */
function bearerToken(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const parts = value.trim().split(/\s+/);
  if (parts.length !== 2 || parts[0]!.toLowerCase() !== 'bearer') return undefined;
  const token = parts[1]!;
  return token.split('.').length === 3 ? token : undefined;
}
