import { escapeRe2 } from '../envoy/re2';

/**
 * OpenAPI path templates as Envoy path matchers that match exactly what the template means:
 * literal parts matched literally (the dots of `1.0.0` too), `{param}` one or more characters
 * of one segment (never a `/`), an optional trailing slash, and a trailing `/*` as "this path
 * and anything below it". Regexes are anchored `^…$` with the literal prefix first, which RE2
 * checks outside the compiled program, so they stay far below Envoy's program-size limit.
 *
 * What a template leaves open (a parameter, the part below `/*`) never takes a `;`: servlet
 * containers and others strip `;params` from segments and resolve `..;` as `..`, so a backend
 * would serve another path than the one the router matched and the enforcer authorized.
 */

export type PathMatch = { safe_regex: { regex: string } };

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

/** The matcher for `basePath` + `template`. */
export function pathMatch(basePath: string, template: string): PathMatch {
  const { segments, wildcard } = parseTemplate(template);
  const base = trimSlash(basePath);
  let regex = `^${escapeRe2(base)}`;
  for (const s of segments) regex += `/${segmentRegex(s)}`;
  regex += wildcard ? `${BELOW}$` : '/?$';
  return { safe_regex: { regex } };
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
