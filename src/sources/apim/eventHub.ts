import * as amqp from 'amqplib';
import type { Logger } from 'winston';
import { redactUrl, redactUrlsIn } from '../../config/config';
import { maskSecrets } from './decode-json';

/**
 * A consumer for WSO2 API Manager's event hub (AMQP 0-9-1, APIM's embedded broker or RabbitMQ),
 * with the topology Choreo Connect uses, failover across a list of brokers and endless reconnects.
 *
 * Topology (per connection):
 * - one connection, one channel per topic;
 * - exchange `amq.topic` (type topic, durable; it exists by default and is redeclared with the
 *   same properties, as CC does — `exchange` overrides it, e.g. for tests);
 * - per topic one server-named queue (durable=false, exclusive, auto-delete) bound with the
 *   routing key exactly; CC also uses one queue per topic (it sets exclusive=false, but a
 *   server-named queue only its own connection knows of is exclusive in effect, and exclusive
 *   makes the broker drop it with the connection even before a consumer attached);
 * - basic.consume with manual ack, basic.qos prefetch (default 1) on each channel.
 *
 * Delivery: per topic, messages are handed to the handler one at a time in arrival order. A
 * message is acked only after the handler's promise resolved. If the handler throws or rejects
 * the error is logged (routing key, an excerpt of the body with secret-looking values masked)
 * and the message is acked anyway, so a message that cannot be applied is not redelivered
 * forever — unless the error has `retry === true`: then, after `retryDelayMs`, it is nacked
 * with requeue and comes back (the topic's next messages wait behind it, so order holds).
 *
 * Any failure of the connection or of one of its channels (broker restart, channel error,
 * consumer cancelled by the broker) drops the whole connection and reconnects: the queues die
 * with the connection, so events in between are lost anyway, and `onConnected` (fired after
 * every (re)connect, once the bindings exist and before consumption starts) is where the caller
 * re-pulls state. Deliveries of a dead connection still waiting in the topic queue are skipped.
 *
 * Endpoint URLs have Choreo Connect's form `amqp://user:pwd@host:5672?retries='10'&connectdelay='30'`
 * — see {@link parseEventHubUrl} for how `retries` and `connectdelay` are read. Reconnect rounds:
 * endpoints are tried in list order, each up to its `retries` times with `connectdelay` between
 * its attempts, then the next one; when the whole list failed, the next round starts after
 * `reconnectIntervalMs`, doubled each round up to 60 s, ±20 % jitter. `maxReconnectRounds`
 * bounds how often a failed round is repeated (-1: forever; 0: one pass over the list only).
 * Each state change is logged once (connected, connection lost, endpoint unreachable → next,
 * all endpoints down), further failed rounds of the same outage only at debug level.
 */

/** Defaults when a URL has no (or an unusable) `retries` / `connectdelay`, as in CC. */
export const DEFAULT_RETRIES = 5;
export const DEFAULT_CONNECT_DELAY_MS = 10_000;
/** Cap of the backoff between rounds. */
export const MAX_ROUND_DELAY_MS = 60_000;

export interface EventHubEndpoint {
  /** What amqplib dials: the configured URL without `retries` and `connectdelay`. */
  url: string;
  /** The URL for logs: password masked, no query. */
  display: string;
  /** Connection attempts on this endpoint per round before failing over to the next. */
  retries: number;
  /** Milliseconds between two attempts on this endpoint. */
  connectDelayMs: number;
}

/**
 * Parses one CC event-listening endpoint.
 *
 * - The query parameters `retries` and `connectdelay` (names case-insensitive) are removed; any
 *   other parameter (`heartbeat`, `frameMax`, ...) stays in the URL amqplib dials, as do
 *   userinfo, host, port and vhost path (no path: vhost `/`, on every attempt).
 * - Values are quoted in CC's form (`'10'`); the quotes (single or double) are stripped. CC
 *   strips the first and last character blindly, so an unquoted value breaks there; here an
 *   unquoted value is read as it is.
 * - `retries` = connection attempts on this endpoint per round, before failing over to the next.
 * - `connectdelay` = **seconds** between those attempts, as in CC (Qpid's own URL syntax means
 *   milliseconds). Fractions are allowed (`'0.05'` = 50 ms), which CC's Atoi would refuse.
 * - Missing, non-numeric or non-positive values fall back to CC's defaults: 5 retries, 10 s.
 */
export function parseEventHubUrl(raw: string): EventHubEndpoint {
  const text = raw.trim();
  const q = text.indexOf('?');
  const base = q < 0 ? text : text.slice(0, q);
  const query = q < 0 ? '' : text.slice(q + 1);
  let parsed: URL;
  try {
    parsed = new URL(base);
  } catch {
    throw new Error(`event hub endpoint is not a URL: ${redactUrl(base)}`);
  }
  if (parsed.protocol !== 'amqp:' && parsed.protocol !== 'amqps:') {
    throw new Error(`event hub endpoint must be amqp:// or amqps://, got ${redactUrl(base)}`);
  }
  if (!parsed.hostname) throw new Error(`event hub endpoint has no host: ${redactUrl(base)}`);

  let retries = DEFAULT_RETRIES;
  let connectDelayMs = DEFAULT_CONNECT_DELAY_MS;
  const kept: string[] = [];
  for (const part of query.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const key = safeDecode(eq < 0 ? part : part.slice(0, eq)).toLowerCase();
    const value = unquote(safeDecode(eq < 0 ? '' : part.slice(eq + 1)));
    if (key === 'retries') {
      const n = Number(value);
      if (value !== '' && Number.isInteger(n) && n > 0) retries = n;
    } else if (key === 'connectdelay') {
      const s = Number(value);
      if (value !== '' && Number.isFinite(s) && s > 0) connectDelayMs = Math.max(1, Math.round(s * 1000));
    } else {
      kept.push(part);
    }
  }
  return {
    url: kept.length ? `${base}?${kept.join('&')}` : base,
    display: redactUrl(base),
    retries,
    connectDelayMs,
  };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

function unquote(s: string): string {
  const t = s.trim();
  if (t.length >= 2 && (t[0] === "'" || t[0] === '"') && t[t.length - 1] === t[0]) return t.slice(1, -1).trim();
  return t;
}

export type EventHandler = (routingKey: string, body: Buffer) => Promise<void>;

export interface EventHubOptions {
  /** CC-form AMQP URLs, tried in order. */
  endpoints: string[];
  /** Routing keys to bind: notification, keyManager, tokenRevocation, throttleData. */
  topics: string[];
  /** Delay before the second round over the endpoint list; doubles per round up to 60 s. */
  reconnectIntervalMs: number;
  /** How often a failed round over the list is repeated before giving up; -1: forever. */
  maxReconnectRounds: number;
  logger: Logger;
  /** basic.qos per topic channel (default 1). Handling stays one at a time per topic regardless. */
  prefetch?: number;
  /** Exchange to bind to (default `amq.topic`). Declared topic + durable. */
  exchange?: string;
  /** A handler still pending after this long is logged and its message acked (default 300 000; 0: wait forever). */
  handlerTimeoutMs?: number;
  /** Wait before nacking a message whose handler asked for a retry (default 1000 ms). */
  retryDelayMs?: number;
  /** Socket connect + AMQP handshake timeout per attempt (default 10 000 ms). */
  connectTimeoutMs?: number;
  /** `connection_name` client property, shown by the broker's management tools. */
  connectionName?: string;
}

/** Rejections with `retry === true` make the listener nack with requeue instead of acking. */
export class RetryableEventError extends Error {
  readonly retry = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RetryableEventError';
  }
}

export type EventHubState = 'idle' | 'connecting' | 'connected' | 'failed' | 'closed';

type ConnectedCallback = (endpoint: string) => void | Promise<void>;
type DisconnectedCallback = (error: Error) => void;
type FailedCallback = (error: Error) => void;

interface TopicConsumer {
  topic: string;
  channel: amqp.Channel;
  queue: string;
}

interface Session {
  id: number;
  endpoint: EventHubEndpoint;
  connection: amqp.ChannelModel;
  consumers: TopicConsumer[];
  /** False once the session was lost or closed; its leftover deliveries are skipped. */
  live: boolean;
}

class ClosedError extends Error {
  constructor() {
    super('event hub listener closed');
    this.name = 'ClosedError';
  }
}

const HANDLER_TIMEOUT = Symbol('handler timeout');

export class EventHubListener {
  private readonly endpoints: EventHubEndpoint[];
  private readonly topics: string[];
  private readonly exchange: string;
  private readonly prefetch: number;
  private readonly handlerTimeoutMs: number;
  private readonly retryDelayMs: number;
  private readonly connectTimeoutMs: number;
  private readonly connectionName: string;
  private readonly log: Logger;

  private stateValue: EventHubState = 'idle';
  private session: Session | undefined;
  private sessionCounter = 0;
  private loop: Promise<void> | undefined;
  private startWaiter: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly sleepers = new Set<() => void>();
  private readonly connectedCbs: ConnectedCallback[] = [];
  private readonly disconnectedCbs: DisconnectedCallback[] = [];
  private readonly failedCbs: FailedCallback[] = [];
  /**
   * Per topic, the tail of the serial processing chain. It outlives sessions, so a handler still
   * running for a lost connection finishes before the next connection's first message of that topic.
   */
  private readonly tails = new Map<string, Promise<void>>();
  /** Resolves on `close()`; waits that nothing else bounds race against it. */
  private readonly closedSignal: Promise<void>;
  private signalClosed!: () => void;

  constructor(
    private readonly options: EventHubOptions,
    private readonly handler: EventHandler,
  ) {
    if (!options.endpoints.length) throw new Error('event hub: no endpoints');
    if (!options.topics.length) throw new Error('event hub: no topics');
    this.endpoints = options.endpoints.map(parseEventHubUrl);
    this.topics = [...new Set(options.topics)];
    this.exchange = options.exchange ?? 'amq.topic';
    this.prefetch = Math.max(1, options.prefetch ?? 1);
    this.handlerTimeoutMs = Math.max(0, options.handlerTimeoutMs ?? 300_000);
    this.retryDelayMs = Math.max(0, options.retryDelayMs ?? 1000);
    this.connectTimeoutMs = Math.max(1, options.connectTimeoutMs ?? 10_000);
    this.connectionName = options.connectionName ?? 'apim-connect event hub';
    this.log = options.logger;
    this.closedSignal = new Promise<void>((resolve) => {
      this.signalClosed = resolve;
    });
  }

  /** True while a connection with all bindings is up. */
  get connected(): boolean {
    return this.stateValue === 'connected';
  }

  get state(): EventHubState {
    return this.stateValue;
  }

  /** The endpoint (redacted) of the current connection. */
  get endpoint(): string | undefined {
    return this.session?.live ? this.session.endpoint.display : undefined;
  }

  /**
   * Called after every successful (re)connect, once the queues are bound and before the first
   * delivery is handed out; a returned promise is awaited first (so a state re-pull there happens
   * before the events queued meanwhile are applied). Errors are logged.
   */
  onConnected(cb: ConnectedCallback): this {
    this.connectedCbs.push(cb);
    return this;
  }

  /** Called once per lost connection (not on `close()`). */
  onDisconnected(cb: DisconnectedCallback): this {
    this.disconnectedCbs.push(cb);
    return this;
  }

  /** Called when `maxReconnectRounds` ran out; the listener then stays down. */
  onFailed(cb: FailedCallback): this {
    this.failedCbs.push(cb);
    return this;
  }

  /**
   * Starts connecting. Resolves once connected the first time (bindings exist, consuming);
   * rejects if the rounds run out first or `close()` is called first. Reconnects go on in the
   * background either way until `close()`.
   */
  start(): Promise<void> {
    if (this.stateValue !== 'idle') return Promise.reject(new Error(`event hub listener already ${this.stateValue}`));
    this.stateValue = 'connecting';
    const started = new Promise<void>((resolve, reject) => {
      this.startWaiter = { resolve, reject };
    });
    this.runLoop(undefined);
    return started;
  }

  /** Stops everything: timers, reconnects, the connection. Pending handlers are not awaited. */
  async close(): Promise<void> {
    if (this.stateValue === 'closed') return;
    const wasConnected = this.stateValue === 'connected';
    this.stateValue = 'closed';
    this.signalClosed();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const wake of [...this.sleepers]) wake();
    this.sleepers.clear();
    this.settleStart(new ClosedError());
    const session = this.session;
    this.session = undefined;
    if (session) {
      session.live = false;
      await session.connection.close().catch(() => undefined);
    }
    await this.loop?.catch(() => undefined);
    if (wasConnected) this.log.info('event hub listener closed');
  }

  // ---- connect / reconnect ----

  private runLoop(lostFrom: string | undefined): void {
    const loop = this.connectLoop(lostFrom).catch((err: unknown) => {
      if (!(err instanceof ClosedError)) this.log.error('event hub reconnect loop failed', { error: errText(err) });
    });
    this.loop = loop;
  }

  private async connectLoop(lostFrom: string | undefined): Promise<void> {
    const maxRounds = this.options.maxReconnectRounds;
    let lastError: unknown;
    for (let round = 0; ; round++) {
      const firstRound = round === 0;
      for (let i = 0; i < this.endpoints.length; i++) {
        const ep = this.endpoints[i];
        for (let attempt = 1; attempt <= ep.retries; attempt++) {
          this.throwIfClosed();
          try {
            await this.connectTo(ep);
            return;
          } catch (err) {
            if (err instanceof ClosedError) throw err;
            lastError = err;
            this.log.debug('event hub connect attempt failed', {
              endpoint: ep.display,
              attempt,
              round,
              error: errText(err),
            });
          }
          if (attempt < ep.retries) await this.sleep(ep.connectDelayMs);
        }
        const next = this.endpoints[i + 1];
        if (next) {
          const msg = `event hub endpoint ${ep.display} unreachable after ${ep.retries} attempt(s), trying ${next.display}`;
          if (firstRound) this.log.warn(msg, { error: errText(lastError) });
          else this.log.debug(msg, { error: errText(lastError) });
        }
      }
      if (maxRounds >= 0 && round >= maxRounds) {
        this.giveUp(lastError, round + 1);
        return;
      }
      const delay = this.roundDelay(round);
      if (firstRound) {
        const why = lostFrom ? ` (connection to ${lostFrom} was lost)` : '';
        this.log.warn(
          `event hub: all endpoints down${why}; retrying in ${secs(delay)} s, ` +
            `backing off to every ${MAX_ROUND_DELAY_MS / 1000} s`,
          { error: errText(lastError), endpoints: this.endpoints.map((e) => e.display) },
        );
      } else if (this.baseDelay(round) >= MAX_ROUND_DELAY_MS && this.baseDelay(round - 1) < MAX_ROUND_DELAY_MS) {
        this.log.info(`event hub: still down, retrying every ~${MAX_ROUND_DELAY_MS / 1000} s`, { error: errText(lastError) });
      } else {
        this.log.debug(`event hub: all endpoints down, retrying in ${secs(delay)} s`, { round, error: errText(lastError) });
      }
      await this.sleep(delay);
    }
  }

  private baseDelay(round: number): number {
    const base = Math.max(1, this.options.reconnectIntervalMs);
    return Math.min(MAX_ROUND_DELAY_MS, base * 2 ** Math.min(round, 30));
  }

  /** Exponential backoff capped at 60 s, ±20 % jitter (still capped). */
  private roundDelay(round: number): number {
    const base = this.baseDelay(round);
    const jittered = base * (0.8 + Math.random() * 0.4);
    return Math.max(1, Math.min(MAX_ROUND_DELAY_MS, Math.round(jittered)));
  }

  private giveUp(lastError: unknown, rounds: number): void {
    this.stateValue = 'failed';
    const err = new Error(
      `event hub: all endpoints down after ${rounds} round(s), giving up (last error: ${errText(lastError)})`,
    );
    this.log.error(err.message, { endpoints: this.endpoints.map((e) => e.display) });
    this.settleStart(err);
    for (const cb of this.failedCbs) this.safeCall('onFailed', () => cb(err));
  }

  /** One attempt: connect, set up the topology, announce, start consuming. Throws on failure. */
  private async connectTo(ep: EventHubEndpoint): Promise<void> {
    const connection = await amqp.connect(ep.url, {
      timeout: this.connectTimeoutMs,
      clientProperties: { connection_name: this.connectionName },
    });
    const session: Session = { id: ++this.sessionCounter, endpoint: ep, connection, consumers: [], live: false };
    // Listeners first: an 'error' without a listener would throw out of amqplib.
    connection.on('error', (err: Error) => this.log.debug('event hub connection error', { endpoint: ep.display, error: errText(err) }));
    connection.on('close', (err?: Error) => this.lost(session, err ?? new Error('connection closed')));
    connection.on('blocked', (reason: string) =>
      this.log.warn('event hub connection blocked by the broker', { endpoint: ep.display, reason }),
    );
    connection.on('unblocked', () => this.log.info('event hub connection unblocked', { endpoint: ep.display }));
    try {
      this.throwIfClosed();
      for (const topic of this.topics) {
        const channel = await connection.createChannel();
        channel.on('error', (err: Error) => this.lost(session, new Error(`channel for ${topic} failed: ${errText(err)}`)));
        // Deferred: when the whole connection goes, its channels close first and the
        // connection's own 'close' (same tick) carries the real reason.
        channel.on('close', () => setImmediate(() => this.lost(session, new Error(`channel for ${topic} closed`))));
        await channel.assertExchange(this.exchange, 'topic', { durable: true, autoDelete: false, internal: false });
        await channel.prefetch(this.prefetch);
        const q = await channel.assertQueue('', { durable: false, exclusive: true, autoDelete: true });
        await channel.bindQueue(q.queue, this.exchange, topic);
        session.consumers.push({ topic, channel, queue: q.queue });
      }
      this.throwIfClosed();
    } catch (err) {
      await connection.close().catch(() => undefined);
      throw err;
    }

    session.live = true;
    this.session = session;
    this.stateValue = 'connected';
    this.log.info(`event hub connected to ${ep.display}`, { topics: this.topics, exchange: this.exchange });

    for (const cb of this.connectedCbs) {
      // A callback that never settles must not keep close() waiting.
      await Promise.race([this.safeCallAsync('onConnected', () => cb(ep.display)), this.closedSignal]);
      if (!session.live) return; // lost (or closed) meanwhile: the loss handler took over
    }
    try {
      for (const c of session.consumers) {
        await c.channel.consume(c.queue, (msg) => this.enqueue(session, c, msg), { noAck: false });
      }
    } catch (err) {
      // Only reachable when the connection broke meanwhile; its close handler reconnects.
      this.lost(session, err instanceof Error ? err : new Error(String(err)));
    }
    if (session.live) this.settleStart();
  }

  /** The connection or one of its channels failed: drop the session and reconnect. */
  private lost(session: Session, err: Error): void {
    if (!session.live || this.stateValue === 'closed') return;
    session.live = false;
    if (this.session === session) this.session = undefined;
    this.stateValue = 'connecting';
    this.log.warn(`event hub connection to ${session.endpoint.display} lost, reconnecting`, { error: errText(err) });
    // A channel failure leaves the connection open; close it so its queues go too.
    session.connection.close().catch(() => undefined);
    for (const cb of this.disconnectedCbs) this.safeCall('onDisconnected', () => cb(err));
    if (this.stateValue !== 'connecting') return; // a callback closed us
    this.runLoop(session.endpoint.display);
  }

  // ---- deliveries ----

  private enqueue(session: Session, consumer: TopicConsumer, msg: amqp.ConsumeMessage | null): void {
    if (msg === null) {
      this.lost(session, new Error(`consumer for ${consumer.topic} cancelled by the broker`));
      return;
    }
    const tail = this.tails.get(consumer.topic) ?? Promise.resolve();
    this.tails.set(
      consumer.topic,
      tail
        .then(() => this.process(session, consumer, msg))
        .catch((err: unknown) => {
          this.log.error('event hub delivery processing failed', { routingKey: consumer.topic, error: errText(err) });
        }),
    );
  }

  private async process(session: Session, consumer: TopicConsumer, msg: amqp.ConsumeMessage): Promise<void> {
    if (!session.live) return; // its queue died with the connection; the re-pull on reconnect covers it
    const routingKey = typeof msg.fields?.routingKey === 'string' ? msg.fields.routingKey : consumer.topic;
    const body = Buffer.isBuffer(msg.content) ? msg.content : Buffer.alloc(0);
    let outcome: unknown;
    try {
      outcome = await this.runHandler(routingKey, body);
    } catch (err) {
      if (isRetry(err)) {
        this.log.warn('event hub handler asked for a retry; message will be redelivered', {
          routingKey,
          redelivered: msg.fields?.redelivered === true,
          error: errText(err),
        });
        await this.sleep(this.retryDelayMs).catch(() => undefined);
        if (session.live) settle(() => consumer.channel.nack(msg, false, true));
        return;
      }
      this.log.error('event hub handler failed; message dropped', {
        routingKey,
        body: excerpt(body),
        error: errText(err),
      });
    }
    if (outcome === HANDLER_TIMEOUT) {
      this.log.error(`event hub handler did not settle within ${this.handlerTimeoutMs} ms; message acked, moving on`, {
        routingKey,
        body: excerpt(body),
      });
    }
    if (session.live) settle(() => consumer.channel.ack(msg));
  }

  private runHandler(routingKey: string, body: Buffer): Promise<unknown> {
    let work: Promise<void>;
    try {
      work = Promise.resolve(this.handler(routingKey, body));
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.handlerTimeoutMs <= 0) return work;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        work.catch(() => undefined); // a late rejection is not unhandled
        resolve(HANDLER_TIMEOUT);
      }, this.handlerTimeoutMs);
      this.timers.add(timer);
      work.then(
        () => {
          clearTimeout(timer);
          this.timers.delete(timer);
          resolve(undefined);
        },
        (err: unknown) => {
          clearTimeout(timer);
          this.timers.delete(timer);
          reject(err);
        },
      );
    });
  }

  // ---- helpers ----

  private settleStart(err?: Error): void {
    const w = this.startWaiter;
    if (!w) return;
    this.startWaiter = undefined;
    if (err) w.reject(err);
    else w.resolve();
  }

  private throwIfClosed(): void {
    if (this.stateValue === 'closed') throw new ClosedError();
  }

  /** A timer `close()` cancels; rejects with ClosedError if closed before or meanwhile. */
  private sleep(ms: number): Promise<void> {
    if (this.stateValue === 'closed') return Promise.reject(new ClosedError());
    return new Promise<void>((resolve, reject) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.timers.delete(timer);
        this.sleepers.delete(wake);
        if (this.stateValue === 'closed') reject(new ClosedError());
        else resolve();
      };
      const timer = setTimeout(wake, ms);
      this.timers.add(timer);
      this.sleepers.add(wake);
    });
  }

  private safeCall(what: string, fn: () => unknown): void {
    try {
      const r = fn();
      if (r instanceof Promise) r.catch((err: unknown) => this.log.error(`event hub ${what} callback failed`, { error: errText(err) }));
    } catch (err) {
      this.log.error(`event hub ${what} callback failed`, { error: errText(err) });
    }
  }

  private async safeCallAsync(what: string, fn: () => void | Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.log.error(`event hub ${what} callback failed`, { error: errText(err) });
    }
  }
}

function isRetry(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { retry?: unknown }).retry === true;
}

/** ack/nack on a channel that closed meanwhile throws; the message is gone with its queue then. */
function settle(fn: () => void): void {
  try {
    fn();
  } catch {
    /* channel closed */
  }
}

function errText(err: unknown): string {
  if (err === undefined) return 'unknown error';
  if (err instanceof Error) return redactUrlsIn(err.message || err.name);
  return redactUrlsIn(String(err));
}

/** The start of a body for logs: at most 160 characters, secret-looking values masked. */
export function excerpt(body: Buffer, max = 160): string {
  const head = body.subarray(0, 4 * max).toString('utf8');
  const masked = maskSecrets(head).replace(/[\u0000-\u001f]/g, ' ');
  const cut = masked.length > max ? `${masked.slice(0, max)}…` : masked;
  return body.length > 4 * max || masked.length > max ? `${cut} (${body.length} bytes)` : cut;
}

function secs(ms: number): string {
  return (ms / 1000).toFixed(ms < 10_000 ? 1 : 0);
}
