import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseConfig } from '../../src/config/config';
import { startAdapter, type Adapter } from '../../src/cli/adapter';
import { writeCertificates } from '../../src/cli/certs';
import { startEnforcer } from '../../src/cli/enforcer';
import { channelCredentials } from '../../src/cli/tls';
import { ENFORCER_TYPES } from '../../src/enforcer/view';
import { CLUSTER, ENFORCER_API, ENFORCER_KEY_MAPPING, ENFORCER_POLICY, LISTENER } from '../../src/envoy/typeUrls';
import { DeltaXdsClient } from '../../src/xds/client';
import { AdsStream, node } from '../helpers/ads';
import { captureLogger, delay, type LogEntry } from '../helpers/rabbit';

/**
 * With mutual TLS, the enforcer's resources (backend credentials, key managers, applications, key
 * mappings) go only to a certificate that names an enforcer identity: a router's or ctl's
 * certificate from the same CA asks for them and is refused, over SotW and Delta, while its own
 * types still arrive. Certificates from `ctl certs`, real adapter and enforcer.
 */

const APIS = path.join(__dirname, '..', '..', 'apis');
let dir: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'roles-'));
  await writeCertificates({ out: dir, hosts: [], days: 2 });
}, 60_000);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const file = (name: string): string => path.join(dir, name);
const tlsOf = (role: string, extra = ''): string =>
  `[tls]\ncertFile = ${JSON.stringify(file(`${role}.crt`))}\nkeyFile = ${JSON.stringify(file(`${role}.key`))}\ncaFile = ${JSON.stringify(file('ca.crt'))}\n${extra}`;
const adapterConfig = (extra = ''): ReturnType<typeof parseConfig> =>
  parseConfig(`[adapter]\nxdsPort = 0\nhttpPort = 0\ndebounceMs = 0\napisDirectory = ${JSON.stringify(APIS)}\n${tlsOf('adapter', extra)}`, 'test.toml');
const credentialsOf = (role: string) => channelCredentials({ certFile: file(`${role}.crt`), keyFile: file(`${role}.key`), caFile: file('ca.crt') });

/** An enforcer-typed Delta client (as the enforcer's own) presenting `role`'s certificate. */
const enforcerClient = (port: number, role: string): DeltaXdsClient =>
  new DeltaXdsClient({ address: `127.0.0.1:${port}`, node: { id: `as-${role}`, cluster: 'Default' }, typeUrls: ENFORCER_TYPES, credentials: credentialsOf(role), backoff: { initialMs: 100, maxMs: 300 } });

/** A raw ADS stream with `role`'s certificate; `request(type)` subscribes to every resource of a type. */
function routerStream(port: number, protocol: 'sotw' | 'delta', role: string, id: string) {
  const s = new AdsStream(`127.0.0.1:${port}`, protocol, undefined, credentialsOf(role));
  let first = true;
  const request = (typeUrl: string): void => {
    const who = first ? { node: node(id, 'Default') } : {};
    first = false;
    s.send(protocol === 'sotw' ? { ...who, type_url: typeUrl, resource_names: [] } : { ...who, type_url: typeUrl, resource_names_subscribe: ['*'] });
  };
  return { s, request };
}

const refusals = (entries: LogEntry[], nodeId: string): LogEntry[] => entries.filter((e) => e.message === 'xDS stream refused' && e.node === nodeId);

describe('the default enforcer identity (spiffe://apim-connect/enforcer)', () => {
  let adapter: Adapter;
  let entries: LogEntry[];
  beforeAll(async () => {
    const captured = captureLogger();
    entries = captured.entries;
    adapter = await startAdapter(adapterConfig(), captured.logger);
  }, 30_000);
  afterAll(async () => {
    await adapter?.stop();
  });

  test.each(['delta', 'sotw'] as const)("%s: a router's certificate gets its listeners, and asking for enforcer types ends the stream with PERMISSION_DENIED and nothing of them", async (protocol) => {
    const id = `router-${protocol}`;
    const { s, request } = routerStream(adapter.port, protocol, 'router', id);
    try {
      request(LISTENER);
      const listeners = await s.next(10_000);
      expect(listeners.typeUrl).toBe(LISTENER);
      expect(listeners.resources.length).toBeGreaterThan(0);
      request(ENFORCER_API);
      const status = await s.ended;
      expect(status.code).toBe(7); // PERMISSION_DENIED
      expect(status.details).toMatch(/apimconnect\.enforcer\.v1\.Api is only for enforcers: the client certificate names router, spiffe:\/\/apim-connect\/router, none of tls.enforcerIdentities/);
      await s.none(200);
      const [logged] = refusals(entries, id);
      expect(logged).toMatchObject({ level: 'warn', certificate: 'CN=router', type: ENFORCER_API, code: 'PERMISSION_DENIED' });
    } finally {
      s.close();
    }
    // The router's own types keep working: a stream that asks for them only is served.
    const again = routerStream(adapter.port, protocol, 'router', `${id}-again`);
    try {
      again.request(CLUSTER);
      expect((await again.s.next(10_000)).resources.length).toBeGreaterThan(0);
      again.request(LISTENER);
      expect((await again.s.next(10_000)).typeUrl).toBe(LISTENER);
      expect(again.s.status).toBeUndefined();
    } finally {
      again.s.close();
    }
  }, 30_000);

  test.each([
    ['an enforcer type as the first request', ENFORCER_KEY_MAPPING],
    ['another spelling of an enforcer type URL', 'example.com/apimconnect.enforcer.v1.KeyManager'],
  ])('delta: %s is refused before anything is sent', async (_what, typeUrl) => {
    const { s, request } = routerStream(adapter.port, 'delta', 'ctl', 'ctl-first');
    try {
      request(typeUrl);
      expect((await s.ended).code).toBe(7);
      await s.none(100);
    } finally {
      s.close();
    }
  });

  test("an enforcer-typed client with the enforcer's or the adapter's certificate gets the view; with a router's or ctl's, nothing", async () => {
    const allowed = [enforcerClient(adapter.port, 'enforcer'), enforcerClient(adapter.port, 'adapter')];
    const refused = [enforcerClient(adapter.port, 'router'), enforcerClient(adapter.port, 'ctl')];
    try {
      for (const c of allowed) {
        await c.whenReady();
        expect(c.entries(ENFORCER_API).size).toBeGreaterThan(0);
        expect(c.entries(ENFORCER_POLICY).size).toBeGreaterThan(0);
      }
      await delay(1500); // several refused attempts each
      for (const c of refused) {
        expect(c.ready).toBe(false);
        for (const t of ENFORCER_TYPES) expect(c.entries(t).size).toBe(0);
      }
      expect(refusals(entries, 'as-ctl')[0]).toMatchObject({ certificate: 'CN=ctl' });
      expect(refusals(entries, 'as-enforcer')).toEqual([]);
    } finally {
      [...allowed, ...refused].forEach((c) => c.close());
    }
  }, 30_000);

  test('the real enforcer with its certificate becomes ready; with a router certificate it gets nothing and says why', async () => {
    const enforcerConfig = (role: string) =>
      parseConfig(`[enforcer]\nport = 0\nhttpPort = 0\nadapterAddress = "127.0.0.1:${adapter.port}"\n${tlsOf(role)}`, 'enforcer.toml');
    const good = await startEnforcer(enforcerConfig('enforcer'), captureLogger().logger);
    const mislabelled = captureLogger();
    const bad = await startEnforcer(enforcerConfig('router'), mislabelled.logger);
    try {
      await good.view.whenReady();
      expect(good.view.all(ENFORCER_API).length).toBeGreaterThan(0);
      await delay(1500);
      expect(bad.view.ready).toBe(false);
      expect(bad.view.all(ENFORCER_API)).toEqual([]);
      expect(mislabelled.entries.some((e) => e.level === 'error' && /the server does not let this client have a type/.test(String(e.message)))).toBe(true);
    } finally {
      await bad.stop();
      await good.stop();
    }
  }, 30_000);
});

test('tls.enforcerIdentities = ["*"]: any certificate the CA signed gets the enforcer types', async () => {
  const adapter = await startAdapter(adapterConfig('enforcerIdentities = ["*"]\n'), captureLogger().logger);
  const c = enforcerClient(adapter.port, 'router');
  try {
    await c.whenReady();
    expect(c.entries(ENFORCER_API).size).toBeGreaterThan(0);
  } finally {
    c.close();
    await adapter.stop();
  }
}, 30_000);

test('tls.enforcerIdentities matches DNS names too, exactly', async () => {
  // The router's certificate carries DNS:router; the enforcer's names spiffe://apim-connect/enforcer, not listed here.
  const adapter = await startAdapter(adapterConfig('enforcerIdentities = ["router", "spiffe://apim-connect/enforce"]\n'), captureLogger().logger);
  const router = enforcerClient(adapter.port, 'router');
  const enforcer = enforcerClient(adapter.port, 'enforcer');
  try {
    await router.whenReady();
    expect(router.entries(ENFORCER_API).size).toBeGreaterThan(0);
    await delay(1000);
    expect(enforcer.ready).toBe(false);
  } finally {
    router.close();
    enforcer.close();
    await adapter.stop();
  }
}, 30_000);
