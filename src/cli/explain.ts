import * as grpc from '@grpc/grpc-js';
import { parseArgs } from 'util';
import { ADMIN_SERVICE } from '../admin/adminService';
import { callError, CtlError } from './ctl';
import { printable, printableJson } from './terminal';
import { messageJson } from '../envoy/any';
import { serviceDefinition } from '../envoy/grpcService';
import { messageType } from '../envoy/protos';
import { connectionManagerOf, explainRequest, withoutPort, type Explanation, type RouteConfigurationJson } from '../envoy/routeMatch';
import { LISTENER, ROUTE } from '../envoy/typeUrls';
import { NOT_FOUND_ROUTE } from '../translate/names';

/**
 * `apim-connect ctl explain [--label L] [--route NAME] METHOD URL [-H 'Name: value']...`: which
 * route a label's router would pick for a request, from the RouteConfiguration the adapter serves
 * right now (GetConfigDump), evaluated by envoy/routeMatch the way Envoy does.
 */

export interface ExplainOptions {
  address: string;
  /** The node group (gateway label) whose resources are explained. */
  label: string;
  json: boolean;
  /** Use this RouteConfiguration instead of the one the listener for the URL refers to. */
  route?: string;
  /** Extra "Name: value" headers (what -H gives when main.ts parses the flags). */
  headers?: string[];
  /** TLS to the adapter (cli/tls); plain when absent. */
  credentials?: grpc.ChannelCredentials;
}

export const EXPLAIN_USAGE = "usage: apim-connect ctl explain [--label L] [--route NAME] METHOD URL [-H 'Name: value']...";

/** The router's listeners by scheme when the URL names no port (router.listenerPort / securedListenerPort). */
const LISTENER_PORT: Record<string, number> = { http: 9090, https: 9095 };
const HCM = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

type Obj = Record<string, any>;

/** Returns the exit code: 0 when an API route is chosen, 1 when none is ("no route", "no virtual host"). */
export async function runExplain(args: string[], opts: ExplainOptions, out: (line: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      header: { type: 'string', short: 'H', multiple: true },
      route: { type: 'string' },
      label: { type: 'string' },
    },
  });
  if (positionals.length !== 2) throw new CtlError(EXPLAIN_USAGE);
  const [method, url] = positionals;
  const scheme = /^(https?):\/\//i.exec(url)?.[1].toLowerCase();
  if (!scheme) throw new CtlError(`explain: "${url}" is not an http:// or https:// URL\n${EXPLAIN_USAGE}`);
  const headers = parseHeaders([...(opts.headers ?? []), ...(values.header ?? [])]);
  const label = values.label ?? opts.label;

  const dump = await configDump(opts.address, label, opts.credentials);
  const target = chooseRouteConfig(dump, url, scheme, values.route ?? opts.route);
  // The HCM may strip the port before routing; do it here so vhost domains see what Envoy sees.
  const authority = headers.host ?? authorityOf(url);
  if (target.stripPort(authority) !== authority) headers.host = withoutPort(authority);
  const result = explainRequest(target.config, { method, url, headers, connectionManager: target.hcm && connectionManagerOf(target.hcm) });

  // The label's catch-all routes answer 404 for what no API route takes: for people and scripts
  // that is "no route", whatever Envoy calls it.
  const apiRoute = result.matched && result.routeName !== NOT_FOUND_ROUTE;
  // Route names, paths and headers come from API definitions and the caller: printed safely, as ctl does.
  if (opts.json) out(printableJson({ label, listener: target.listener, request: { method, url, headers }, apiRoute, ...result }, 2));
  else {
    print(result, label, target.listener, (line) => out(printable(line)));
    if (result.matched && !apiRoute) out('no route (no API route matched; the not-found route answers 404 without asking the enforcer)');
  }
  return apiRoute ? 0 : 1;
}

/** "Name: value" → { name: value }; a pseudo-header keeps its leading colon (":authority: x"). */
function parseHeaders(lines: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':', line.startsWith(':') ? 1 : 0);
    if (colon <= 0) throw new CtlError(`explain: header "${line}" is not "Name: value"`);
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return headers;
}

function authorityOf(url: string): string {
  return /^[a-z]+:\/\/([^/?#]*)/i.exec(url)?.[1].replace(/^.*@/, '') ?? '';
}

/** LISTENER and ROUTE resources of one label, as plain JSON. */
async function configDump(address: string, label: string, credentials = grpc.credentials.createInsecure()): Promise<{ listeners: Obj[]; routes: Obj[] }> {
  const Client = grpc.makeGenericClientConstructor(serviceDefinition(ADMIN_SERVICE), 'admin');
  const client = new Client(address, credentials, { 'grpc.max_receive_message_length': -1 }) as unknown as Obj;
  try {
    const res = await new Promise<unknown>((resolve, reject) =>
      client.GetConfigDump({ group: label, type_urls: [LISTENER, ROUTE] }, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null, r: unknown) =>
        err ? reject(callError('GetConfigDump', err)) : resolve(r),
      ),
    );
    const dump = messageJson(messageType('apimconnect.admin.v1.ConfigDump'), res as object) as Obj;
    const of = (typeUrl: string): Obj[] => ((dump.types ?? []) as Obj[]).find((t) => t.type_url === typeUrl)?.resources?.map((r: Obj) => r.resource) ?? [];
    return { listeners: of(LISTENER), routes: of(ROUTE) };
  } finally {
    (client as unknown as grpc.Client).close();
  }
}

interface Target {
  config: RouteConfigurationJson;
  /** "name :port" of the listener that led to the config, when one did. */
  listener?: string;
  /** The connection manager in front of the routes: it normalizes the path before routing. */
  hcm?: Obj;
  stripPort: (authority: string) => string;
}

/**
 * The RouteConfiguration a request to `url` meets: --route if given; otherwise the one the HCM of
 * the listener on the URL's port (or the scheme's usual router port) refers to, by RDS name or
 * inline; otherwise the label's only one.
 */
function chooseRouteConfig(dump: { listeners: Obj[]; routes: Obj[] }, url: string, scheme: string, routeName: string | undefined): Target {
  const byName = (name: string): Obj | undefined => dump.routes.find((r) => r.name === name);
  const keepPort = (a: string): string => a;
  if (routeName) {
    const config = byName(routeName);
    if (!config) throw new Error(`explain: the label has no RouteConfiguration "${routeName}" (it has: ${names(dump.routes)})`);
    // Any listener routing with it says how paths are normalized on the way.
    const hcm = dump.listeners.map(httpConnectionManager).find((h) => h?.rds?.route_config_name === routeName);
    return { config, hcm, stripPort: keepPort };
  }

  const explicitPort = /^[^:]+:\/\/[^/?#]*:(\d+)(?:[/?#]|$)/.exec(url)?.[1];
  const listeners = dump.listeners.filter((l) => l.address?.socket_address);
  const portOf = (l: Obj): number => Number(l.address.socket_address.port_value ?? 0);
  const listener =
    (explicitPort && listeners.find((l) => portOf(l) === Number(explicitPort))) || listeners.find((l) => portOf(l) === LISTENER_PORT[scheme]);
  const hcm = listener && httpConnectionManager(listener);
  if (listener && hcm) {
    const port = portOf(listener);
    const stripPort = (a: string): string =>
      hcm.strip_any_host_port === true || (hcm.strip_matching_host_port === true && a.endsWith(`:${port}`)) ? withoutPort(a) : a;
    const where = `${listener.name} :${port}`;
    if (hcm.route_config) return { config: hcm.route_config, listener: where, hcm, stripPort };
    const name = hcm.rds?.route_config_name;
    const config = name !== undefined ? byName(name) : undefined;
    if (!config) throw new Error(`explain: listener ${where} routes with "${name ?? '(no RDS)'}", which the label does not have (it has: ${names(dump.routes)})`);
    return { config, listener: where, hcm, stripPort };
  }
  if (dump.routes.length === 1) return { config: dump.routes[0], stripPort: keepPort };
  if (dump.routes.length === 0) throw new Error('explain: the label has no RouteConfiguration');
  throw new Error(`explain: no listener for ${scheme} port ${explicitPort ?? LISTENER_PORT[scheme]}; choose one of ${names(dump.routes)} with --route`);
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

const names = (routes: Obj[]): string => routes.map((r) => `"${r.name}"`).join(', ') || 'none';

function print(e: Explanation, label: string, listener: string | undefined, out: (line: string) => void): void {
  const rows: Array<[string, string]> = [['label', label]];
  if (listener) rows.push(['listener', listener]);
  rows.push(['route config', e.routeConfig ?? '-'], ['authority', e.authority]);
  if (e.normalized) rows.push(['normalized', `${e.normalized.from} → ${e.normalized.to}${e.normalized.redirect ? ' (Envoy answers 307 to it first)' : ''}`]);
  if (!e.matched) {
    if (e.virtualHost) rows.push(['virtual host', e.virtualHost]);
    rows.push(['path', e.path]);
    for (const m of e.nearMisses) rows.push(['near miss', `#${m.routeIndex}${m.routeName ? ` ${m.routeName}` : ''}: the path matched, ${m.failed} did not`]);
  } else {
    rows.push(['virtual host', `${e.virtualHost} (domain ${e.domain})`], ['route', `#${e.routeIndex}${e.routeName ? ` ${e.routeName}` : ''}`], ['match', JSON.stringify(e.match)]);
    if (e.cluster) rows.push(['cluster', e.cluster]);
    if (e.clusterHeader) {
      const h = e.clusterHeader;
      const given = h.value === undefined ? 'missing' : `"${h.value}"`;
      const from = h.setByEnforcer ? (h.value === undefined ? 'set by the enforcer' : `${given}, as if set by the enforcer`) : given;
      rows.push(['cluster', `from header ${h.name} (${from})`]);
    }
    if (e.weightedClusters) rows.push(['cluster', e.weightedClusters.map((c) => `${c.name} (weight ${c.weight})`).join(', ')]);
    if (e.clusterSpecifierPlugin) rows.push(['cluster', `chosen by plugin ${e.clusterSpecifierPlugin}`]);
    if (e.directResponse) rows.push(['response', `${e.directResponse.status}${e.directResponse.body !== undefined ? ` ${e.directResponse.body}` : ''}`]);
    if (e.redirect) rows.push(['redirect', `${e.redirect.status} ${e.redirect.location}`]);
    if (e.action === 'route') rows.push(['path', e.path + (e.rewrite ? `  (${e.rewrite})` : '')]);
    if (e.hostRewrite) rows.push(['host', e.hostRewrite]);
    if (e.timeout) rows.push(['timeout', e.timeout + (e.idleTimeout ? ` (idle ${e.idleTimeout})` : '')]);
    if (e.retryPolicy) rows.push(['retries', `${JSON.stringify(e.retryPolicy.policy)} (from the ${e.retryPolicy.from})`]);
    const ex = e.enforcer;
    rows.push(['enforcer', ex.disabled ? `not asked (ext_authz disabled on the ${ex.from[ex.from.length - 1]})` : `asked${ex.from.length ? '' : ' (no per-route ext_authz config)'}`]);
    for (const [k, v] of Object.entries(ex.contextExtensions ?? {}).sort()) rows.push(['  context', `${k}=${v}`]);
    if (!ex.disabled) {
      for (const [ns, fields] of Object.entries(ex.routeMetadata ?? {}).sort()) {
        for (const [k, v] of Object.entries(fields as Record<string, unknown>).sort()) rows.push(['  route', `${ns}: ${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`]);
      }
    }
    if (ex.disableRequestBodyBuffering !== undefined) rows.push(['  body', ex.disableRequestBodyBuffering ? 'not buffered' : 'buffered']);
    if (e.cors) rows.push(['cors', `policy from the ${e.cors.from}`]);
  }
  for (const n of e.notes) rows.push(['note', n]);
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) out(`${k.padEnd(width)}  ${v}`);
  if (!e.matched) out(e.reason === 'no route' ? 'no route' : e.reason === 'rejected' ? 'rejected (400) before routing' : `no route (no virtual host for ${e.authority})`);
}
