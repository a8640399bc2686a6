import { createHash } from 'crypto';
import type { Config } from '../config/config';
import { encodeMessage, toMessage } from '../envoy/any';
import { lengthDelimited, lengthPrefix, type Chunks } from '../envoy/protoWire';
import { re2ProgramSize, RE2_DEFAULT_MAX_PROGRAM_SIZE } from '../envoy/re2';
import { CLUSTER, LISTENER, ROUTE } from '../envoy/typeUrls';
import { validateMessage } from '../envoy/validate';
import { routeKey, type Api, type EndpointSets, type Resource } from '../model/api';
import { clusterFor } from './clusters';
import { listeners } from './listeners';
import { CLUSTER_HEADER, clusterName, resourceKey, FILTER_EXT_AUTHZ, JSON_CONTENT_TYPE, NOT_FOUND_ROUTE, ROUTE_CONFIG_NAME } from './names';
import { nestedConflicts } from './overlaps';
import { apiRoutes, basePathOrder, corsConfig, type ClusterRef, type ResourceClusters } from './routes';

/**
 * GatewayState → Envoy resources for one label. Pure and deterministic: the same APIs and config
 * give the same bytes. Each API is translated, encoded and validated on its own (and the result
 * kept while the API object is unchanged), so changing one API among thousands re-translates
 * one API, and an API that would produce invalid config is quarantined (left out, reported)
 * instead of taking the route table down for every other API.
 */

export interface EncodedResource {
  name: string;
  /** The message, or (the route table) its chunks: each API's routes as encoded once. */
  value: Uint8Array | Chunks;
  /** A content hash computed along the way (the cache hashes the value otherwise). */
  version?: string;
}

export interface Quarantined {
  apiId: string;
  name: string;
  version: string;
  source: string;
  reasons: string[];
}

export interface LabelResources {
  /** By type URL: listeners, the route configuration and clusters. */
  resources: Record<string, EncodedResource[]>;
  quarantined: Quarantined[];
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
  errors: string[];
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
      typed_per_filter_config: { [FILTER_EXT_AUTHZ]: { '@type': EXT_AUTHZ_PER_ROUTE, disabled: true } },
      response_headers_to_add: [JSON_CONTENT_TYPE],
    }));
  }

  /** All resources of a label from the APIs deployed to it. */
  translate(apis: readonly Api[]): LabelResources {
    const quarantined: Quarantined[] = [];
    let accepted: Array<{ api: Api; out: ApiOutput }> = [];
    const taken = new Map<string, Api>();
    const clusterOwners = new Map<string, Api>();
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
        quarantined.push({ apiId: api.id, name: api.name, version: api.version, source: api.source, reasons });
        continue;
      }
      for (const key of keys) taken.set(key, api);
      for (const c of out.clusters) clusterOwners.set(c.name, api);
      accepted.push({ api, out });
    }
    const conflicts = nestedConflicts(accepted.map((a) => a.api));
    for (const [api, reason] of conflicts) quarantined.push({ apiId: api.id, name: api.name, version: api.version, source: api.source, reasons: [reason] });
    if (conflicts.size) accepted = accepted.filter((a) => !conflicts.has(a.api));
    return {
      resources: {
        [LISTENER]: this.listenerResources,
        [ROUTE]: [this.routeConfiguration(accepted)],
        [CLUSTER]: accepted.flatMap(({ out }) => out.clusters),
      },
      quarantined,
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
        errors.push((err as Error).message);
      }
    }
    return out;
  };
  const apiClusters = refs(api.endpoints, {});
  const resourceClusters = new Map<Resource, ResourceClusters>();
  for (const r of api.resources) if (r.endpoints) resourceClusters.set(r, refs(r.endpoints, apiClusters, r));
  const clustersOf = (r: Resource): ResourceClusters => resourceClusters.get(r) ?? apiClusters;
  if (!api.endpoints.production && !api.endpoints.sandbox && api.resources.some((r) => !r.endpoints)) {
    errors.push('no production or sandbox endpoints');
  }

  const encodeRoutes = (routes: object[]): FramedRoutes => {
    const bytes = Buffer.concat(routes.flatMap((route) => {
      const name = (route as { name: string }).name;
      try {
        for (const regex of regexesOf(route)) {
          const size = re2ProgramSize(regex);
          if (size > RE2_DEFAULT_MAX_PROGRAM_SIZE) {
            throw new Error(`route ${name}: regex ${regex} compiles to an RE2 program of about ${size}, over Envoy's limit of ${RE2_DEFAULT_MAX_PROGRAM_SIZE}`);
          }
        }
        return [routeField(checked(ROUTE_MSG, name, route).value)];
      } catch (err) {
        errors.push((err as Error).message);
        return [];
      }
    }));
    return { bytes, digest: createHash('sha256').update(bytes).digest() };
  };
  const routes = encodeRoutes(apiRoutes(api, api.basePath, clustersOf, config));
  const defaultRoutes = encodeRoutes(api.isDefaultVersion ? apiRoutes(api, api.context, clustersOf, config, ':default') : []);
  const routeKeys = [routeKey(api), ...(api.isDefaultVersion ? [routeKey({ vhost: api.vhost, basePath: api.context })] : [])];
  return { routeKeys, clusters, routes, defaultRoutes, errors };
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


const EXT_AUTHZ_PER_ROUTE = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute';
const NOT_FOUND_BODY = JSON.stringify({ code: '404', message: 'Not Found', description: 'The requested resource is not available.' });
