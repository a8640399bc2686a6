import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Cluster, Redis } from 'ioredis';
import type { Decision } from '../../src/enforcer/check';
import { BlockingConditions } from '../../src/enforcer/blocking';
import { CountersUnavailable, LocalCounters } from '../../src/enforcer/counters';
import type { EnforcerPolicy } from '../../src/enforcer/rate-limits';
import { RedisCounters } from '../../src/enforcer/redis-counters';
import { Throttle } from '../../src/enforcer/throttle';
import { ORG, allowed, policy, sub, subject } from '../helpers/throttle';
import { freePort } from '../helpers/ports';
import { TestRedis, TestRedisCluster } from '../helpers/redis';

/**
 * Distributed rate limits on a real Redis (a private redis-server per file): exact across
 * enforcers, and what happens when Redis hangs or goes away.
 */

let redis: TestRedis;
let probe: Redis;
const made: RedisCounters[] = [];
beforeAll(async () => {
  redis = await TestRedis.create();
  probe = new Redis(redis.url);
});
afterAll(async () => {
  for (const c of made) await c.close();
  probe.disconnect();
  await redis.stop();
});

interface Enforcer {
  throttle: Throttle;
  warnings: string[];
  infos: string[];
}

/**
 * One enforcer's throttle stage over Redis: a subscription tier of `limit` per minute, and with
 * `appLimit` an application tier too (a second counter, in another slot on a cluster).
 */
async function enforcer(limit: number, opts: { onFailure?: 'local' | 'deny'; timeoutMs?: number; prefix: string; url?: string; cluster?: boolean; appLimit?: number }): Promise<Enforcer> {
  const warnings: string[] = [];
  const infos: string[] = [];
  const log = { debug() {}, error() {}, info: (m: string) => infos.push(m), warn: (m: string, meta?: object) => warnings.push(`${m} ${JSON.stringify(meta)}`) };
  const counters = new RedisCounters(
    { url: opts.url ?? redis.url, cluster: opts.cluster, keyPrefix: opts.prefix, timeoutMs: opts.timeoutMs ?? 200, onFailure: opts.onFailure ?? 'local', log },
    new LocalCounters(),
  );
  made.push(counters);
  expect(await counters.whenReady(5000)).toBe(true);
  const tier: EnforcerPolicy = policy('subscription', 'Tier', limit, 60_000);
  const appTier = opts.appLimit ? policy('application', 'AppTier', opts.appLimit, 60_000) : undefined;
  const none = new BlockingConditions([]);
  const lookup = (kind: string, org: string, name: string): EnforcerPolicy | undefined =>
    org !== ORG ? undefined : kind === 'subscription' && name === 'Tier' ? tier : kind === 'application' && name === 'AppTier' ? appTier : undefined;
  const throttle = new Throttle({ blocking: () => none, policy: lookup, counters, log });
  return { throttle, warnings, infos };
}

const s = subject({ operation: undefined, application: { ...subject().application!, policy: 'Unlimited' }, subscription: { ...sub, policy: 'Tier' } });
const verdict = async (e: Enforcer, now: number, who = s): Promise<string> => {
  const d: Decision = await e.throttle.apply(allowed(who), '10.0.0.1', now);
  return d.allow ? 'allow' : `${d.status} ${d.code}`;
};
const T0 = 1_900_000_020_000 - (1_900_000_020_000 % 60_000); // a minute boundary, far from now

test('three enforcers sharing one Redis, hammered at once with a limit of 100: exactly 100 pass per window', async () => {
  const prefix = `t${Date.now()}:`;
  const three = await Promise.all([enforcer(100, { prefix }), enforcer(100, { prefix }), enforcer(100, { prefix })]);
  const round = async (now: number): Promise<number> => {
    const all = Array.from({ length: 360 }, (_, i) => verdict(three[i % 3]!, now + (i % 50)));
    const results = await Promise.all(all);
    expect(results.filter((r) => r !== 'allow' && r !== '429 900804')).toEqual([]);
    return results.filter((r) => r === 'allow').length;
  };
  expect(await round(T0)).toBe(100);
  expect(Number(await probe.get(`${prefix}60000:${T0}:app-1:/petstore/1.0.0:1.0.0`))).toBeGreaterThanOrEqual(101);
  expect(await probe.pttl(`${prefix}60000:${T0}:app-1:/petstore/1.0.0:1.0.0`)).toBeGreaterThan(0); // the key ends with its window
  expect(await round(T0 + 60_000)).toBe(100);
  for (const e of three) expect(e.warnings).toEqual([]);
});

/** Counters on the private Redis, under their own prefix, ready. */
async function readyCounters(prefix: string): Promise<RedisCounters> {
  const log = { debug() {}, info() {}, warn() {}, error() {} };
  const counters = new RedisCounters({ url: redis.url, keyPrefix: prefix, timeoutMs: 5000, log }, new LocalCounters());
  made.push(counters);
  expect(await counters.whenReady(5000)).toBe(true);
  return counters;
}

test('the decisions of one turn go out as a few script calls, a shared key once per call, each decision getting its own counts', async () => {
  const prefixTime = Date.now();
  const counters = await readyCounters(`b${prefixTime}:`);
  const scriptCalls = async (): Promise<number> => {
    const stats = await probe.info('commandstats');
    return [...stats.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
  };
  const before = await scriptCalls();
  // 1500 decisions of two keys each: a shared one and one of their own, all in one turn.
  const hits = (i: number) => [
    { key: 'shared', limit: 1e9, windowMs: 60_000 },
    { key: `own-${i}`, limit: 1e9, windowMs: 1000 },
  ];
  const results = await Promise.all(Array.from({ length: 1500 }, (_, i) => counters.add(hits(i), T0 + 10)));
  expect(results.map((r) => r[0]!.count).sort((a, b) => a - b)).toEqual(Array.from({ length: 1500 }, (_, i) => i + 1));
  expect(results.filter((r) => r[0]!.resetAt !== T0 + 60_000 || r[1]!.count !== 1 || r[1]!.resetAt !== T0 + 1000)).toEqual([]);
  // 1,501 distinct keys: two calls of at most 1000 keys (and a reload should the script be unknown), not 1500.
  const calls = (await scriptCalls()) - before;
  expect(calls).toBeGreaterThanOrEqual(2);
  expect(calls).toBeLessThanOrEqual(4);
  expect(Number(await probe.get(`b${prefixTime}:60000:${T0}:shared`))).toBe(1500);
});

test('a bandwidth counter adds the request\'s bytes, a request counter one; both expire with their window', async () => {
  const prefix = `bw${Date.now()}:`;
  const counters = await readyCounters(prefix);
  const hits = [
    { key: 'bw', limit: 2048, windowMs: 60_000, bytes: true },
    { key: 'req', limit: 10, windowMs: 60_000 },
  ];
  const counts = async (bytes: number) => (await counters.add(hits, T0, bytes)).map((c) => c.count);
  expect(await counts(0)).toEqual([0, 1]);
  expect(await probe.pttl(`${prefix}60000:${T0}:bw`)).toBeGreaterThan(0); // created by a bodiless request, and expiring
  expect(await counts(700)).toEqual([700, 2]);
  expect(await counts(1500)).toEqual([2200, 3]);
  // In one turn: one key each, amounts summed, and each decision its count as if sent in order.
  const together = await Promise.all([100, 0, 300].map((bytes) => counters.add(hits, T0, bytes)));
  expect(together.map((r) => r.map((c) => c.count))).toEqual([
    [2300, 4],
    [2300, 5],
    [2600, 6],
  ]);
  expect(await probe.pttl(`${prefix}60000:${T0}:req`)).toBeGreaterThan(0);
});

test('Redis hangs, then comes back: the local fallback answers within the timeout, then distributed counts resume', async () => {
  const prefix = `h${Date.now()}:`;
  const e = await enforcer(1000, { prefix, onFailure: 'local', timeoutMs: 100 });
  const key = `${prefix}60000:${T0}:app-1:/petstore/1.0.0:1.0.0`;
  for (let i = 0; i < 3; i++) expect(await verdict(e, T0)).toBe('allow');
  expect(await probe.get(key)).toBe('3');

  redis.pause();
  try {
    const started = Date.now();
    const during = await Promise.all(Array.from({ length: 20 }, () => verdict(e, T0)));
    expect(during.every((r) => r === 'allow')).toBe(true);
    expect(Date.now() - started).toBeLessThan(5000); // bounded by the timeout, not by Redis
    expect(e.warnings).toHaveLength(1); // once per state change, not per request
    expect(e.warnings[0]).toMatch(/unavailable; counting in this enforcer only/);
  } finally {
    redis.resume();
  }
  // Back: the next decisions count in Redis again (the hung calls may land too: at least 4).
  let value = 0;
  for (let i = 0; i < 50 && value < 4; i++) {
    await verdict(e, T0);
    value = Number(await probe.get(key));
  }
  expect(value).toBeGreaterThanOrEqual(4);
  expect(e.infos.some((m) => /distributed counting resumed/.test(m))).toBe(true);
});

test('Redis down with onFailure = deny: limited requests are refused (429) at once, and pass again when it restarts', async () => {
  const prefix = `d${Date.now()}:`;
  const e = await enforcer(1000, { prefix, onFailure: 'deny', timeoutMs: 100 });
  expect(await verdict(e, T0)).toBe('allow');
  await redis.stop();
  try {
    const r = await Promise.all(Array.from({ length: 5 }, () => verdict(e, T0)));
    expect(r).toEqual(Array(5).fill('429 900804'));
    expect(e.warnings.filter((w) => /denying limited requests/.test(w))).toHaveLength(1);
  } finally {
    await redis.start();
  }
  let last = '';
  for (let i = 0; i < 100 && last !== 'allow'; i++) {
    last = await verdict(e, T0);
    if (last !== 'allow') await new Promise((res) => setTimeout(res, 100));
  }
  expect(last).toBe('allow');
}, 30_000);

describe('on a Redis Cluster (three masters)', () => {
  let cluster: TestRedisCluster;
  beforeAll(async () => {
    cluster = await TestRedisCluster.create(3);
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  test('three enforcers, two counters per request in different slots: exactly 100 pass per window', async () => {
    const prefix = 'cluster:';
    const subKey = `${prefix}60000:${T0}:app-1:/petstore/1.0.0:1.0.0`;
    const appKey = `${prefix}60000:${T0}:app-1:alice@carbon.super`;
    const node = new Redis(cluster.url);
    try {
      const [a, b] = [String(await node.call('CLUSTER', 'KEYSLOT', subKey)), String(await node.call('CLUSTER', 'KEYSLOT', appKey))];
      expect(a).not.toBe(b); // the two counters of one decision live in different slots
    } finally {
      node.disconnect();
    }
    const withApp = subject({ operation: undefined, application: { ...subject().application!, policy: 'AppTier' }, subscription: { ...sub, policy: 'Tier' } });
    const three = await Promise.all([0, 1, 2].map(() => enforcer(100, { prefix, url: cluster.url, cluster: true, appLimit: 1_000_000 })));
    const round = async (now: number): Promise<number> => {
      const results = await Promise.all(Array.from({ length: 300 }, (_, i) => verdict(three[i % 3]!, now + (i % 50), withApp)));
      expect(results.filter((r) => r !== 'allow' && r !== '429 900804')).toEqual([]);
      return results.filter((r) => r === 'allow').length;
    };
    expect(await round(T0)).toBe(100);
    const client = new Cluster([{ host: '127.0.0.1', port: cluster.nodes[0]!.port }]);
    try {
      expect(Number(await client.get(subKey))).toBe(300);
      expect(Number(await client.get(appKey))).toBe(300);
      expect(await client.pttl(appKey)).toBeGreaterThan(0);
    } finally {
      client.disconnect();
    }
    expect(await round(T0 + 60_000)).toBe(100);
    for (const e of three) expect(e.warnings).toEqual([]);
  }, 30_000);
});

describe('over TLS (rediss://) with a password', () => {
  let server: TestRedis;
  let tlsPort: number;
  let ca: string;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'redis-tls-'));
  beforeAll(async () => {
    // A self-signed certificate for 127.0.0.1, trusted by the client as its own CA.
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '2']);
    ca = fs.readFileSync(cert, 'utf8');
    tlsPort = await freePort();
    server = await TestRedis.create(undefined, ['--tls-port', String(tlsPort), '--tls-cert-file', cert, '--tls-key-file', key, '--tls-auth-clients', 'no', '--requirepass', 's3cret']);
  });
  afterAll(async () => {
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const counters = (password: string, warnings: string[] = []) => {
    const log = { debug() {}, info() {}, error() {}, warn: (m: string, meta?: object) => warnings.push(`${m} ${JSON.stringify(meta)}`) };
    const c = new RedisCounters({ url: `rediss://127.0.0.1:${tlsPort}`, password, tlsCa: ca, keyPrefix: `tls${Date.now()}:`, timeoutMs: 500, onFailure: 'deny', log }, new LocalCounters());
    made.push(c);
    return c;
  };
  const hits = [{ key: 'k', limit: 10, windowMs: 60_000 }];

  test('the right password over TLS: counts in Redis', async () => {
    const c = counters('s3cret');
    expect(await c.whenReady(5000)).toBe(true);
    expect((await c.add(hits, T0)).map((x) => x.count)).toEqual([1]);
    expect((await c.add(hits, T0)).map((x) => x.count)).toEqual([2]);
  });

  test('a wrong password: never ready, and limited requests are refused (deny), said once and why', async () => {
    const warnings: string[] = [];
    const c = counters('wrong', warnings);
    expect(await c.whenReady(1500)).toBe(false);
    await expect(c.add(hits, T0)).rejects.toBeInstanceOf(CountersUnavailable);
    await expect(c.add(hits, T0)).rejects.toBeInstanceOf(CountersUnavailable);
    expect(warnings.filter((w) => w.includes('unavailable'))).toHaveLength(1);
    expect(warnings[0]).toMatch(/WRONGPASS/);
  });
});
