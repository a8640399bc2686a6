/**
 * Rate-limit counters: fixed windows aligned to the epoch, so every enforcer (and Redis) agrees
 * on when a window starts. The decision code talks to this interface only; the backend (local or
 * Redis) is configuration.
 */

/** One counter to add a request to. */
export interface Hit {
  key: string;
  limit: number;
  windowMs: number;
  /** A bandwidth quota: counts the request's bytes, not the request. */
  bytes?: boolean;
}

/** A counter after the request was added: its count in the current window, and when that ends. */
export interface Count {
  count: number;
  resetAt: number;
}

export interface Counters {
  /** Adds one request (or, to a bandwidth counter, its `bytes`) to each counter; synchronous when the backend is local. */
  add(hits: readonly Hit[], now: number, bytes?: number): Count[] | Promise<Count[]>;
  /** Resolves true once the backend answers, false after `timeoutMs`. */
  whenReady?(timeoutMs: number): Promise<boolean>;
  close?(): Promise<void>;
}

/** A rejection of `add`: the backend cannot answer, and its failure policy is to refuse. */
export class CountersUnavailable extends Error {}

export const windowStart = (now: number, windowMs: number): number => now - (now % windowMs);

/**
 * In-process counters: exact for one enforcer. One entry per active key, dropped once its window
 * has passed (swept as the map grows, so memory follows the keys active in the last window). A key
 * whose window length changes (its policy did) starts counting afresh.
 */
export class LocalCounters implements Counters {
  private readonly windows = new Map<string, { start: number; windowMs: number; count: number }>();
  private sweepAt = 1024;

  add(hits: readonly Hit[], now: number, bytes = 0): Count[] {
    if (this.windows.size >= this.sweepAt) this.sweep(now);
    const out = new Array<Count>(hits.length);
    for (let i = 0; i < hits.length; i++) {
      const h = hits[i]!;
      const start = windowStart(now, h.windowMs);
      let w = this.windows.get(h.key);
      if (!w || w.start !== start || w.windowMs !== h.windowMs) this.windows.set(h.key, (w = { start, windowMs: h.windowMs, count: 0 }));
      w.count += h.bytes ? bytes : 1;
      out[i] = { count: w.count, resetAt: start + h.windowMs };
    }
    return out;
  }

  get size(): number {
    return this.windows.size;
  }

  private sweep(now: number): void {
    for (const [id, w] of this.windows) if (w.start + w.windowMs <= now) this.windows.delete(id);
    this.sweepAt = Math.max(1024, this.windows.size * 2);
  }
}
