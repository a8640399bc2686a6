import { escapeRe2, re2ProgramSize } from '../envoy/re2';

/**
 * OpenAPI path templates as Envoy path matchers that match exactly what the template means:
 * literal parts matched literally (the dots of `1.0.0` too), `{param}` one or more characters
 * of one segment (never a `/`), an optional trailing slash, and a trailing `/*` as "this path
 * and anything below it".
 *
 * The matcher is a regex when RE2 finds it small enough: anchored `^…$` with the literal prefix
 * first, which RE2 checks outside the compiled program. Every literal character after the first
 * parameter does cost an instruction, so a long template (Azure's, Microsoft Graph's) goes over
 * Envoy's program-size limit; it is then matched with Envoy's URI-template matcher instead,
 * whose regex Envoy compiles without that limit (see uriTemplateMatchers).
 *
 * What a template leaves open (a parameter, the part below `/*`) never takes a `;`: servlet
 * containers and others strip `;params` from segments and resolve `..;` as `..`, so a backend
 * would serve another path than the one the router matched and the enforcer authorized.
 */

/** A path matcher in the place of RouteMatch's path specifier, with the header matchers it needs. */
export interface PathMatcher {
  /** `safe_regex` or `path_match_policy`: spread into the RouteMatch. */
  match: Record<string, unknown>;
  /** Header matchers the path match needs besides (a URI template's `;` guard). */
  headers: object[];
  /** Added to the route's name: none for the main matcher, `slash` or `bare` for a companion. */
  kinds: string[];
}

/** One segment's parameter; anything below a trailing `/*`. */
const PARAM = '[^/;]+';
const BELOW = '(?:/[^;]*)?';

interface Segment {
  /** literal: no parameter; param: exactly `{x}`; mixed: literal text around parameters. */
  kind: 'literal' | 'mixed' | 'param';
  text: string;
}

export interface ParsedTemplate {
  segments: Segment[];
  /** Ends in `/*`: matches the path itself and everything below it. */
  wildcard: boolean;
}

/** Splits a template (`/pets/{id}/*`) into segments; the query part (`?x={x}`) is ignored. */
export function parseTemplate(template: string): ParsedTemplate {
  let path = template.split('?')[0];
  const wildcard = path === '/*' || path.endsWith('/*');
  if (wildcard) path = path.slice(0, -2);
  const segments = path
    .split('/')
    .filter((s) => s !== '')
    .map((text): Segment => {
      if (!text.includes('{')) return { kind: 'literal', text };
      return /^\{[^{}/]+\}$/.test(text) ? { kind: 'param', text } : { kind: 'mixed', text };
    });
  return { segments, wildcard };
}

/**
 * The matchers of `basePath` + `template`, in route order: the regex when its RE2 program fits
 * `maxProgramSize`, else a URI template (and its companion). Throws, saying why, when neither
 * form can express the template: the route is then left out and reported.
 */
export function pathMatchers(basePath: string, template: string, maxProgramSize: number): PathMatcher[] {
  const regex = pathRegex(basePath, template);
  const size = re2ProgramSize(regex);
  if (size <= maxProgramSize) return [{ match: { safe_regex: { regex } }, headers: [], kinds: [] }];
  const over = `its regex compiles to an RE2 program of about ${size}, over the limit of ${maxProgramSize} (router.maxRegexProgramSize)`;
  try {
    return uriTemplateMatchers(basePath, template, maxProgramSize);
  } catch (err) {
    throw new Error(`${over}, and Envoy's URI-template matcher cannot express it: ${(err as Error).message}`);
  }
}

/** The exact regex for `basePath` + `template`. */
export function pathRegex(basePath: string, template: string): string {
  const { segments, wildcard } = parseTemplate(template);
  const base = trimSlash(basePath);
  let regex = `^${escapeRe2(base)}`;
  for (const s of segments) regex += `/${segmentRegex(s)}`;
  return regex + (wildcard ? `${BELOW}$` : '/?$');
}

function segmentRegex(s: Segment): string {
  if (s.kind === 'literal') return escapeRe2(s.text);
  if (s.kind === 'param') return PARAM;
  // Literal text around parameters, e.g. `{name}.json` or `v{major}.{minor}`.
  return s.text
    .split(/(\{[^{}]*\})/)
    .filter((p) => p !== '')
    .map((p) => (p.startsWith('{') ? PARAM : escapeRe2(p)))
    .join('');
}

/**
 * A path prefix to strip (as a regex) before prepending the backend's base path. Anchored and
 * literal, so it costs RE2 next to nothing. With no backend base path, the prefix takes the
 * following slash too and the substitution is `/`, so the bare base path becomes `/`.
 */
export function prefixRewrite(basePath: string, backendBasePath: string): { pattern: { regex: string }; substitution: string } {
  const base = trimSlash(basePath);
  const backend = trimSlash(backendBasePath);
  if (backend === '') return { pattern: { regex: `^${escapeRe2(base)}/?` }, substitution: '/' };
  return { pattern: { regex: `^${escapeRe2(base)}` }, substitution: backend };
}

// ── Envoy's URI-template matcher ───────────────────────────────────────────────────────────────

/*
 * Facts from Envoy's source (source/extensions/path/uri_template_lib/uri_template_internal.cc,
 * source/extensions/path/match/uri_template/uri_template_match.{h,cc}):
 * - a template is `/`-separated segments: literal text, `*` (one segment), `**` (the rest; last
 *   only) or `{name}` variables (at most 5, hence unnamed `*` here);
 * - literal text holds only `a-zA-Z0-9-._~%!$&'()+,;:@` (newer releases add `=`, none `*`), and
 *   shares a segment with a glob only after it, in the last segment (`*.json`);
 * - a trailing `/` is a literal of its own: `/a/*` does not match `/a/x/`, `/a/**` not `/a`;
 * - the path is matched without its query by a regex compiled with plain RE2 (no program-size
 *   check), so the cost of literal text does not matter;
 * - path_template is at most 256 characters (UriTemplateMatchConfig's PGV rule);
 * - globs take `;` (and, per release, `=` and `*`): a `:path` header matcher keeps `;` out.
 * A glob takes fewer characters than `[^/;]+` (only RFC 3986 pchar), so a parameter value with,
 * say, `"` or `|` in it matches the regex form but not this one.
 */

const URI_TEMPLATE_MATCHER = 'envoy.path.match.uri_template.uri_template_matcher';
const URI_TEMPLATE_MATCH_CONFIG = 'type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig';
/** Literal text every release takes, less `;` (which the guard refuses anywhere in the path). */
const TEMPLATE_LITERAL = /^[A-Za-z0-9\-._~%!$&'()+,:@]+$/;
const MAX_TEMPLATE_LENGTH = 256;
/** `:path` (query included) with no `;` before the query. */
const NO_SEMICOLON = '^[^;?]*(?:\\?.*)?$';

/**
 * `basePath` + `template` as URI templates, matching what the regex form matches: the template,
 * then right after it its companion for the optional trailing slash (or, below a `/*`, for the
 * path itself), each with a `:path` guard against `;`. Throws, saying why, what it cannot express.
 */
function uriTemplateMatchers(basePath: string, template: string, maxProgramSize: number): PathMatcher[] {
  const { segments, wildcard } = parseTemplate(template);
  const literal = (text: string): string => {
    if (!TEMPLATE_LITERAL.test(text)) {
      throw new Error(text === '' ? 'the base path has an empty segment' : `"${text}" holds a character Envoy's URI templates do not take as literal text (they take letters, digits and -._~%!$&'()+,:@)`);
    }
    return text;
  };
  const base = trimSlash(basePath);
  const parts = base === '' ? [] : base.slice(1).split('/').map(literal);
  let suffix: string | undefined;
  segments.forEach((s, i) => {
    if (s.kind === 'literal') parts.push(literal(s.text));
    else if (s.kind === 'param') parts.push('*');
    else {
      const m = /^\{[^{}]+\}([^{}]+)$/.exec(s.text);
      if (!m || i !== segments.length - 1 || wildcard) {
        throw new Error(`segment "${s.text}": Envoy's URI templates take text beside a parameter only after it, in the last segment (as in {name}.json)`);
      }
      suffix = literal(m[1]);
      parts.push(`*${suffix}`);
    }
  });
  if (parts.length === 0) throw new Error('the template has no segment');
  const path = `/${parts.join('/')}`;
  const forms: Array<[template: string, guard: string, suffix: string]> = wildcard
    ? [[`${path}/**`, NO_SEMICOLON, ''], [path, NO_SEMICOLON, 'bare']]
    : suffix === undefined
      ? [[path, NO_SEMICOLON, ''], [`${path}/`, NO_SEMICOLON, 'slash']]
      : // `*.json/` is no template: the companion takes any last segment and its guard checks the suffix.
        [[path, NO_SEMICOLON, ''], [`${path.slice(0, -suffix.length)}/`, `^[^;?]*[^/;?]${escapeRe2(suffix)}/(?:\\?.*)?$`, 'slash']];
  return forms.map(([pathTemplate, guard, name]) => {
    if (pathTemplate.length > MAX_TEMPLATE_LENGTH) throw new Error(`the URI template is ${pathTemplate.length} characters, over Envoy's ${MAX_TEMPLATE_LENGTH}`);
    const size = re2ProgramSize(guard);
    if (size > maxProgramSize) throw new Error(`its :path guard ${guard} compiles to an RE2 program of about ${size}, over the limit of ${maxProgramSize}`);
    return {
      match: { path_match_policy: { name: URI_TEMPLATE_MATCHER, typed_config: { '@type': URI_TEMPLATE_MATCH_CONFIG, path_template: pathTemplate } } },
      headers: [{ name: ':path', string_match: { safe_regex: { regex: guard } } }],
      kinds: name === '' ? [] : [name],
    };
  });
}

/**
 * Orders templates of one base path most specific first: per segment, literal before mixed
 * before parameter; a path before the wildcard that also covers it. Ties break on the text,
 * so the order is the same on every run.
 */
export function compareTemplates(a: string, b: string): number {
  return compareKeys(specificity(a), specificity(b)) || (a < b ? -1 : a > b ? 1 : 0);
}

/** Resources in that order, each template's key computed once. */
export function sortBySpecificity<T extends { path: string }>(items: readonly T[]): T[] {
  return items
    .map((item) => ({ item, key: specificity(item.path) }))
    .sort((x, y) => compareKeys(x.key, y.key) || (x.item.path < y.item.path ? -1 : x.item.path > y.item.path ? 1 : 0))
    .map((x) => x.item);
}

function compareKeys(ka: number[], kb: number[]): number {
  for (let i = 0; i < Math.max(ka.length, kb.length); i++) {
    const x = ka[i] ?? -1;
    const y = kb[i] ?? -1;
    if (x !== y) return x - y;
  }
  return 0;
}

const RANK = { literal: 0, mixed: 1, param: 2 } as const;

function specificity(template: string): number[] {
  const { segments, wildcard } = parseTemplate(template);
  const key: number[] = segments.map((s) => RANK[s.kind]);
  if (wildcard) key.push(3);
  return key;
}

function trimSlash(p: string): string {
  return p.endsWith('/') ? p.slice(0, -1) : p;
}
