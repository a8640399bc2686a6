import type { Resource } from '../model/api';
import { fixedEndsAgree, segmentsMeet } from './overlaps';
import { parseTemplate, type ParsedTemplate } from './paths';

/**
 * Where a method falls through. Routes match path and method, most specific template first, so a
 * request whose path matches a template that lacks its method goes on to a less specific template
 * that has it: `DELETE /gists/starred` (only GET there) reaches `DELETE /gists/{gist_id}`. This
 * finds the templates of one API where that can happen, so a 405 route is added after those
 * only, not after every template.
 */

/** One path shape (parameter names left out: `/a/{x}` and `/a/{y}` are one), with its resources' methods. */
interface Shape {
  template: ParsedTemplate;
  methods: Set<string>;
  last: number;
}

type Segment = ParsedTemplate['segments'][number];

/** A path-segment trie of the shapes; `ends` end at a node, `below` end there in `/*`. */
interface Node {
  literal: Map<string, Node>;
  /** Parameter and mixed segments, by their shape. */
  other: Map<string, { segment: Segment; node: Node }>;
  ends: Shape[];
  below: Shape[];
}

/**
 * The templates whose missing methods a later template of the same API would take: the index of
 * each one's last resource (its 405 route goes after it) → every method of the template, OPTIONS
 * included. `resources` in route order (most specific first); one path split into several
 * resources, and one shape under other parameter names (`/a/{x}`, `/a/{y}`), count as one template.
 */
export function fallThroughs(resources: readonly Resource[]): Map<number, string[]> {
  const byKey = new Map<string, Shape>();
  resources.forEach((r, i) => {
    const template = parseTemplate(r.path);
    const key = shapeKey(template);
    let shape = byKey.get(key);
    if (!shape) byKey.set(key, (shape = { template, methods: new Set(), last: i }));
    shape.last = i;
    // OPTIONS always reaches a template's routes (CORS preflight, `Allow`): it never falls through.
    for (const o of r.operations) shape.methods.add(o.method);
    shape.methods.add('OPTIONS');
  });
  const root = newNode();
  for (const shape of byKey.values()) insert(root, shape);
  // Segments with text around parameters meet by regex: each pair is tested once, and only when
  // the fixed text at both ends allows it (most pairs of a large API fail that at once).
  const met = new Map<string, boolean>();
  const meet = (x: Segment, y: Segment): boolean => {
    if (x.kind === 'param' || y.kind === 'param') return true;
    if (!fixedEndsAgree(x.text, y.text)) return false;
    const key = `${x.kind}:${x.text}\n${y.kind}:${y.text}`;
    let yes = met.get(key);
    if (yes === undefined) met.set(key, (yes = segmentsMeet(x, y)));
    return yes;
  };
  const out = new Map<number, string[]>();
  for (const shape of byKey.values()) {
    // A later shape takes what this one lacks: it has a method this one does not.
    const takes = (other: Shape): boolean => other.last > shape.last && [...other.methods].some((m) => !shape.methods.has(m));
    if (reaches(root, shape.template, 0, { meet, takes })) out.set(shape.last, [...shape.methods].sort());
  }
  return out;
}

function newNode(): Node {
  return { literal: new Map(), other: new Map(), ends: [], below: [] };
}

function shapeKey(t: ParsedTemplate): string {
  return t.segments.map(segmentKey).join('/') + (t.wildcard ? '/*' : '');
}

function segmentKey(s: Segment): string {
  return s.kind === 'literal' ? `=${s.text}` : s.text.replace(/\{[^{}]*\}/g, '{}');
}

function insert(root: Node, shape: Shape): void {
  let node = root;
  for (const segment of shape.template.segments) {
    if (segment.kind === 'literal') {
      let next = node.literal.get(segment.text);
      if (!next) node.literal.set(segment.text, (next = newNode()));
      node = next;
    } else {
      const key = segmentKey(segment);
      let next = node.other.get(key);
      if (!next) node.other.set(key, (next = { segment, node: newNode() }));
      node = next.node;
    }
  }
  (shape.template.wildcard ? node.below : node.ends).push(shape);
}

interface Search {
  meet: (x: Segment, y: Segment) => boolean;
  /** Whether a shape found takes what the searched one lacks. */
  takes: (s: Shape) => boolean;
}

/** Whether a shape that some request path of `t` also matches (from segment `k` on) takes what `t` lacks. */
function reaches(node: Node, t: ParsedTemplate, k: number, search: Search): boolean {
  const { meet, takes } = search;
  // `/x/*` takes `/x` and everything below it.
  if (node.below.some(takes)) return true;
  if (k === t.segments.length) return node.ends.some(takes) || (t.wildcard && anyBelow(node, takes));
  const segment = t.segments[k]!;
  const next = (child: Node): boolean => reaches(child, t, k + 1, search);
  if (segment.kind === 'literal') {
    const exact = node.literal.get(segment.text);
    if (exact && next(exact)) return true;
  } else {
    for (const [text, child] of node.literal) if (meet(segment, { kind: 'literal', text }) && next(child)) return true;
  }
  for (const { segment: other, node: child } of node.other.values()) if (meet(segment, other) && next(child)) return true;
  return false;
}

/** Whether any shape at or below `node` passes `test` (what a template ending in `/*` covers). */
function anyBelow(node: Node, test: (s: Shape) => boolean): boolean {
  if (node.ends.some(test) || node.below.some(test)) return true;
  for (const child of node.literal.values()) if (anyBelow(child, test)) return true;
  for (const { node: child } of node.other.values()) if (anyBelow(child, test)) return true;
  return false;
}
