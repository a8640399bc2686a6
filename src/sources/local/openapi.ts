import { HTTP_METHODS } from '../../model/api';
import type { CorsPolicy, EndpointSet, EndpointSets, HttpMethod } from '../../model/api';
import { ProjectDoc, isRecord } from './document';
import { serverEndpointSet, xwso2EndpointSet } from './endpoints';
import type { PathSeg } from './errors';
import { corsPolicy, extensionSchemes } from './policies';

/**
 * An OpenAPI 3.x or Swagger 2.0 definition with Choreo Connect's x-wso2-* extensions, read into
 * what a gateway needs. Values the definition leaves unset stay undefined so project.ts can fall
 * back to api.yaml and then to defaults.
 */
export interface Definition {
  doc: ProjectDoc;
  swagger2: boolean;
  title?: string;
  version?: string;
  /** x-wso2-basePath, as written. */
  basePath?: string;
  vhost?: string;
  /** API-level x-wso2-production-endpoints / x-wso2-sandbox-endpoints. */
  endpoints: EndpointSets;
  /** `servers` (OAS 3) or `host` + `basePath` (Swagger 2): the backend when nothing else names one. */
  servers?: EndpointSet;
  cors?: CorsPolicy;
  authHeader?: string;
  apiKeyHeader?: string;
  /** From x-wso2-application-security / x-wso2-mutual-ssl. */
  schemes?: string[];
  /** x-wso2-disable-security at the root: every operation is unsecured. */
  disableSecurity: boolean;
  throttlingTier?: string;
  operations: DefOperation[];
}

export interface DefOperation {
  path: string;
  method: HttpMethod;
  /** False when `security: []`, `x-auth-type: None` or x-wso2-disable-security says so. */
  secured: boolean;
  scopes: string[];
  throttlingTier?: string;
  /** Path- or operation-level x-wso2-*-endpoints (the operation's own win, per environment). */
  endpoints?: EndpointSets;
  /** Where the operation is, for error messages. */
  at: PathSeg[];
}

/** Path item keys that are not operations. */
const PATH_ITEM_FIELDS = new Set(['parameters', 'summary', 'description', 'servers', '$ref']);

export function parseDefinition(doc: ProjectDoc, retryStatusCodes: number[]): Definition {
  if (!isRecord(doc.value)) return doc.fail([], 'expected an OpenAPI definition (a map)');
  const openapi = doc.text(['openapi']);
  const swagger = doc.text(['swagger']);
  if (!(openapi && /^3\./.test(openapi)) && swagger !== '2.0') {
    return doc.fail(openapi ? ['openapi'] : swagger ? ['swagger'] : [], 'not an OpenAPI 3.x or Swagger 2.0 definition (expected openapi: 3.x or swagger: "2.0")');
  }
  const swagger2 = swagger === '2.0';
  const rootScopes = requirementScopes(doc, ['security']);
  const apiThrottling = doc.text(['x-wso2-throttling-tier']) ?? doc.text(['x-throttling-tier']);
  return {
    doc,
    swagger2,
    title: doc.text(['info', 'title']),
    version: doc.text(['info', 'version']),
    basePath: doc.text(['x-wso2-basePath']),
    vhost: doc.text(['x-wso2-vhost']),
    endpoints: envSets(doc, [], retryStatusCodes),
    servers: serverEndpointSet(doc, swagger2),
    cors: corsPolicy(doc, ['x-wso2-cors']),
    authHeader: doc.text(['x-wso2-auth-header']),
    apiKeyHeader: apiKeyHeader(doc, swagger2),
    schemes: extensionSchemes(doc),
    disableSecurity: flag(doc, ['x-wso2-disable-security']),
    throttlingTier: apiThrottling || undefined,
    operations: operations(doc, rootScopes, retryStatusCodes),
  };
}

function operations(doc: ProjectDoc, rootScopes: string[], retryStatusCodes: number[]): DefOperation[] {
  const paths = doc.get(['paths']);
  if (paths === undefined || paths === null) return [];
  if (!isRecord(paths)) return doc.fail(['paths'], 'expected a map of paths');
  const out: DefOperation[] = [];
  for (const [path, item] of Object.entries(paths)) {
    if (path.startsWith('x-')) continue;
    const problem = checkResourcePath(path);
    if (problem) doc.fail(['paths', path], problem);
    if (item === null) continue;
    if (!isRecord(item)) doc.fail(['paths', path], 'expected a map of operations');
    const pathDisabled = flag(doc, ['paths', path, 'x-wso2-disable-security']);
    const pathEndpoints = envSets(doc, ['paths', path], retryStatusCodes);
    for (const [key, op] of Object.entries(item)) {
      if (PATH_ITEM_FIELDS.has(key) || key.startsWith('x-')) continue;
      const at = ['paths', path, key];
      const method = key.toUpperCase() as HttpMethod;
      if (!HTTP_METHODS.includes(method)) doc.fail(at, `unknown or unsupported HTTP method "${key}" (supported: ${HTTP_METHODS.join(', ').toLowerCase()})`);
      if (!isRecord(op)) doc.fail(at, 'expected an operation (a map)');
      const security = doc.get([...at, 'security']);
      if (security !== undefined && !Array.isArray(security)) doc.fail([...at, 'security'], 'expected a list of security requirements');
      const unsecured =
        (Array.isArray(security) && security.length === 0) ||
        flag(doc, [...at, 'x-wso2-disable-security']) ||
        pathDisabled ||
        doc.text([...at, 'x-auth-type'])?.toLowerCase() === 'none';
      const own = envSets(doc, at, retryStatusCodes);
      const endpoints: EndpointSets = { production: own.production ?? pathEndpoints.production, sandbox: own.sandbox ?? pathEndpoints.sandbox };
      const tier = doc.text([...at, 'x-wso2-throttling-tier']) ?? doc.text([...at, 'x-throttling-tier']);
      out.push({
        path,
        method,
        secured: !unsecured,
        scopes: security === undefined ? rootScopes : requirementScopes(doc, [...at, 'security']),
        throttlingTier: tier || undefined,
        endpoints: endpoints.production || endpoints.sandbox ? dropUndefined(endpoints) : undefined,
        at,
      });
    }
  }
  return out;
}

/**
 * Scopes of a security requirement list: the first requirement that names any. Choreo Connect's
 * enforcer reads only that one, and a token needs one of its scopes.
 */
function requirementScopes(doc: ProjectDoc, path: PathSeg[]): string[] {
  const reqs = doc.get(path);
  if (!Array.isArray(reqs)) return [];
  for (const req of reqs) {
    if (!isRecord(req)) continue;
    for (const scopes of Object.values(req)) {
      if (Array.isArray(scopes) && scopes.length) return scopes.map(String);
    }
  }
  return [];
}

function envSets(doc: ProjectDoc, at: PathSeg[], retryStatusCodes: number[]): EndpointSets {
  return dropUndefined({
    production: xwso2EndpointSet(doc, [...at, 'x-wso2-production-endpoints'], retryStatusCodes),
    sandbox: xwso2EndpointSet(doc, [...at, 'x-wso2-sandbox-endpoints'], retryStatusCodes),
  });
}

/** The header of the definition's first apiKey-in-header scheme. */
function apiKeyHeader(doc: ProjectDoc, swagger2: boolean): string | undefined {
  const schemes = doc.get(swagger2 ? ['securityDefinitions'] : ['components', 'securitySchemes']);
  if (!isRecord(schemes)) return undefined;
  for (const s of Object.values(schemes)) {
    if (isRecord(s) && s.type === 'apiKey' && s.in === 'header' && typeof s.name === 'string') return s.name;
  }
  return undefined;
}

function flag(doc: ProjectDoc, path: PathSeg[]): boolean {
  const v = doc.get(path);
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') return doc.fail(path, `expected true or false, got ${JSON.stringify(v)}`);
  return v;
}

function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/**
 * Why a resource path template cannot be routed, or undefined when it can: `/pets/{petId}`,
 * `/files/{name}.json`, `/pets/` and `/pets/*` are fine.
 */
export function checkResourcePath(path: string): string | undefined {
  if (!path.startsWith('/')) return `resource path must start with "/": ${JSON.stringify(path)}`;
  if (/[\s?#]/.test(path)) return `resource path may not contain whitespace, "?" or "#": ${JSON.stringify(path)}`;
  const stripped = path.replace(/\{[A-Za-z0-9_.-]+\}/g, 'p');
  if (/[{}]/.test(stripped)) return `malformed path parameter in ${JSON.stringify(path)} (expected {name})`;
  if (stripped.includes('*') && !(stripped.endsWith('/*') && stripped.indexOf('*') === stripped.length - 1)) {
    return `a wildcard is only allowed as the last segment ("/*"): ${JSON.stringify(path)}`;
  }
  return undefined;
}

/** Two templates that route the same requests: parameter names and a trailing slash do not matter. */
export function routeShape(path: string): string {
  const shape = path.replace(/\{[^}]*\}/g, '{}');
  return shape.length > 1 ? shape.replace(/\/+$/, '') : shape;
}
