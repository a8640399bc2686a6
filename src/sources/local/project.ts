import { createHash } from 'crypto';
import * as fs from 'fs';
import { posix } from 'path';
import type { Config } from '../../config/config';
import type { Api, EndpointSets, Operation, Resource, SkippedRoute } from '../../model/api';
import { ApiYaml, YamlOperation, parseApiYaml } from './apiYaml';
import { clientCertificates, deploymentEnvironments, endpointCertificates, withCertificates } from './deployment';
import { ProjectDoc, isRecord } from './document';
import { serverEndpoints, ServerFinding } from './endpoints';
import { PathSeg, ProjectError, formatPath } from './errors';
import { ProjectFiles, findFile, readBareDefinition, readProjectFolder, readProjectZip } from './files';
import { DefOperation, Definition, parseDefinition } from './openapi';
import type { DefinitionLimits } from './limits';
import { routePath, routeShape } from './pathKeys';
import { DEFAULT_SCHEMES } from './policies';
import { OpenFile, whereIn } from './refs';

/**
 * One API project → one Api. A project is an APIM/apictl export (api.yaml, Definitions/swagger.*,
 * deployment_environments.yaml, Endpoint-certificates/) as a folder or a zip, or a bare OpenAPI
 * file carrying Choreo Connect's x-wso2-* extensions.
 *
 * Precedence, most specific first:
 * - per operation: api.yaml operations[] (auth, throttling, scopes), then the definition;
 * - per API: the definition's x-wso2-* extensions, then api.yaml, then the definition's
 *   servers/host (endpoints only), then defaults;
 * - labels and vhost: deployment_environments.yaml, then x-wso2-vhost, then the defaults.
 *
 * A problem with one path or operation costs that route only: it is left out and listed in
 * Api.skipped. The project fails as a whole when an API-level field is invalid or nothing of
 * it can be served.
 */

export interface ProjectOptions {
  /** Vhost when the project names none (config router.defaultVhost). */
  defaultVhost: string;
  /** Labels when there is no deployment_environments.yaml (default ['Default']). */
  defaultLabels?: string[];
  /** Status codes retried when an endpoint asks for retries without naming any (config router.retryStatusCodes). */
  retryStatusCodes?: number[];
  /** Caps on each YAML/JSON file (config adapter.maxDefinition*). */
  limits?: DefinitionLimits;
}

export function projectOptions(config: Config): ProjectOptions {
  return {
    defaultVhost: config.router.defaultVhost,
    defaultLabels: ['Default'],
    retryStatusCodes: config.router.retryStatusCodes.map(Number).filter((n) => Number.isInteger(n)),
    limits: { maxBytes: config.adapter.maxDefinitionBytes, maxNodes: config.adapter.maxDefinitionNodes, maxDepth: config.adapter.maxDefinitionDepth },
  };
}

const API_FILES = ['api.yaml', 'api.yml', 'api.json'];
const DEFINITION_FILES = ['swagger.yaml', 'swagger.yml', 'swagger.json', 'openapi.yaml', 'openapi.yml', 'openapi.json'].map((f) => `definitions/${f}`);
const BASE_PATH_RE = /^\/[a-zA-Z0-9~/_.-]*$/;

/** Reads a project from disk: a folder, a .zip, or a bare .yaml/.yml/.json definition. */
export function readProject(fsPath: string, source = fsPath): ProjectFiles {
  if (fs.statSync(fsPath).isDirectory()) return readProjectFolder(fsPath, source);
  if (/\.zip$/i.test(fsPath)) return readProjectZip(fs.readFileSync(fsPath), source);
  return readBareDefinition(fsPath, source);
}

export function loadProject(fsPath: string, options: ProjectOptions, source = fsPath): Api {
  return parseProject(readProject(fsPath, source), options);
}

/**
 * Parses one project; throws ProjectError naming the file and line of the first problem that
 * keeps the API from being served. What is worth knowing but costs nothing (servers left
 * unused) is added to `notes`.
 */
export function parseProject(project: ProjectFiles, options: ProjectOptions, notes: ProjectError[] = []): Api {
  const retry = options.retryStatusCodes ?? [504];
  const parsed = new Map<string, ProjectDoc | ProjectError>();
  const doc = (file: string): ProjectDoc => {
    let d = parsed.get(file);
    if (!d) {
      try {
        d = ProjectDoc.parse(project.source, file, project.files.get(file)!, options.limits);
      } catch (err) {
        if (!(err instanceof ProjectError)) throw err;
        d = err;
      }
      parsed.set(file, d);
    }
    if (d instanceof ProjectError) throw d;
    return d;
  };
  // `$ref`s name files relative to the one they are in, and only the project's own.
  const open: OpenFile = (from, relative) => {
    let file: string;
    try {
      file = posix.normalize(posix.join(posix.dirname(from.file), decodeURI(relative)));
    } catch {
      return undefined;
    }
    return project.files.has(file) ? doc(file) : undefined;
  };

  let apiFile = findFile(project, API_FILES);
  let defFile = findFile(project, DEFINITION_FILES);
  // A definition may be called api.json (Twilio's is): what it holds decides, not its name.
  if (apiFile && !defFile && isDefinition(doc(apiFile).value)) [apiFile, defFile] = [undefined, apiFile];
  if (!apiFile && !defFile) {
    const only = [...project.files.keys()];
    if (only.length !== 1 || !/\.(ya?ml|json)$/i.test(only[0])) {
      throw new ProjectError(project.source, '', 'not an API project: no api.yaml, api.json or Definitions/swagger.yaml');
    }
    defFile = only[0];
  }
  const yaml = apiFile ? parseApiYaml(doc(apiFile), retry) : undefined;
  const def = defFile ? parseDefinition(doc(defFile), retry, open) : undefined;

  const envFile = findFile(project, ['deployment_environments.yaml']);
  const env = envFile ? deploymentEnvironments(doc(envFile)) : undefined;
  const certFile = findFile(project, ['endpoint-certificates/endpoint_certificates.yaml', 'endpoint-certificates/endpoint_certificates.yml', 'endpoint-certificates/endpoint_certificates.json']);
  const certs = certFile ? endpointCertificates(project, doc(certFile)) : new Map<string, string[]>();
  const clientFile = findFile(project, ['client-certificates/client_certificates.yaml', 'client-certificates/client_certificates.yml', 'client-certificates/client_certificates.json']);
  const clients = clientFile ? clientCertificates(project, doc(clientFile)) : [];

  const identity = yaml ? fromApiYaml(yaml, def) : fromDefinition(def!);
  const built = buildResources(yaml, def);
  const resources = built.resources.map((r) => (r.endpoints ? { ...r, endpoints: withCertificates(r.endpoints, certs) } : r));
  let endpoints = explicitEndpoints(yaml, def);
  let serverProblem: ServerFinding | undefined;
  if (!endpoints.production && !endpoints.sandbox && def) {
    // The definition's servers are a fallback only, read only then: they often list
    // documentation or mock hosts, and x-wso2-*-endpoints or api.yaml override them whole.
    const servers = serverEndpoints(def.doc, def.swagger2);
    notes.push(...servers.notes.map((n) => note(def.doc, n.at, n.reason)));
    if (servers.set) endpoints = { production: servers.set };
    serverProblem = servers.problem;
  }
  endpoints = withCertificates(endpoints, certs);
  if (!endpoints.production && !endpoints.sandbox && resources.some((r) => !r.endpoints)) {
    if (serverProblem) def!.doc.fail(serverProblem.at, `no endpoint: ${serverProblem.reason} (give x-wso2-production-endpoints, or a server URL with a host)`);
    const [d, at] = yaml ? [yaml.doc, [...yaml.base, 'endpointConfig']] : [def!.doc, []];
    d.fail(d.get(at) === undefined ? yaml?.base ?? [] : at, 'no endpoint: give production or sandbox endpoints (endpointConfig, x-wso2-production-endpoints or servers)');
  }

  const disabled = def?.disableSecurity === true;
  return {
    id: yaml?.id ?? derivedId(identity.name, identity.version),
    name: identity.name,
    version: identity.version,
    context: identity.context,
    basePath: identity.basePath,
    vhost: env?.vhost ?? def?.vhost ?? options.defaultVhost,
    type: yaml?.type ?? 'HTTP',
    organization: yaml?.organization ?? 'carbon.super',
    labels: env?.labels ?? options.defaultLabels ?? ['Default'],
    isDefaultVersion: yaml?.isDefaultVersion ?? false,
    lifecycleStatus: yaml?.lifecycleStatus ?? 'PUBLISHED',
    revision: yaml?.revision,
    endpoints,
    security: {
      // x-wso2-disable-security at the root turns the whole API off; an empty list says so.
      schemes: disabled ? [] : def?.schemes ?? yaml?.schemes ?? DEFAULT_SCHEMES,
      authorizationHeader: def?.authHeader ?? yaml?.authorizationHeader ?? 'Authorization',
      apiKeyHeader: def?.apiKeyHeader ?? 'apikey',
    },
    ...(clients.length ? { clientCertificates: clients } : {}),
    cors: def?.cors ?? yaml?.cors,
    throttlingTier: def?.throttlingTier ?? yaml?.throttlingTier,
    resources: disabled ? resources.map((r) => ({ ...r, operations: r.operations.map((o) => ({ ...o, secured: false })) })) : resources,
    ...(built.skipped.length ? { skipped: built.skipped } : {}),
    source: project.source,
  };
}

interface Identity {
  name: string;
  version: string;
  context: string;
  basePath: string;
}

function fromApiYaml(yaml: ApiYaml, def?: Definition): Identity {
  const contextAt = [...yaml.base, 'context'];
  let context = trimSlashes(yaml.context);
  let basePath: string;
  if (context.includes('{version}')) {
    // APIM's templated context: the version goes where the author put it.
    basePath = context.replace('{version}', yaml.version);
    context = context.replace(/\/?\{version\}/, '') || '/';
  } else if (context.endsWith(`/${yaml.version}`)) {
    // Some exports ship a context that already carries the version: do not append it twice.
    basePath = context;
    context = context.slice(0, -yaml.version.length - 1) || '/';
  } else {
    basePath = context === '/' ? `/${yaml.version}` : `${context}/${yaml.version}`;
  }
  if (!BASE_PATH_RE.test(basePath)) yaml.doc.fail(contextAt, `invalid context ${JSON.stringify(yaml.context)} (allowed: letters, digits and ~/_.-)`);
  if (def?.basePath !== undefined) basePath = checkedBasePath(def);
  return { name: yaml.name, version: yaml.version, context, basePath };
}

function fromDefinition(def: Definition): Identity {
  const name = def.title?.trim();
  const version = def.version?.trim();
  if (!name) def.doc.fail(['info'], 'missing info.title (the API name)');
  if (!version) def.doc.fail(['info'], 'missing info.version');
  if (def.basePath === undefined) def.doc.fail([], 'a definition without api.yaml needs x-wso2-basePath (e.g. /orders/v1)');
  const basePath = checkedBasePath(def);
  const context = basePath.endsWith(`/${version}`) ? basePath.slice(0, -version.length - 1) || '/' : basePath;
  return { name, version, context, basePath };
}

function checkedBasePath(def: Definition): string {
  const basePath = trimSlashes(def.basePath!);
  if (!BASE_PATH_RE.test(basePath)) def.doc.fail(['x-wso2-basePath'], `invalid base path ${JSON.stringify(def.basePath)} (allowed: letters, digits and ~/_.-)`);
  return basePath;
}

function trimSlashes(p: string): string {
  const s = `/${p.trim().replace(/^\/+/, '')}`;
  return s.length > 1 ? s.replace(/\/+$/, '') : s;
}

/** An OpenAPI or Swagger definition, not APIM's api.yaml (`type`, `version`, `data`). */
function isDefinition(value: unknown): boolean {
  return isRecord(value) && ('openapi' in value || 'swagger' in value);
}

/** The endpoints x-wso2-*-endpoints or api.yaml name. */
function explicitEndpoints(yaml?: ApiYaml, def?: Definition): EndpointSets {
  const production = def?.endpoints.production ?? yaml?.endpoints.production;
  const sandbox = def?.endpoints.sandbox ?? yaml?.endpoints.sandbox;
  return { ...(production && { production }), ...(sandbox && { sandbox }) };
}

/** A finding that does not stop the API, worded as doc.fail words errors. */
function note(doc: ProjectDoc, at: PathSeg[], reason: string): ProjectError {
  return new ProjectError(doc.source, doc.file, `${formatPath(at)}: ${reason}`, doc.lineOf(at));
}

/**
 * Resources come from the definition's paths when it has any (api.yaml operations refine them),
 * else from api.yaml operations. Operations of one path with different endpoints become
 * separate resources with the same path, since a resource has one set of endpoints. Of two
 * operations with the same route, the first in document order is served.
 */
function buildResources(yaml?: ApiYaml, def?: Definition): { resources: Resource[]; skipped: SkippedRoute[] } {
  const skipped = [...(def?.skipped ?? []), ...(yaml?.skipped ?? [])];
  const yamlOps = yaml?.operations ?? [];
  if (!def || (def.operations.length === 0 && def.skipped.length === 0)) {
    if (yamlOps.length === 0) {
      const d = yaml?.doc ?? def!.doc;
      const at = yaml ? yaml.base : [];
      if (skipped.length) noneServed(d, at, skipped);
      d.fail(at, 'no operations: define paths in the definition or operations in api.yaml');
    }
    return { resources: group(yamlOps.map((o) => ({ path: o.path, op: toOperation(o) }))), skipped };
  }
  const defOps = firstOfEachRoute(def.operations, skipped);
  if (defOps.length === 0) noneServed(def.doc, ['paths'], skipped);
  const byRoute = new Map(yamlOps.map((o) => [routeOf(o.method, o.path), o]));
  const used = new Set<YamlOperation>();
  const ops = defOps.map((d) => {
    const y = byRoute.get(routeOf(d.method, d.path));
    if (y) used.add(y);
    return { path: d.path, op: toOperation(y, d), endpoints: d.endpoints };
  });
  // An api.yaml operation of a route the definition left out is reported there already.
  const leftOut = new Set(def.skipped.flatMap((s) => {
    const routed = routePath(s.path);
    return 'path' in routed ? [routeOf(s.method ?? '*', routed.path)] : [];
  }));
  for (const o of yamlOps) {
    if (used.has(o) || leftOut.has(routeOf(o.method, o.path)) || leftOut.has(routeOf('*', o.path))) continue;
    skipped.push({ path: o.target, method: o.method, at: whereIn({ doc: yaml!.doc, at: o.at }), reason: `${o.method} ${o.target} is not in ${def.doc.file}` });
  }
  return { resources: group(ops), skipped };
}

const routeOf = (method: string, path: string): string => `${method} ${routeShape(path)}`;

/** The first operation of each route; the others are listed as skipped. */
function firstOfEachRoute(ops: DefOperation[], skipped: SkippedRoute[]): DefOperation[] {
  const first = new Map<string, DefOperation>();
  return ops.filter((o) => {
    const key = routeOf(o.method, o.path);
    const kept = first.get(key);
    if (!kept) {
      first.set(key, o);
      return true;
    }
    const reason =
      o.key === o.path
        ? `duplicate operation ${o.method} ${o.key} (same route as ${o.method} ${kept.key}, which is served)`
        : `${o.method} ${o.key} is routed as ${o.method} ${o.path}, the same route as ${o.method} ${kept.key}, which is served`;
    skipped.push({ path: o.key, method: o.method, at: whereIn(o.loc), reason });
    return false;
  });
}

function noneServed(doc: ProjectDoc, at: PathSeg[], skipped: SkippedRoute[]): never {
  const [s] = skipped;
  const what = `${s.method ? `${s.method} ` : ''}${s.path}`;
  return doc.fail(at, `no operation can be served: ${skipped.length} left out, the first ${what} (${s.at ? `${s.at}: ` : ''}${s.reason})`);
}

/** api.yaml's values where it gives them, else the definition's; secured unless something says otherwise. */
function toOperation(y: YamlOperation | undefined, d?: DefOperation): Operation {
  const tier = y?.throttlingTier ?? d?.throttlingTier;
  return {
    method: (y ?? d)!.method,
    secured: y?.secured ?? d?.secured ?? true,
    // APIM writes `scopes: []` on every operation; an empty list must not erase the definition's scopes.
    scopes: y?.scopes?.length ? y.scopes : d?.scopes ?? [],
    ...(tier && { throttlingTier: tier }),
  };
}

function group(ops: { path: string; op: Operation; endpoints?: EndpointSets }[]): Resource[] {
  const out: Resource[] = [];
  const index = new Map<string, Resource>();
  for (const { path: p, op, endpoints } of ops) {
    const key = `${p}\n${endpoints ? JSON.stringify(endpoints) : ''}`;
    let r = index.get(key);
    if (!r) {
      r = { path: p, operations: [], ...(endpoints && { endpoints }) };
      index.set(key, r);
      out.push(r);
    }
    r.operations.push(op);
  }
  return out;
}

/** A stable UUID-shaped id for a project without one (SHA-1 of name:version, RFC 4122 v5 bits). */
export function derivedId(name: string, version: string): string {
  const h = createHash('sha1').update(`${name}:${version}`).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
