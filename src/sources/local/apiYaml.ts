import { HTTP_METHODS } from '../../model/api';
import type { ApiType, CorsPolicy, EndpointSets, HttpMethod } from '../../model/api';
import { ProjectDoc, isRecord } from './document';
import { endpointConfigSets } from './endpoints';
import type { PathSeg } from './errors';
import { checkResourcePath, routeShape } from './openapi';
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
}

/** Fields left out of an api.yaml operation stay undefined, so the definition's values apply. */
export interface YamlOperation {
  path: string;
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
    operations: operations(doc, [...base, 'operations']),
  };
}

function operations(doc: ProjectDoc, path: PathSeg[]): YamlOperation[] {
  const list = doc.get(path);
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) return doc.fail(path, 'expected a list of operations');
  const seen = new Map<string, number>();
  return list.map((op, i) => {
    const at = [...path, i];
    if (!isRecord(op)) return doc.fail(at, 'expected an operation (a map with target and verb)');
    const target = doc.text([...at, 'target']);
    if (!target) return doc.fail(at, 'missing target');
    const problem = checkResourcePath(target);
    if (problem) doc.fail([...at, 'target'], problem);
    const verb = (doc.text([...at, 'verb']) ?? '').toUpperCase() as HttpMethod;
    if (!HTTP_METHODS.includes(verb)) doc.fail([...at, 'verb'], `unknown HTTP method ${JSON.stringify(op.verb ?? '')} (${HTTP_METHODS.join(', ')})`);
    const key = `${verb} ${routeShape(target)}`;
    const first = seen.get(key);
    if (first !== undefined) doc.fail(at, `duplicate operation ${verb} ${target} (same route as operations[${first}])`);
    seen.set(key, i);
    const scopes = op.scopes;
    if (scopes !== undefined && scopes !== null && !Array.isArray(scopes)) doc.fail([...at, 'scopes'], 'expected a list of scope names');
    const authType = doc.text([...at, 'authType'])?.trim().toLowerCase();
    return {
      path: target,
      method: verb,
      // APIM's authType values are None, Application, Application User, Application & Application User, Any.
      secured: authType ? authType !== 'none' : undefined,
      scopes: Array.isArray(scopes) ? scopes.map(String) : undefined,
      throttlingTier: doc.text([...at, 'throttlingPolicy']) || undefined,
      at,
    };
  });
}
