import {
  DEFAULT_CONNECT_DELAY_MS,
  DEFAULT_RETRIES,
  EventHubListener,
  RetryableEventError,
  excerpt,
  parseEventHubUrl,
  type EventHandler,
  type EventHubOptions,
} from '../../../src/sources/apim/eventHub';
import {
  BrokerProxy,
  TestVhost,
  TestBroker,
  captureLogger,
  closeConnectionsNamed,
  delay,
  deleteQueue,
  queuesOf,
  requireRabbit,
  uniqueName,
  waitFor,
  type LogEntry,
  type QueueStats,
} from '../../helpers/rabbit';

/**
 * Against the real RabbitMQ at 127.0.0.1:5672 (never skipped). The file runs in a private vhost
 * of that broker, so it publishes the real routing keys to amq.topic without seeing (or being
 * seen by) other test files, and another file's `rabbitmqctl close_all_connections` (vhost `/`)
 * does not cut its connections. Faults are made per connection: `rabbitmqctl close_connection`
 * by the listener's `connection_name`, `delete_queue`, and a TCP proxy that drops and refuses.
 */

const TOPICS = ['notification', 'keyManager', 'tokenRevocation', 'throttleData'];
const FAST = "?retries='2'&connectdelay='0.05'";

interface Harness {
  listener: EventHubListener;
  broker: TestBroker;
  entries: LogEntry[];
  name: string;
  connects: string[];
  disconnects: Error[];
}

const open: Array<{ close(): Promise<void> }> = [];

/** A listener on the test vhost and a publisher; `exchange` null: a fresh private exchange. */
async function harness(
  handler: EventHandler,
  opts: Partial<EventHubOptions> = {},
  exchange: string | null = 'amq.topic',
): Promise<Harness> {
  const broker = await TestBroker.open(exchange ?? undefined, vh.url());
  open.push(broker);
  const { logger, entries } = captureLogger();
  const name = uniqueName('eventhub-test');
  const listener = new EventHubListener(
    {
      endpoints: [vh.url() + FAST],
      topics: TOPICS,
      reconnectIntervalMs: 100,
      maxReconnectRounds: -1,
      logger,
      exchange: exchange === 'amq.topic' ? undefined : broker.exchange, // undefined: the default, amq.topic
      connectionName: name,
      retryDelayMs: 20,
      ...opts,
    },
    handler,
  );
  open.unshift(listener); // closed before the broker's exchange is deleted
  const h: Harness = { listener, broker, entries, name, connects: [], disconnects: [] };
  listener.onConnected((ep) => void h.connects.push(ep));
  listener.onDisconnected((err) => void h.disconnects.push(err));
  return h;
}

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const messages = (entries: LogEntry[], re: RegExp, level?: string): LogEntry[] =>
  entries.filter((e) => re.test(e.message) && (!level || e.level === level));

/** The topic's queue once nothing is ready or unacked (acks reach the broker asynchronously), or as it is after 2 s. */
async function settledQueue(h: Harness, topic: string): Promise<QueueStats | undefined> {
  const until = Date.now() + 2000;
  for (;;) {
    const q = (await queuesOf(h.name, h.broker.exchange, vh.vhost)).find((x) => x.keys.includes(topic));
    if (!q || (q.ready === 0 && q.unacked === 0) || Date.now() > until) return q;
    await delay(50);
  }
}

let vh: TestVhost;

beforeAll(async () => {
  await requireRabbit();
  vh = await TestVhost.create();
});

afterAll(async () => {
  await vh?.drop();
});

afterEach(async () => {
  for (const o of open.splice(0)) await o.close();
});

describe('parseEventHubUrl', () => {
  it('reads the Choreo Connect form: quoted retries and connectdelay (seconds) are stripped from the dial URL', () => {
    const ep = parseEventHubUrl("amqp://admin:s3cret@apim:5672?retries='10'&connectdelay='30'");
    expect(ep).toEqual({
      url: 'amqp://admin:s3cret@apim:5672',
      display: 'amqp://admin:***@apim:5672',
      retries: 10,
      connectDelayMs: 30_000,
    });
  });

  it('keeps other parameters and the vhost, accepts double quotes, unquoted values and fractions of a second', () => {
    const ep = parseEventHubUrl('amqps://u:p@h:5671/carbon?heartbeat=15&connectdelay="0.25"&retries=3&frameMax=8192');
    expect(ep.url).toBe('amqps://u:p@h:5671/carbon?heartbeat=15&frameMax=8192');
    expect(ep.retries).toBe(3);
    expect(ep.connectDelayMs).toBe(250);
    // URL-encoded quotes (%27) as Go's ParseQuery would decode them
    expect(parseEventHubUrl('amqp://h?retries=%277%27').retries).toBe(7);
  });

  it('falls back to CC defaults (5 attempts, 10 s) for missing, zero or junk values', () => {
    const urls = [
      'amqp://h:5672',
      "amqp://h?retries='0'&connectdelay='0'",
      "amqp://h?retries='x'&connectdelay=''",
      "amqp://h?retries='1.5'&connectdelay='-1'",
    ];
    for (const u of urls) {
      const ep = parseEventHubUrl(u);
      expect([ep.retries, ep.connectDelayMs]).toEqual([DEFAULT_RETRIES, DEFAULT_CONNECT_DELAY_MS]);
    }
  });

  it('refuses what is not an amqp URL, without echoing the password', () => {
    expect(() => parseEventHubUrl('http://u:pw@h')).toThrow(/amqp:\/\/ or amqps:\/\/.*u:\*\*\*@h/);
    expect(() => parseEventHubUrl('Endpoint=sb://x/;SharedAccessKey=y')).toThrow(/not a URL/);
    const { logger } = captureLogger();
    const opts = { endpoints: [], topics: TOPICS, reconnectIntervalMs: 1, maxReconnectRounds: 0, logger };
    expect(() => new EventHubListener(opts, async () => undefined)).toThrow(/no endpoints/);
  });
});

describe('excerpt', () => {
  it('masks secret-looking JSON values and cuts long bodies', () => {
    const body = Buffer.from(JSON.stringify({ name: 'km', clientSecret: 'hunter2', password: 'pw1', 'revokedToken': 'abc.def', n: 1 }));
    const text = excerpt(body);
    expect(text).not.toMatch(/hunter2|pw1|abc\.def/);
    expect(text).toContain('"clientSecret":"***"');
    expect(excerpt(Buffer.from('{"access_token": 12345, "pwd":"a\\"b"}'))).toBe('{"access_token": "***", "pwd":"***"}');
    const long = excerpt(Buffer.alloc(10_000, 'a'));
    expect(long.length).toBeLessThan(200);
    expect(long).toContain('(10000 bytes)');
  });
});

describe('EventHubListener against RabbitMQ', () => {
  it('binds one server-named exclusive queue per routing key and delivers each key to the handler', async () => {
    const got: Array<[string, string]> = [];
    const h = await harness(async (key, body) => void got.push([key, body.toString()]));
    await h.listener.start();
    expect(h.listener.connected).toBe(true);
    expect(h.connects).toEqual([`amqp://guest:***@127.0.0.1:5672/${encodeURIComponent(vh.vhost)}`]);

    const queues = await queuesOf(h.name, h.broker.exchange, vh.vhost);
    expect(queues.map((q) => q.keys).sort()).toEqual(TOPICS.map((t) => [t]).sort());
    expect(queues.every((q) => q.queue.startsWith('amq.gen-'))).toBe(true);

    for (const key of [...TOPICS, 'cacheInvalidation', 'keymanager']) await h.broker.publish(key, `m-${key}`);
    await waitFor(() => got.length >= 4, '4 deliveries');
    await delay(100);
    expect(got.sort()).toEqual(TOPICS.map((t) => [t, `m-${t}`]).sort());
  });

  it('hands out one message at a time per topic, in order, and acks only after the handler resolved', async () => {
    const log: string[] = [];
    const gates = new Map<string, ReturnType<typeof deferred>>();
    const h = await harness(async (_key, body) => {
      const m = body.toString();
      log.push(`start ${m}`);
      const gate = deferred();
      gates.set(m, gate);
      await gate.promise;
      log.push(`end ${m}`);
    });
    await h.listener.start();
    for (const m of ['n1', 'n2', 'n3']) await h.broker.publish('notification', m);
    await waitFor(() => gates.has('n1'), 'n1 handed out');
    await delay(150);
    expect(log).toEqual(['start n1']);
    // prefetch 1: the broker holds the rest back, and n1 itself is not acked yet
    const q = (await queuesOf(h.name, h.broker.exchange, vh.vhost)).find((x) => x.keys.includes('notification'));
    expect(q).toMatchObject({ ready: 2, unacked: 1 });

    gates.get('n1')!.resolve();
    await waitFor(() => gates.has('n2'), 'n2 handed out');
    expect(log).toEqual(['start n1', 'end n1', 'start n2']);
    gates.get('n2')!.resolve();
    await waitFor(() => gates.has('n3'), 'n3 handed out');
    gates.get('n3')!.resolve();
    await waitFor(() => log.length === 6, 'n3 done');
    expect(log).toEqual(['start n1', 'end n1', 'start n2', 'end n2', 'start n3', 'end n3']);
    expect(await settledQueue(h, 'notification')).toMatchObject({ ready: 0, unacked: 0 });
  });

  it('keeps per-topic order with a larger prefetch (internal queue), topics independent', async () => {
    const seen: string[] = [];
    const gate = deferred();
    const h = await harness(
      async (_key, body) => {
        const m = body.toString();
        seen.push(`start ${m}`);
        if (m === 'n1') await gate.promise; // notification blocked; other topics go on
        else await delay(5);
        seen.push(`end ${m}`);
      },
      { prefetch: 10 },
    );
    await h.listener.start();
    for (const [k, m] of [['notification', 'n1'], ['throttleData', 't1'], ['notification', 'n2'], ['throttleData', 't2'], ['notification', 'n3']]) {
      await h.broker.publish(k, m);
    }
    await waitFor(() => seen.includes('end t2'), 'throttleData done while notification waits');
    expect(seen.filter((s) => / n\d$/.test(s))).toEqual(['start n1']);
    const q = (await queuesOf(h.name, h.broker.exchange, vh.vhost)).find((x) => x.keys.includes('notification'));
    expect(q).toMatchObject({ ready: 0, unacked: 3 }); // delivered (prefetch 10) but none acked
    gate.resolve();
    await waitFor(() => seen.includes('end n3'), 'n3 done');
    expect(seen.filter((s) => / n\d$/.test(s))).toEqual(['start n1', 'end n1', 'start n2', 'end n2', 'start n3', 'end n3']);
    expect(seen.filter((s) => / t\d$/.test(s))).toEqual(['start t1', 'end t1', 'start t2', 'end t2']);
  });

  it('logs and acks a message whose handler fails (async or sync), and consumption goes on', async () => {
    const calls: string[] = [];
    const h = await harness(((_key: string, body: Buffer) => {
      const m = body.toString();
      calls.push(m);
      if (m.includes('async-bad')) return Promise.reject(new Error('cannot apply'));
      if (m.includes('sync-bad')) throw new Error('exploded synchronously');
      return Promise.resolve();
    }) as EventHandler);
    await h.listener.start();
    await h.broker.publish('keyManager', JSON.stringify({ kind: 'async-bad', clientSecret: 'hunter2' }));
    await h.broker.publish('keyManager', 'sync-bad');
    await h.broker.publish('keyManager', 'good');
    await waitFor(() => calls.includes('good'), 'the message after the failures');
    await delay(200); // a nacked-with-requeue message would be back by now
    expect(calls).toEqual([JSON.stringify({ kind: 'async-bad', clientSecret: 'hunter2' }), 'sync-bad', 'good']);
    const errors = messages(h.entries, /handler failed/, 'error');
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatchObject({ routingKey: 'keyManager', error: 'cannot apply' });
    expect(String(errors[0].body)).toContain('async-bad');
    expect(JSON.stringify(h.entries)).not.toContain('hunter2');
    expect(errors[1]).toMatchObject({ routingKey: 'keyManager', body: 'sync-bad', error: 'exploded synchronously' });
    expect(await settledQueue(h, 'keyManager')).toMatchObject({ ready: 0, unacked: 0 });
  });

  it('nacks with requeue when the handler rejects with retry === true; the message comes back before the next one', async () => {
    const calls: string[] = [];
    let failures = 0;
    const h = await harness(async (_key, body) => {
      const m = body.toString();
      calls.push(m);
      if (m === 'r' && failures < 2) {
        failures++;
        if (failures === 1) throw new RetryableEventError('APIM REST down');
        throw Object.assign(new Error('plain error with retry flag'), { retry: true });
      }
    });
    await h.listener.start();
    await h.broker.publish('tokenRevocation', 'r');
    await h.broker.publish('tokenRevocation', 'next');
    await waitFor(() => calls.includes('next'), 'next');
    expect(calls).toEqual(['r', 'r', 'r', 'next']);
    expect(messages(h.entries, /asked for a retry/, 'warn')).toHaveLength(2);
    expect(messages(h.entries, /asked for a retry/)[1]).toMatchObject({ redelivered: true });
  });

  it('gives up waiting on a hanging handler after handlerTimeoutMs, acks, and goes on', async () => {
    const calls: string[] = [];
    const h = await harness(
      async (_key, body) => {
        calls.push(body.toString());
        if (body.toString() === 'hang') await new Promise(() => undefined);
      },
      { handlerTimeoutMs: 150 },
    );
    await h.listener.start();
    await h.broker.publish('notification', 'hang');
    await h.broker.publish('notification', 'after');
    await waitFor(() => calls.includes('after'), 'message after the hanging one');
    expect(calls).toEqual(['hang', 'after']);
    expect(messages(h.entries, /did not settle within 150 ms/, 'error')).toHaveLength(1);
  });

  it('runs onConnected after the bindings exist and before any delivery (re-pull first, then queued events)', async () => {
    const order: string[] = [];
    const h = await harness(async (_k, body) => void order.push(`event ${body.toString()}`));
    h.listener.onConnected(async () => {
      await h.broker.publish('notification', 'during-pull'); // bound already: queued, not lost
      await delay(100);
      order.push('pull done');
    });
    await h.listener.start();
    await waitFor(() => order.length === 2, 'event after the pull');
    expect(order).toEqual(['pull done', 'event during-pull']);
  });

  it('binds to another exchange when told (declared topic + durable, like amq.topic)', async () => {
    const got: string[] = [];
    const h = await harness(async (k, b) => void got.push(`${k}:${b.toString()}`), { topics: ['notification'] }, null);
    await h.listener.start();
    expect(h.broker.exchange).not.toBe('amq.topic');
    const queues = await queuesOf(h.name, h.broker.exchange, vh.vhost);
    expect(queues.map((q) => q.keys)).toEqual([['notification']]);
    await h.broker.publish('notification', 'x');
    await waitFor(() => got.length === 1, 'delivery via the private exchange');
    expect(got).toEqual(['notification:x']);
  });

  it('fails over from an unreachable endpoint to the next one, logging it once, passwords masked', async () => {
    const got: string[] = [];
    const t0 = Date.now();
    const h = await harness(async (_k, b) => void got.push(b.toString()), {
      endpoints: ["amqp://guest:guest@127.0.0.1:1?retries='3'&connectdelay='0.05'", vh.url() + "?retries='1'&connectdelay='5'"],
    });
    await h.listener.start();
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(100); // 3 attempts on :1, 50 ms apart
    expect(took).toBeLessThan(3000);
    const second = `amqp://guest:***@127.0.0.1:5672/${encodeURIComponent(vh.vhost)}`;
    expect(h.listener.endpoint).toBe(second);
    const warns = h.entries.filter((e) => e.level === 'warn');
    expect(warns.map((e) => e.message)).toEqual([
      `event hub endpoint amqp://guest:***@127.0.0.1:1 unreachable after 3 attempt(s), trying ${second}`,
    ]);
    expect(messages(h.entries, /connected to/, 'info')).toHaveLength(1);
    expect(messages(h.entries, /attempt failed/, 'debug')).toHaveLength(3);
    expect(JSON.stringify(h.entries)).not.toMatch(/guest:guest/);
    await h.broker.publish('throttleData', 'ok');
    await waitFor(() => got.length === 1, 'delivery after failover');
  });

  it('gives up after maxReconnectRounds when every endpoint is down, and start() rejects', async () => {
    const h = await harness(async () => undefined, {
      endpoints: ["amqp://guest:guest@127.0.0.1:1?retries='2'&connectdelay='0.02'", "amqp://127.0.0.1:2?retries='1'"],
      reconnectIntervalMs: 50,
      maxReconnectRounds: 2,
    });
    const failed: Error[] = [];
    h.listener.onFailed((e) => void failed.push(e));
    await expect(h.listener.start()).rejects.toThrow(/all endpoints down after 3 round\(s\), giving up/);
    expect(h.listener.state).toBe('failed');
    expect(failed).toHaveLength(1);
    expect(messages(h.entries, /attempt failed/)).toHaveLength(9);
    // each state change once: one failover line, one "all down", one "giving up"
    expect(messages(h.entries, /unreachable/, 'warn')).toHaveLength(1);
    expect(messages(h.entries, /all endpoints down; retrying in/, 'warn')).toHaveLength(1);
    expect(messages(h.entries, /giving up/, 'error')).toHaveLength(1);
  });

  it('close() while retrying an unreachable broker stops at once and leaves no timers', async () => {
    const h = await harness(async () => undefined, {
      endpoints: ["amqp://127.0.0.1:1?retries='1000'&connectdelay='30'"],
    });
    const started = h.listener.start();
    await waitFor(() => messages(h.entries, /attempt failed/).length === 1, 'first failed attempt');
    const t0 = Date.now();
    await h.listener.close();
    expect(Date.now() - t0).toBeLessThan(200);
    await expect(started).rejects.toThrow(/closed/);
    expect(h.listener.state).toBe('closed');
  });

  it('close() does not wait for an onConnected callback that never settles', async () => {
    const h = await harness(async () => undefined);
    let called = false;
    h.listener.onConnected(() => {
      called = true;
      return new Promise<void>(() => undefined);
    });
    const started = h.listener.start();
    const outcome = started.catch((e: unknown) => e);
    await waitFor(() => called, 'onConnected');
    expect(h.listener.connected).toBe(true); // bindings exist; consumption waits for the callback
    const t0 = Date.now();
    await h.listener.close();
    expect(Date.now() - t0).toBeLessThan(500);
    expect(String(await outcome)).toMatch(/closed/);
  });

  it('reconnects after the broker closes the connection (rabbitmqctl close_connection), onConnected fires again', async () => {
    const got: string[] = [];
    const h = await harness(async (_k, b) => void got.push(b.toString()));
    await h.listener.start();
    await h.broker.publish('notification', 'before');
    await waitFor(() => got.length === 1, 'before');

    expect(await closeConnectionsNamed(h.name)).toBe(1);
    await waitFor(() => h.connects.length === 2 && h.listener.connected, 'reconnect', 10_000);
    expect(h.disconnects).toHaveLength(1);
    expect(h.disconnects[0].message).toMatch(/CONNECTION_FORCED|forced close/);

    await h.broker.publish('notification', 'after');
    await waitFor(() => got.length === 2, 'after');
    expect(got).toEqual(['before', 'after']);
    expect(messages(h.entries, /lost, reconnecting/, 'warn')).toHaveLength(1);
    expect(messages(h.entries, /connected to/, 'info')).toHaveLength(2);
    // the old queues went with the old connection: exactly one set
    expect(await queuesOf(h.name, h.broker.exchange, vh.vhost)).toHaveLength(TOPICS.length);
  });

  it('reconnects when the broker cancels a consumer (queue deleted server-side)', async () => {
    const got: string[] = [];
    const h = await harness(async (_k, b) => void got.push(b.toString()));
    await h.listener.start();
    const q = (await queuesOf(h.name, h.broker.exchange, vh.vhost)).find((x) => x.keys.includes('throttleData'))!;
    await deleteQueue(q.queue, vh.vhost);
    await waitFor(() => h.connects.length === 2 && h.listener.connected, 'reconnect after cancel', 10_000);
    expect(h.disconnects[0].message).toMatch(/consumer for throttleData cancelled|channel for throttleData/);
    await h.broker.publish('throttleData', 'after');
    await waitFor(() => got.length === 1, 'delivery after reconnect');
  });

  it('rides out a broker outage (connections cut, port refusing) with backoff, logging once, and resumes', async () => {
    const proxy = await BrokerProxy.start();
    open.push({ close: () => proxy.down() });
    const got: string[] = [];
    const h = await harness(async (_k, b) => void got.push(b.toString()), {
      endpoints: [vh.url(proxy.url) + "?retries='2'&connectdelay='0.05'"],
      reconnectIntervalMs: 100,
    });
    await h.listener.start();
    await proxy.down();
    await waitFor(() => h.disconnects.length === 1, 'loss noticed');
    expect(h.listener.connected).toBe(false);
    await delay(1200); // several rounds: 100, 200, 400 ms ... (±20 %)
    const failedRounds = messages(h.entries, /all endpoints down/);
    expect(failedRounds.length).toBeGreaterThanOrEqual(3);
    expect(failedRounds.filter((e) => e.level === 'warn')).toHaveLength(1); // the rest at debug
    expect(failedRounds[0].message).toMatch(/connection to amqp:\/\/guest:\*\*\*@127\.0\.0\.1:\d+\/\S+ was lost/);

    await proxy.up();
    await waitFor(() => h.connects.length === 2 && h.listener.connected, 'reconnect after outage', 5000);
    await h.broker.publish('keyManager', 'back');
    await waitFor(() => got.length === 1, 'delivery after outage');
    expect(messages(h.entries, /lost, reconnecting/, 'warn')).toHaveLength(1);
  });
});
