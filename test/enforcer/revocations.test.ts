import { createHash } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import { EtcdRevocationStore, RevocationSet, etcdStoreOptions, revocationKey } from '../../src/enforcer/revocations';
import type { RevokedToken } from '../../src/model/access';
import { TestEtcd } from '../helpers/etcd';
import { type LogEntry, captureLogger, delay, waitFor } from '../helpers/rabbit';

/** A real etcd (test/helpers/etcd.ts), private to this file; each test has its own key prefix. */
let etcd: TestEtcd;
let raw: Etcd3;
let n = 0;
let prefix = '';
const cleanup: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  etcd = await TestEtcd.create();
  raw = new Etcd3({ hosts: etcd.endpoint });
});

afterAll(async () => {
  raw?.close();
  await etcd?.destroy();
});

beforeEach(() => {
  prefix = `/apim-connect-test/${process.pid}/${++n}/`;
});

afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

interface Enforcer {
  set: RevocationSet;
  store: EtcdRevocationStore;
  logs: LogEntry[];
}

/** A "freshly started enforcer": its own set and store (not started). */
function enforcer(timeoutMs = 1000): Enforcer {
  const set = new RevocationSet({ pruneIntervalMs: 100 });
  const { logger, entries } = captureLogger();
  const store = new EtcdRevocationStore({ endpoints: [etcd.endpoint], keyPrefix: prefix, timeoutMs, watchBackoffMaxMs: 500 }, set, logger);
  cleanup.push(() => set.stop(), () => store.close());
  return { set, store, logs: entries };
}

const token = (id: string, ttlMs: number, tokenType = 'JWT'): RevokedToken => ({ id, expiresAt: Date.now() + ttlMs, tokenType });

/** A realistic revoked id: a JWT signature (long, base64url) as APIM sends it for tokens without jti. */
const signature = (): string => createHash('sha512').update(String(Math.random())).digest('base64url') + '/+=';

describe('RevocationSet', () => {
  it('refuses a revoked id until its expiry, then forgets it', async () => {
    const set = new RevocationSet({ pruneIntervalMs: 50 });
    cleanup.push(() => set.stop());
    const t = token('jti-1', 300);
    expect(set.add(t)).toBe(true);
    expect(set.isRevoked('jti-1')).toBe(true);
    expect(set.isRevoked('jti-2')).toBe(false);
    expect(set.isRevoked('jti-1', t.expiresAt - 1)).toBe(true);
    expect(set.isRevoked('jti-1', t.expiresAt)).toBe(false);
    await waitFor(() => !set.isRevoked('jti-1'), 'the revocation to expire', 2000);
    await waitFor(() => set.size === 0, 'the prune timer to drop it', 2000);
    // Already expired or malformed: not kept at all.
    expect(set.add(token('old', -1))).toBe(false);
    expect(set.add({ id: 'nan', expiresAt: Number.NaN })).toBe(false);
    expect(set.size).toBe(0);
  });

  it("keeps the later expiry, takes the adapter's view without forgetting what it lacks, withdraws per source", () => {
    const set = new RevocationSet({ pruneIntervalMs: 0 });
    const now = Date.now();
    expect(set.add({ id: 'a', expiresAt: now + 1000 })).toBe(true);
    expect(set.add({ id: 'a', expiresAt: now + 500 })).toBe(false);
    expect(set.add({ id: 'a', expiresAt: now + 2000 })).toBe(true);
    expect(set.isRevoked('a', now + 1500)).toBe(true);

    const added = set.replaceFromAdapter([{ id: 'b', expiresAt: now + 1000 }, { id: 'a', expiresAt: now + 2000 }, { id: 'c', expiresAt: now - 1 }]);
    expect(added.map((t) => t.id)).toEqual(['b']);
    // A later view without `a` or `b` (adapter restarted with APIM down): both stay until expiry.
    expect(set.replaceFromAdapter([])).toEqual([]);
    expect(set.isRevoked('a')).toBe(true);
    expect(set.isRevoked('b')).toBe(true);
    expect(set.isRevoked('c')).toBe(false);

    // An etcd delete withdraws only what came from etcd alone.
    set.add({ id: 'd', expiresAt: now + 1000 }, 'store');
    set.add({ id: 'a', expiresAt: now + 2000 }, 'store');
    expect(set.withdraw('d', 'store')).toBe(true);
    expect(set.withdraw('a', 'store')).toBe(false);
    expect(set.isRevoked('d')).toBe(false);
    expect(set.isRevoked('a')).toBe(true);
    expect(set.prune(now + 1500)).toBe(1);
    expect(set.list(now + 1500).map((t) => t.id)).toEqual(['a']);
  });

  // Speed is the benchmark's business; this checks that 100k entries answer exactly.
  it('answers lookups among 100k revocations exactly, and forgets them at expiry', () => {
    const set = new RevocationSet({ pruneIntervalMs: 0 });
    const now = Date.now();
    for (let i = 0; i < 100_000; i++) set.add({ id: `jti-${i}`, expiresAt: now + (i % 2 ? 60_000 : 1_000) }, 'adapter', now);
    let hits = 0;
    for (let i = 0; i < 200_000; i++) if (set.isRevoked(`jti-${i % 100_000}`, now)) hits++;
    expect(hits).toBe(200_000);
    expect(set.isRevoked('jti-100000', now)).toBe(false);
    expect(set.prune(now + 2_000)).toBe(50_000);
    expect(set.isRevoked('jti-2', now + 2_000)).toBe(false);
    expect(set.isRevoked('jti-3', now + 2_000)).toBe(true);
  });
});

describe('EtcdRevocationStore with a real etcd', () => {
  it('a freshly started enforcer loads a revocation written earlier by another (adapter and APIM down)', async () => {
    const a = enforcer();
    expect(await a.store.start()).toBe(true);
    const t = token(signature(), 3_600_000);
    a.set.add(t);
    expect(await a.store.persist(t)).toBe('written');
    // Stored under <prefix><sha256(id)>, with its expiry and type.
    const key = revocationKey(prefix, t.id);
    expect(key).toBe(prefix + createHash('sha256').update(t.id).digest('hex'));
    expect(JSON.parse((await raw.get(key).string()) ?? 'null')).toEqual({ id: t.id, expiresAt: t.expiresAt, tokenType: 'JWT' });
    await a.store.close();

    const b = enforcer();
    expect(b.set.isRevoked(t.id)).toBe(false);
    expect(await b.store.start()).toBe(true);
    expect(b.set.isRevoked(t.id)).toBe(true);
    expect(b.set.isRevoked('someone-else')).toBe(false);
    expect(b.logs.filter((e) => e.level === 'warn')).toEqual([]);
  });

  it('a revocation one enforcer persists reaches another within a bounded time; persisting again is idempotent', async () => {
    const a = enforcer();
    const b = enforcer();
    await Promise.all([a.store.start(), b.store.start()]);
    const t = token('jti-watch', 60_000);
    a.set.add(t);
    const t0 = Date.now();
    expect(await a.store.persist(t)).toBe('written');
    await waitFor(() => b.set.isRevoked(t.id), 'the revocation to reach the other enforcer', 2000);
    const latency = Date.now() - t0;
    expect(latency).toBeLessThan(2000);
    // Both hold it now: B receiving the same real-time event does not write again, nor does A.
    await waitFor(() => a.set.isRevoked(t.id), 'A to see it', 1000);
    expect(await b.store.persist(t)).toBe('present');
    expect(await Promise.all([a.store.persist(t), a.store.persist(t)])).toEqual(['present', 'present']);
    // A longer expiry for the same id is written (and extends it everywhere).
    const longer = { ...t, expiresAt: t.expiresAt + 60_000 };
    expect(await b.store.persist(longer)).toBe('written');
    await waitFor(() => a.set.isRevoked(t.id, t.expiresAt + 30_000), 'the longer expiry to reach A', 2000);
    const res = await raw.getAll().prefix(prefix).keys();
    expect(res).toEqual([revocationKey(prefix, t.id)]);
  });

  it("writes each revocation with a lease that ends at the token's expiry, so etcd forgets it", async () => {
    const a = enforcer();
    const b = enforcer();
    await Promise.all([a.store.start(), b.store.start()]);
    expect(await a.store.persist(token('expired', -10))).toBe('expired');

    const t = token('jti-short', 1500);
    a.set.add(t);
    expect(await a.store.persist(t)).toBe('written');
    const key = revocationKey(prefix, t.id);
    const got = await raw.get(key).exec();
    expect(got.kvs).toHaveLength(1);
    const lease = await raw.leaseClient.leaseTimeToLive({ ID: got.kvs[0].lease });
    expect(Number(lease.grantedTTL)).toBe(2); // ceil(1.5 s)
    await waitFor(() => b.set.isRevoked(t.id), 'B to get it', 2000);

    await waitFor(() => !a.set.isRevoked(t.id) && !b.set.isRevoked(t.id), 'the revocation to expire in memory', 3000);
    // etcd deletes the key when the lease ends (it checks leases every 500 ms).
    const t0 = Date.now();
    let gone = false;
    while (!gone && Date.now() - t0 < 5000) {
      gone = (await raw.get(key).exec()).kvs.length === 0;
      if (!gone) await delay(100);
    }
    expect(gone).toBe(true);
    expect(Date.now()).toBeGreaterThanOrEqual(t.expiresAt);
    expect(await raw.getAll().prefix(prefix).keys()).toEqual([]);
    await waitFor(() => b.set.size === 0 && a.set.size === 0, 'both sets to hold nothing', 2000);
  });

  it('etcd down: lookups answer from memory, persist neither throws nor hangs, one log; after a restart the watch resumes', async () => {
    const a = enforcer();
    const b = enforcer();
    await Promise.all([a.store.start(), b.store.start()]);
    const before = token('jti-before', 120_000);
    a.set.add(before);
    expect(await a.store.persist(before)).toBe('written');
    await waitFor(() => b.set.isRevoked(before.id), 'B to get the first revocation', 2000);

    await etcd.stop();
    try {
      expect(a.set.isRevoked(before.id)).toBe(true);
      expect(b.set.isRevoked(before.id)).toBe(true);

      const during = [token('jti-during-1', 120_000), token('jti-during-2', 120_000), token('jti-during-3', 120_000)];
      for (const t of during) {
        a.set.add(t);
        const t0 = Date.now();
        await expect(a.store.persist(t)).resolves.toBe('failed');
        expect(Date.now() - t0).toBeLessThan(1500); // timeoutMs 1000, and no more
        expect(a.set.isRevoked(t.id)).toBe(true);
      }
      expect(a.store.isReachable).toBe(false);
      expect(a.store.pendingCount).toBe(3);
      await waitFor(() => b.store.isReachable === false, 'B to notice', 3000);
      // One line per state change, not one per failure.
      expect(a.logs.filter((e) => e.level === 'warn')).toHaveLength(1);
      expect(b.logs.filter((e) => e.level === 'warn')).toHaveLength(1);
    } finally {
      await etcd.start();
    }

    // The watch resumes, the set is reloaded, and what waited is written.
    await waitFor(() => a.store.isReachable === true && b.store.isReachable === true, 'both stores to reconnect', 8000);
    await waitFor(() => ['jti-during-1', 'jti-during-2', 'jti-during-3'].every((id) => b.set.isRevoked(id)), 'the pending revocations to reach B', 5000);
    expect(a.store.pendingCount).toBe(0);

    const after = token('jti-after', 120_000);
    a.set.add(after);
    const t0 = Date.now();
    expect(await a.store.persist(after)).toBe('written');
    await waitFor(() => b.set.isRevoked(after.id), 'a new revocation to reach B', 2000);
    const latency = Date.now() - t0;
    expect(latency).toBeLessThan(2000);
    expect(a.logs.filter((e) => e.level === 'info' && /reachable again/.test(e.message))).toHaveLength(1);
    expect(b.logs.filter((e) => e.level === 'info' && /reachable again/.test(e.message))).toHaveLength(1);
    expect((await raw.getAll().prefix(prefix).keys()).length).toBe(5);
  });

  it('starts with etcd down without blocking, loads once it is up', async () => {
    const a = enforcer();
    await a.store.start();
    const t = token('jti-early', 120_000);
    a.set.add(t);
    expect(await a.store.persist(t)).toBe('written');

    await etcd.stop();
    let b: Enforcer;
    try {
      b = enforcer();
      const t0 = Date.now();
      expect(await b.store.start()).toBe(false);
      expect(Date.now() - t0).toBeLessThan(1500);
      expect(b.set.isRevoked(t.id)).toBe(false);
    } finally {
      await etcd.start();
    }
    await waitFor(() => b.set.isRevoked(t.id), 'the late load', 8000);
  });
});

describe('etcdStoreOptions', () => {
  it('is undefined for store = none and carries endpoints, prefix and timeout for etcd', () => {
    const cfg = { store: 'none' as const, endpoints: ['http://e:2379'], keyPrefix: '/p/', timeoutMs: 3000, tls: { caFile: '', certFile: '', keyFile: '' } };
    expect(etcdStoreOptions(cfg)).toBeUndefined();
    expect(etcdStoreOptions({ ...cfg, store: 'etcd' })).toEqual({ endpoints: ['http://e:2379'], keyPrefix: '/p/', timeoutMs: 3000, tls: undefined });
  });

  it('refuses settings that cannot work', () => {
    const set = new RevocationSet({ pruneIntervalMs: 0 });
    const { logger } = captureLogger();
    const mk = (o: Partial<ConstructorParameters<typeof EtcdRevocationStore>[0]>): EtcdRevocationStore =>
      new EtcdRevocationStore({ endpoints: ['https://e:2379'], timeoutMs: 1000, ...o }, set, logger);
    expect(() => mk({ endpoints: [] })).toThrow(/no endpoints/);
    expect(() => mk({ keyPrefix: '' })).toThrow(/prefix/);
    expect(() => mk({ tls: { cert: 'x' } })).toThrow(/both cert and key/);
    expect(() => mk({ endpoints: ['http://e:2379'], tls: { ca: 'x' } })).toThrow(/https/);
  });
});
