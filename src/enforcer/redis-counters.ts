import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Log } from '../xds/log';
import { CountersUnavailable, windowStart, type Count, type Counters, type Hit } from './counters';

/**
 * Rate-limit counters in Redis (one server or a Redis Cluster), exact across any number of
 * enforcers: each counter is one key per window (`<prefix><windowMs>:<windowStart>:<key>`),
 * incremented by a script that also sets its expiry, so every enforcer counts into the same key
 * and the key disappears with its window. The decisions of one event-loop turn go out together
 * as one script call (on a cluster one call per key, as the keys live in other slots, pipelined
 * per node by ioredis): one round trip and one timer per turn, not per request.
 *
 * When Redis does not answer within `timeoutMs` (down, or slow) the configured policy applies:
 * `local` counts in this process instead (exact per enforcer), `deny` refuses (CountersUnavailable).
 * The state change is logged once each way; ioredis reconnects by itself.
 */

export interface RedisCountersOptions {
  /** redis://[user:password@]host:port[/db], or rediss:// for TLS; for a cluster, any one node. */
  url: string;
  cluster?: boolean;
  /** Overrides the URL's password. */
  password?: string;
  /** PEM CA for rediss:// to a server with a private CA. */
  tlsCa?: string;
  keyPrefix?: string;
  timeoutMs?: number;
  onFailure?: 'local' | 'deny';
  log: Log;
}

/**
 * Each key incremented by its amount (ARGV[n + i]: 1, or a request's bytes) and given its expiry
 * (ARGV[i], ms) when new; the counts in key order.
 */
const INCR_WITH_EXPIRY = `
local out = {}
local n = #KEYS
for i, key in ipairs(KEYS) do
  local by = tonumber(ARGV[n + i])
  local count = redis.call('INCRBY', key, by)
  if count == by then redis.call('PEXPIRE', key, ARGV[i]) end
  out[i] = count
end
return out`;

type Client = (Redis | Cluster) & { rlIncr(numberOfKeys: number, ...keysThenTtls: Array<string | number>): Promise<number[]> };

/** A decision waiting for the next batch. */
interface Pending {
  hits: readonly Hit[];
  now: number;
  bytes: number;
  resolve: (counts: Count[] | Promise<Count[]>) => void;
  reject: (err: unknown) => void;
}

/** Keys per script call at most, well inside Lua's limit on unpacked arguments. */
const MAX_BATCH_KEYS = 1000;

export class RedisCounters implements Counters {
  private readonly client: Client;
  private readonly prefix: string;
  private readonly timeoutMs: number;
  private readonly onFailure: 'local' | 'deny';
  private readonly log: Log;
  private state: 'connecting' | 'up' | 'down' = 'connecting';
  private readonly cluster: boolean;
  private readyWaiters: Array<() => void> = [];
  private pending: Pending[] = [];
  /** What the connection last failed with (refused, WRONGPASS, a TLS error), for the log. */
  private lastError: string | undefined;

  constructor(
    options: RedisCountersOptions,
    /** Counts while Redis is away, when the policy is `local`. */
    private readonly fallback: Counters,
  ) {
    this.prefix = options.keyPrefix ?? 'apimconnect:rl:';
    this.timeoutMs = options.timeoutMs ?? 50;
    this.onFailure = options.onFailure ?? 'local';
    this.log = options.log;
    const common: RedisOptions = {
      // A single server gets one call per batch already; a cluster's per-key calls are grouped per node.
      enableAutoPipelining: options.cluster ?? false,
      // Fail at once while disconnected (the fallback answers) rather than queue requests.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2000),
      ...(options.password ? { password: options.password } : {}),
      ...(options.url.startsWith('rediss:') ? { tls: options.tlsCa ? { ca: options.tlsCa } : {} } : {}),
    };
    const url = new URL(options.url);
    this.client = (
      options.cluster
        ? new Cluster([{ host: url.hostname, port: Number(url.port || 6379) }], { redisOptions: { ...common, username: url.username || undefined, password: options.password || decodeURIComponent(url.password) || undefined }, enableOfflineQueue: false })
        : new Redis(options.url, common)
    ) as Client;
    this.client.defineCommand('rlIncr', { lua: INCR_WITH_EXPIRY });
    this.cluster = options.cluster ?? false;
    // Reported with the next state change (below), not per reconnect attempt.
    this.client.on('error', (err: Error) => (this.lastError = err.message));
    // Counting starts once every master holds the script (and, on a cluster, has a connection):
    // otherwise the first decisions pay for both, beyond a timeout of tens of milliseconds.
    this.client.on('ready', () => {
      const nodes = this.client instanceof Cluster ? this.client.nodes('master') : [this.client];
      Promise.all(nodes.map((n) => n.script('LOAD', INCR_WITH_EXPIRY))).then(
        () => this.up(),
        (err: unknown) => this.down(err),
      );
    });
  }

  add(hits: readonly Hit[], now: number, bytes = 0): Promise<Count[]> {
    return new Promise((resolve, reject) => {
      if (this.pending.length === 0) setImmediate(() => this.flush());
      this.pending.push({ hits, now, bytes, resolve, reject });
    });
  }

  /**
   * Sends what this turn's decisions wait for, in batches of at most MAX_BATCH_KEYS keys. A key
   * several decisions share (a popular API's, a busy client's) goes once, with their amounts
   * summed; each decision's count is then the one it would have got had they gone one by one, in
   * order: the new total, less what the decisions after it added.
   */
  private flush(): void {
    const all = this.pending;
    this.pending = [];
    for (let from = 0; from < all.length; ) {
      const keys: string[] = [];
      const ttls: number[] = [];
      const amounts: number[] = [];
      const slot = new Map<string, number>();
      /** For each hit of the batch, in order: its key's place, and the key's amount once it is added. */
      const places: number[] = [];
      const upTo: number[] = [];
      let to = from;
      while (to < all.length && (to === from || keys.length + all[to]!.hits.length <= MAX_BATCH_KEYS)) {
        const p = all[to++]!;
        for (const h of p.hits) {
          const key = `${this.prefix}${h.windowMs}:${windowStart(p.now, h.windowMs)}:${h.key}`;
          let at = slot.get(key);
          if (at === undefined) {
            slot.set(key, (at = keys.length));
            keys.push(key);
            ttls.push(h.windowMs + 1000);
            amounts.push(0);
          }
          amounts[at]! += h.bytes ? p.bytes : 1;
          places.push(at);
          upTo.push(amounts[at]!);
        }
      }
      const sent = this.cluster
        ? Promise.all(keys.map((k, i) => this.client.rlIncr(1, k, ttls[i]!, amounts[i]!).then((c) => c[0]!)))
        : this.client.rlIncr(keys.length, ...keys, ...ttls, ...amounts);
      const totals = sent.then((counts) => places.map((at, i) => Number(counts[at]) - amounts[at]! + upTo[i]!));
      this.settle(totals, all.slice(from, to));
      from = to;
    }
  }

  /** Hands each decision its counts (one per hit, in batch order), or (no answer in time) the failure policy's. */
  private settle(sent: Promise<number[]>, batch: Pending[]): void {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    Promise.race([sent, timeout]).then(
      (counts) => {
        clearTimeout(timer);
        this.up();
        let i = 0;
        for (const p of batch) {
          p.resolve(p.hits.map((h) => ({ count: counts[i++]!, resetAt: windowStart(p.now, h.windowMs) + h.windowMs })));
        }
      },
      (err: unknown) => {
        clearTimeout(timer);
        sent.catch(() => undefined); // a late failure of the abandoned calls is not news
        this.down(err);
        for (const p of batch) {
          if (this.onFailure === 'deny') p.reject(new CountersUnavailable(`rate-limit counters unavailable: ${(err as Error).message}`));
          else p.resolve(this.fallback.add(p.hits, p.now, p.bytes));
        }
      },
    );
  }

  /** Resolves once connected, or after `timeoutMs` (decisions meanwhile use the failure policy). */
  whenReady(timeoutMs: number): Promise<boolean> {
    if (this.state === 'up') return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.readyWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  async close(): Promise<void> {
    this.client.disconnect();
  }

  private up(): void {
    if (this.state === 'up') return;
    this.log.info(this.state === 'down' ? 'Redis rate-limit counters answer again; distributed counting resumed' : 'Redis rate-limit counters connected');
    this.state = 'up';
    for (const w of this.readyWaiters.splice(0)) w();
  }

  private down(err: unknown): void {
    if (this.state === 'down') return;
    this.state = 'down';
    this.log.warn(`Redis rate-limit counters unavailable; ${this.onFailure === 'local' ? 'counting in this enforcer only' : 'denying limited requests'} until they answer`, {
      error: (err as Error).message ?? String(err),
      ...(this.lastError ? { connection: this.lastError } : {}),
    });
  }
}
