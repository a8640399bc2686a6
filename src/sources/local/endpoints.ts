import { redactUrl } from '../../config/config';
import type { CircuitBreakers, EndpointSet, EndpointSets, EndpointUrl } from '../../model/api';
import { ProjectDoc, isRecord } from './document';
import type { PathSeg } from './errors';

/**
 * Endpoints from the three places a project can name them: api.yaml `endpointConfig`, the
 * `x-wso2-production-endpoints` / `x-wso2-sandbox-endpoints` extensions, and the definition's
 * own `servers` (OAS 3) or `host` + `basePath` + `schemes` (Swagger 2).
 */

export type Env = 'production' | 'sandbox';

/** Parses one backend URL; a string result is the reason it is not usable. */
export function parseEndpointUrl(raw: string): EndpointUrl | string {
  // Reasons end up in logs and the admin service's problems: a password or a query (which may hold a key) must not.
  const shown = JSON.stringify(redactUrl(raw.trim().replace(/([?#]).*$/s, '$1…')));
  const notUrl = `not a URL: ${shown}`;
  if (!/^https?:\/\/[^/]/i.test(raw.trim())) return notUrl;
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    return notUrl;
  }
  if (!u.hostname) return notUrl;
  // The router rewrites paths only; a query or fragment in a backend URL would be silently lost.
  if (u.search || u.hash) return `endpoint URLs may not carry a query or fragment: ${shown}`;
  if (u.username || u.password) return `endpoint URLs may not carry credentials: ${shown}`;
  const scheme = u.protocol === 'https:' ? 'https' : 'http';
  const basePath = u.pathname.replace(/\/+$/, '');
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = u.port ? Number(u.port) : scheme === 'https' ? 443 : 80;
  return { url: `${scheme}://${u.host}${basePath}`, scheme, host, port, basePath };
}

/** Identity of an endpoint for certificate matching: trailing slashes and default ports do not matter. */
export function endpointKey(e: EndpointUrl): string {
  return `${e.scheme}://${e.host}:${e.port}${e.basePath}`;
}

function url(doc: ProjectDoc, path: readonly PathSeg[]): EndpointUrl {
  const raw = doc.get(path);
  if (typeof raw !== 'string') return doc.fail(path, `expected a URL string, got ${JSON.stringify(raw)}`);
  const parsed = parseEndpointUrl(raw);
  if (typeof parsed === 'string') return doc.fail(path, parsed);
  return parsed;
}

/** The router sends every URL of a set to one cluster, which has one path rewrite: one base path. */
function makeSet(doc: ProjectDoc, path: readonly PathSeg[], type: EndpointSet['type'], urls: EndpointUrl[]): EndpointSet {
  const paths = new Set(urls.map((u) => u.basePath));
  if (paths.size > 1) doc.fail(path, `all endpoints of one set must share a base path, got ${[...paths].map((p) => JSON.stringify(p || '/')).join(', ')}`);
  return { type, urls };
}

function positiveInt(doc: ProjectDoc, path: readonly PathSeg[], allowZero = false): number | undefined {
  const raw = doc.get(path);
  if (raw === undefined || raw === null || raw === '') return undefined;
  const n = typeof raw === 'string' && /^\s*\d+\s*$/.test(raw) ? Number(raw) : raw;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || (!allowZero && n === 0)) {
    return doc.fail(path, `expected a ${allowZero ? 'non-negative' : 'positive'} integer, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function statusCodes(doc: ProjectDoc, path: readonly PathSeg[], fallback: number[]): number[] {
  const raw = doc.get(path);
  if (raw === undefined || raw === null) return fallback;
  if (!Array.isArray(raw)) return doc.fail(path, 'expected a list of HTTP status codes');
  return raw.map((_, i) => {
    const n = positiveInt(doc, [...path, i]);
    if (n === undefined || n < 100 || n > 599) return doc.fail([...path, i], `not an HTTP status code: ${JSON.stringify(raw[i])}`);
    return n;
  });
}

// ---------------------------------------------------------------------------------------------
// api.yaml endpointConfig

export function endpointConfigSets(doc: ProjectDoc, base: readonly PathSeg[], retryStatusCodes: number[]): EndpointSets {
  const cfg = doc.get(base);
  if (cfg === undefined || cfg === null) return {};
  if (!isRecord(cfg)) return doc.fail(base, 'expected a map');
  const kind = (doc.text([...base, 'endpoint_type']) ?? 'http').toLowerCase();
  // `address` is the SOAP flavour of `http`: the router treats both as plain HTTP backends.
  if (!['http', 'address', 'load_balance', 'failover'].includes(kind)) {
    doc.fail([...base, 'endpoint_type'], `unsupported endpoint type "${kind}" (http, load_balance or failover)`);
  }
  const sets: EndpointSets = {};
  for (const env of ['production', 'sandbox'] as const) {
    const entries = entryPaths(doc, [...base, `${env}_endpoints`]);
    if (entries.length === 0) continue;
    if (kind === 'failover') entries.push(...entryPaths(doc, [...base, `${env}_failovers`]));
    const set = makeSet(doc, [...base, `${env}_endpoints`], kind === 'failover' ? 'failover' : 'load_balance', entries.map((p) => url(doc, [...p, 'url'])));
    // APIM keeps advanced settings per URL; one cluster has one setting, so the first URL's wins.
    const withConfig = entries.find((p) => isRecord(doc.get([...p, 'config'])));
    if (withConfig) {
      const timeoutMs = positiveInt(doc, [...withConfig, 'config', 'actionDuration']);
      const retries = positiveInt(doc, [...withConfig, 'config', 'retryTimeOut'], true);
      if (timeoutMs !== undefined) set.timeoutMs = timeoutMs;
      if (retries) set.retry = { count: retries, statusCodes: retryStatusCodes };
    }
    const basicAuth = endpointSecurity(doc, [...base, 'endpoint_security', env]);
    if (basicAuth) set.basicAuth = basicAuth;
    sets[env] = set;
  }
  return sets;
}

/** `endpoint_security.<env>`: `{enabled, type: BASIC, username, password}`; only BASIC is supported. */
function endpointSecurity(doc: ProjectDoc, path: PathSeg[]): EndpointSet['basicAuth'] {
  const v = doc.get(path);
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v)) return doc.fail(path, 'expected a map with enabled, type, username and password');
  if (String(v.enabled ?? false).toLowerCase() !== 'true') return undefined;
  const type = (doc.text([...path, 'type']) ?? '').toUpperCase();
  // Without the credentials the backend asks for, every call would fail upstream: refuse the API instead.
  if (type !== 'BASIC') return doc.fail([...path, 'type'], `endpoint security type ${JSON.stringify(type || '(none)')} is not supported (BASIC only)`);
  const username = doc.text([...path, 'username']);
  if (!username) return doc.fail(path, 'BASIC endpoint security needs a username');
  if (username.includes(':')) return doc.fail([...path, 'username'], 'a Basic username cannot contain ":"');
  return { username, password: doc.text([...path, 'password']) ?? '' };
}

/** `production_endpoints` is an object or a list of objects; entries with a blank url count as absent. */
function entryPaths(doc: ProjectDoc, path: PathSeg[]): PathSeg[][] {
  const v = doc.get(path);
  if (v === undefined || v === null) return [];
  const paths: PathSeg[][] = Array.isArray(v) ? v.map((_, i) => [...path, i]) : [path];
  return paths.filter((p) => {
    const e = doc.get(p);
    if (!isRecord(e)) return doc.fail(p, 'expected a map with a url');
    return !(e.url === undefined || e.url === null || (typeof e.url === 'string' && e.url.trim() === ''));
  });
}

// ---------------------------------------------------------------------------------------------
// x-wso2-production-endpoints / x-wso2-sandbox-endpoints

const XWSO2_TYPES: Record<string, EndpointSet['type']> = {
  loadbalance: 'load_balance',
  load_balance: 'load_balance',
  http: 'load_balance',
  address: 'load_balance',
  failover: 'failover',
};

export function xwso2EndpointSet(doc: ProjectDoc, path: readonly PathSeg[], retryStatusCodes: number[]): EndpointSet | undefined {
  let at = [...path];
  let v = doc.get(at);
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') {
    at = resolveReference(doc, at, v);
    v = doc.get(at);
  }
  if (!isRecord(v)) return doc.fail(at, 'expected a map with urls, or a "#/x-wso2-endpoints/<name>" reference');
  const urlsPath = [...at, 'urls'];
  const rawUrls = doc.get(urlsPath);
  const urlPaths: PathSeg[][] =
    typeof rawUrls === 'string' ? [urlsPath] : Array.isArray(rawUrls) ? rawUrls.map((_, i) => [...urlsPath, i]) : [];
  if (urlPaths.length === 0) return doc.fail(rawUrls === undefined ? at : urlsPath, 'expected urls: a non-empty list of endpoint URLs');
  const typeName = (doc.text([...at, 'type']) ?? 'loadbalance').toLowerCase();
  const type = XWSO2_TYPES[typeName];
  if (!type) return doc.fail([...at, 'type'], `unknown endpoint type "${typeName}" (loadbalance or failover)`);
  const set = makeSet(doc, urlsPath, type, urlPaths.map((p) => url(doc, p)));

  const advance = [...at, 'advanceEndpointConfig'];
  const timeoutMs = positiveInt(doc, [...advance, 'timeoutInMillis']);
  if (timeoutMs !== undefined) set.timeoutMs = timeoutMs;
  // Choreo Connect's docs show retryConfig inside advanceEndpointConfig; older samples put it beside urls.
  const retryPath = isRecord(doc.get([...advance, 'retryConfig'])) ? [...advance, 'retryConfig'] : [...at, 'retryConfig'];
  if (isRecord(doc.get(retryPath))) {
    const count = positiveInt(doc, [...retryPath, 'count'], true) ?? 0;
    if (count > 0) set.retry = { count, statusCodes: statusCodes(doc, [...retryPath, 'statusCodes'], retryStatusCodes) };
  }
  const cbPath = isRecord(doc.get([...advance, 'circuitBreakers'])) ? [...advance, 'circuitBreakers'] : [...at, 'circuitBreakers'];
  if (isRecord(doc.get(cbPath))) {
    const cb: CircuitBreakers = {};
    for (const key of ['maxConnections', 'maxPendingRequests', 'maxRequests', 'maxRetries', 'maxConnectionPools'] as const) {
      const n = positiveInt(doc, [...cbPath, key], true);
      // Zero means "not set" here, as in Choreo Connect: Envoy's defaults apply.
      if (n) cb[key] = n;
    }
    if (Object.keys(cb).length) set.circuitBreakers = cb;
  }
  return set;
}

/** `"#/x-wso2-endpoints/myBackend"`: x-wso2-endpoints is a list of one-key maps (or one map). */
function resolveReference(doc: ProjectDoc, at: PathSeg[], ref: string): PathSeg[] {
  const m = /^#\/x-wso2-endpoints\/(.+)$/.exec(ref.trim());
  if (!m) return doc.fail(at, `expected a map with urls, or a "#/x-wso2-endpoints/<name>" reference, got ${JSON.stringify(ref)}`);
  const named = doc.get(['x-wso2-endpoints']);
  if (Array.isArray(named)) {
    const i = named.findIndex((e) => isRecord(e) && m[1] in e);
    if (i >= 0) return ['x-wso2-endpoints', i, m[1]];
  } else if (isRecord(named) && m[1] in named) return ['x-wso2-endpoints', m[1]];
  return doc.fail(at, `no endpoint named "${m[1]}" in x-wso2-endpoints`);
}

// ---------------------------------------------------------------------------------------------
// OpenAPI servers / Swagger host

/** A finding about `servers` / `host`, where it is written. */
export interface ServerFinding {
  at: PathSeg[];
  reason: string;
}

export interface ServerEndpoints {
  /** The backend the definition names, if any is usable. */
  set?: EndpointSet;
  /** Why there is none, when the definition names one. */
  problem?: ServerFinding;
  /** What was left out: other servers, unusable ones. */
  notes: ServerFinding[];
}

/**
 * The backend as OpenAPI defines it: Swagger 2's `host` + `basePath` + `schemes`, or OAS 3's
 * first server whose URL, with its variables' defaults filled in, is absolute. The servers of a
 * definition are alternatives (production, staging, a mock), so the first is the backend and
 * the others are noted, not load-balanced.
 */
export function serverEndpoints(doc: ProjectDoc, swagger2: boolean): ServerEndpoints {
  if (swagger2) {
    const host = doc.text(['host']);
    if (!host) return { notes: [] };
    const schemes = doc.get(['schemes']);
    const list = Array.isArray(schemes) ? schemes.map((s) => String(s).toLowerCase()) : [];
    // One backend per API, not one per scheme: prefer TLS when the definition offers it.
    const scheme = list.includes('https') ? 'https' : list[0] ?? 'http';
    const basePath = doc.text(['basePath']) ?? '';
    const parsed = parseEndpointUrl(`${scheme}://${host}${basePath.startsWith('/') || !basePath ? basePath : `/${basePath}`}`);
    if (typeof parsed === 'string') return { problem: { at: ['host'], reason: parsed }, notes: [] };
    return { set: { type: 'load_balance', urls: [parsed] }, notes: [] };
  }
  const servers = doc.get(['servers']);
  if (!Array.isArray(servers)) return { notes: [] };
  const usable: EndpointUrl[] = [];
  const unusable: ServerFinding[] = [];
  servers.forEach((_, i) => {
    const url = serverUrl(doc, i);
    if (typeof url === 'string') unusable.push({ at: ['servers', i, 'url'], reason: url });
    else usable.push(url);
  });
  if (usable.length === 0) return { problem: unusable[0], notes: [] };
  const first = usable[0];
  // The same server offered over TLS too (`http://x/v1`, `https://x/v1`): TLS, as for Swagger 2.
  const chosen = usable.find((u) => u.scheme === 'https' && u.host === first.host && u.basePath === first.basePath) ?? first;
  const notes = unusable.map((u) => ({ at: u.at, reason: `not used: ${u.reason}` }));
  const others = [...new Set(usable.map((u) => u.url))].filter((u) => u !== chosen.url);
  if (others.length) notes.push({ at: ['servers'], reason: `the backend is ${chosen.url} (the first server${chosen === first ? '' : ', over TLS'}); not used: ${others.join(', ')}` });
  return { set: { type: 'load_balance', urls: [chosen] }, notes };
}

/** servers[i].url with its variables' defaults, or why it names no backend. */
function serverUrl(doc: ProjectDoc, i: number): EndpointUrl | string {
  const server = doc.get(['servers', i]);
  if (!isRecord(server) || typeof server.url !== 'string') return 'expected a server with a url';
  const variables = isRecord(server.variables) ? server.variables : {};
  let missing: string | undefined;
  const raw = server.url.replace(/\{([^}]*)\}/g, (_, name: string) => {
    const v = variables[name];
    const d = isRecord(v) ? v.default : undefined;
    if (typeof d === 'string' || typeof d === 'number') return String(d);
    missing ??= name;
    return '';
  });
  if (missing !== undefined) return `server variable {${missing}} has no default`;
  // OpenAPI reads a relative URL against where the definition is served from: a file has no such place.
  if (raw.startsWith('/') || raw.startsWith('.') || raw === '') return `${JSON.stringify(raw)} is relative, so it names no backend host`;
  return parseEndpointUrl(raw);
}
