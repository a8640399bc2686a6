import type { JwtResult, JwtValidator, ValidatedToken } from './jwt';
import type { RevocationSet } from './revocations';
import type { EnforcerApi, EnforcerOperation, EnforcerResource, EnforcerView } from './view';

/**
 * The enforcer's decision for one ext_authz check (reference C): route metadata → API and
 * resource → operation → authentication (JWT) → subscription → scopes → cluster. Synchronous
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
        headers?: Record<string, string>;
        header_map?: { headers?: Array<{ key?: string; value?: string; raw_value?: Uint8Array | string }> };
      };
    };
    route_metadata_context?: { filter_metadata?: Record<string, unknown> };
  };
}

export interface AllowDecision {
  allow: true;
  /** Set on the upstream request, overwriting. */
  headers: Record<string, string>;
  headersToRemove: string[];
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
  jwt: Pick<JwtValidator, 'validate'>;
  revoked: Pick<RevocationSet, 'isRevoked'>;
  now?: number;
}

const CREDENTIALS_HINT = 'Make sure you have provided the correct security credentials';

interface ErrorSpec {
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
} as const satisfies Record<string, ErrorSpec>;

function deny(e: ErrorSpec, description: string, reason: string, authFailure: boolean): DenyDecision {
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
    // CC: an OPTIONS without its own operation is the CORS filter's (C.3): let it through unauthenticated.
    if (method === 'OPTIONS') return allowUnsecured(api, resource, 'OPTIONS without an operation');
    return notFound(`API ${apiId} resource ${path} has no ${method} operation`);
  }
  const m: Matched = { api, resource, operation, path };

  const schemes = api.security_schemes.map((s) => s.toLowerCase());
  const appSchemes = schemes.filter((s) => s === 'oauth2' || s === 'api_key' || s === 'basic_auth');
  if (!operation.secured || appSchemes.length === 0) {
    if (isBlocked(api)) return apiBlocked(`API ${apiId} is BLOCKED`);
    return allowUnsecured(api, resource, 'unsecured operation');
  }
  const headers = headersOf(http);
  if (!schemes.includes('oauth2')) {
    return invalidCredentials('Invalid Credentials', `API ${apiId} allows only ${appSchemes.join(', ')}: API keys (and basic auth) are not supported yet`);
  }

  const headerName = (api.authorization_header || 'authorization').toLowerCase();
  const token = bearerToken(headers[headerName]);
  if (token === undefined) {
    const also = schemes.includes('api_key') ? ' (API keys are not supported yet)' : '';
    return invalidCredentials('Invalid Credentials', `no bearer JWT in ${headerName}${also}`);
  }

  const now = deps.now ?? Date.now();
  const result = deps.jwt.validate(token, now);
  if (result.ok === 'pending') return result.result.then((r) => afterJwt(r, m, headerName, deps, now));
  return afterJwt(result, m, headerName, deps, now);
}

function afterJwt(result: JwtResult, m: Matched, headerName: string, deps: DecideDeps, now: number): Decision {
  if (result.ok !== true) {
    return deny({ status: result.status, code: String(result.code), message: result.message }, result.description, `JWT refused (${result.kind}): ${result.detail}`, true);
  }
  const t = result;
  if ((t.jti !== undefined && deps.revoked.isRevoked(t.jti, now)) || deps.revoked.isRevoked(t.signature, now)) {
    return invalidCredentials('Invalid JWT token', `token ${t.jti ?? '(no jti)'} is revoked`);
  }

  let keyType = 'PRODUCTION';
  if (t.issuer.validateSubscription) {
    const sub = validateSubscription(t, m, deps);
    if ('allow' in sub) return sub;
    keyType = sub.keyType;
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

  const sandbox = keyType === 'SANDBOX';
  const cluster = sandbox ? m.resource.sandbox_cluster : m.resource.production_cluster;
  if (!cluster) {
    const d = sandbox ? 'Sandbox key offered to an API with no sandbox endpoint' : 'Production key offered to an API with no production endpoint';
    return invalidCredentials(d, `${d} (API ${m.api.id}, resource ${m.path})`);
  }
  return {
    allow: true,
    headers: { [CLUSTER_HEADER]: cluster },
    headersToRemove: [headerName],
    dynamicMetadata: { ...REPLY_METADATA },
    reason: `${keyType} token of ${t.subject ?? t.consumerKey ?? 'unknown subject'} (issuer ${t.issuer.name})`,
  };
}

/** C.7: key mapping → application → subscription, and its state. The key type on success. */
function validateSubscription(t: ValidatedToken, m: Matched, deps: DecideDeps): DenyDecision | { keyType: string } {
  if (!t.consumerKey) return subscriptionFailed(`token has no ${t.issuer.consumerKeyClaim} claim (consumer key)`);
  const mapping = deps.view.keyMapping(t.consumerKey, t.issuer.name);
  if (!mapping) return subscriptionFailed(`no key mapping for consumer key ${t.consumerKey} of ${t.issuer.name}`);
  const app = deps.view.application(mapping.application_uuid);
  if (!app) return subscriptionFailed(`key mapping ${t.consumerKey} names unknown application ${mapping.application_uuid}`);
  const sub = deps.view.subscription(m.api.id, app.uuid);
  if (!sub) return subscriptionFailed(`application ${app.uuid} (${app.name}) is not subscribed to API ${m.api.id}`);
  const keyType = (t.keyType ?? mapping.key_type ?? 'PRODUCTION').toUpperCase() || 'PRODUCTION';
  const state = sub.state.toUpperCase();
  const blockedDescription = 'API Subscription is blocked';
  if (state === 'BLOCKED') return deny(ERRORS.subscriptionBlocked, blockedDescription, `subscription ${sub.uuid} is BLOCKED`, true);
  if (state === 'ON_HOLD' || state === 'REJECTED') {
    return deny(ERRORS.subscriptionInactive, 'The subscription to the API is inactive', `subscription ${sub.uuid} is ${state}`, true);
  }
  if (state === 'PROD_ONLY_BLOCKED' && keyType !== 'SANDBOX') {
    return deny(ERRORS.subscriptionBlocked, blockedDescription, `subscription ${sub.uuid} is PROD_ONLY_BLOCKED and the key is ${keyType}`, true);
  }
  return { keyType: (mapping.key_type || 'PRODUCTION').toUpperCase() };
}

function isBlocked(api: EnforcerApi): boolean {
  return api.lifecycle_status.toUpperCase() === 'BLOCKED';
}

/** Unsecured: production when the resource has it, else sandbox (A.8); credentials are left alone (C.4). */
function allowUnsecured(api: EnforcerApi, resource: EnforcerResource, why: string): AllowDecision {
  const cluster = resource.production_cluster || resource.sandbox_cluster;
  return {
    allow: true,
    headers: cluster ? { [CLUSTER_HEADER]: cluster } : {},
    headersToRemove: cluster ? [] : [CLUSTER_HEADER],
    dynamicMetadata: { ...REPLY_METADATA },
    reason: `${why} (API ${api.id})`,
  };
}

/** Lower-cased request headers, from `headers` or (newer Envoy) `header_map`. */
function headersOf(http: NonNullable<NonNullable<CheckRequestLike['attributes']>['request']>['http']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(http?.headers ?? {})) out[k.toLowerCase()] = v;
  for (const h of http?.header_map?.headers ?? []) {
    if (!h.key) continue;
    const raw = h.raw_value;
    const v = raw && raw.length > 0 ? (typeof raw === 'string' ? raw : Buffer.from(raw).toString('utf8')) : (h.value ?? '');
    out[h.key.toLowerCase()] = v;
  }
  return out;
}

/** CC's JWT `canAuthenticate`: `Bearer <x>`, exactly two parts, and a three-segment token (C.5). */
function bearerToken(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const parts = value.trim().split(/\s+/);
  if (parts.length !== 2 || parts[0]!.toLowerCase() !== 'bearer') return undefined;
  const token = parts[1]!;
  return token.split('.').length === 3 ? token : undefined;
}
