import type { Config } from '../config/config';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { Etcd3, type IKeyValue, type Lease, type Watcher } from 'etcd3';
import type { Logger } from 'winston';
import type { RevokedToken } from '../model/access';

/**
 * Revoked tokens: every revoked `jti` (or token signature, as APIM sends it) is refused until its
 * expiry, then forgotten. The in-memory set answers the hot path; etcd (optional) makes the set
 * survive restarts and reach every enforcer even when the adapter and APIM are down.
 */

/** `[enforcer.revocation]` in the config file. */
export type RevocationConfig = Config['enforcer']['revocation'];

export const DEFAULT_KEY_PREFIX = '/apim-connect/revoked/';

/** Who told the set about an entry: the adapter (its view or a real-time event) or the store. */
export type RevocationSource = 'adapter' | 'store';
const ADAPTER = 1;
const STORE = 2;
const bit = (s: RevocationSource): number => (s === 'adapter' ? ADAPTER : STORE);

interface Entry {
  expiresAt: number;
  sources: number;
}

export interface RevocationSetOptions {
  /** How often expired entries are dropped (ms); 0: only when `prune()` is called. Default 60 s. */
  pruneIntervalMs?: number;
}

/**
 * The revoked token ids, each until its expiry. `isRevoked` is a map lookup: no I/O, no allocation.
 * Memory is bounded by the live revocations: expired entries answer "not revoked" at once and are
 * dropped by a periodic prune (an unref'd timer; `stop()` ends it).
 */
export class RevocationSet {
  private readonly entries = new Map<string, Entry>();
  private timer: NodeJS.Timeout | undefined;

  constructor(options: RevocationSetOptions = {}) {
    const every = options.pruneIntervalMs ?? 60_000;
    if (every > 0) {
      this.timer = setInterval(() => this.prune(), every);
      this.timer.unref();
    }
  }

  isRevoked(idOrSignature: string, now = Date.now()): boolean {
    const e = this.entries.get(idOrSignature);
    return e !== undefined && e.expiresAt > now;
  }

  /**
   * Remembers a revocation until `expiresAt` (the later one when it is already known). Returns true
   * when it is new or lasts longer than before; expired or malformed tokens are not kept.
   */
  add(token: RevokedToken, source: RevocationSource = 'adapter', now = Date.now()): boolean {
    if (!live(token, now)) return false;
    const e = this.entries.get(token.id);
    if (!e) {
      this.entries.set(token.id, { expiresAt: token.expiresAt, sources: bit(source) });
      return true;
    }
    e.sources |= bit(source);
    if (e.expiresAt >= token.expiresAt && e.expiresAt > now) return false;
    e.expiresAt = token.expiresAt;
    return true;
  }

  /**
   * The adapter's full view (APIM's `revokedjwt` plus the events since). Every live token in it is
   * added; entries it lacks are kept until their own expiry: APIM never un-revokes a token, and an
   * adapter that restarted while APIM is down sends an empty or partial view, which must not make
   * enforcers forget revocations (that is what the etcd store is for). Returns the tokens that were
   * new to this set, for the caller to persist.
   */
  replaceFromAdapter(tokens: Iterable<RevokedToken>, now = Date.now()): RevokedToken[] {
    const added: RevokedToken[] = [];
    for (const t of tokens) if (this.add(t, 'adapter', now)) added.push(t);
    return added;
  }

  /**
   * `source` no longer holds the revocation (an etcd delete: its lease ended, or an operator removed
   * it). The entry goes when no source holds it any more; one the adapter sent stays to its expiry.
   */
  withdraw(id: string, source: RevocationSource): boolean {
    const e = this.entries.get(id);
    if (!e) return false;
    e.sources &= ~bit(source);
    if (e.sources !== 0) return false;
    this.entries.delete(id);
    return true;
  }

  /** Drops expired entries; returns how many. */
  prune(now = Date.now()): number {
    let n = 0;
    for (const [id, e] of this.entries) {
      if (e.expiresAt <= now) {
        this.entries.delete(id);
        n++;
      }
    }
    return n;
  }

  /** Entries held, expired-but-not-yet-pruned included. */
  get size(): number {
    return this.entries.size;
  }

  /** The live revocations (for diagnostics and tests). */
  list(now = Date.now()): RevokedToken[] {
    const out: RevokedToken[] = [];
    for (const [id, e] of this.entries) if (e.expiresAt > now) out.push({ id, expiresAt: e.expiresAt });
    return out;
  }

  /** Ends the prune timer. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

function live(t: RevokedToken, now: number): boolean {
  return typeof t.id === 'string' && t.id !== '' && Number.isFinite(t.expiresAt) && t.expiresAt > now;
}

export interface EtcdRevocationStoreOptions {
  endpoints: string[];
  /** Default `/apim-connect/revoked/`. */
  keyPrefix?: string;
  /** PEM contents. */
  tls?: { ca?: Buffer | string; cert?: Buffer | string; key?: Buffer | string };
  /** Bound on each etcd call (load, lease grant, put) and on `persist()` as a whole, in ms. */
  timeoutMs: number;
  /** Longest wait between watch reconnect attempts (ms). Default 5000. */
  watchBackoffMaxMs?: number;
}

/** What `persist()` did. It never throws. */
export type PersistOutcome =
  /** Written, with a lease that ends at the token's expiry. */
  | 'written'
  /** etcd already holds it, for at least as long. */
  | 'present'
  /** Already expired (or malformed): nothing to remember. */
  | 'expired'
  /** etcd did not answer in time or refused: kept in memory, written when etcd is back. */
  | 'failed'
  | 'closed';

/** The value stored under each key. */
interface StoredRevocation {
  id: string;
  expiresAt: number;
  tokenType?: string;
  organization?: string;
}

/** The etcd key for a token id: ids (a JWT signature, say) can be long and hold any character. */
export function revocationKey(prefix: string, id: string): string {
  return prefix + createHash('sha256').update(id).digest('hex');
}

/** The store's options from the config, reading the TLS files; undefined when the store is `none`. */
export function etcdStoreOptions(cfg: RevocationConfig): EtcdRevocationStoreOptions | undefined {
  if (cfg.store !== 'etcd') return undefined;
  const read = (f: string): Buffer | undefined => (f ? fs.readFileSync(f) : undefined);
  const ca = read(cfg.tls.caFile);
  const cert = read(cfg.tls.certFile);
  const key = read(cfg.tls.keyFile);
  return {
    endpoints: cfg.endpoints,
    keyPrefix: cfg.keyPrefix,
    timeoutMs: cfg.timeoutMs,
    tls: ca || cert || key ? { ca, cert, key } : undefined,
  };
}

/**
 * Revocations kept in etcd, each under `<prefix><sha256(id)>` with a lease that ends at the token's
 * expiry, so etcd forgets it then. `start()` loads them into the set and watches the prefix, so a
 * freshly started enforcer refuses a token revoked an hour ago even with the adapter and APIM down,
 * and a revocation one enforcer persists reaches the others.
 *
 * etcd being down never blocks or fails a request: the set keeps answering from memory, `persist()`
 * gives up after `timeoutMs` (the token is written once etcd is back), the outage is logged once
 * and its end once; on reconnect the watch resumes and the set is reloaded.
 */
export class EtcdRevocationStore {
  private readonly client: Etcd3;
  private readonly prefix: string;
  private readonly timeoutMs: number;
  private watcher: Watcher | undefined;
  /** What etcd holds, as last seen: key → token. Bounded by etcd's content (leases end). */
  private readonly known = new Map<string, StoredRevocation>();
  /** Written while etcd was unreachable: written when it is back (expired ones dropped). */
  private readonly pending = new Map<string, RevokedToken>();
  private prunePendingAt = 1024;
  private readonly inflight = new Map<string, Promise<PersistOutcome>>();
  /** undefined until the first answer; logs on each change only. */
  private reachable: boolean | undefined;
  /** Set while the watch is not connected: the set is reloaded when it connects again. */
  private reloadOnConnect = true;
  private reloading: Promise<boolean> | undefined;
  private rewatchTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    options: EtcdRevocationStoreOptions,
    private readonly set: RevocationSet,
    private readonly logger: Pick<Logger, 'debug' | 'info' | 'warn'>,
  ) {
    if (options.endpoints.length === 0) throw new Error('etcd revocation store: no endpoints');
    this.prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    if (this.prefix === '') throw new Error('etcd revocation store: the key prefix must not be empty');
    this.timeoutMs = options.timeoutMs;
    const tls = options.tls;
    if (tls && !tls.cert !== !tls.key) throw new Error('etcd revocation store: a client certificate needs both cert and key');
    if (tls && options.endpoints.some((e) => e.startsWith('http://'))) {
      throw new Error('etcd revocation store: TLS is configured, so the endpoints must be https:// URLs');
    }
    const buf = (x: Buffer | string | undefined): Buffer | undefined => (x === undefined ? undefined : Buffer.from(x));
    const maxBackoff = options.watchBackoffMaxMs ?? 5000;
    this.client = new Etcd3({
      hosts: options.endpoints,
      // grpc's createSsl takes a missing root certificate as "the system's roots".
      credentials: tls ? { rootCertificate: buf(tls.ca) as Buffer, certChain: buf(tls.cert), privateKey: buf(tls.key) } : undefined,
      dialTimeout: options.timeoutMs,
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + options.timeoutMs }),
      grpcOptions: {
        // Find an etcd that is back quickly (grpc's default backoff grows to 2 minutes) and a dead
        // connection that did not close.
        'grpc.initial_reconnect_backoff_ms': 200,
        'grpc.max_reconnect_backoff_ms': maxBackoff,
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': Math.max(1000, options.timeoutMs),
      },
      faultHandling: { watchBackoff: backoff(100, maxBackoff) },
    });
  }

  /**
   * Loads every revocation under the prefix into the set, then watches the prefix. Resolves within
   * about `timeoutMs`: true when loaded, false when etcd did not answer (logged; the watch keeps
   * trying and the set is loaded when it connects).
   */
  async start(): Promise<boolean> {
    const revision = await this.load();
    if (this.closed) return false;
    this.watch(revision);
    return revision !== undefined;
  }

  /**
   * Writes a revocation with a lease that ends at its expiry. Idempotent: a key etcd already holds
   * for at least as long is not written again, concurrent calls for one token share one write.
   * Never throws; resolves within about `timeoutMs`.
   */
  persist(token: RevokedToken, now = Date.now()): Promise<PersistOutcome> {
    if (this.closed) return Promise.resolve('closed');
    if (!live(token, now)) return Promise.resolve('expired');
    const key = revocationKey(this.prefix, token.id);
    const held = this.known.get(key);
    if (held && held.id === token.id && held.expiresAt >= token.expiresAt) {
      this.pending.delete(key);
      return Promise.resolve('present');
    }
    const running = this.inflight.get(key);
    if (running) return running;
    const p = this.write(key, token, now).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  /** Stops the watch and the client; pending writes are dropped. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.rewatchTimer) clearTimeout(this.rewatchTimer);
    const watcher = this.watcher;
    this.watcher = undefined;
    if (watcher) await bounded(watcher.cancel(), this.timeoutMs).catch(() => undefined);
    await Promise.allSettled([...this.inflight.values()]);
    this.client.close();
    this.pending.clear();
    this.known.clear();
  }

  /** True when etcd answered last time it was asked (undefined before it was). */
  get isReachable(): boolean | undefined {
    return this.reachable;
  }

  /** Tokens waiting for etcd to be back. */
  get pendingCount(): number {
    return this.pending.size;
  }

  private async write(key: string, token: RevokedToken, now: number): Promise<PersistOutcome> {
    const ttl = Math.max(1, Math.ceil((token.expiresAt - now) / 1000));
    const value: StoredRevocation = { id: token.id, expiresAt: token.expiresAt };
    if (token.tokenType !== undefined) value.tokenType = token.tokenType;
    if (token.organization !== undefined) value.organization = token.organization;
    let lease: Lease | undefined;
    try {
      lease = this.client.lease(ttl, { autoKeepAlive: false });
      lease.on('lost', () => undefined); // a failed grant surfaces through the put below
      await bounded(lease.put(key).value(JSON.stringify(value)).exec(), this.timeoutMs);
      this.known.set(key, value);
      this.pending.delete(key);
      this.up();
      this.logger.debug('revocation persisted to etcd', { key, ttl });
      return 'written';
    } catch (err) {
      if (this.closed) return 'closed';
      this.pending.set(key, token);
      if (this.pending.size >= this.prunePendingAt) {
        const at = Date.now();
        for (const [k, t] of this.pending) if (!live(t, at)) this.pending.delete(k);
        this.prunePendingAt = Math.max(1024, 2 * this.pending.size);
      }
      this.down(err, 'persist');
      return 'failed';
    } finally {
      lease?.release();
    }
  }

  /** Reads every key under the prefix into the set; the revision read at, or undefined on failure. */
  private async load(): Promise<number | undefined> {
    try {
      const res = await bounded(this.client.getAll().prefix(this.prefix).exec(), this.timeoutMs);
      if (this.closed) return undefined;
      const seen = new Set<string>();
      let n = 0;
      for (const kv of res.kvs) {
        const key = kv.key.toString();
        const v = this.apply(key, kv);
        if (v) {
          seen.add(key);
          n++;
        }
      }
      // Keys deleted while we were not watching: their leases ended (or an operator removed them).
      for (const [key, v] of this.known) {
        if (!seen.has(key)) {
          this.known.delete(key);
          this.set.withdraw(v.id, 'store');
        }
      }
      this.up();
      this.logger.info('revocations loaded from etcd', { count: n, prefix: this.prefix });
      return Number(res.header.revision);
    } catch (err) {
      if (!this.closed) this.down(err, 'load');
      return undefined;
    }
  }

  /** A key's value into `known` and the set; undefined when it is not one of ours. */
  private apply(key: string, kv: IKeyValue): StoredRevocation | undefined {
    let v: StoredRevocation;
    try {
      v = JSON.parse(kv.value.toString()) as StoredRevocation;
    } catch {
      this.logger.debug('etcd revocation: value is not JSON, ignored', { key });
      return undefined;
    }
    if (!v || typeof v.id !== 'string' || typeof v.expiresAt !== 'number' || revocationKey(this.prefix, v.id) !== key) {
      this.logger.debug('etcd revocation: unexpected value, ignored', { key });
      return undefined;
    }
    this.known.set(key, v);
    this.set.add({ id: v.id, expiresAt: v.expiresAt, tokenType: v.tokenType, organization: v.organization }, 'store');
    return v;
  }

  private watch(revision: number | undefined): void {
    const builder = this.client.watch().prefix(this.prefix);
    if (revision !== undefined) {
      builder.startRevision(String(revision + 1));
      this.reloadOnConnect = false;
    } else {
      this.reloadOnConnect = true;
    }
    const w = builder.watcher();
    this.watcher = w;
    w.on('put', (kv) => {
      if (this.closed) return;
      const key = kv.key.toString();
      this.apply(key, kv);
      const v = this.known.get(key);
      if (v && this.pending.has(key) && v.expiresAt >= (this.pending.get(key)?.expiresAt ?? 0)) this.pending.delete(key);
    });
    w.on('delete', (kv) => {
      if (this.closed) return;
      const key = kv.key.toString();
      const v = this.known.get(key);
      this.known.delete(key);
      if (v) this.set.withdraw(v.id, 'store');
    });
    w.on('connected', () => {
      if (this.closed) return;
      this.up();
      if (this.reloadOnConnect) {
        this.reloadOnConnect = false;
        void this.reload();
      }
    });
    w.on('disconnected', (err) => {
      if (this.closed) return;
      this.reloadOnConnect = true;
      this.down(err, 'watch');
    });
    // The server cancelled the watch (e.g. its revision was compacted away while we were
    // disconnected): reload and watch again from the new revision.
    w.on('error', (err) => {
      if (this.closed || this.watcher !== w) return;
      this.logger.warn('etcd revocation watch cancelled; reloading and watching again', { error: (err as Error).message });
      this.watcher = undefined;
      void bounded(w.cancel(), this.timeoutMs).catch(() => undefined);
      this.rewatchTimer = setTimeout(() => {
        this.rewatchTimer = undefined;
        void this.start();
      }, 500);
      this.rewatchTimer.unref();
    });
  }

  /** Reloads the set and writes what waited for etcd; one at a time. */
  private reload(): Promise<boolean> {
    if (!this.reloading) {
      this.reloading = (async () => {
        const ok = (await this.load()) !== undefined;
        if (ok) await this.flushPending();
        return ok;
      })().finally(() => {
        this.reloading = undefined;
      });
    }
    return this.reloading;
  }

  private async flushPending(): Promise<void> {
    const now = Date.now();
    const tokens = [...this.pending.values()];
    this.pending.clear();
    await Promise.all(tokens.filter((t) => live(t, now)).map((t) => this.persist(t, now)));
  }

  private up(): void {
    if (this.reachable === true) return;
    if (this.reachable === false) this.logger.info('etcd revocation store reachable again');
    this.reachable = true;
  }

  private down(err: unknown, during: string): void {
    if (this.reachable === false) return;
    this.reachable = false;
    this.logger.warn('etcd revocation store unreachable; revocations are kept in memory and written when it is back', {
      during,
      error: err instanceof Error ? err.message : String(err),
    });
  }
}

/** Exponential backoff with jitter, in the shape etcd3's watch manager takes (cockatiel's IBackoff). */
interface Backoff {
  readonly duration: number;
  next(): Backoff;
}
function backoff(initialMs: number, maxMs: number): Backoff {
  const make = (base: number): Backoff => ({
    duration: Math.round(base / 2 + (Math.random() * base) / 2),
    next: () => make(Math.min(maxMs, base * 2)),
  });
  return make(Math.min(initialMs, maxMs));
}

/** `p`, or a rejection after `ms` (the timer does not keep the process alive and is cleared). */
function bounded<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`etcd did not answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
