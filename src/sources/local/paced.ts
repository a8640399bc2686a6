/**
 * Long runs of small steps on the event loop, kept from holding it: work fanned out to other
 * threads comes back a few completions at a time, and a long loop pauses every few milliseconds.
 */

/** `f` over `items`, at most `limit` at a time; the results in the items' order. */
export async function mapLimited<T, R>(items: readonly T[], limit: number, f: (item: T, index: number) => R | Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, lane));
  return out;
}

/**
 * A pause for a loop to await at each step: it lets the event loop run once `budgetMs` of work
 * has passed since the last pause, and costs a microtask otherwise.
 */
export function pacer(budgetMs = 5): () => Promise<void> {
  let since = performance.now();
  return async () => {
    if (performance.now() - since < budgetMs) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    since = performance.now();
  };
}
