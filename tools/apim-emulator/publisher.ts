/**
 * Publishes APIM's events to an AMQP 0-9-1 broker the way APIM's JMS publishers reach it: a topic
 * exchange (`amq.topic`), the topic name as routing key, a JMS TextMessage (UTF-8 JSON text).
 * The consumer reads only the body (protocol notes §1.4); the properties imitate what a Qpid/Andes
 * JMS producer sets on a TextMessage and can be overridden.
 */
import { randomUUID } from 'node:crypto';
import * as amqp from 'amqplib';
import { envelopeText, type Envelope } from './events';

export interface PublishedEvent {
  seq: number;
  routingKey: string;
  /** The envelope (or, for raw publishes, whatever JSON the text parsed to). */
  body: Envelope;
  text: string;
  properties: amqp.Options.Publish;
  at: number;
  /** 'published' went to the broker; 'dropped' was lost while paused in drop mode; 'held' awaits resume. */
  status: 'published' | 'dropped' | 'held';
}

export type PauseMode = 'drop' | 'hold';

/** JMS TextMessage as a Qpid 0-9-1 JMS producer sends it: text/plain, PERSISTENT, priority 4, ms timestamp, ID: message id. */
export function defaultMessageProperties(now: number): amqp.Options.Publish {
  return {
    contentType: 'text/plain',
    deliveryMode: 2,
    priority: 4,
    timestamp: now,
    messageId: `ID:${randomUUID()}`,
    headers: { JMS_QPID_DESTTYPE: 2 },
  };
}

export function maskUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@');
}

export class EventPublisher {
  readonly log: PublishedEvent[] = [];
  private conn: amqp.ChannelModel | undefined;
  private ch: amqp.ConfirmChannel | undefined;
  private connecting: Promise<amqp.ConfirmChannel> | undefined;
  private paused: PauseMode | undefined;
  private seq = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;

  private url: string | undefined;
  private exchange = 'amq.topic';
  private properties: (now: number) => amqp.Options.Publish = defaultMessageProperties;

  /** Until connected, events are recorded as 'dropped' (nobody could have received them). */
  async connect(url: string, exchange: string, properties?: (now: number) => amqp.Options.Publish): Promise<void> {
    this.url = url;
    this.exchange = exchange;
    if (properties) this.properties = properties;
    this.closed = false;
    try {
      await this.channel();
    } catch (err) {
      this.url = undefined;
      throw new Error(`apim-emulator: cannot connect to the AMQP broker at ${maskUrl(url)}: ${(err as Error).message}`);
    }
  }

  pause(mode: PauseMode = 'drop'): void {
    this.paused = mode;
  }

  isPaused(): PauseMode | undefined {
    return this.paused;
  }

  /** Resumes publishing; events held in 'hold' mode are sent now, in order. */
  async resume(): Promise<void> {
    this.paused = undefined;
    const held = this.log.filter((e) => e.status === 'held');
    await Promise.all(held.map((e) => this.enqueue(() => this.send(e))));
  }

  /** Publishes (or drops/holds) one envelope; resolves after the broker confirmed it. Calls are serialised. */
  async publish(routingKey: string, body: Envelope | string): Promise<PublishedEvent> {
    const at = Date.now();
    const text = typeof body === 'string' ? body : envelopeText(body);
    let parsed: Envelope;
    try {
      parsed = typeof body === 'string' ? (JSON.parse(body) as Envelope) : body;
    } catch {
      parsed = { event: { payloadData: {} } };
    }
    const ev: PublishedEvent = {
      seq: ++this.seq, routingKey, body: parsed, text, properties: this.properties(at), at,
      status: !this.url || this.paused === 'drop' ? 'dropped' : this.paused === 'hold' ? 'held' : 'published',
    };
    this.log.push(ev);
    if (ev.status === 'published') await this.enqueue(() => this.send(ev));
    return ev;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.url = undefined;
    await this.chain.catch(() => undefined);
    const conn = this.conn;
    this.conn = undefined;
    this.ch = undefined;
    if (conn) await conn.close().catch(() => undefined);
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async send(ev: PublishedEvent): Promise<void> {
    // One retry on a fresh connection covers a broker restart between two calls.
    for (let attempt = 0; ; attempt++) {
      try {
        const ch = await this.channel();
        ch.publish(this.exchange, ev.routingKey, Buffer.from(ev.text, 'utf8'), ev.properties);
        await ch.waitForConfirms();
        ev.status = 'published';
        return;
      } catch (err) {
        this.ch = undefined;
        if (attempt >= 1 || this.closed) throw new Error(`apim-emulator: publishing ${ev.routingKey} failed: ${(err as Error).message}`);
      }
    }
  }

  private async channel(): Promise<amqp.ConfirmChannel> {
    const url = this.url;
    if (this.closed || !url) throw new Error('apim-emulator: publisher not connected');
    if (this.ch) return this.ch;
    if (!this.connecting) {
      this.connecting = (async () => {
        try {
          const conn = await amqp.connect(url, { timeout: 5000 });
          conn.on('error', () => undefined);
          conn.on('close', () => {
            if (this.conn === conn) {
              this.conn = undefined;
              this.ch = undefined;
            }
          });
          const ch = await conn.createConfirmChannel();
          ch.on('error', () => undefined);
          ch.on('close', () => {
            if (this.ch === ch) this.ch = undefined;
          });
          // Same declaration CC (and APIM's broker) use: the built-in durable topic exchange.
          await ch.assertExchange(this.exchange, 'topic', { durable: true, autoDelete: false, internal: false });
          this.conn = conn;
          this.ch = ch;
          return ch;
        } finally {
          this.connecting = undefined;
        }
      })();
    }
    return this.connecting;
  }
}
