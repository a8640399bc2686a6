/**
 * OpenAPI's path-matching precedence, written independently of src/translate so tests can check
 * the route table against it: concrete (non-templated) segments beat templated ones, compared left
 * to right; among equally specific templates the one that defines the method wins. Templates of
 * identical shape are ambiguous in OpenAPI (the source keeps the first). A trailing `/*` (WSO2's
 * "this path and everything below") is the least specific thing a segment can be.
 *
 * Templates are written as a served resource's path: what follows `#` or `?` is not part of the
 * path and a space stands for `%20`.
 */

export interface Template {
  path: string;
  /** Upper-case HTTP methods the template defines. */
  methods: readonly string[];
}

type Part = { literal: string } | { param: string } | { mixed: RegExp };

interface Shape {
  parts: Part[];
  /** Ends in `/*`. */
  below: boolean;
}

/** The request path a template describes, as a client would send it (before any parameter is filled). */
export function pathPart(template: string): string {
  return template.replace(/[#?].*$/s, '').replace(/ /g, '%20');
}

/** Shapes by template: each request compares against every sibling, so each is parsed once. */
const shapes = new Map<string, Shape>();

function shapeOf(template: string): Shape {
  let shape = shapes.get(template);
  if (!shape) shapes.set(template, (shape = parseShape(template)));
  return shape;
}

function parseShape(template: string): Shape {
  let p = pathPart(template);
  const below = p === '/*' || p.endsWith('/*');
  if (below) p = p.slice(0, -2);
  const parts = p
    .split('/')
    .filter((s) => s !== '')
    .map((s): Part => {
      if (!s.includes('{')) return { literal: s };
      if (/^\{[^{}]+\}$/.test(s)) return { param: s.slice(1, -1) };
      const re = s.split(/(\{[^{}]*\})/).map((x) => (x.startsWith('{') ? '[^/]+' : x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('');
      return { mixed: new RegExp(`^${re}$`) };
    });
  return { parts, below };
}

/** The segments of a request path, as templates are compared with them. */
const segmentsOf = (requestPath: string): string[] => requestPath.split('?')[0].split('/').filter((x) => x !== '');

/**
 * How specifically `template` matches the request path's segments, one rank per segment (0 a
 * literal, 1 literal text around a parameter, 2 a parameter, 3 covered by `/*`, plus a final 3 for
 * the `/*` itself); undefined when it does not match.
 */
function matchRanks(template: string, segs: readonly string[]): number[] | undefined {
  const { parts, below } = shapeOf(template);
  if (below ? segs.length < parts.length : segs.length !== parts.length) return undefined;
  const ranks: number[] = [];
  for (let i = 0; i < segs.length; i++) {
    const part = parts[i];
    if (!part) ranks.push(3);
    else if ('literal' in part) {
      if (part.literal !== segs[i]) return undefined;
      ranks.push(0);
    } else if ('mixed' in part) {
      if (!part.mixed.test(segs[i])) return undefined;
      ranks.push(1);
    } else ranks.push(2);
  }
  if (below) ranks.push(3);
  return ranks;
}

/** Negative when `a` is more specific: the first differing rank decides, and a shorter list (no `/*`) wins. */
function compareRanks(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? -1;
    const y = b[i] ?? -1;
    if (x !== y) return x - y;
  }
  return 0;
}

/** The templates matching the path, grouped most specific first (each group equally specific). */
function tiers(templates: readonly Template[], requestPath: string): Template[][] {
  const segs = segmentsOf(requestPath);
  const matching = templates
    .map((t) => ({ t, ranks: matchRanks(t.path, segs) }))
    .filter((m): m is { t: Template; ranks: number[] } => m.ranks !== undefined)
    .sort((a, b) => compareRanks(a.ranks, b.ranks));
  const out: Template[][] = [];
  let prev: number[] | undefined;
  for (const m of matching) {
    if (prev && compareRanks(prev, m.ranks) === 0) out[out.length - 1].push(m.t);
    else out.push([m.t]);
    prev = m.ranks;
  }
  return out;
}

export interface OpenApiChoice {
  /** The templates OpenAPI picks (more than one only when OpenAPI calls them ambiguous); empty: none. */
  templates: string[];
  /** The path matched a template that lacks the method: OpenAPI answers 405 with these in Allow. */
  methodNotAllowed?: string[];
}

/** What OpenAPI serves the request with: the most specific matching templates that define the method. */
export function openApiChoice(templates: readonly Template[], requestPath: string, method: string): OpenApiChoice {
  const [best] = tiers(templates, requestPath);
  if (!best) return { templates: [] };
  const withMethod = best.filter((t) => t.methods.includes(method));
  if (withMethod.length) return { templates: withMethod.map((t) => t.path) };
  return { templates: [], methodNotAllowed: [...new Set(best.flatMap((t) => t.methods))].sort() };
}

/**
 * Where a method only a less specific template defines goes when methods fall through (Choreo
 * Connect's behaviour, and the router's default): the most specific matching templates that define it.
 */
export function fallThroughChoice(templates: readonly Template[], requestPath: string, method: string): string[] {
  for (const tier of tiers(templates, requestPath)) {
    const withMethod = tier.filter((t) => t.methods.includes(method));
    if (withMethod.length) return withMethod.map((t) => t.path);
  }
  return [];
}

/** A method the most specific templates of a path lack and a less specific one defines. */
export interface ShadowedMethod {
  method: string;
  /** OpenAPI's Allow for the path (405). */
  allowed: string[];
  /** Where the method falls through to (fallThroughChoice). */
  fallsTo: string[];
}

/** Every shadowed method of a request path, from one pass over the templates. */
export function shadowedMethods(templates: readonly Template[], requestPath: string): ShadowedMethod[] {
  const [best, ...rest] = tiers(templates, requestPath);
  if (!best) return [];
  const allowed = [...new Set(best.flatMap((t) => t.methods))].sort();
  const out: ShadowedMethod[] = [];
  for (const tier of rest) {
    for (const method of [...new Set(tier.flatMap((t) => t.methods))].sort()) {
      if (allowed.includes(method) || out.some((s) => s.method === method)) continue;
      out.push({ method, allowed, fallsTo: tier.filter((t) => t.methods.includes(method)).map((t) => t.path) });
    }
  }
  return out;
}

/** Values tried for parameters, until one makes the template itself OpenAPI's choice. */
const SAMPLES = [(i: number) => `zq${i}`, (i: number) => `${i}7`, (i: number) => `Qz_${i}~`, (i: number) => `-${i}-`];

/**
 * A concrete request path (below the API's base path) that `template` matches: parameters filled
 * with values no sibling's literal text takes (so the template itself is OpenAPI's choice, when
 * any value can make it so), a trailing `/*` given two segments below it.
 */
export function concretePath(template: Template, siblings: readonly Template[]): string {
  const method = template.methods[0];
  let candidate = '';
  for (const sample of SAMPLES) {
    let i = 0;
    let p = pathPart(template.path).replace(/\{[^{}]*\}/g, () => sample(i++));
    if (p === '/*' || p.endsWith('/*')) p = `${p.slice(0, -2)}/${sample(i++)}/${sample(i++)}`;
    candidate = p;
    if (openApiChoice(siblings, candidate, method).templates.includes(template.path)) return candidate;
  }
  return candidate;
}
