import { createHash } from 'crypto';
import type { Config } from '../config/config';
import { encodeMessage, toMessage } from '../envoy/any';
import { lengthDelimited, lengthPrefix, type Chunks } from '../envoy/protoWire';
import { re2ProgramSize } from '../envoy/re2';
import { CLUSTER, LISTENER, ROUTE } from '../envoy/typeUrls';
import { validateMessage } from '../envoy/validate';
import { routeKey, type Api, type EndpointSets, type Resource, type SkippedRoute } from '../model/api';
import { clusterFor } from './clusters';
import { listeners } from './listeners';
import { CLUSTER_HEADER, clusterName, resourceKey, JSON_CONTENT_TYPE, NOT_FOUND_ROUTE, ROUTE_CONFIG_NAME, WITHOUT_ENFORCER } from './names';
import { nestedConflicts } from './overlaps';
import { apiRoutes, basePathOrder, corsConfig, type ClusterRef, type ResourceClusters } from './routes';

/**
 * GatewayState → Envoy resources for one label. Pure and deterministic: the same APIs and config
 * give the same bytes. Each API is translated, encoded and validated on its own (and the result
 * kept while the API object is unchanged), so changing one API among thousands re-translates
 * one API. A problem costs what it touches: a resource whose routes cannot be produced is left
 * out and reported while the API's other resources are served; an API is quarantined (left out,
 * reported) only when its config is invalid as a whole or nothing of it remains, and never takes
 * the route table down for every other API.
 */

export interface EncodedResource {
  name: string;
  /** The message, or (the route table) its chunks: each API's routes as encoded once. */
  value: Uint8Array | Chunks;
  /** A content hash computed along the way (the cache hashes the value otherwise). */
  version?: string;
}

/** An API and the paths and operations of it that are not served: the source's and the translator's. */
export interface ApiReport {
  apiId: string;
  name: string;
  version: string;
  source: string;
  skipped: SkippedRoute[];
}

/** An API left out whole: its config is invalid as a whole, or none of its routes remains. */
export interface Quarantined extends ApiReport {
  reasons: string[];
}

export interface LabelResources {
  /** By type URL: listeners, the route configuration and clusters. */
  resources: Record<string, EncodedResource[]>;
  quarantined: Quarantined[];
  /** APIs served without some of their paths or operations. */
  partial: ApiReport[];
}

const ROUTE_MSG = 'type.googleapis.com/envoy.config.route.v3.Route';
const VHOST_MSG = 'type.googleapis.com/envoy.config.route.v3.VirtualHost';

/** One API's router resources (translateApi); structured-cloneable, so a worker can make it. */
export interface ApiOutput {
  /** vhost:basePath (and vhost:context for a default version): no two APIs may share one. */
  routeKeys: string[];
  clusters: EncodedResource[];
  /** Routes at the versioned base path, each already framed as a VirtualHost.routes field. */
  routes: FramedRoutes;
  /** The same at the unversioned context (default-version APIs). */
  defaultRoutes: FramedRoutes;
  /** What makes the whole API unservable. */
  errors: string[];
  /** Api.skipped, then the resources left out here. */
  skipped: SkippedRoute[];
}

interface FramedRoutes {
  bytes: Uint8Array;
  digest: Uint8Array;
}

export class Translator {
  private readonly perApi = new WeakMap<Api, ApiOutput>();
  private readonly listenerResources: EncodedResource[];
  private readonly notFoundRoute: Buffer;
  /** The router's default CORS policy, set once per virtual host rather than on every route. */
  private readonly vhostFilters: Record<string, object>;

  constructor(private readonly config: Config) {
    this.listenerResources = listeners(config).map((l) => checked(LISTENER, l.name, l.body));
    this.vhostFilters = config.cors.enabled ? corsConfig(config.cors) : {};
    this.notFoundRoute = routeField(encodeMessage(ROUTE_MSG, {
      name: NOT_FOUND_ROUTE,
      match: { prefix: '/' },
      direct_response: { status: 404, body: { inline_string: NOT_FOUND_BODY } },
      // Unknown paths are answered without asking the enforcer.
      typed_per_filter_config: WITHOUT_ENFORCER,
      response_headers_to_add: [JSON_CONTENT_TYPE],
    }));
  }

  /** All resources of a label from the APIs deployed to it. */
  translate(apis: readonly Api[]): LabelResources {
    const quarantined: Quarantined[] = [];
    const partial: ApiReport[] = [];
    let accepted: Array<{ api: Api; out: ApiOutput }> = [];
    const taken = new Map<string, Api>();
    const clusterOwners = new Map<string, Api>();
    const report = (api: Api, out: ApiOutput): ApiReport => ({ apiId: api.id, name: api.name, version: api.version, source: api.source, skipped: out.skipped });
    for (const api of apis) {
      const out = this.apiOutput(api);
      const reasons = out.errors.slice();
      const keys = out.routeKeys;
      for (const key of keys) {
        const owner = taken.get(key);
        if (owner) reasons.push(`${key} is already served by API ${owner.name} ${owner.version} (${owner.id})`);
      }
      for (const c of out.clusters) {
        const owner = clusterOwners.get(c.name);
        if (owner) reasons.push(`cluster name ${c.name} is already used by API ${owner.name} ${owner.version} (${owner.id})`);
      }
      if (reasons.length) {
        quarantined.push({ ...report(api, out), reasons });
        continue;
      }
      for (const key of keys) taken.set(key, api);
      for (const c of out.clusters) clusterOwners.set(c.name, api);
      accepted.push({ api, out });
    }
    const conflicts = nestedConflicts(accepted.map((a) => a.api));
    for (const { api, out } of accepted) {
      const reason = conflicts.get(api);
      if (reason) quarantined.push({ ...report(api, out), reasons: [reason] });
      else if (out.skipped.length) partial.push(report(api, out));
    }
    if (conflicts.size) accepted = accepted.filter((a) => !conflicts.has(a.api));
    return {
      resources: {
        [LISTENER]: this.listenerResources,
        [ROUTE]: [this.routeConfiguration(accepted)],
        [CLUSTER]: accepted.flatMap(({ out }) => out.clusters),
      },
      quarantined,
      partial,
    };
  }

  /**
   * The RouteConfiguration, assembled from each API's encoded routes without re-encoding them:
   * one virtual host per vhost (versioned routes, then default-version ones, then a 404 for
   * anything else), and a catch-all virtual host for unknown hosts.
   */
  private routeConfiguration(accepted: Array<{ api: Api; out: ApiOutput }>): EncodedResource {
    const byVhost = new Map<string, Array<{ api: Api; out: ApiOutput }>>();
    for (const a of accepted) {
      let list = byVhost.get(a.api.vhost);
      if (!list) byVhost.set(a.api.vhost, (list = []));
      list.push(a);
    }
    // Left in chunks: a route table of 100,000 routes is never copied together here; the xDS
    // server copies it once per version into the response every router is sent.
    const parts: Uint8Array[] = [encodeMessage(ROUTE, { name: ROUTE_CONFIG_NAME, request_headers_to_remove: [CLUSTER_HEADER] })];
    // The version hashes each API's routes by the digest taken when they were encoded, not the
    // whole table again: the same content still gives the same version, in a fraction of the time.
    const version = createHash('sha256').update(parts[0]);
    const add = (chunk: Uint8Array, digest?: Uint8Array): void => {
      parts.push(chunk);
      version.update(digest ?? chunk);
    };
    const addVhost = (name: string, domains: string[], filters: Record<string, object>, routes: Array<{ bytes: Uint8Array; digest?: Uint8Array }>): void => {
      const head = encodeMessage(VHOST_MSG, { name, domains, typed_per_filter_config: filters });
      add(lengthPrefix(2, routes.reduce((n, r) => n + r.bytes.length, head.length)));
      add(head);
      for (const r of routes) add(r.bytes, r.digest);
    };
    const notFound = { bytes: this.notFoundRoute };
    for (const vhost of [...byVhost.keys()].sort()) {
      const list = byVhost.get(vhost)!;
      const versioned = [...list].sort((a, b) => basePathOrder(a.api, b.api));
      const defaults = list
        .filter((a) => a.api.isDefaultVersion)
        .sort((a, b) => basePathOrder({ basePath: a.api.context, id: a.api.id }, { basePath: b.api.context, id: b.api.id }));
      addVhost(vhost, [vhost, `${vhost}:*`], this.vhostFilters, [
        ...versioned.map((a) => a.out.routes),
        ...defaults.map((a) => a.out.defaultRoutes),
        notFound,
      ]);
    }
    addVhost('unknown-host', ['*'], {}, [notFound]);
    return { name: ROUTE_CONFIG_NAME, value: parts, version: version.digest('base64url').slice(0, 16) };
  }


  /** One API's translation made elsewhere (translateApi on a worker, with the same config). */
  adopt(api: Api, out: ApiOutput): void {
    this.perApi.set(api, out);
  }

  private apiOutput(api: Api): ApiOutput {
    let out = this.perApi.get(api);
    if (!out) {
      out = translateApi(api, this.config);
      this.perApi.set(api, out);
    }
    return out;
  }
}

/** One API's clusters and routes, encoded and validated: a pure function of the API and the config. */
export function translateApi(api: Api, config: Config): ApiOutput {
  const errors: string[] = [];
  const clusters: EncodedResource[] = [];
  const names = new Set<string>();
  /** Resources whose own endpoint sets give no usable cluster, and why. */
  const brokenClusters = new Map<Resource, string>();
  /** A cluster per endpoint set; a resource's own sets fall back to the API's per environment. */
  const refs = (sets: EndpointSets | undefined, fallback: ResourceClusters, resource?: Resource): ResourceClusters => {
    const out: ResourceClusters = {};
    for (const env of ['production', 'sandbox'] as const) {
      const set = sets?.[env];
      if (!set) {
        if (fallback[env]) out[env] = fallback[env];
        continue;
      }
      const ref: ClusterRef = { name: clusterName(api, env, resource && resourceKey(api, resource)), set };
      try {
        if (names.has(ref.name)) throw new Error(`cluster name ${ref.name} is produced twice`);
        names.add(ref.name);
        clusters.push(checked(CLUSTER, ref.name, clusterFor(ref.name, set, config)));
        out[env] = ref;
      } catch (err) {
        // The API's own endpoints serve every resource; a resource's own serve only it.
        if (resource) brokenClusters.set(resource, `its ${env} endpoints: ${(err as Error).message}`);
        else errors.push((err as Error).message);
      }
    }
    return out;
  };
  const apiClusters = refs(api.endpoints, {});
  const resourceClusters = new Map<Resource, ResourceClusters>();
  for (const r of api.resources) if (r.endpoints) resourceClusters.set(r, refs(r.endpoints, apiClusters, r));
  const clustersOf = (r: Resource): ResourceClusters => {
    const broken = brokenClusters.get(r);
    if (broken) throw new Error(broken);
    return resourceClusters.get(r) ?? apiClusters;
  };
  if (!api.endpoints.production && !api.endpoints.sandbox && api.resources.some((r) => !r.endpoints)) {
    errors.push('no production or sandbox endpoints');
  }

  /** Resources left out, and why: a resource is served with all of its routes or not at all. */
  const left = new Map<Resource, string>();
  const limit = config.router.maxRegexProgramSize;
  const encodeRoutes = (basePath: string, ...at: string[]): FramedRoutes => {
    const chunks: Buffer[] = [];
    const versioned = at.length === 0;
    for (const entry of apiRoutes(api, basePath, clustersOf, config, ...at)) {
      if (left.has(entry.resource)) continue; // not served at the versioned base path: nowhere
      try {
        if ('error' in entry) throw new Error(entry.error);
        chunks.push(...entry.routes.map((route) => encodeRoute(route as { name: string }, limit)));
      } catch (err) {
        left.set(entry.resource, versioned ? (err as Error).message : `at the unversioned context ${basePath}: ${(err as Error).message}`);
      }
    }
    return framed(chunks);
  };
  const routes = encodeRoutes(api.basePath);
  const defaultRoutes = api.isDefaultVersion ? encodeRoutes(api.context, 'default') : framed([]);
  const skipped = [...(api.skipped ?? []), ...[...left].flatMap(([r, reason]) => skippedResource(api, r, reason))];
  // Nothing left to serve of an API that had something: quarantined, not served empty.
  if (errors.length === 0 && routes.bytes.length === 0 && defaultRoutes.bytes.length === 0 && skipped.length > 0) {
    errors.push(`none of its routes can be served (${skipped.length} ${skipped.length === 1 ? 'path or operation' : 'paths and operations'} left out)`);
  }
  const routeKeys = [routeKey(api), ...(api.isDefaultVersion ? [routeKey({ vhost: api.vhost, basePath: api.context })] : [])];
  return { routeKeys, clusters, routes, defaultRoutes, errors, skipped };
}

/** One route encoded and checked, framed as a VirtualHost.routes field; throws why it cannot be served. */
function encodeRoute(route: { name: string; match?: object; route?: object }, limit: number): Buffer {
  for (const regex of regexesOf(route)) {
    const size = re2ProgramSize(regex);
    if (size > limit) throw new Error(`route ${route.name}: regex ${regex} compiles to an RE2 program of about ${size}, over the limit of ${limit} (router.maxRegexProgramSize)`);
  }
  return routeField(checked(ROUTE_MSG, route.name, route).value);
}

function framed(chunks: Buffer[]): FramedRoutes {
  const bytes = Buffer.concat(chunks);
  return { bytes, digest: createHash('sha256').update(bytes).digest() };
}

/** A resource left out as the source reports what it leaves out: the path, or each operation when the path is shared. */
function skippedResource(api: Api, r: Resource, reason: string): SkippedRoute[] {
  const shared = api.resources.some((o) => o !== r && o.path === r.path);
  if (!shared) return [{ path: r.path, reason }];
  return [...new Set(r.operations.map((o) => o.method))].sort().map((method) => ({ path: r.path, method, reason }));
}

/** Encodes a resource and checks it against the protoc-gen-validate rules in Envoy's protos. */
function checked(typeUrl: string, name: string, body: object): { name: string; value: Uint8Array } {
  let built: ReturnType<typeof toMessage>;
  try {
    built = toMessage(typeUrl, body);
  } catch (err) {
    throw new Error(`${name}: ${(err as Error).message}`);
  }
  // Validated as built, before encoding: no need to decode what was just encoded.
  const violations = validateMessage(built.type, built.message);
  if (violations.length) throw new Error(`${name}: ${violations.join('; ')}`);
  return { name, value: built.type.encode(built.message).finish() };
}

/** Every RE2 regex in a route: its path, its header matchers, its rewrite (match and action only). */
function regexesOf(route: { match?: object; route?: object }): string[] {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (!v || typeof v !== 'object') return;
    if (Array.isArray(v)) return v.forEach(walk);
    for (const [k, x] of Object.entries(v)) {
      if ((k === 'safe_regex' || k === 'pattern') && x && typeof x === 'object' && typeof (x as { regex?: unknown }).regex === 'string') {
        out.push((x as { regex: string }).regex);
      } else walk(x);
    }
  };
  walk(route.match);
  walk(route.route);
  return out;
}

/** A route framed as a VirtualHost.routes field (3), ready to be concatenated. */
function routeField(route: Uint8Array): Buffer {
  return lengthDelimited(3, route);
}


const NOT_FOUND_BODY = JSON.stringify({ code: '404', message: 'Not Found', description: 'The requested resource is not available.' });
