import type { Config } from '../config/config';

/**
 * The domain model of an API, ours and plain: what sources (APIM, a folder of API projects)
 * produce and what translators read. No Envoy or APIM wire shapes here. Objects are treated as
 * immutable: a changed API is a new object, so translators can cache by identity.
 */

export type ApiType = 'HTTP' | 'WS' | 'GRAPHQL' | 'SOAP' | 'SSE' | 'WEBSUB';

export const HTTP_METHODS = ['GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export interface Api {
  /** APIM's API UUID, or one derived from name and version for a local project. */
  id: string;
  name: string;
  version: string;
  /** The unversioned context, e.g. `/petstore`. */
  context: string;
  /** What clients call: `context/version`, or `x-wso2-basePath` when the definition sets it. */
  basePath: string;
  /** Virtual host the API is served on. */
  vhost: string;
  type: ApiType;
  organization: string;
  /** Gateway environments (node groups) the API is deployed to. */
  labels: string[];
  /** Also served at the unversioned context. */
  isDefaultVersion: boolean;
  /** PUBLISHED, PROTOTYPED, BLOCKED, ... as APIM names them. */
  lifecycleStatus: string;
  /** APIM's revision id, when the API came from APIM. */
  revision?: string;
  endpoints: EndpointSets;
  security: ApiSecurity;
  /** Certificates accepted for mutual TLS (with the mutualssl scheme). */
  clientCertificates?: ClientCertificate[];
  /** Undefined: the router's default CORS policy applies. */
  cors?: CorsPolicy;
  /** API-level throttling tier (APIM's apiThrottlingPolicy). */
  throttlingTier?: string;
  resources: Resource[];
  /** Paths and operations of the definition left out, and why; the resources above are served. */
  skipped?: SkippedRoute[];
  /** Where the API came from (file path, APIM revision), for error reports. */
  source: string;
}

/** A path or operation of a definition that is not served, and why: a problem costs the route, not the API. */
export interface SkippedRoute {
  /** The path key as the definition writes it. */
  path: string;
  /** The operation left out; absent when the whole path is. */
  method?: string;
  /** Where it is written, as problems name places (a bare definition once): `apis/shop/Definitions/swagger.json:1204`, `apis/orders.yaml:94`. */
  at?: string;
  reason: string;
}

export interface Resource {
  /** OpenAPI path template: `/pets/{petId}`, `/files/{name}.json`, `/pets/*`. */
  path: string;
  operations: Operation[];
  /** Endpoints for this resource only (x-wso2-production-endpoints on a path or operation). */
  endpoints?: EndpointSets;
}

export interface Operation {
  method: HttpMethod;
  /** False for operations APIM marks `authType: None` (or `security: []`). */
  secured: boolean;
  scopes: string[];
  throttlingTier?: string;
}

export interface EndpointSets {
  production?: EndpointSet;
  sandbox?: EndpointSet;
}

export interface EndpointSet {
  /** load_balance: all URLs at once; failover: in order, the next when the previous is down. */
  type: 'load_balance' | 'failover';
  urls: EndpointUrl[];
  /** Upstream response timeout (APIM actionDuration). */
  timeoutMs?: number;
  retry?: { count: number; statusCodes: number[] };
  circuitBreakers?: CircuitBreakers;
  /** PEM certificates to trust for this set's TLS (from the project's Endpoint-certificates). */
  caCertificates?: string[];
  /** Skip verifying the backend's certificate (for development only). */
  skipTlsVerify?: boolean;
  /** HTTP Basic credentials the backend requires (APIM endpoint_security of type BASIC). */
  basicAuth?: { username: string; password: string };
  http2?: boolean;
}

/** A client certificate allowed to call the API over mutual TLS (the project's Client-certificates). */
export interface ClientCertificate {
  alias: string;
  /** One PEM certificate. */
  pem: string;
  /** The throttling tier of requests authenticated with it. */
  tier: string;
}

export interface EndpointUrl {
  url: string;
  scheme: 'http' | 'https';
  host: string;
  port: number;
  /** Path of the URL without a trailing slash ('' for none): the backend base path. */
  basePath: string;
}

export interface CircuitBreakers {
  maxConnections?: number;
  maxPendingRequests?: number;
  maxRequests?: number;
  maxRetries?: number;
  maxConnectionPools?: number;
}

export interface ApiSecurity {
  /** oauth2 (JWT), api_key, mutualssl, basic_auth; empty: not secured. */
  schemes: string[];
  /** Header carrying the bearer token (APIM authorizationHeader, default Authorization). */
  authorizationHeader: string;
  /** Header carrying an API key (default apikey). */
  apiKeyHeader: string;
}

/** An API's CORS policy: the shape of config.toml's default `[cors]`, plus a max age. */
export type CorsPolicy = Config['cors'] & { maxAgeSeconds?: number };

/** The key an API is known by inside one label: two APIs may not share it. */
export function routeKey(api: Pick<Api, 'vhost' | 'basePath'>): string {
  return `${api.vhost}:${api.basePath}`;
}
