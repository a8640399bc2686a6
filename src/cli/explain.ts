import * as grpc from '@grpc/grpc-js';
import { parseArgs } from 'util';
import { ADMIN_SERVICE } from '../admin/adminService';
import { callError, CtlError } from './ctl';
import { printable, printableJson } from './terminal';
import { messageJson } from '../envoy/any';
import { serviceDefinition } from '../envoy/grpcService';
import { messageType } from '../envoy/protos';
import type { Explanation } from '../envoy/routeMatch';
import { NOT_FOUND_ROUTE } from '../translate/names';

/**
 * `apim-connect ctl explain [--label L] [--route NAME] METHOD URL [-H 'Name: value']...`: which
 * route a label's router would pick for a request. The adapter works it out on the
 * RouteConfiguration it serves right now (the admin service's Explain, envoy/routeMatch evaluating
 * it the way Envoy does); this prints the answer.
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
  if (!/^https?:\/\//i.test(url)) throw new CtlError(`explain: "${url}" is not an http:// or https:// URL\n${EXPLAIN_USAGE}`);
  const headers = parseHeaders([...(opts.headers ?? []), ...(values.header ?? [])]);
  const label = values.label ?? opts.label;

  const res = await explainCall(opts.address, { group: label, method, url, headers, route_config: values.route ?? opts.route ?? '' }, opts.credentials);
  const result = res.explanation as Explanation;
  const listener = res.listener || undefined;
  // The Host the routes saw (the listener strips the port): shown as the request's.
  if (res.host) headers.host = res.host;

  // The label's catch-all routes answer 404 for what no API route takes: for people and scripts
  // that is "no route", whatever Envoy calls it.
  const apiRoute = result.matched && result.routeName !== NOT_FOUND_ROUTE;
  // Route names, paths and headers come from API definitions and the caller: printed safely, as ctl does.
  if (opts.json) out(printableJson({ label, listener, request: { method, url, headers }, apiRoute, ...result }, 2));
  else {
    print(result, label, listener, (line) => out(printable(line)));
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

/** The adapter's answer; what it cannot explain (no such label or route configuration) is said plainly. */
async function explainCall(address: string, req: object, credentials = grpc.credentials.createInsecure()): Promise<Obj> {
  const Client = grpc.makeGenericClientConstructor(serviceDefinition(ADMIN_SERVICE), 'admin');
  const client = new Client(address, credentials) as unknown as Obj;
  try {
    const res = await new Promise<unknown>((resolve, reject) =>
      client.Explain(req, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null, r: unknown) => {
        if (!err) return resolve(r);
        const plain = err.code === grpc.status.NOT_FOUND || err.code === grpc.status.INVALID_ARGUMENT;
        reject(plain ? new CtlError(err.details) : callError('Explain', err));
      }),
    );
    return messageJson(messageType('apimconnect.admin.v1.ExplainResponse'), res as object) as Obj;
  } finally {
    (client as unknown as grpc.Client).close();
  }
}

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
    for (const [k, v] of Object.entries(e.directResponse?.headers ?? {})) rows.push(['  header', `${k}: ${v}`]);
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
