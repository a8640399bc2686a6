import { execFile } from 'node:child_process';
import * as net from 'node:net';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import * as amqp from 'amqplib';
import * as winston from 'winston';

/**
 * The real RabbitMQ the tests talk to (127.0.0.1:5672, guest/guest on the project's machines and
 * in CI). Tests that need it fail — never skip — when it is not there.
 */
export const RABBIT_URL = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

const run = promisify(execFile);

/** Throws a loud error unless the broker answers an AMQP handshake. */
export async function requireRabbit(url = RABBIT_URL): Promise<void> {
  let conn: amqp.ChannelModel | undefined;
  try {
    conn = await amqp.connect(url, { timeout: 3000 });
  } catch (err) {
    throw new Error(
      `RabbitMQ is required at ${url.replace(/:[^:@/]*@/, ':***@')} for this test and is not reachable ` +
        `(${(err as Error).message}). Start it (rabbitmq-server -detached) — these tests never skip.`,
    );
  } finally {
    await conn?.close().catch(() => undefined);
  }
}

/**
 * A private virtual host on the shared broker, for a test file: its exchanges (amq.topic
 * included), queues and connections are its own, so the real routing keys can be used, and a
 * `rabbitmqctl close_all_connections` without `--global` from another test file (it acts on
 * vhost `/` only) does not cut its connections. `drop()` deletes it with everything in it.
 */
export class TestVhost {
  private constructor(readonly vhost: string) {}

  static async create(prefix = 'apim-connect-test'): Promise<TestVhost> {
    const vhost = uniqueName(prefix);
    await ctl(['add_vhost', vhost]);
    const user = decodeURIComponent(new URL(RABBIT_URL).username || 'guest');
    await ctl(['set_permissions', '-p', vhost, user, '.*', '.*', '.*']);
    return new TestVhost(vhost);
  }

  /** RABBIT_URL (or another broker URL on the same node, e.g. through a proxy) with this vhost. */
  url(base = RABBIT_URL): string {
    const u = new URL(base);
    return `${u.protocol}//${u.username ? `${u.username}:${u.password}@` : ''}${u.host}/${encodeURIComponent(this.vhost)}`;
  }

  async drop(): Promise<void> {
    await ctl(['delete_vhost', this.vhost]).catch(() => undefined);
  }
}

export function uniqueName(prefix: string): string {
  return `${prefix}.${process.pid}.${randomBytes(4).toString('hex')}`;
}

/** A publisher on its own connection, with a private durable topic exchange (deleted by `close`). */
export class TestBroker {
  private constructor(
    private readonly conn: amqp.ChannelModel,
    private readonly ch: amqp.ConfirmChannel,
    readonly exchange: string,
    private readonly ownExchange: boolean,
  ) {}

  /** `exchange` given: publish there (e.g. amq.topic), else to a fresh private exchange. */
  static async open(exchange?: string, url = RABBIT_URL): Promise<TestBroker> {
    const conn = await amqp.connect(url, { timeout: 3000 });
    conn.on('error', () => undefined);
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => undefined);
    const name = exchange ?? uniqueName('apim-connect.test');
    // Same properties the listener declares, so its redeclare is a no-op.
    if (!exchange) await ch.assertExchange(name, 'topic', { durable: true, autoDelete: false });
    return new TestBroker(conn, ch, name, !exchange);
  }

  /** Publishes and waits for the broker's confirm (so the message is routed when this resolves). */
  async publish(routingKey: string, body: string | Buffer): Promise<void> {
    const content = typeof body === 'string' ? Buffer.from(body) : body;
    await new Promise<void>((resolve, reject) => {
      this.ch.publish(this.exchange, routingKey, content, { contentType: 'text/plain' }, (err) =>
        err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(),
      );
    });
  }

  async close(): Promise<void> {
    if (this.ownExchange) await this.ch.deleteExchange(this.exchange).catch(() => undefined);
    await this.conn.close().catch(() => undefined);
  }
}

async function ctl(args: string[]): Promise<string> {
  const { stdout } = await run('rabbitmqctl', ['-q', ...args], { timeout: 15_000 });
  return stdout;
}

async function connectionPids(name: string): Promise<string[]> {
  const out = await ctl(['list_connections', '--no-table-headers', 'pid', 'client_properties']);
  return out
    .split('\n')
    .filter((line) => line.includes(`{"connection_name","${name}"}`))
    .map((line) => line.split('\t')[0].trim())
    .filter(Boolean);
}

/** Server-side close (connection.close, CONNECTION_FORCED) of every connection whose `connection_name` is `name`. */
export async function closeConnectionsNamed(name: string, reason = 'test: forced close'): Promise<number> {
  const pids = await connectionPids(name);
  for (const pid of pids) await ctl(['close_connection', pid, reason]);
  return pids.length;
}

export interface QueueStats {
  queue: string;
  /** Binding keys from `exchange` to this queue. */
  keys: string[];
  ready: number;
  unacked: number;
}

/** The queues the connection named `name` owns (exclusive queues), with their bindings from `exchange`. */
export async function queuesOf(name: string, exchange: string, vhost = '/'): Promise<QueueStats[]> {
  const [pidList, queues, bindings] = await Promise.all([
    connectionPids(name),
    ctl(['list_queues', '-p', vhost, '--no-table-headers', 'name', 'owner_pid', 'messages_ready', 'messages_unacknowledged']),
    ctl(['list_bindings', '-p', vhost, '--no-table-headers', 'source_name', 'destination_name', 'routing_key']),
  ]);
  const pids = new Set(pidList);
  const keys = new Map<string, string[]>();
  for (const line of bindings.split('\n')) {
    const [src, dst, key] = line.split('\t');
    if (src === exchange && dst) keys.set(dst, [...(keys.get(dst) ?? []), key]);
  }
  return queues
    .split('\n')
    .map((line) => line.split('\t'))
    .filter((f) => f.length >= 4 && pids.has(f[1].trim()))
    .map((f) => ({ queue: f[0], keys: keys.get(f[0]) ?? [], ready: Number(f[2]), unacked: Number(f[3]) }));
}

/** Deletes a queue from the server side (its consumer gets a basic.cancel). */
export async function deleteQueue(queue: string, vhost = '/'): Promise<void> {
  await ctl(['delete_queue', '-p', vhost, queue]);
}

export interface LogEntry {
  level: string;
  message: string;
  [key: string]: unknown;
}

/** A winston logger that keeps its entries (debug and up) for assertions. */
export function captureLogger(): { logger: winston.Logger; entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const stream = new Writable({
    objectMode: true,
    write(info: LogEntry, _enc, cb) {
      entries.push(info);
      if (process.env.TEST_LOG) process.stderr.write(`${info.level} ${info.message} ${JSON.stringify({ ...info, level: undefined, message: undefined })}\n`);
      cb();
    },
  });
  const logger = winston.createLogger({ level: 'debug', transports: [new winston.transports.Stream({ stream })] });
  return { logger, entries };
}

/** Polls `cond` every 10 ms until it holds; throws after `timeoutMs` with `what`. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A TCP forwarder in front of the broker, for faults rabbitmqctl cannot make: `down()` cuts every
 * proxied connection abruptly and refuses new ones (broker gone), `up()` accepts again on the
 * same port (broker back).
 */
export class BrokerProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private constructor(readonly port: number) {}

  static async start(target = { host: '127.0.0.1', port: 5672 }): Promise<BrokerProxy> {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const proxy = new BrokerProxy(port);
    proxy.target = target;
    await proxy.up();
    return proxy;
  }

  private target = { host: '127.0.0.1', port: 5672 };

  get url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}`;
  }

  async up(): Promise<void> {
    if (this.server) return;
    const server = net.createServer((client) => {
      const upstream = net.connect(this.target.port, this.target.host);
      this.sockets.add(client).add(upstream);
      const drop = (): void => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}
