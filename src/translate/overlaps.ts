import type { Api } from '../model/api';
import { parseTemplate, pathRegex } from './paths';

/**
 * APIs whose base paths nest on one virtual host (`/secret/1.0.0/admin` inside `/secret/1.0.0`)
 * and whose routes would take the same requests. Routes are ordered longest base path first, so
 * the inner API would silently take requests the outer API's own resources claim (its `{param}`
 * or `/*`). That is a conflict: the outer API keeps serving, the inner one is left out and
 * reported. The outer one wins because its templates claimed those paths in its own base path;
 * an API mounted inside another's cannot take them over. Versions of one API (same context) are
 * not in conflict: Choreo Connect puts default-version routes after every versioned one on purpose.
 */

/** A base path an API is served at (its versioned base path, and its context for a default version), with the paths above it. */
interface Mount {
  api: Api;
  path: string;
  ancestors: string[];
}

/**
 * Each API's mounts, kept while the Api object lives: the translator passes every API of the label
 * on each change, so this pass must cost a few lookups of strings already hashed per API, not new
 * strings.
 */
const mountCache = new WeakMap<Api, Mount[]>();

function mountsOf(api: Api): Mount[] {
  let mounts = mountCache.get(api);
  if (!mounts) {
    mounts = [api.basePath, ...(api.isDefaultVersion ? [api.context] : [])].map((p) => {
      const path = trimSlash(p);
      return { api, path, ancestors: ancestors(path) };
    });
    mountCache.set(api, mounts);
  }
  return mounts;
}

/** For each API that is left out: why, naming the API that keeps serving. */
export function nestedConflicts(apis: readonly Api[]): Map<Api, string> {
  const byVhost = new Map<string, Map<string, Mount[]>>();
  const all: Mount[][] = new Array(apis.length);
  for (let i = 0; i < apis.length; i++) {
    const api = apis[i]!;
    let byPath = byVhost.get(api.vhost);
    if (!byPath) byVhost.set(api.vhost, (byPath = new Map()));
    const mounts = (all[i] = mountsOf(api));
    for (const m of mounts) {
      const list = byPath.get(m.path);
      if (list) list.push(m);
      else byPath.set(m.path, [m]);
    }
  }
  // Only an API mounted below another mount can clash; outer ones settle first, so one that is
  // itself left out takes nothing from those inside it.
  const nested: Api[] = [];
  for (let i = 0; i < apis.length; i++) {
    const byPath = byVhost.get(apis[i]!.vhost)!;
    const api = apis[i]!;
    // A default version's context lies above its own base path: only other APIs count.
    if (all[i]!.some((m) => m.ancestors.some((p) => byPath.get(p)?.some((o) => o.api.context !== api.context)))) nested.push(api);
  }
  const depth = (api: Api): number => Math.min(...mountsOf(api).map((m) => m.path.length));
  nested.sort((a, b) => depth(a) - depth(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const out = new Map<Api, string>();
  for (const api of nested) {
    const byPath = byVhost.get(api.vhost)!;
    for (const inner of mountsOf(api)) {
      const why = inner.ancestors
        .flatMap((p) => byPath.get(p) ?? [])
        .filter((outer) => outer.api !== api && !out.has(outer.api) && outer.api.context !== api.context)
        .map((outer) => clash(outer, inner))
        .find((w) => w !== undefined);
      if (why) {
        out.set(api, why);
        break;
      }
    }
  }
  return out;
}

/** `/a/b/c` → `/a/b`, `/a`, `` (the root). */
function ancestors(path: string): string[] {
  const out: string[] = [];
  for (let i = path.lastIndexOf('/'); i >= 0; i = path.lastIndexOf('/', i - 1)) {
    out.push(path.slice(0, i));
    if (i === 0) break;
  }
  return out;
}

/** Why the inner mount takes requests the outer one claims, or undefined when no request matches both. */
function clash(outer: Mount, inner: Mount): string | undefined {
  for (const o of outer.api.resources) {
    const os = pattern(outer.path, o.path);
    for (const i of inner.api.resources) {
      if (!meet(os, pattern(inner.path, i.path))) continue;
      const a = outer.api;
      return `conflict: base path ${inner.path} lies inside API ${a.name} ${a.version} (${a.id}) at ${outer.path || '/'}, whose resource ${o.path} takes the requests of this API's ${i.path}; ${a.name} ${a.version} keeps serving them`;
    }
  }
  return undefined;
}

interface Pattern {
  segments: Array<{ kind: 'literal' | 'mixed' | 'param'; text: string }>;
  wildcard: boolean;
}

function pattern(mount: string, template: string): Pattern {
  const t = parseTemplate(template);
  const base = mount.split('/').filter((s) => s !== '').map((text) => ({ kind: 'literal' as const, text }));
  return { segments: [...base, ...t.segments], wildcard: t.wildcard };
}

/** Whether some request path matches both patterns. */
function meet(a: Pattern, b: Pattern): boolean {
  const n = Math.min(a.segments.length, b.segments.length);
  for (let k = 0; k < n; k++) if (!segmentsMeet(a.segments[k]!, b.segments[k]!)) return false;
  if (a.segments.length === b.segments.length) return true;
  // The longer one's extra segments must fall below the shorter one's `/*`.
  return a.segments.length < b.segments.length ? a.wildcard : b.wildcard;
}

type Seg = Pattern['segments'][number];

/** Whether some path segment matches both template segments. */
export function segmentsMeet(x: Seg, y: Seg): boolean {
  if (x.kind === 'param' || y.kind === 'param') return true;
  if (x.kind === 'literal' && y.kind === 'literal') return x.text === y.text;
  if (x.kind === 'literal' || y.kind === 'literal') {
    const [lit, mixed] = x.kind === 'literal' ? [x, y] : [y, x];
    return new RegExp(pathRegex('', `/${mixed.text}`)).test(`/${lit.text}`);
  }
  // Two templates with text around parameters: they meet unless their fixed ends disagree.
  return fixedEndsAgree(x.text, y.text);
}

/**
 * Whether the text before the first and after the last parameter of two segments can agree (a
 * literal segment is all fixed text): what any path segment matching both must start and end with.
 */
export function fixedEndsAgree(x: string, y: string): boolean {
  const [xp, xs] = fixedEnds(x);
  const [yp, ys] = fixedEnds(y);
  return (xp.startsWith(yp) || yp.startsWith(xp)) && (xs.endsWith(ys) || ys.endsWith(xs));
}

function fixedEnds(t: string): [string, string] {
  const open = t.indexOf('{');
  return open < 0 ? [t, t] : [t.slice(0, open), t.slice(t.lastIndexOf('}') + 1)];
}

function trimSlash(p: string): string {
  return p.endsWith('/') ? p.slice(0, -1) : p;
}
