import { createHash } from 'crypto';

/**
 * Subscribed-name sets shared across streams. Every router of a label asks for the same cluster
 * and route names; one immutable set per distinct subscription keeps a thousand routers from
 * holding a thousand copies (memory per client stays O(1) for the common case, O(names) only
 * for subscriptions nobody else has).
 */
export class NameSets {
  static readonly EMPTY: ReadonlySet<string> = new Set();
  private readonly pool = new Map<string, { set: ReadonlySet<string>; refs: number }>();
  private readonly keys = new WeakMap<ReadonlySet<string>, string>();

  /** The pooled set equal to `names` (which the pool may keep: do not change it afterwards). */
  acquire(names: Set<string>): ReadonlySet<string> {
    if (names.size === 0) return NameSets.EMPTY;
    const key = createHash('sha256').update([...names].sort().join('\0')).digest('base64');
    const hit = this.pool.get(key);
    if (hit) {
      hit.refs++;
      return hit.set;
    }
    this.pool.set(key, { set: names, refs: 1 });
    this.keys.set(names, key);
    return names;
  }

  release(set: ReadonlySet<string>): void {
    const key = this.keys.get(set);
    const slot = key === undefined ? undefined : this.pool.get(key);
    if (!slot || --slot.refs > 0) return;
    this.pool.delete(key!);
  }

  /** Distinct sets held (for tests and metrics). */
  get size(): number {
    return this.pool.size;
  }
}
