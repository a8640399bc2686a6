import { connectionManagerOf, explainRequest, withoutPort, type Explanation, type RouteConfigurationJson } from '../envoy/routeMatch';
import { LISTENER, ROUTE } from '../envoy/typeUrls';
import type { Entry, SnapshotCache } from '../xds/cache';
import { resourceForOps } from './opsView';

/**
 * The admin service's Explain: which route a group's routers would pick for a request, worked out
 * where the snapshot is, so `ctl explain` receives an answer instead of the group's whole route
 * table (megabytes on a big label, slow to turn into JSON on both ends). Only the listeners and the
 * one RouteConfiguration the request meets are decoded, as ops may see them (opsView), and the
 * last one decoded is kept while its content holds and someone keeps asking.
 */

export interface ExplainQuery {
  group: string;
  method: string;
  /** An absolute http:// or https:// URL. */
  url: string;
  /** Names are case-insensitive; Host overrides the URL's authority. */
  headers: Record<string, string>;
  /** This RouteConfiguration instead of the one the URL's listener routes with. */
  routeConfig?: string;
}

export interface ExplainAnswer {
  /** "name :port" of the listener that led to the route configuration, when one did. */
  listener?: string;
  /** The Host the routes see when that listener strips the port from the authority. */
  host?: string;
  explanation: Explanation;
}

/** A request Explain cannot answer, said for the caller (the admin service sends it as the status details). */
export class ExplainError extends Error {
  constructor(
    readonly kind: 'not found' | 'invalid',
    message: string,
  ) {
    super(message);
  }
}

/** The router's listeners by scheme when the URL names no port (router.listenerPort / securedListenerPort). */
const LISTENER_PORT: Record<string, number> = { http: 9090, https: 9095 };
const HCM = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
/** How long a decoded route table is kept after its last use: a person explaining request after request. */
const KEEP_DECODED_MS = 60_000;

type Obj = Record<string, any>;

export class Explainer {
  /** The last RouteConfiguration decoded: the cache entry (immutable: same entry, same content) and its JSON. */
  private last?: { entry: Entry; json: Obj; expiry: NodeJS.Timeout };

  constructor(private readonly cache: SnapshotCache) {}

  explain(q: ExplainQuery): ExplainAnswer {
    if (!this.cache.hasGroup(q.group)) throw new ExplainError('not found', `explain: no node group "${q.group}"`);
    const scheme = /^(https?):\/\//i.exec(q.url)?.[1].toLowerCase();
    if (!scheme) throw new ExplainError('invalid', `explain: "${q.url}" is not an http:// or https:// URL`);
    const target = this.chooseRouteConfig(q, scheme);
    // The HCM may strip the port before routing; do it here so vhost domains see what Envoy sees.
    // Names as a caller other than ctl may write them (buf curl: "Host").
    const headers = Object.fromEntries(Object.entries(q.headers).map(([k, v]) => [k.toLowerCase(), v]));
    const authority = headers.host ?? authorityOf(q.url);
    const host = target.stripPort(authority) !== authority ? withoutPort(authority) : undefined;
    if (host !== undefined) headers.host = host;
    const explanation = explainRequest(target.config, { method: q.method, url: q.url, headers, connectionManager: target.hcm && connectionManagerOf(target.hcm) });
    return { listener: target.listener, host, explanation };
  }

  private forget(): void {
    if (this.last) clearTimeout(this.last.expiry);
    this.last = undefined;
  }

  /**
   * The RouteConfiguration a request to the URL meets: the one named, if given; otherwise the one
   * the HCM of the listener on the URL's port (or the scheme's usual router port) refers to, by
   * RDS name or inline; otherwise the group's only one.
   */
  private chooseRouteConfig(q: ExplainQuery, scheme: string): Target {
    const routes = this.cache.typeSet(q.group, ROUTE)?.entries ?? new Map<string, Entry>();
    const names = (): string => [...routes.keys()].sort().map((n) => `"${n}"`).join(', ') || 'none';
    const byName = (name: string): Obj | undefined => {
      const entry = routes.get(name);
      return entry && this.decoded(entry);
    };
    const listeners = [...(this.cache.typeSet(q.group, LISTENER)?.entries.values() ?? [])]
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((e) => resourceForOps({ type_url: LISTENER, value: e.value }) as Obj);
    const keepPort = (a: string): string => a;
    if (q.routeConfig) {
      const config = byName(q.routeConfig);
      if (!config) throw new ExplainError('not found', `explain: the label has no RouteConfiguration "${q.routeConfig}" (it has: ${names()})`);
      // Any listener routing with it says how paths are normalized on the way.
      const hcm = listeners.map(httpConnectionManager).find((h) => h?.rds?.route_config_name === q.routeConfig);
      return { config, hcm, stripPort: keepPort };
    }

    const explicitPort = /^[^:]+:\/\/[^/?#]*:(\d+)(?:[/?#]|$)/.exec(q.url)?.[1];
    const bound = listeners.filter((l) => l.address?.socket_address);
    const portOf = (l: Obj): number => Number(l.address.socket_address.port_value ?? 0);
    const listener = (explicitPort && bound.find((l) => portOf(l) === Number(explicitPort))) || bound.find((l) => portOf(l) === LISTENER_PORT[scheme]);
    const hcm = listener && httpConnectionManager(listener);
    if (listener && hcm) {
      const port = portOf(listener);
      const stripPort = (a: string): string =>
        hcm.strip_any_host_port === true || (hcm.strip_matching_host_port === true && a.endsWith(`:${port}`)) ? withoutPort(a) : a;
      const where = `${listener.name} :${port}`;
      if (hcm.route_config) return { config: hcm.route_config, listener: where, hcm, stripPort };
      const name = hcm.rds?.route_config_name;
      const config = name !== undefined ? byName(name) : undefined;
      if (!config) throw new ExplainError('not found', `explain: listener ${where} routes with "${name ?? '(no RDS)'}", which the label does not have (it has: ${names()})`);
      return { config, listener: where, hcm, stripPort };
    }
    if (routes.size === 1) return { config: this.decoded(routes.values().next().value!), stripPort: keepPort };
    if (routes.size === 0) throw new ExplainError('not found', 'explain: the label has no RouteConfiguration');
    throw new ExplainError('not found', `explain: no listener for ${scheme} port ${explicitPort ?? LISTENER_PORT[scheme]}; choose one of ${names()} with --route`);
  }

  /** The entry as ops may see it; decoded again only when the entry changed or has not been asked for a while. */
  private decoded(entry: Entry): Obj {
    if (this.last?.entry === entry) {
      this.last.expiry.refresh();
      return this.last.json;
    }
    this.forget();
    const json = resourceForOps({ type_url: ROUTE, value: entry.value }) as Obj;
    const expiry = setTimeout(() => this.forget(), KEEP_DECODED_MS);
    expiry.unref();
    this.last = { entry, json, expiry };
    return json;
  }
}

interface Target {
  config: RouteConfigurationJson;
  listener?: string;
  /** The connection manager in front of the routes: it normalizes the path before routing. */
  hcm?: Obj;
  stripPort: (authority: string) => string;
}

function authorityOf(url: string): string {
  return /^[a-z]+:\/\/([^/?#]*)/i.exec(url)?.[1].replace(/^.*@/, '') ?? '';
}

/** The first HCM in the listener's filter chains (the router's listeners have one chain each). */
function httpConnectionManager(listener: Obj): Obj | undefined {
  for (const chain of [...((listener.filter_chains ?? []) as Obj[]), ...(listener.default_filter_chain ? [listener.default_filter_chain] : [])]) {
    for (const f of (chain.filters ?? []) as Obj[]) {
      const cfg = f.typed_config as Obj | undefined;
      if (cfg && String(cfg['@type']).endsWith(`/${HCM}`)) return cfg;
    }
  }
  return undefined;
}
