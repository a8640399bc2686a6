import { HTTP_METHODS } from '../../model/api';
import type { CorsPolicy, EndpointSet, EndpointSets, HttpMethod, SkippedRoute } from '../../model/api';
import { ProjectDoc, isRecord } from './document';
import { xwso2EndpointSet } from './endpoints';
import { ProjectError } from './errors';
import { routePath } from './pathKeys';
import { corsPolicy, extensionSchemes } from './policies';
import { Loc, OpenFile, pathItemFields, whereIn } from './refs';

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
  cors?: CorsPolicy;
  authHeader?: string;
  apiKeyHeader?: string;
  /** From x-wso2-application-security / x-wso2-mutual-ssl. */
  schemes?: string[];
  /** x-wso2-disable-security at the root: every operation is unsecured. */
  disableSecurity: boolean;
  throttlingTier?: string;
  /** In document order. */
  operations: DefOperation[];
  /** Paths and operations that cannot be served, and why. */
  skipped: SkippedRoute[];
}

export interface DefOperation {
  /** The template the router serves (routePath of the key). */
  path: string;
  /** The path key as the definition writes it. */
  key: string;
  method: HttpMethod;
  /** False when `security: []`, `x-auth-type: None` or x-wso2-disable-security says so. */
  secured: boolean;
  scopes: string[];
  throttlingTier?: string;
  /** Path- or operation-level x-wso2-*-endpoints (the operation's own win, per environment). */
  endpoints?: EndpointSets;
  /** Where the operation is written (another file's, for a `$ref` path item), for reports. */
  loc: Loc;
}

/** Path item keys that are not operations (OpenAPI 3.x and Swagger 2.0). */
const PATH_ITEM_FIELDS = new Set(['parameters', 'summary', 'description', 'servers']);

/**
 * Reads a definition. API-level problems throw a ProjectError; a problem with one path or
 * operation leaves it out and lists it in `skipped`. `open` gives the project's other files,
 * for `$ref` path items that name one.
 */
export function parseDefinition(doc: ProjectDoc, retryStatusCodes: number[], open: OpenFile = () => undefined): Definition {
  if (!isRecord(doc.value)) return doc.fail([], 'expected an OpenAPI definition (a map)');
  const openapi = doc.text(['openapi']);
  const swagger = doc.text(['swagger']);
  if (!(openapi && /^3\./.test(openapi)) && swagger !== '2.0') {
    return doc.fail(openapi ? ['openapi'] : swagger ? ['swagger'] : [], 'not an OpenAPI 3.x or Swagger 2.0 definition (expected openapi: 3.x or swagger: "2.0")');
  }
  const swagger2 = swagger === '2.0';
  const rootScopes = requirementScopes({ doc, at: ['security'] });
  const apiThrottling = doc.text(['x-wso2-throttling-tier']) ?? doc.text(['x-throttling-tier']);
  const skipped: SkippedRoute[] = [];
  return {
    doc,
    swagger2,
    title: doc.text(['info', 'title']),
    version: doc.text(['info', 'version']),
    basePath: doc.text(['x-wso2-basePath']),
    vhost: doc.text(['x-wso2-vhost']),
    endpoints: envSets({ doc, at: [] }, retryStatusCodes),
    cors: corsPolicy(doc, ['x-wso2-cors']),
    authHeader: doc.text(['x-wso2-auth-header']),
    apiKeyHeader: apiKeyHeader(doc, swagger2),
    schemes: extensionSchemes(doc),
    disableSecurity: flag({ doc, at: ['x-wso2-disable-security'] }),
    throttlingTier: apiThrottling || undefined,
    operations: operations(doc, rootScopes, retryStatusCodes, open, skipped),
    skipped,
  };
}

function operations(doc: ProjectDoc, rootScopes: string[], retryStatusCodes: number[], open: OpenFile, skipped: SkippedRoute[]): DefOperation[] {
  const paths = doc.get(['paths']);
  if (paths === undefined || paths === null) return [];
  if (!isRecord(paths)) return doc.fail(['paths'], 'expected a map of paths');
  const out: DefOperation[] = [];
  for (const [key, item] of Object.entries(paths)) {
    if (key.startsWith('x-') || item === null) continue;
    const at = ['paths', key];
    const routed = routePath(key);
    if ('problem' in routed) {
      skipped.push({ path: key, at: whereIn({ doc, at }), reason: routed.problem });
      continue;
    }
    const fields = asSkipped(skipped, key, undefined, () => pathItemFields({ doc, at }, open));
    if (!fields) continue;
    const pathLevel = asSkipped(skipped, key, undefined, () => ({
      disabled: flagIn(fields, 'x-wso2-disable-security'),
      endpoints: dropUndefined({
        production: fieldEndpoints(fields, 'x-wso2-production-endpoints', retryStatusCodes),
        sandbox: fieldEndpoints(fields, 'x-wso2-sandbox-endpoints', retryStatusCodes),
      }),
    }));
    if (!pathLevel) continue;
    for (const [field, loc] of fields) {
      if (PATH_ITEM_FIELDS.has(field) || field.startsWith('x-')) continue;
      const method = field.toUpperCase() as HttpMethod;
      if (!HTTP_METHODS.includes(method)) {
        const reason = `unknown or unsupported HTTP method "${field}" (supported: ${HTTP_METHODS.join(', ').toLowerCase()})`;
        skipped.push({ path: key, method: field.toUpperCase(), at: whereIn(loc), reason });
        continue;
      }
      const op = asSkipped(skipped, key, method, () => operation(loc, rootScopes, retryStatusCodes, pathLevel));
      if (op) out.push({ path: routed.path, key, method, ...op, loc });
    }
  }
  return out;
}

/** One operation's own fields, with the path item's as fallback. */
function operation(loc: Loc, rootScopes: string[], retryStatusCodes: number[], pathLevel: { disabled: boolean; endpoints: EndpointSets }): Pick<DefOperation, 'secured' | 'scopes' | 'throttlingTier' | 'endpoints'> {
  const { doc, at } = loc;
  if (!isRecord(doc.get(at))) doc.fail(at, 'expected an operation (a map)');
  const security = doc.get([...at, 'security']);
  if (security !== undefined && !Array.isArray(security)) doc.fail([...at, 'security'], 'expected a list of security requirements');
  const unsecured =
    (Array.isArray(security) && security.length === 0) ||
    flag({ doc, at: [...at, 'x-wso2-disable-security'] }) ||
    pathLevel.disabled ||
    doc.text([...at, 'x-auth-type'])?.toLowerCase() === 'none';
  const own = envSets(loc, retryStatusCodes);
  const endpoints: EndpointSets = { production: own.production ?? pathLevel.endpoints.production, sandbox: own.sandbox ?? pathLevel.endpoints.sandbox };
  const tier = doc.text([...at, 'x-wso2-throttling-tier']) ?? doc.text([...at, 'x-throttling-tier']);
  return {
    secured: !unsecured,
    scopes: security === undefined ? rootScopes : requirementScopes({ doc, at: [...at, 'security'] }),
    throttlingTier: tier || undefined,
    endpoints: endpoints.production || endpoints.sandbox ? dropUndefined(endpoints) : undefined,
  };
}

/** `read()`, or undefined with the ProjectError it threw listed as skipped. */
function asSkipped<T>(skipped: SkippedRoute[], path: string, method: string | undefined, read: () => T): T | undefined {
  try {
    return read();
  } catch (err) {
    if (!(err instanceof ProjectError)) throw err;
    skipped.push({ path, ...(method && { method }), at: err.where, reason: err.reason });
    return undefined;
  }
}

/**
 * Scopes of a security requirement list: the first requirement that names any. Choreo Connect's
 * enforcer reads only that one, and a token needs one of its scopes.
 */
function requirementScopes({ doc, at }: Loc): string[] {
  const reqs = doc.get(at);
  if (!Array.isArray(reqs)) return [];
  for (const req of reqs) {
    if (!isRecord(req)) continue;
    for (const scopes of Object.values(req)) {
      if (Array.isArray(scopes) && scopes.length) return scopes.map(String);
    }
  }
  return [];
}

function envSets({ doc, at }: Loc, retryStatusCodes: number[]): EndpointSets {
  return dropUndefined({
    production: xwso2EndpointSet(doc, [...at, 'x-wso2-production-endpoints'], retryStatusCodes),
    sandbox: xwso2EndpointSet(doc, [...at, 'x-wso2-sandbox-endpoints'], retryStatusCodes),
  });
}

/** A path item field's endpoints, read where the field is written. */
function fieldEndpoints(fields: Map<string, Loc>, name: string, retryStatusCodes: number[]): EndpointSet | undefined {
  const loc = fields.get(name);
  return loc && xwso2EndpointSet(loc.doc, loc.at, retryStatusCodes);
}

function flagIn(fields: Map<string, Loc>, name: string): boolean {
  const loc = fields.get(name);
  return loc ? flag(loc) : false;
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

function flag({ doc, at }: Loc): boolean {
  const v = doc.get(at);
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') return doc.fail(at, `expected true or false, got ${JSON.stringify(v)}`);
  return v;
}

function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
