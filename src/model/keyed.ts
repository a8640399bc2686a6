import { createHash } from 'crypto';

/**
 * An immutable keyed collection that applies news in the order it happened, not the order it
 * arrives: an update older than what is held, or than the deletion of its key, changes nothing;
 * the same content again changes nothing. Every change returns a new collection (or undefined
 * when nothing changed), so a GatewayState revision can share the untouched ones.
 */

/** How long a deletion is remembered to refuse older updates that arrive after it. */
const TOMBSTONE_TTL_MS = 60 * 60 * 1000;

export class Keyed<T> {
  static empty<T>(): Keyed<T> {
    return new Keyed(new Map(), new Map());
  }

  private constructor(
    private readonly map: ReadonlyMap<string, Held<T>>,
    /** key → when it was deleted (source time). */
    private readonly tombstones: ReadonlyMap<string, number>,
  ) {}

  get size(): number {
    return this.map.size;
  }

  get(key: string): T | undefined {
    return this.map.get(key)?.value;
  }

  values(): IterableIterator<T> {
    return mapValues(this.map.values());
  }

  /** Adds or replaces `key`, unless what is held (or its deletion) is newer. `at` undefined: always. */
  upsert(key: string, value: T, at?: number): Keyed<T> | undefined {
    const held = this.map.get(key);
    if (at !== undefined && held?.at !== undefined && held.at > at) return undefined;
    const deleted = this.tombstones.get(key);
    if (at !== undefined && deleted !== undefined && deleted >= at) return undefined;
    const print = fingerprint(value);
    if (held?.print === print) return undefined;
    const map = new Map(this.map);
    map.set(key, { value, at, print });
    return new Keyed(map, this.tombstones);
  }

  /** Removes `key`, unless what is held is newer than `at`. */
  delete(key: string, at?: number): Keyed<T> | undefined {
    const held = this.map.get(key);
    if (at !== undefined && held?.at !== undefined && held.at > at) return undefined;
    const tombstones = at === undefined ? this.tombstones : pruned(this.tombstones, key, at);
    if (!held) return tombstones === this.tombstones ? undefined : new Keyed(this.map, tombstones);
    const map = new Map(this.map);
    map.delete(key);
    return new Keyed(map, tombstones);
  }

  /** Exactly these entries (a full pull from the source): adds, updates and removals at once. */
  replace(entries: Iterable<[string, T]>): Keyed<T> | undefined {
    const map = new Map<string, Held<T>>();
    let changed = false;
    for (const [key, value] of entries) {
      const print = fingerprint(value);
      const held = this.map.get(key);
      if (held?.print !== print) changed = true;
      map.set(key, held?.print === print ? held : { value, at: undefined, print });
    }
    if (!changed && map.size === this.map.size) return undefined;
    return new Keyed(map, new Map());
  }

  /** Drops entries `expired` says are over (revoked tokens past their expiry, lapsed decisions). */
  prune(expired: (value: T) => boolean): Keyed<T> | undefined {
    const map = new Map([...this.map].filter(([, h]) => !expired(h.value)));
    return map.size === this.map.size ? undefined : new Keyed(map, this.tombstones);
  }
}

interface Held<T> {
  value: T;
  at?: number;
  print: string;
}

function* mapValues<T>(it: Iterable<Held<T>>): IterableIterator<T> {
  for (const h of it) yield h.value;
}

function pruned(tombstones: ReadonlyMap<string, number>, key: string, at: number): Map<string, number> {
  const next = new Map([...tombstones].filter(([, t]) => t > at - TOMBSTONE_TTL_MS));
  next.set(key, Math.max(at, tombstones.get(key) ?? at));
  return next;
}

/** Fingerprints made elsewhere (a worker, from the same content) for values that arrived as its clones. */
const known = new WeakMap<object, string>();

/**
 * Content identity, independent of key order: a digest of the value's canonical JSON, so what is
 * held per entry is a few dozen bytes, not a second copy of it.
 */
export function fingerprint(v: unknown): string {
  return (v !== null && typeof v === 'object' && known.get(v)) || createHash('sha256').update(stableJson(v)).digest('base64url');
}

/** Records `v`'s fingerprint, made from an identical copy of it; `v` must not change afterwards. */
export function rememberFingerprint(v: object, print: string): void {
  known.set(v, print);
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const keys = Object.keys(v).filter((k) => (v as Record<string, unknown>)[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}
