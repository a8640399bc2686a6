import type { PathSeg } from './errors';
import { depthReason, nodesReason, type DefinitionLimits } from './limits';

/**
 * JSON definitions without the YAML parser: JSON.parse is some 40 times faster and keeps a
 * fraction of the memory. What the YAML parser gave for free is done here in a flat pass over the
 * text (the caps, duplicate keys) or only when an error needs it (the line of a key).
 */

/** What one pass over JSON text found: a cap it goes over, or how many object members it has. */
export type JsonScan = { over: { reason: string; line: number } } | { over?: undefined; members: number };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Counts nodes (strings, literals, objects, arrays) and nesting as overLimits (limits.ts) counts
 * them for the same text, and the object members (one `:` each outside strings), without
 * building anything. Malformed text is not diagnosed here: JSON.parse does that.
 */
export function scanJson(text: string, limits: DefinitionLimits): JsonScan {
  let nodes = 0;
  let depth = 0;
  let members = 0;
  let line = 1;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    switch (c) {
      case 0x0a:
        line++;
        continue;
      case 0x20:
      case 0x09:
      case 0x0d:
      case 0x2c: // ,
        continue;
      case 0x3a: // :
        members++;
        continue;
      case 0x7d: // }
      case 0x5d: // ]
        depth--;
        continue;
    }
    if (++nodes > limits.maxNodes) return { over: { reason: nodesReason(limits.maxNodes), line } };
    if (c === 0x7b || c === 0x5b) {
      // The YAML lexer counts the document's own level too: a top-level map of scalars is 2 deep.
      if (++depth + 1 > limits.maxDepth) return { over: { reason: depthReason(limits.maxDepth), line } };
    } else if (c === QUOTE) i = stringEnd(text, i);
    else i = literalEnd(text, i) - 1;
  }
  return { members };
}

/**
 * Object members in a parsed value. Fewer than scanJson counted in its text means a key was
 * repeated (JSON.parse keeps the last silently); walked without recursion.
 */
export function memberCount(value: unknown): number {
  let count = 0;
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) {
      for (const x of v) if (x !== null && typeof x === 'object') stack.push(x);
      continue;
    }
    for (const k in v) {
      count++;
      const x = (v as Record<string, unknown>)[k];
      if (x !== null && typeof x === 'object') stack.push(x);
    }
  }
  return count;
}

/** Index of the quote that closes the string opened at `start` (the text's length if none). */
function stringEnd(text: string, start: number): number {
  let j = start;
  for (;;) {
    j = text.indexOf('"', j + 1);
    if (j < 0) return text.length;
    let k = j - 1;
    while (text.charCodeAt(k) === BACKSLASH) k--;
    if ((j - 1 - k) % 2 === 0) return j;
  }
}

/** Index just past a number or true/false/null starting at `start`. */
function literalEnd(text: string, start: number): number {
  let j = start + 1;
  while (j < text.length && !DELIMITERS.has(text.charCodeAt(j))) j++;
  return j;
}

const DELIMITERS = new Set([0x20, 0x09, 0x0a, 0x0d, 0x2c, 0x3a, 0x7b, 0x7d, 0x5b, 0x5d, QUOTE]);

/**
 * Where keys and values are in well-formed JSON text, found on demand for error messages. Each
 * object or array on a looked-up path is indexed once, so many lookups into one big document
 * (a problem per route) cost about one pass over the containers they go through.
 */
export class JsonPositions {
  private readonly index = new Map<number, Map<string, [number, number]> | number[]>();
  private lineStarts?: number[];

  constructor(private readonly text: string) {}

  /**
   * The offset of the key at `path` (a list item's own start), of the nearest existing ancestor
   * when it is missing, and the offset of its value when the whole path exists.
   */
  find(path: readonly PathSeg[]): { at: number; value?: number } {
    let value = skipSpace(this.text, 0);
    let at = value;
    for (const seg of path) {
      const members = this.members(value);
      const found = Array.isArray(members) ? (typeof seg === 'number' ? members[seg] : undefined) : members?.get(String(seg));
      if (found === undefined) return { at };
      [at, value] = typeof found === 'number' ? [found, found] : found;
    }
    return { at, value };
  }

  /** 1-based line of an offset. */
  lineAt(offset: number): number {
    const starts = (this.lineStarts ??= lineStarts(this.text));
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  }

  /** A number or true/false/null at `offset`, as written. */
  literalAt(offset: number): string {
    return this.text.slice(offset, literalEnd(this.text, offset));
  }

  /** An object's keys (key and value offsets) or an array's item offsets; undefined for a scalar. */
  private members(start: number): Map<string, [number, number]> | number[] | undefined {
    const c = this.text.charCodeAt(start);
    if (c !== 0x7b && c !== 0x5b) return undefined;
    let known = this.index.get(start);
    if (known) return known;
    const text = this.text;
    let i = skipSpace(text, start + 1);
    if (c === 0x5b) {
      const items: number[] = [];
      while (text.charCodeAt(i) !== 0x5d && i < text.length) {
        items.push(i);
        i = skipSpace(text, skipValue(text, i));
        if (text.charCodeAt(i) === 0x2c) i = skipSpace(text, i + 1);
      }
      known = items;
    } else {
      const keys = new Map<string, [number, number]>();
      while (text.charCodeAt(i) === QUOTE) {
        const end = stringEnd(text, i);
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        const value = skipSpace(text, skipSpace(text, end + 1) + 1);
        keys.set(key, [i, value]);
        i = skipSpace(text, skipValue(text, value));
        if (text.charCodeAt(i) === 0x2c) i = skipSpace(text, i + 1);
      }
      known = keys;
    }
    this.index.set(start, known);
    return known;
  }
}

function skipSpace(text: string, i: number): number {
  for (let c = text.charCodeAt(i); c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09; c = text.charCodeAt(++i));
  return i;
}

/** Index just past the value starting at `start`. */
function skipValue(text: string, start: number): number {
  const c = text.charCodeAt(start);
  if (c === QUOTE) return stringEnd(text, start) + 1;
  if (c !== 0x7b && c !== 0x5b) return literalEnd(text, start);
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    const d = text.charCodeAt(i);
    if (d === QUOTE) i = stringEnd(text, i);
    else if (d === 0x7b || d === 0x5b) depth++;
    else if ((d === 0x7d || d === 0x5d) && --depth === 0) return i + 1;
  }
  return text.length;
}

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}
