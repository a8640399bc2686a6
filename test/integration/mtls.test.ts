import { execFile } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as grpc from '@grpc/grpc-js';
import * as os from 'os';
import * as path from 'path';
import * as tls from 'tls';
import { parseConfig, type Config } from '../../src/config/config';
import { createLogger } from '../../src/config/log';
import { startAdapter, type Adapter } from '../../src/cli/adapter';
import { writeCertificates } from '../../src/cli/certs';
import { CtlError, runCtl } from '../../src/cli/ctl';
import { startEnforcer, type Enforcer } from '../../src/cli/enforcer';
import { AUTHORIZATION_SERVICE } from '../../src/enforcer/server';
import { runExplain } from '../../src/cli/explain';
import { channelCredentials } from '../../src/cli/tls';
import { HEALTH_SERVICE, serviceDefinition } from '../../src/envoy/grpcService';
import { ENFORCER_TYPES } from '../../src/enforcer/view';
import { ENFORCER_API, ENFORCER_KEY_MANAGER } from '../../src/envoy/typeUrls';
import { DeltaXdsClient } from '../../src/xds/client';
import { delay } from '../helpers/rabbit';

/**
 * Mutual TLS on every gRPC port, with certificates `ctl certs` made: a client without a
 * certificate, or with one from another CA, gets nothing from the adapter (admin, ADS) or the
 * enforcer (ext_authz); the right one works; the enforcer's xDS client and `all` run over it; a
 * renewed certificate is served without a restart.
 */

const APIS = path.join(__dirname, '..', '..', 'apis');
const log = createLogger('error', 'test');
let ours: string;
let other: string;

beforeAll(async () => {
  ours = fs.mkdtempSync(path.join(os.tmpdir(), 'mtls-ours-'));
  other = fs.mkdtempSync(path.join(os.tmpdir(), 'mtls-other-'));
  await writeCertificates({ out: ours, hosts: [], days: 2 });
  await writeCertificates({ out: other, hosts: [], days: 2 });
}, 60_000);
afterAll(() => {
  fs.rmSync(ours, { recursive: true, force: true });
  fs.rmSync(other, { recursive: true, force: true });
});

const file = (dir: string, name: string): string => path.join(dir, name);
/** [tls] of a process that presents `role`'s certificate from `dir` and trusts `dir`'s CA. */
const tlsOf = (dir: string, role: string): string =>
  `[tls]\ncertFile = ${JSON.stringify(file(dir, `${role}.crt`))}\nkeyFile = ${JSON.stringify(file(dir, `${role}.key`))}\ncaFile = ${JSON.stringify(file(dir, 'ca.crt'))}\n`;

function adapterConfig(tlsSection: string): Config {
  return parseConfig(`[adapter]\nxdsPort = 0\nhttpPort = 0\ndebounceMs = 0\napisDirectory = ${JSON.stringify(APIS)}\n${tlsSection}`, 'test.toml');
}
function enforcerConfig(tlsSection: string, adapterPort: number): Config {
  return parseConfig(`[enforcer]\nport = 0\nhttpPort = 0\nadapterAddress = "127.0.0.1:${adapterPort}"\n${tlsSection}`, 'test.toml');
}

/** What a client shows and trusts: a certificate (or none), the server checked against the CA file `ca`. */
type Client = { cert?: { dir: string; role: string }; ca: string } | 'plaintext';
const caOf = (dir: string): string => file(dir, 'ca.crt');
function credentials(c: Client): grpc.ChannelCredentials {
  if (c === 'plaintext') return grpc.credentials.createInsecure();
  return channelCredentials({
    certFile: c.cert ? file(c.cert.dir, `${c.cert.role}.crt`) : '',
    keyFile: c.cert ? file(c.cert.dir, `${c.cert.role}.key`) : '',
    caFile: c.ca,
  });
}

async function ctl(port: number, client: Client, command = 'snapshots'): Promise<string[]> {
  const lines: string[] = [];
  await runCtl(command, [], { address: `127.0.0.1:${port}`, json: false, watch: false, group: '', credentials: credentials(client) }, (l) => lines.push(l));
  return lines;
}

/** grpc.health.v1.Health/Check on a port: the status, or the error a refused client gets. */
function health(port: number, client: Client): Promise<string> {
  const Ctor = grpc.makeGenericClientConstructor(serviceDefinition(HEALTH_SERVICE), 'Health');
  const c = new Ctor(`127.0.0.1:${port}`, credentials(client)) as unknown as grpc.Client & { Check: Function };
  return new Promise((resolve) =>
    c.Check({ service: '' }, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null, res: { status: number }) => {
      c.close();
      resolve(err ? `error ${grpc.status[err.code]}` : res.status === 1 ? 'SERVING' : `status ${res.status}`);
    }),
  );
}

/** envoy.service.auth.v3.Authorization/Check for a petstore route: answered (allowed or not), or the error a refused client gets. */
function check(port: number, client: Client): Promise<string> {
  const Ctor = grpc.makeGenericClientConstructor(serviceDefinition(AUTHORIZATION_SERVICE), 'Authorization');
  const c = new Ctor(`127.0.0.1:${port}`, credentials(client)) as unknown as grpc.Client & { Check: Function };
  const req = { attributes: { request: { http: { method: 'GET', path: '/petstore/1.0.0/pets/1', host: 'localhost', headers: { ':method': 'GET' } } } } };
  return new Promise((resolve) =>
    c.Check(req, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null) => {
      c.close();
      resolve(err ? `error ${grpc.status[err.code]}` : 'answered');
    }),
  );
}

/** The certificate a server presents to a new connection (with our CA and a client certificate, as an authorised peer). */
function servedCertificate(port: number, dir: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: fs.readFileSync(file(dir, 'ca.crt')), cert: fs.readFileSync(file(dir, 'ctl.crt')), key: fs.readFileSync(file(dir, 'ctl.key')), ALPNProtocols: ['h2'] }, () => {
      const fp = s.getPeerX509Certificate()!.fingerprint256;
      s.destroy();
      resolve(fp);
    });
    s.once('error', reject);
  });
}
/** buf curl (Go's TLS, not Node's) over https with reflection: stdout, or the error it ends with. */
function bufCurlTls(port: number, path_: string, flags: string[]): Promise<{ ok: boolean; out: string }> {
  const buf = path.resolve(__dirname, '..', '..', 'node_modules', '.bin', 'buf');
  return new Promise((resolve) =>
    execFile(buf, ['curl', '--protocol', 'grpc', ...flags, `https://127.0.0.1:${port}${path_}`], { timeout: 20_000 }, (err, stdout, stderr) =>
      resolve({ ok: !err, out: err ? stderr : stdout }),
    ),
  );
}
const fingerprint = (dir: string, name: string): string => new crypto.X509Certificate(fs.readFileSync(file(dir, name))).fingerprint256;

describe('adapter and enforcer each with their own certificate (as in docker compose)', () => {
  let adapter: Adapter;
  let enforcer: Enforcer;
  beforeAll(async () => {
    adapter = await startAdapter(adapterConfig(tlsOf(ours, 'adapter')), log);
    enforcer = await startEnforcer(enforcerConfig(tlsOf(ours, 'enforcer'), adapter.port), log);
  }, 30_000);
  afterAll(async () => {
    await enforcer?.stop();
    await adapter?.stop();
  });

  test("the adapter's admin service answers ctl with its certificate, and no one without one from our CA", async () => {
    expect((await ctl(adapter.port, { cert: { dir: ours, role: 'ctl' }, ca: caOf(ours) }))[0]).toMatch(/^GROUP\s+TYPE/);
    // the adapter's own certificate may connect too (ctl on its host, with the adapter's config)
    expect((await ctl(adapter.port, { cert: { dir: ours, role: 'adapter' }, ca: caOf(ours) }, 'nodes'))[0]).toMatch(/^NODE\s/);
    // refused, and said plainly (main prints a CtlError without a stack)
    await expect(ctl(adapter.port, { ca: caOf(ours) })).rejects.toThrow(CtlError);
    await expect(ctl(adapter.port, { ca: caOf(ours) })).rejects.toThrow(/^ListSnapshots: .*certificate required.* \(is the adapter at that address\? With \[tls\] on it wants a client certificate/s);
    await expect(ctl(adapter.port, { cert: { dir: other, role: 'ctl' }, ca: caOf(ours) })).rejects.toThrow(/ListSnapshots: /);
    await expect(ctl(adapter.port, 'plaintext')).rejects.toThrow(/ListSnapshots: /);
    // and a client that does not trust the adapter's certificate does not send it anything
    await expect(ctl(adapter.port, { cert: { dir: other, role: 'ctl' }, ca: caOf(other) })).rejects.toThrow(/ListSnapshots: /);
  });

  test('buf curl, a client on another TLS stack, reaches the admin service with a certificate from our CA, and only then', async () => {
    const method = '/apimconnect.admin.v1.AdminService/ListSnapshots';
    const ca = ['--cacert', caOf(ours)];
    const ok = await bufCurlTls(adapter.port, method, [...ca, '--cert', file(ours, 'ctl.crt'), '--key', file(ours, 'ctl.key')]);
    expect(ok).toMatchObject({ ok: true });
    expect(JSON.parse(ok.out).snapshots.map((s: { group: string }) => s.group)).toContain('Default');
    // the same call without a certificate, or with another CA's: buf's TLS 1.3 handshake ends
    // before the server refuses, so buf reports its reflection call failing; nothing comes back
    for (const flags of [ca, [...ca, '--cert', file(other, 'ctl.crt'), '--key', file(other, 'ctl.key')]]) {
      const refused = await bufCurlTls(adapter.port, method, flags);
      expect(refused.ok).toBe(false);
      expect(refused.out).not.toContain('snapshots');
    }
  });

  test('ctl explain reaches the adapter over mutual TLS', async () => {
    const lines: string[] = [];
    const code = await runExplain(['GET', 'http://localhost:9090/petstore/1.0.0/pets/42'], { address: `127.0.0.1:${adapter.port}`, label: 'Default', json: true, credentials: credentials({ cert: { dir: ours, role: 'ctl' }, ca: caOf(ours) }) }, (l) => lines.push(l));
    expect(code).toBe(0);
    expect(JSON.parse(lines.join('\n')).apiRoute).toBe(true);
    await expect(
      runExplain(['GET', 'http://localhost:9090/petstore/1.0.0/pets/42'], { address: `127.0.0.1:${adapter.port}`, label: 'Default', json: true, credentials: credentials({ ca: caOf(ours) }) }, () => undefined),
    ).rejects.toThrow(/Explain: /);
  });

  test("the enforcer's xDS client gets its view over mutual TLS", async () => {
    await enforcer.view.whenReady();
    expect(enforcer.view.all(ENFORCER_API).length).toBeGreaterThan(0);
    expect(adapter.xds.streams().some((s) => (s.node?.id ?? '').startsWith('enforcer-'))).toBe(true);
  });

  test('an enforcer-typed Delta client without a certificate, or with one from another CA, gets nothing', async () => {
    const attempt = (client: Client, id: string): DeltaXdsClient =>
      new DeltaXdsClient({ address: `127.0.0.1:${adapter.port}`, node: { id, cluster: 'Default' }, typeUrls: ENFORCER_TYPES, credentials: credentials(client), backoff: { initialMs: 100, maxMs: 200 } });
    const thieves = [attempt({ ca: caOf(ours) }, 'thief-no-cert'), attempt({ cert: { dir: other, role: 'enforcer' }, ca: caOf(ours) }, 'thief-other-ca'), attempt('plaintext', 'thief-plain')];
    const honest = attempt({ cert: { dir: ours, role: 'enforcer' }, ca: caOf(ours) }, 'honest');
    try {
      await honest.whenReady();
      expect(honest.entries(ENFORCER_API).size).toBeGreaterThan(0);
      await delay(1500); // several reconnect attempts each
      for (const t of thieves) {
        expect(t.ready).toBe(false);
        expect(t.entries(ENFORCER_API).size).toBe(0);
        expect(t.entries(ENFORCER_KEY_MANAGER).size).toBe(0);
      }
      expect(adapter.xds.streams().map((s) => s.node?.id ?? '').filter((id) => id.startsWith('thief'))).toEqual([]);
    } finally {
      [...thieves, honest].forEach((c) => c.close());
    }
  });

  test('the ext_authz port serves a router with its certificate, and no one without one from our CA', async () => {
    await enforcer.view.whenReady();
    expect(await health(enforcer.port, { cert: { dir: ours, role: 'router' }, ca: caOf(ours) })).toBe('SERVING');
    expect(await check(enforcer.port, { cert: { dir: ours, role: 'router' }, ca: caOf(ours) })).toBe('answered');
    for (const refused of [{ ca: caOf(ours) }, { cert: { dir: other, role: 'router' }, ca: caOf(ours) }, 'plaintext'] as Client[]) {
      expect(await health(enforcer.port, refused)).toBe('error UNAVAILABLE');
      expect(await check(enforcer.port, refused)).toBe('error UNAVAILABLE');
    }
  });
});

test('`all`: adapter and enforcer in one process with one certificate, the enforcer reaching the adapter over TLS on loopback', async () => {
  // As main.ts runs `all`: one config, the enforcer pointed at the adapter's bound port.
  const config = parseConfig(
    `[adapter]\nxdsPort = 0\nhttpPort = 0\ndebounceMs = 0\napisDirectory = ${JSON.stringify(APIS)}\n[enforcer]\nport = 0\nhttpPort = 0\n${tlsOf(ours, 'adapter')}`,
    'all.toml',
  );
  const adapter = await startAdapter(config, log);
  const enforcer = await startEnforcer({ ...config, enforcer: { ...config.enforcer, adapterAddress: `127.0.0.1:${adapter.port}` } }, log);
  try {
    await enforcer.view.whenReady();
    expect(enforcer.view.all(ENFORCER_API).length).toBeGreaterThan(0);
    expect(await health(enforcer.port, { cert: { dir: ours, role: 'router' }, ca: caOf(ours) })).toBe('SERVING');
    expect(await health(enforcer.port, { ca: caOf(ours) })).toBe('error UNAVAILABLE');
  } finally {
    await enforcer.stop();
    await adapter.stop();
  }
});

describe('certificates re-read when their files change, without a restart', () => {
  let dir: string;
  let adapter: Adapter;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mtls-reload-'));
    await writeCertificates({ out: dir, hosts: [], days: 2 });
    adapter = await startAdapter(adapterConfig(tlsOf(dir, 'adapter')), log);
  }, 30_000);
  afterAll(async () => {
    await adapter?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a renewed certificate is served to new connections', async () => {
    expect(await servedCertificate(adapter.port, dir)).toBe(fingerprint(dir, 'adapter.crt'));
    const before = fingerprint(dir, 'adapter.crt');
    await writeCertificates({ out: dir, hosts: [], days: 2 });
    const renewed = fingerprint(dir, 'adapter.crt');
    expect(renewed).not.toBe(before);
    let served = before;
    const until = Date.now() + 15_000;
    while (served !== renewed && Date.now() < until) {
      await delay(200);
      served = await servedCertificate(adapter.port, dir);
    }
    expect(served).toBe(renewed);
    expect((await ctl(adapter.port, { cert: { dir, role: 'ctl' }, ca: caOf(dir) }))[0]).toMatch(/^GROUP/);
  }, 30_000);

  test('a key that does not fit is refused and the last good certificate keeps serving', async () => {
    const good = await servedCertificate(adapter.port, dir);
    const key = fs.readFileSync(file(dir, 'adapter.key'));
    fs.copyFileSync(file(other, 'adapter.key'), file(dir, 'adapter.key'));
    await delay(2500);
    expect(await servedCertificate(adapter.port, dir)).toBe(good);
    expect((await ctl(adapter.port, { cert: { dir, role: 'ctl' }, ca: caOf(dir) }))[0]).toMatch(/^GROUP/);
    fs.writeFileSync(file(dir, 'adapter.key'), key);
  }, 30_000);

  test('a new CA file changes whose client certificates are accepted', async () => {
    // Clients keep checking the adapter against the CA that signed it; the adapter now trusts the other CA for clients.
    fs.copyFileSync(file(dir, 'ca.crt'), file(dir, 'adapter-ca.crt'));
    fs.copyFileSync(file(other, 'ca.crt'), file(dir, 'ca.crt'));
    const ctlOf = (d: string): Promise<string[]> => ctl(adapter.port, { cert: { dir: d, role: 'ctl' }, ca: file(dir, 'adapter-ca.crt') }).catch(() => []);
    const until = Date.now() + 15_000;
    while ((await ctlOf(other)).length === 0 && Date.now() < until) await delay(200);
    expect((await ctlOf(other))[0]).toMatch(/^GROUP/);
    expect(await ctlOf(dir)).toEqual([]);
  }, 30_000);
});

test('TLS without tls.caFile: encrypted, the server checked by clients, no client certificate asked for (loopback only)', async () => {
  const section = `[tls]\ncertFile = ${JSON.stringify(file(ours, 'adapter.crt'))}\nkeyFile = ${JSON.stringify(file(ours, 'adapter.key'))}\n`;
  const adapter = await startAdapter(adapterConfig(section), log);
  try {
    expect((await ctl(adapter.port, { ca: caOf(ours) }))[0]).toMatch(/^GROUP/);
    await expect(ctl(adapter.port, 'plaintext')).rejects.toThrow(CtlError);
    // a client that does not trust the certificate sends nothing
    await expect(ctl(adapter.port, { ca: caOf(other) })).rejects.toThrow(CtlError);
  } finally {
    await adapter.stop();
  }
});
