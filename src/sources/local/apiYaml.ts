import { HTTP_METHODS } from '../../model/api';
import type { ApiType, CorsPolicy, EndpointSets, HttpMethod, SkippedRoute } from '../../model/api';
import { ProjectDoc, isRecord } from './document';
import { endpointConfigSets } from './endpoints';
import type { PathSeg } from './errors';
import { routePath, routeShape } from './pathKeys';
import { whereIn } from './refs';
import { corsPolicy, securitySchemes } from './policies';

/** api.yaml / api.json: APIM's API model, inside its `{type, version, data}` wrapper. */
export interface ApiYaml {
  doc: ProjectDoc;
  /** Path of the data map: `['data']`, or `[]` for a file without the wrapper. */
  base: PathSeg[];
  id?: string;
  name: string;
  version: string;
  context: string;
  type: ApiType;
  lifecycleStatus: string;
  isDefaultVersion: boolean;
  revision?: string;
  organization?: string;
  throttlingTier?: string;
  authorizationHeader?: string;
  schemes?: string[];
  cors?: CorsPolicy;
  endpoints: EndpointSets;
  operations: YamlOperation[];
  /** Operations that cannot be served, and why. */
  skipped: SkippedRoute[];
}

/** Fields left out of an api.yaml operation stay undefined, so the definition's values apply. */
export interface YamlOperation {
  /** The template the router serves (routePath of the target). */
  path: string;
  /** The target as written. */
  target: string;
  method: HttpMethod;
  secured?: boolean;
  scopes?: string[];
  throttlingTier?: string;
  at: PathSeg[];
}

const API_TYPES: readonly ApiType[] = ['HTTP', 'WS', 'GRAPHQL', 'SOAP', 'SSE', 'WEBSUB'];

export function parseApiYaml(doc: ProjectDoc, retryStatusCodes: number[]): ApiYaml {
  if (!isRecord(doc.value)) return doc.fail([], 'expected an API (a map with type, version and data)');
  const base: PathSeg[] = isRecord(doc.value.data) ? ['data'] : [];
  doc.setQuietPrefix(base);
  const data = doc.get(base) as Record<string, unknown>;
  const required = (key: string): string => {
    const v = doc.text([...base, key])?.trim();
    if (!v) return doc.fail(base.length ? base : [], `missing ${key}`);
    return v;
  };
  const name = required('name');
  const version = required('version');
  const context = required('context');

  const impl = (doc.text([...base, 'endpointImplementationType']) ?? 'ENDPOINT').toUpperCase();
  if (impl !== 'ENDPOINT') doc.fail([...base, 'endpointImplementationType'], `${impl} APIs are not supported (only ENDPOINT)`);
  const type = (doc.text([...base, 'type']) ?? 'HTTP').toUpperCase() as ApiType;
  if (!API_TYPES.includes(type)) doc.fail([...base, 'type'], `unknown API type "${type}" (${API_TYPES.join(', ')})`);
  const isDefault = data.isDefaultVersion;
  if (isDefault !== undefined && isDefault !== null && typeof isDefault !== 'boolean') {
    doc.fail([...base, 'isDefaultVersion'], `expected true or false, got ${JSON.stringify(isDefault)}`);
  }
  // APIM writes the id as `id`; Choreo Connect reads it case-insensitively.
  const idKey = Object.keys(data).find((k) => k.toLowerCase() === 'id');
  const schemes = data.securityScheme;

  return {
    doc,
    base,
    id: idKey ? doc.text([...base, idKey])?.trim() || undefined : undefined,
    name,
    version,
    context,
    type,
    lifecycleStatus: (doc.text([...base, 'lifeCycleStatus']) ?? 'PUBLISHED').toUpperCase(),
    isDefaultVersion: isDefault === true,
    revision: doc.text([...base, 'revisionId']) || undefined,
    organization: doc.text([...base, 'organizationId']) || undefined,
    throttlingTier: doc.text([...base, 'apiThrottlingPolicy']) || undefined,
    authorizationHeader: doc.text([...base, 'authorizationHeader']) || undefined,
    schemes: schemes === undefined || schemes === null ? undefined : securitySchemes(doc, [...base, 'securityScheme'], schemes),
    cors: corsPolicy(doc, [...base, 'corsConfiguration']),
    endpoints: endpointConfigSets(doc, [...base, 'endpointConfig'], retryStatusCodes),
    ...operations(doc, [...base, 'operations']),
  };
}

/** The operations to serve; one with a bad target or verb, or a second of the same route, is skipped. */
function operations(doc: ProjectDoc, path: PathSeg[]): { operations: YamlOperation[]; skipped: SkippedRoute[] } {
  const list = doc.get(path);
  const operations: YamlOperation[] = [];
  const skipped: SkippedRoute[] = [];
  if (list === undefined || list === null) return { operations, skipped };
  if (!Array.isArray(list)) return doc.fail(path, 'expected a list of operations');
  const seen = new Map<string, number>();
  list.forEach((op, i) => {
    const at = [...path, i];
    if (!isRecord(op)) return doc.fail(at, 'expected an operation (a map with target and verb)');
    const target = doc.text([...at, 'target']);
    if (!target) return doc.fail(at, 'missing target');
    const verb = (doc.text([...at, 'verb']) ?? '').toUpperCase();
    const skip = (where: PathSeg[], reason: string): void => void skipped.push({ path: target, method: verb, at: whereIn({ doc, at: where }), reason });
    const routed = routePath(target);
    if ('problem' in routed) return skip([...at, 'target'], routed.problem);
    if (!(HTTP_METHODS as readonly string[]).includes(verb)) return skip([...at, 'verb'], `unknown HTTP method ${JSON.stringify(op.verb ?? '')} (${HTTP_METHODS.join(', ')})`);
    const scopes = op.scopes;
    if (scopes !== undefined && scopes !== null && !Array.isArray(scopes)) return skip([...at, 'scopes'], 'scopes: expected a list of scope names');
    const key = `${verb} ${routeShape(routed.path)}`;
    const first = seen.get(key);
    if (first !== undefined) return skip(at, `duplicate operation ${verb} ${target} (same route as operations[${first}], which is served)`);
    seen.set(key, i);
    const authType = doc.text([...at, 'authType'])?.trim().toLowerCase();
    operations.push({
      path: routed.path,
      target,
      method: verb as HttpMethod,
      // APIM's authType values are None, Application, Application User, Application & Application User, Any.
      secured: authType ? authType !== 'none' : undefined,
      scopes: Array.isArray(scopes) ? scopes.map(String) : undefined,
      throttlingTier: doc.text([...at, 'throttlingPolicy']) || undefined,
      at,
    });
  });
  return { operations, skipped };
}
