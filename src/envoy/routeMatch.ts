/**
 * Which route Envoy picks for a request, worked out from a RouteConfiguration the way Envoy's
 * router does it (source/common/router/config_impl.cc): virtual host by :authority, then the first
 * route whose match holds, then that route's action, rewrites and per-filter configs.
 *
 * The input is proto3 JSON as unpackAny produces it (snake_case names, "@type" in nested Anys,
 * durations as "1.5s", wrapper types as their bare value). Pure: no I/O.
 */

import { normalizeRequestPath, type EscapedSlashesAction, type PathNormalization } from './pathNormalize';
import { re2ToJs } from './re2';

/** A RouteConfiguration (or any part of one) in proto3 JSON. */
export type RouteConfigurationJson = Record<string, any>;
type Obj = Record<string, any>;

export interface ExplainInput {
  method: string;
  /** An absolute URL ("http://host:port/path?query"); a bare path works when a Host header is given. */
  url: string;
  /** Request headers; names are case-insensitive. A Host header overrides the URL's authority, as in curl. */
  headers?: Record<string, string>;
  /** Dynamic metadata by filter name (what ext_authz or Lua set before a route-cache clear). */
  metadata?: Record<string, unknown>;
  /**
   * What the HTTP connection manager does before routing (from its config): the path as
   * normalized is what the routes see; without it the path is matched as typed.
   */
  connectionManager?: { pathNormalization: PathNormalization; rejectHeadersWithUnderscores: boolean };
}

/** The connection manager changed the path before routing (or answered it with a redirect). */
export interface Normalized {
  /** The path as sent, and as the routes see it. */
  from: string;
  to: string;
  /** Envoy first answers 307 with this path as Location; the route is the one the follow-up meets. */
  redirect: boolean;
}

/** Where a per-filter config or policy came from, least specific first. */
export type Level = 'route config' | 'virtual host' | 'route';

/** What the ext_authz filter (our enforcer) is asked for this route. */
export interface EnforcerCall {
  /** True when ext_authz is switched off for the route: the request goes upstream unchecked. */
  disabled: boolean;
  /** check_settings.context_extensions, merged from route config to vhost to route (route wins). */
  contextExtensions?: Record<string, string>;
  /** The route's filter_metadata; ext_authz passes the namespaces it is configured with (route_metadata_context_namespaces). */
  routeMetadata?: Record<string, unknown>;
  /** check_settings.disable_request_body_buffering of the most specific config. */
  disableRequestBodyBuffering?: boolean;
  /** The levels that had an ext_authz per-filter config; empty means the listener's defaults apply. */
  from: Level[];
}

export interface NoRoute {
  matched: false;
  /** `rejected`: the connection manager answers 400 before routing (see notes). */
  reason: 'no virtual host' | 'no route' | 'rejected';
  routeConfig?: string;
  authority: string;
  path: string;
  virtualHost?: string;
  /** Routes whose path matched but something else (method, headers, query...) did not. */
  nearMisses: Array<{ routeIndex: number; routeName?: string; failed: string }>;
  normalized?: Normalized;
  notes: string[];
}

export interface RouteChosen {
  matched: true;
  routeConfig?: string;
  authority: string;
  virtualHost: string;
  /** The vhost domain that matched the authority. */
  domain: string;
  /** 0-based position of the route in the vhost. */
  routeIndex: number;
  routeName?: string;
  /** The route's match, as configured. */
  match: Obj;
  action: 'route' | 'direct_response' | 'redirect' | 'other';
  cluster?: string;
  clusterHeader?: { name: string; value?: string; setByEnforcer: boolean };
  weightedClusters?: Array<{ name: string; weight: number }>;
  clusterSpecifierPlugin?: string;
  /** The route's own response headers (`response_headers_to_add`) come with it, e.g. a 405's `allow`. */
  directResponse?: { status: number; body?: string; headers?: Record<string, string> };
  redirect?: { status: number; location: string };
  /** The :path sent upstream (after rewrites; the query string kept). */
  path: string;
  /** How the path was rewritten, for people. */
  rewrite?: string;
  hostRewrite?: string;
  timeout?: string;
  idleTimeout?: string;
  retryPolicy?: { from: Level; policy: Obj };
  enforcer: EnforcerCall;
  cors?: { from: Level; policy: Obj };
  normalized?: Normalized;
  notes: string[];
}

export type Explanation = NoRoute | RouteChosen;

const EXT_AUTHZ_FILTER = 'envoy.filters.http.ext_authz';
const EXT_AUTHZ_PER_ROUTE = 'envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute';
const CORS_FILTER = 'envoy.filters.http.cors';
const CORS_POLICY = 'envoy.extensions.filters.http.cors.v3.CorsPolicy';
const FILTER_CONFIG = 'envoy.config.route.v3.FilterConfig';
const URI_TEMPLATE_MATCH = 'envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig';
const URI_TEMPLATE_REWRITE = 'envoy.extensions.path.rewrite.uri_template.v3.UriTemplateRewriteConfig';
/** RouteAction.timeout when unset. */
const DEFAULT_ROUTE_TIMEOUT = '15s';

/** The request as the router sees it: pseudo-headers plus lower-cased headers. */
interface Request {
  method: string;
  scheme: string;
  authority: string;
  /** :path, query string included. */
  path: string;
  /** :path without query string and fragment: what path matchers look at. */
  pathOnly: string;
  query: string;
  headers: Map<string, string>;
  params: Map<string, string>;
  metadata: Record<string, unknown>;
}

export function explainRequest(routeConfig: RouteConfigurationJson, input: ExplainInput): Explanation {
  const notes: string[] = [];
  const hcm = input.connectionManager;
  const rejected = (why: string): NoRoute => {
    const req = toRequest(input);
    notes.push(`the connection manager answers 400: ${why}`);
    return { matched: false, reason: 'rejected', routeConfig: routeConfig.name, authority: req.authority, path: req.path, nearMisses: [], notes };
  };
  if (hcm?.rejectHeadersWithUnderscores) {
    const bad = Object.keys(input.headers ?? {}).find((h) => h.includes('_'));
    if (bad) return rejected(`header ${bad} has an underscore and headers_with_underscores_action is REJECT_REQUEST`);
  }
  let normalized: Normalized | undefined;
  if (hcm) {
    const typed = toRequest(input).path;
    const n = normalizeRequestPath(typed, hcm.pathNormalization);
    if (!n.ok) return rejected(n.why);
    if (n.path !== typed) {
      normalized = { from: typed, to: n.path, redirect: n.redirect };
      input = { ...input, url: withPath(input.url, n.path) };
      notes.push(n.redirect ? `Envoy first answers 307 to ${n.path} (escaped slashes); the route below is the one the redirected request meets` : `the path is normalized to ${n.path} before routing`);
    }
  }
  const req = toRequest(input);
  const base = { routeConfig: routeConfig.name as string | undefined, authority: req.authority, ...(normalized ? { normalized } : {}) };

  const host = routeConfig.ignore_port_in_host_matching === true ? withoutPort(req.authority) : req.authority;
  const chosen = selectVirtualHost((routeConfig.virtual_hosts ?? []) as Obj[], host);
  if (!chosen) return { matched: false, reason: 'no virtual host', ...base, path: req.path, nearMisses: [], notes };
  const { vhost, domain } = chosen;
  if (vhost.matcher) notes.push('this virtual host uses a generic matcher tree, which is not evaluated; only its routes are');

  const nearMisses: NoRoute['nearMisses'] = [];
  const routes = (vhost.routes ?? []) as Obj[];
  for (let i = 0; i < routes.length; i++) {
    const result = matchRoute(routes[i], req, notes);
    if (result.ok) return { ...describe(routeConfig, vhost, domain, routes[i], i, result.path, req, notes), ...(normalized ? { normalized } : {}) };
    if (result.pathMatched) nearMisses.push({ routeIndex: i, routeName: routes[i].name, failed: result.why });
  }
  return { matched: false, reason: 'no route', ...base, path: req.path, virtualHost: vhost.name, nearMisses, notes };
}

/** What the HCM does to a request before routing, from its config (proto3 JSON; enums as names). */
export function connectionManagerOf(hcm: Obj): ExplainInput['connectionManager'] {
  return {
    pathNormalization: {
      normalizePath: wrapped(hcm.normalize_path, false),
      mergeSlashes: wrapped(hcm.merge_slashes, false),
      escapedSlashes: (hcm.path_with_escaped_slashes_action ?? 'IMPLEMENTATION_SPECIFIC_DEFAULT') as EscapedSlashesAction,
    },
    rejectHeadersWithUnderscores: hcm.common_http_protocol_options?.headers_with_underscores_action === 'REJECT_REQUEST',
  };
}

// ── the request ────────────────────────────────────────────────────────────────────────────────

/** The URL (absolute, or a bare path) with its path and query replaced. */
function withPath(url: string, path: string): string {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*)/.exec(url);
  return m ? m[1] + path : path;
}

function toRequest(input: ExplainInput): Request {
  const headers = new Map<string, string>();
  for (const [name, value] of Object.entries(input.headers ?? {})) headers.set(name.toLowerCase(), value);
  // Parsed by hand rather than with URL so that the path reaches the matchers exactly as typed
  // (URL would resolve "..", re-encode characters and drop default ports); Envoy sees it as sent.
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)([^#]*)/.exec(input.url);
  const scheme = m ? m[1].toLowerCase() : (headers.get(':scheme') ?? 'http');
  const urlAuthority = m ? m[2].replace(/^.*@/, '') : '';
  const path = (m ? m[3] : input.url.replace(/#.*$/, '')) || '/';
  // HTTP/1.1's Host becomes HTTP/2's :authority; a Host header given explicitly wins over the URL's.
  const authority = headers.get('host') ?? headers.get(':authority') ?? urlAuthority;
  headers.delete('host');
  const q = path.indexOf('?');
  const pathOnly = q < 0 ? path : path.slice(0, q);
  const query = q < 0 ? '' : path.slice(q + 1);
  headers.set(':method', input.method);
  headers.set(':scheme', scheme);
  headers.set(':authority', authority);
  headers.set(':path', path);
  return { method: input.method, scheme, authority, path, pathOnly, query, headers, params: parseQuery(query), metadata: input.metadata ?? {} };
}

/** First value of each query parameter, not percent-decoded (Envoy's route matcher does not decode). */
function parseQuery(query: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const part of query.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    if (!params.has(name)) params.set(name, eq < 0 ? '' : part.slice(eq + 1));
  }
  return params;
}

/** The authority without its port; "[::1]:80" keeps its brackets. */
export function withoutPort(authority: string): string {
  const colon = authority.lastIndexOf(':');
  if (colon < 0 || authority.indexOf(']', colon) >= 0) return authority;
  return /^\d+$/.test(authority.slice(colon + 1)) ? authority.slice(0, colon) : authority;
}

// ── virtual host ───────────────────────────────────────────────────────────────────────────────

/**
 * Envoy's documented domain search order: exact names, then suffix wildcards ("*.foo.com"), then
 * prefix wildcards ("foo.*"), then "*"; among wildcards the longest wins, and a wildcard never
 * matches an empty string. Host names compare case-insensitively; the port is part of the
 * authority unless something strips it, which is why Choreo Connect lists "host" and "host:*".
 */
function selectVirtualHost(vhosts: Obj[], authority: string): { vhost: Obj; domain: string } | undefined {
  const host = authority.toLowerCase();
  let suffix: { vhost: Obj; domain: string } | undefined;
  let prefix: { vhost: Obj; domain: string } | undefined;
  let any: { vhost: Obj; domain: string } | undefined;
  for (const vhost of vhosts) {
    for (const d of (vhost.domains ?? []) as string[]) {
      const domain = d.toLowerCase();
      if (domain === host && domain !== '*') return { vhost, domain: d };
      if (domain === '*') any ??= { vhost, domain: d };
      else if (domain.startsWith('*')) {
        const tail = domain.slice(1);
        if (host.length > tail.length && host.endsWith(tail) && (!suffix || domain.length > suffix.domain.length)) suffix = { vhost, domain: d };
      } else if (domain.endsWith('*')) {
        const head = domain.slice(0, -1);
        if (host.length > head.length && host.startsWith(head) && (!prefix || domain.length > prefix.domain.length)) prefix = { vhost, domain: d };
      }
    }
  }
  return suffix ?? prefix ?? any;
}

// ── route match ────────────────────────────────────────────────────────────────────────────────

/** How the path matched, for the rewrites that depend on it. */
interface PathMatch {
  /** The part of :path that prefix_rewrite replaces. */
  matchedPrefix: string;
  /** uri_template variables, by name. */
  variables?: Record<string, string>;
}

type RouteResult = { ok: true; path: PathMatch } | { ok: false; pathMatched: boolean; why: string };

function matchRoute(route: Obj, req: Request, notes: string[]): RouteResult {
  const m = (route.match ?? {}) as Obj;
  const path = matchPath(m, req, notes);
  if (!path) return { ok: false, pathMatched: false, why: 'path' };
  const fail = (why: string): RouteResult => ({ ok: false, pathMatched: true, why });

  for (const h of (m.headers ?? []) as Obj[]) {
    if (!headerMatches(h, req.headers)) return fail(`header ${h.name} (${describeHeaderMatcher(h)})`);
  }
  for (const q of (m.query_parameters ?? []) as Obj[]) {
    if (!queryParamMatches(q, req.params)) return fail(`query parameter ${q.name}`);
  }
  for (const d of (m.dynamic_metadata ?? []) as Obj[]) {
    if (!metadataMatches(d, req.metadata)) return fail(`dynamic metadata ${[d.filter, ...(d.path ?? []).map((p: Obj) => p.key)].join('.')}`);
  }
  if (m.grpc && !(req.headers.get('content-type') ?? '').startsWith('application/grpc')) return fail('grpc (content-type is not application/grpc)');
  if (m.tls_context && (wrapped(m.tls_context.presented, false) || wrapped(m.tls_context.validated, false))) {
    return fail('tls_context (the explained request presents no client certificate)');
  }
  if (m.filter_state?.length) return fail('filter_state (not known outside Envoy)');
  if (m.runtime_fraction) notes.push(`route ${route.name ?? ''} has a runtime_fraction; assumed to match`);
  return { ok: true, path };
}

function matchPath(m: Obj, req: Request, notes: string[]): PathMatch | undefined {
  const caseSensitive = wrapped(m.case_sensitive, true);
  const fold = (s: string): string => (caseSensitive ? s : s.toLowerCase());
  const p = fold(req.pathOnly);
  if (typeof m.prefix === 'string') {
    return p.startsWith(fold(m.prefix)) ? { matchedPrefix: req.pathOnly.slice(0, m.prefix.length) } : undefined;
  }
  if (typeof m.path === 'string') return p === fold(m.path) ? { matchedPrefix: req.pathOnly } : undefined;
  if (typeof m.path_separated_prefix === 'string') {
    const prefix = fold(m.path_separated_prefix);
    const ok = p === prefix || p.startsWith(`${prefix}/`);
    return ok ? { matchedPrefix: req.pathOnly.slice(0, prefix.length) } : undefined;
  }
  // case_sensitive does not apply to regexes: Envoy documents it as ignored for safe_regex.
  if (m.safe_regex) return fullMatch(m.safe_regex.regex, req.pathOnly) ? { matchedPrefix: req.pathOnly } : undefined;
  if (m.path_match_policy) {
    const cfg = m.path_match_policy.typed_config ?? {};
    if (typeUrlName(cfg['@type']) !== URI_TEMPLATE_MATCH) {
      notes.push(`path_match_policy ${m.path_match_policy.name ?? cfg['@type']} is not supported; treated as no match`);
      return undefined;
    }
    const variables = matchUriTemplate(cfg.path_template, req.pathOnly);
    return variables ? { matchedPrefix: req.pathOnly, variables } : undefined;
  }
  if (m.connect_matcher) return req.method === 'CONNECT' ? { matchedPrefix: '' } : undefined;
  return undefined;
}

/** Envoy's StringMatcher: exact/prefix/suffix/contains (ignore_case applies) or a fully matching regex. */
function stringMatches(sm: Obj, value: string): boolean {
  const fold = (s: string): string => (sm.ignore_case === true ? s.toLowerCase() : s);
  if (typeof sm.exact === 'string') return fold(value) === fold(sm.exact);
  if (typeof sm.prefix === 'string') return fold(value).startsWith(fold(sm.prefix));
  if (typeof sm.suffix === 'string') return fold(value).endsWith(fold(sm.suffix));
  if (typeof sm.contains === 'string') return fold(value).includes(fold(sm.contains));
  if (sm.safe_regex) return fullMatch(sm.safe_regex.regex, value);
  // An empty exact string is the only way a StringMatcher shows no specifier in proto3 JSON.
  return value === '';
}

/**
 * One HeaderMatcher. An absent header fails every kind of matcher except present_match, even an
 * inverted one, unless treat_missing_header_as_empty says to match it as "" (Envoy's HeaderUtility).
 */
function headerMatches(h: Obj, headers: Map<string, string>): boolean {
  const value = headers.get(String(h.name).toLowerCase());
  const invert = h.invert_match === true;
  const isPresentMatch = typeof h.present_match === 'boolean';
  if (value === undefined && h.treat_missing_header_as_empty !== true) {
    return isPresentMatch && h.present_match === invert;
  }
  const v = value ?? '';
  let match: boolean;
  if (h.string_match) match = stringMatches(h.string_match, v);
  // Legacy exact_match: an empty value accepts any value, as Envoy does.
  else if (typeof h.exact_match === 'string') match = h.exact_match === '' || v === h.exact_match;
  else if (h.safe_regex_match) match = fullMatch(h.safe_regex_match.regex, v);
  else if (typeof h.prefix_match === 'string') match = v.startsWith(h.prefix_match);
  else if (typeof h.suffix_match === 'string') match = v.endsWith(h.suffix_match);
  else if (typeof h.contains_match === 'string') match = v.includes(h.contains_match);
  else if (h.range_match) {
    const n = /^-?\d+$/.test(v) ? Number(v) : NaN;
    match = n >= Number(h.range_match.start ?? 0) && n < Number(h.range_match.end ?? 0);
  } else if (isPresentMatch) match = h.present_match === true;
  else match = true; // no specifier: the header only has to be there
  return match !== invert;
}

function describeHeaderMatcher(h: Obj): string {
  const not = h.invert_match ? 'not ' : '';
  const sm = h.string_match as Obj | undefined;
  if (sm) {
    const [kind, val] = Object.entries(sm).find(([k]) => k !== 'ignore_case') ?? ['exact', ''];
    const shown = kind === 'safe_regex' ? (val as Obj).regex : val;
    return `${not}${kind} ${JSON.stringify(shown)}${sm.ignore_case ? ' ignoring case' : ''}`;
  }
  if (h.safe_regex_match) return `${not}safe_regex ${JSON.stringify(h.safe_regex_match.regex)}`;
  for (const k of ['exact_match', 'prefix_match', 'suffix_match', 'contains_match']) {
    if (typeof h[k] === 'string') return `${not}${k.replace('_match', '')} ${JSON.stringify(h[k])}`;
  }
  if (h.range_match) return `${not}in [${h.range_match.start}, ${h.range_match.end})`;
  if (typeof h.present_match === 'boolean') return h.present_match !== Boolean(h.invert_match) ? 'present' : 'absent';
  return `${not}present`;
}

function queryParamMatches(q: Obj, params: Map<string, string>): boolean {
  const value = params.get(q.name);
  if (value === undefined) return false;
  return q.string_match ? stringMatches(q.string_match, value) : true; // present_match or no specifier
}

/** MetadataMatcher against the request's dynamic metadata; an absent value matches only when inverted. */
function metadataMatches(d: Obj, metadata: Record<string, unknown>): boolean {
  let value: unknown = metadata[d.filter];
  for (const seg of (d.path ?? []) as Obj[]) value = isObj(value) ? value[seg.key] : undefined;
  return valueMatches((d.value ?? {}) as Obj, value) !== (d.invert === true);
}

function valueMatches(vm: Obj, value: unknown): boolean {
  if (value === undefined) return false;
  if (vm.null_match) return value === null;
  if (typeof vm.present_match === 'boolean') return vm.present_match;
  if (vm.string_match) return typeof value === 'string' && stringMatches(vm.string_match, value);
  if (typeof vm.bool_match === 'boolean') return value === vm.bool_match;
  if (vm.double_match) {
    if (typeof value !== 'number') return false;
    const dm = vm.double_match as Obj;
    return dm.range ? value >= dm.range.start && value < dm.range.end : value === dm.exact;
  }
  if (vm.list_match) return Array.isArray(value) && value.some((x) => valueMatches(vm.list_match.one_of ?? {}, x));
  if (vm.or_match) return ((vm.or_match.value_matchers ?? []) as Obj[]).some((x) => valueMatches(x, value));
  return false;
}

// ── regexes (RE2 → JavaScript) ─────────────────────────────────────────────────────────────────

const compiled = new Map<string, RegExp>();

/** Envoy's safe_regex matchers must match the whole input, so the pattern is anchored at both ends. */
function fullMatch(re2: string, value: string): boolean {
  const key = `full:${re2}`;
  let re = compiled.get(key);
  if (!re) {
    const { source, flags } = re2ToJs(re2);
    re = new RegExp(`^(?:${source})$`, flags);
    compiled.set(key, re);
  }
  return re.test(value);
}

/** RE2::GlobalReplace: every non-overlapping match replaced; \0..\9 in the substitution are groups. */
function regexReplaceAll(re2: string, substitution: string, value: string): string {
  const { source, flags } = re2ToJs(re2);
  return value.replace(new RegExp(source, `${flags}g`), (...args: unknown[]) => {
    const groups = args.slice(0, args.findIndex((a) => typeof a === 'number')) as Array<string | undefined>;
    return substitution.replace(/\\(\d|\\)/g, (_, g: string) => (g === '\\' ? '\\' : (groups[Number(g)] ?? '')));
  });
}


// ── uri_template ───────────────────────────────────────────────────────────────────────────────

/**
 * What a uri_template glob (`*`, `**`, a variable) matches in one segment: Envoy's kLiteral
 * (source/extensions/path/uri_template_lib/uri_template_internal.cc), RFC 3986 pchar less `*` and
 * `=`, plus `=` (added to kLiteral in later releases: older ones lack it) and `*` (the
 * uri_template_match_on_asterisk change: Envoy 1.35, and the 1.31-1.34 patch releases such as
 * docker-compose's v1.31-latest; runtime guard envoy.reloadable_features.uri_template_match_on_asterisk).
 * An Envoy without those refuses a path whose glob part holds `=` or `*`.
 */
const SEGMENT_CHARS = "a-zA-Z0-9\\-._~%!$&'()+,;:@=*";
const ONE_SEGMENT = `[${SEGMENT_CHARS}]+`;
const ANY_SEGMENTS = `[${SEGMENT_CHARS}/]*`;

/**
 * The variables of `path` under an Envoy uri_template, or undefined when it does not match:
 * `*` is one segment, `**` zero or more segments (slashes included), `{name}`/`{name=*}` capture
 * one segment, `{name=**}` any number, `{name=a/*}` a literal-and-glob sub-pattern.
 */
function matchUriTemplate(template: string, path: string): Record<string, string> | undefined {
  let entry = templates.get(template);
  if (!entry) {
    const names: string[] = [];
    const glob = (t: string): string =>
      t
        .split(/(\*\*|\*)/)
        .map((part) => (part === '**' ? ANY_SEGMENTS : part === '*' ? ONE_SEGMENT : part.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&')))
        .join('');
    const source = template
      .split(/(\{[^}]*\})/)
      .map((part) => {
        if (!part.startsWith('{')) return glob(part);
        const [name, sub] = part.slice(1, -1).split('=');
        names.push(name);
        return `(${sub === undefined ? ONE_SEGMENT : glob(sub)})`;
      })
      .join('');
    entry = { re: new RegExp(`^${source}$`), names };
    templates.set(template, entry);
  }
  const m = entry.re.exec(path);
  return m ? Object.fromEntries(entry.names.map((n, k) => [n, m[k + 1]])) : undefined;
}

const templates = new Map<string, { re: RegExp; names: string[] }>();

// ── the chosen route ───────────────────────────────────────────────────────────────────────────

function describe(rc: Obj, vhost: Obj, domain: string, route: Obj, index: number, pm: PathMatch, req: Request, notes: string[]): RouteChosen {
  const levels: Array<[Level, Obj]> = [['route config', rc], ['virtual host', vhost], ['route', route]];
  const out: RouteChosen = {
    matched: true,
    routeConfig: rc.name,
    authority: req.authority,
    virtualHost: vhost.name,
    domain,
    routeIndex: index,
    routeName: route.name,
    match: route.match ?? {},
    action: 'other',
    path: req.path,
    enforcer: { ...enforcerCall(levels), ...(route.metadata?.filter_metadata ? { routeMetadata: route.metadata.filter_metadata } : {}) },
    notes,
  };
  const cors = mostSpecific(levels, (o) => perFilterConfig(o, CORS_FILTER, CORS_POLICY) ?? o.cors ?? o.route?.cors);
  if (cors) out.cors = cors;

  if (route.route) forward(route.route as Obj, vhost, pm, req, out);
  else if (route.direct_response) {
    out.action = 'direct_response';
    out.directResponse = { status: Number(route.direct_response.status ?? 0), body: dataSource(route.direct_response.body) };
    const added = (route.response_headers_to_add ?? []) as Array<{ header?: { key?: string; value?: string } }>;
    if (added.length) out.directResponse.headers = Object.fromEntries(added.map((h) => [String(h.header?.key ?? ''), String(h.header?.value ?? '')]));
  } else if (route.redirect) {
    out.action = 'redirect';
    out.redirect = redirect(route.redirect as Obj, pm, req);
  } else notes.push(`the route's action (${Object.keys(route).find((k) => /action/.test(k)) ?? 'none'}) is not explained`);
  return out;
}

function forward(ra: Obj, vhost: Obj, pm: PathMatch, req: Request, out: RouteChosen): void {
  out.action = 'route';
  if (ra.cluster) out.cluster = ra.cluster;
  else if (ra.cluster_header) {
    const value = req.headers.get(String(ra.cluster_header).toLowerCase());
    // With the enforcer in the path, it sets the header in its OK response and clears the route
    // cache; what the client sent is removed. Without a value, Envoy answers 404.
    out.clusterHeader = { name: ra.cluster_header, value, setByEnforcer: !out.enforcer.disabled };
    const ext = out.enforcer.contextExtensions ?? {};
    if (!out.enforcer.disabled && (ext.prodClusterName || ext.sandClusterName)) {
      out.notes.push(`the enforcer sets ${ra.cluster_header} to prodClusterName "${ext.prodClusterName ?? ''}" or sandClusterName "${ext.sandClusterName ?? ''}" by key type`);
    } else if (value === undefined) out.notes.push(`no ${ra.cluster_header} header: Envoy would answer 404`);
  } else if (ra.weighted_clusters) {
    out.weightedClusters = ((ra.weighted_clusters.clusters ?? []) as Obj[]).map((c) => ({ name: c.name, weight: wrapped(c.weight, 0) }));
  } else if (ra.cluster_specifier_plugin || ra.inline_cluster_specifier_plugin) {
    out.clusterSpecifierPlugin = ra.cluster_specifier_plugin ?? ra.inline_cluster_specifier_plugin?.extension?.name;
  }

  const rewritten = rewritePath(ra, pm, req);
  out.path = rewritten.path;
  if (rewritten.how) out.rewrite = rewritten.how;

  if (ra.host_rewrite_literal) out.hostRewrite = `literal ${ra.host_rewrite_literal}`;
  else if (wrapped(ra.auto_host_rewrite, false)) out.hostRewrite = 'auto (the upstream host name of the chosen endpoint)';
  else if (ra.host_rewrite_header) out.hostRewrite = `from header ${ra.host_rewrite_header}`;
  else if (ra.host_rewrite_path_regex) {
    const r = ra.host_rewrite_path_regex as Obj;
    out.hostRewrite = `path regex: ${regexReplaceAll(r.pattern?.regex ?? '', r.substitution ?? '', req.pathOnly)}`;
  }

  out.timeout = ra.timeout ?? DEFAULT_ROUTE_TIMEOUT;
  if (ra.idle_timeout) out.idleTimeout = ra.idle_timeout;
  // A route's retry policy replaces the vhost's entirely; nothing is inherited field by field.
  if (ra.retry_policy) out.retryPolicy = { from: 'route', policy: ra.retry_policy };
  else if (vhost.retry_policy) out.retryPolicy = { from: 'virtual host', policy: vhost.retry_policy };
}

/** The upstream :path: one of prefix_rewrite, regex_rewrite or a uri_template rewrite; the query string stays. */
function rewritePath(ra: Obj, pm: PathMatch, req: Request): { path: string; how?: string } {
  const query = req.path.slice(req.pathOnly.length);
  if (typeof ra.prefix_rewrite === 'string') {
    return { path: ra.prefix_rewrite + req.path.slice(pm.matchedPrefix.length), how: `prefix_rewrite "${pm.matchedPrefix}" → "${ra.prefix_rewrite}"` };
  }
  if (ra.regex_rewrite) {
    const { pattern, substitution = '' } = ra.regex_rewrite as Obj;
    const path = regexReplaceAll(pattern?.regex ?? '', substitution, req.pathOnly);
    return { path: path + query, how: `regex_rewrite ${pattern?.regex} → ${substitution}` };
  }
  if (ra.path_rewrite_policy) {
    const cfg = (ra.path_rewrite_policy.typed_config ?? {}) as Obj;
    if (typeUrlName(cfg['@type']) === URI_TEMPLATE_REWRITE && pm.variables) {
      const vars = pm.variables;
      const path = String(cfg.path_template_rewrite ?? '').replace(/\{([^}]+)\}/g, (_, n: string) => vars[n] ?? '');
      return { path: path + query, how: `uri_template rewrite ${cfg.path_template_rewrite}` };
    }
    return { path: req.path, how: `path_rewrite_policy ${ra.path_rewrite_policy.name ?? cfg['@type']} not evaluated` };
  }
  return { path: req.path };
}

const REDIRECT_STATUS: Record<string, number> = { MOVED_PERMANENTLY: 301, FOUND: 302, SEE_OTHER: 303, TEMPORARY_REDIRECT: 307, PERMANENT_REDIRECT: 308 };

function redirect(r: Obj, pm: PathMatch, req: Request): { status: number; location: string } {
  const scheme = r.https_redirect ? 'https' : (r.scheme_redirect ?? req.scheme);
  let host = r.host_redirect ?? req.authority;
  if (r.port_redirect) host = `${withoutPort(host)}:${r.port_redirect}`;
  let path = req.path;
  if (typeof r.path_redirect === 'string') path = r.path_redirect;
  else if (typeof r.prefix_rewrite === 'string') path = r.prefix_rewrite + req.path.slice(pm.matchedPrefix.length);
  else if (r.regex_rewrite) path = regexReplaceAll(r.regex_rewrite.pattern?.regex ?? '', r.regex_rewrite.substitution ?? '', req.pathOnly) + req.path.slice(req.pathOnly.length);
  if (r.strip_query) path = path.replace(/\?.*$/, '');
  return { status: REDIRECT_STATUS[r.response_code ?? 'MOVED_PERMANENTLY'] ?? 301, location: `${scheme}://${host}${path}` };
}

/**
 * ext_authz's per-route configs are merged from least to most specific: context_extensions add up
 * (a more specific key wins) and `disabled` is the most specific level's.
 */
function enforcerCall(levels: Array<[Level, Obj]>): EnforcerCall {
  const call: EnforcerCall = { disabled: false, from: [] };
  for (const [level, o] of levels) {
    const cfg = perFilterConfig(o, EXT_AUTHZ_FILTER, EXT_AUTHZ_PER_ROUTE);
    if (!cfg) continue;
    call.from.push(level);
    call.disabled = cfg.disabled === true;
    if (cfg.check_settings) {
      call.contextExtensions = { ...call.contextExtensions, ...(cfg.check_settings.context_extensions ?? {}) };
      call.disableRequestBodyBuffering = cfg.check_settings.disable_request_body_buffering === true;
    }
  }
  if (call.disabled) return { disabled: true, from: call.from };
  call.contextExtensions ??= {};
  return call;
}

/**
 * The per-filter config for a filter, found by its usual name or by the config's type (filters
 * may be named anything in the HCM). A FilterConfig wrapper with `disabled` switches the filter
 * off for that level, which for ext_authz reads the same as `disabled: true`.
 */
function perFilterConfig(o: Obj, filterName: string, typeName: string): Obj | undefined {
  const entries = Object.entries((o.typed_per_filter_config ?? {}) as Record<string, Obj>);
  const unwrap = (c: Obj): Obj => (typeUrlName(c['@type']) === FILTER_CONFIG ? (c.disabled ? { disabled: true } : (c.config ?? {})) : c);
  const found = entries.find(([name]) => name === filterName) ?? entries.find(([, c]) => typeUrlName(unwrap(c)['@type']) === typeName);
  return found && unwrap(found[1]);
}

/** The value from the most specific level that has one. */
function mostSpecific(levels: Array<[Level, Obj]>, pick: (o: Obj) => Obj | undefined): { from: Level; policy: Obj } | undefined {
  for (const [level, o] of [...levels].reverse()) {
    const policy = pick(o);
    if (policy) return { from: level, policy };
  }
  return undefined;
}

function dataSource(ds: Obj | undefined): string | undefined {
  if (!ds) return undefined;
  if (typeof ds.inline_string === 'string') return ds.inline_string;
  if (typeof ds.inline_bytes === 'string') return Buffer.from(ds.inline_bytes, 'base64').toString('utf8');
  if (ds.filename) return `<file ${ds.filename}>`;
  if (ds.environment_variable) return `<env ${ds.environment_variable}>`;
  return undefined;
}

// ── JSON helpers ───────────────────────────────────────────────────────────────────────────────

/**
 * A wrapper type (BoolValue, UInt32Value): a bare value as unpackAny gives it (proto3 JSON), or
 * the `{ value }` object form.
 */
function wrapped<T extends boolean | number>(v: unknown, unset: T): T {
  if (v === undefined || v === null) return unset;
  if (isObj(v)) return (v.value ?? (typeof unset === 'boolean' ? false : 0)) as T;
  return v as T;
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function typeUrlName(url: unknown): string {
  return typeof url === 'string' ? url.slice(url.lastIndexOf('/') + 1) : '';
}
