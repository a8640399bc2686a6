/**
 * Coalesces bursts: `poke()` schedules `flush` after `quietMs` without another poke, but never
 * later than `maxDelayMs` after the first poke of the burst. quietMs = 0 flushes on the next
 * turn of the event loop, which still merges everything done in the current one.
 */
export class Debouncer {
  private quietTimer?: NodeJS.Timeout;
  private firstPokeAt = 0;

  constructor(
    private readonly flush: () => void,
    private readonly quietMs: number,
    private readonly maxDelayMs: number,
  ) {}

  poke(): void {
    const now = Date.now();
    if (!this.quietTimer) this.firstPokeAt = now;
    else clearTimeout(this.quietTimer);
    const wait = Math.max(0, Math.min(this.quietMs, this.firstPokeAt + this.maxDelayMs - now));
    this.quietTimer = setTimeout(this.fire, wait);
  }

  /** Runs a pending flush now (used on shutdown and by tests that want no wait). */
  flushNow(): void {
    if (this.quietTimer) this.fire();
  }

  cancel(): void {
    if (this.quietTimer) clearTimeout(this.quietTimer);
    this.quietTimer = undefined;
  }

  private readonly fire = (): void => {
    if (this.quietTimer) clearTimeout(this.quietTimer);
    this.quietTimer = undefined;
    this.flush();
  };
}
