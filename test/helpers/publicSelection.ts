import * as fs from 'fs';
import { definitionBytes, definitionOperations, directoryDefinitions, swagger2Definitions, type PublicDefinition } from './publicDefinitions';

/**
 * A selection of public definitions for tests, chosen by property from the whole directory (no
 * definition named by hand): the largest, the ones with odd path keys, `$ref` path items, server
 * variables, duplicate shapes, long literal text after a parameter, operations or parameters the
 * router cannot take, OpenAPI 3.1, GitHub's, an evenly spread sample of the rest, and
 * @readme/oas-examples' Swagger 2.0. Definitions over the default per-file size cap (adapter.maxDefinitionBytes) are
 * left to tools/public-definitions.ts: they are refused by setting, whatever the router can do.
 */

/** What the selection looks at in one definition. */
export interface Traits {
  def: PublicDefinition;
  bytes: number;
  /** `2.0`, `3.0`, `3.1`. */
  version: string;
  /** info.x-providerName, else the first part of the id: no provider takes more than its share of a group. */
  provider: string;
  paths: number;
  /** Path keys with a `#`, with a `?`, with a space. */
  hashKeys: number;
  queryKeys: number;
  spaceKeys: number;
  refPathItems: number;
  serverVariables: number;
  /** Path keys whose shape (parameter names and a trailing slash aside) an earlier key already has. */
  duplicateShapes: number;
  /** Longest literal text after the first parameter of a key. */
  longestTail: number;
  /** Keys with a parameter that is not `{name}`, and operations OpenAPI has but the router may not (trace). */
  oddOperations: number;
}

export function traitsOf(def: PublicDefinition, bytes: Buffer): Traits {
  const doc = JSON.parse(bytes.toString('utf8').replace(/^\uFEFF/, '')) as Record<string, any>;
  const keys = Object.keys(doc.paths ?? {}).filter((k) => !k.startsWith('x-'));
  const shapes = new Set<string>();
  let duplicateShapes = 0;
  let longestTail = 0;
  let oddOperations = definitionOperations(doc).filter((op) => op.method === 'TRACE').length;
  for (const key of keys) {
    const shape = key.replace(/\{[^}]*\}/g, '{}').replace(/(.)\/+$/, '$1');
    if (shapes.has(shape)) duplicateShapes++;
    shapes.add(shape);
    const first = key.indexOf('{');
    if (first >= 0) longestTail = Math.max(longestTail, key.slice(first).replace(/\{[^}]*\}/g, '').length);
    if (/[{}]/.test(key.replace(/\{[A-Za-z0-9_.-]+\}/g, ''))) oddOperations++;
  }
  const servers: Array<Record<string, any>> = Array.isArray(doc.servers) ? doc.servers : [];
  return {
    def,
    bytes: bytes.length,
    version: doc.swagger === '2.0' ? '2.0' : String(doc.openapi ?? '').slice(0, 3),
    provider: String(doc.info?.['x-providerName'] ?? def.id.split('/')[1]),
    paths: keys.length,
    hashKeys: keys.filter((k) => k.includes('#')).length,
    queryKeys: keys.filter((k) => k.includes('?')).length,
    spaceKeys: keys.filter((k) => k.includes(' ')).length,
    refPathItems: keys.filter((k) => typeof doc.paths[k]?.$ref === 'string').length,
    serverVariables: servers.reduce((n, s) => n + Object.keys(s?.variables ?? {}).length, 0),
    duplicateShapes,
    longestTail,
    oddOperations,
  };
}

/** A group of the selection: why its members are in it. */
export interface Group {
  name: string;
  members: Traits[];
}

/**
 * The `n` definitions ranking highest by `score` (ties by id), at most `perProvider` from one
 * provider so one vendor's many near-identical files do not fill a group.
 */
function top(all: Traits[], score: (t: Traits) => number, n: number, perProvider = 1): Traits[] {
  const taken = new Map<string, number>();
  const out: Traits[] = [];
  for (const t of all.filter((x) => score(x) > 0).sort((a, b) => score(b) - score(a) || (a.def.id < b.def.id ? -1 : 1))) {
    if ((taken.get(t.provider) ?? 0) >= perProvider) continue;
    taken.set(t.provider, (taken.get(t.provider) ?? 0) + 1);
    out.push(t);
    if (out.length === n) break;
  }
  return out;
}

/** The selection, by group; `maxBytes` is the per-file cap of the config the definitions are served with. */
export function selectPublicDefinitions(maxBytes: number): Group[] {
  const all = directoryDefinitions()
    .filter((d) => fs.statSync(d.file).size <= maxBytes - 1024)
    .map((d) => traitsOf(d, definitionBytes(d)));
  const everyNth = all.filter((_, i) => i % 40 === 0);
  const groups: Group[] = [
    { name: 'largest by path count', members: top(all, (t) => t.paths, 8, 2) },
    { name: "GitHub's (api.github.com, GitHub Enterprise Server)", members: top(all.filter((t) => t.provider === 'github.com'), (t) => t.paths, 2, 2) },
    { name: 'a # in path keys', members: top(all, (t) => t.hashKeys, 8) },
    { name: 'a ? in path keys', members: top(all, (t) => t.queryKeys, 5) },
    { name: 'a space in path keys', members: top(all, (t) => t.spaceKeys, 3) },
    { name: '$ref path items', members: top(all, (t) => t.refPathItems, 5) },
    { name: 'server variables', members: top(all, (t) => t.serverVariables, 10) },
    { name: 'duplicate shapes', members: top(all, (t) => t.duplicateShapes, 10) },
    { name: 'long literal text after a parameter', members: top(all, (t) => t.longestTail, 15) },
    { name: 'long literal text after a parameter (Azure)', members: top(all.filter((t) => t.provider === 'azure.com'), (t) => t.longestTail, 6, 6) },
    { name: 'odd parameters or unsupported methods', members: top(all, (t) => t.oddOperations, 5) },
    { name: 'OpenAPI 3.1', members: top(all.filter((t) => t.version === '3.1'), (t) => t.paths, 10) },
    { name: 'every 40th by id (OpenAPI 3.0 as most are)', members: everyNth },
    swagger2(),
  ];
  return groups;
}

/** Swagger 2.0, every one. */
function swagger2(): Group {
  return { name: 'Swagger 2.0 (@readme/oas-examples)', members: swagger2Definitions().map((d) => traitsOf(d, definitionBytes(d))) };
}

/** The members of all groups, each once, in id order. */
export function selectionMembers(groups: readonly Group[]): Traits[] {
  const byId = new Map<string, Traits>();
  for (const g of groups) for (const t of g.members) byId.set(t.def.id, t);
  return [...byId.values()].sort((a, b) => (a.def.id < b.def.id ? -1 : 1));
}
