import * as grpc from '@grpc/grpc-js';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loopbackAddress } from '../../src/cli/all';
import { writeCertificates } from '../../src/cli/certs';
import { channelCredentials } from '../../src/cli/tls';
import { runCtl } from '../../src/cli/ctl';
import { serviceDefinition } from '../../src/envoy/grpcService';
import { messageType } from '../../src/envoy/protos';
import { alive, buildCli, BUILD, killLeftovers, LoggingProcess, writeConfig, type LogLine } from '../helpers/cli';
import { waitFor } from '../helpers/ads';

/**
 * `apim-connect all`, the real CLI as `npm start` runs it: the enforcer in a child process of its
 * own, fed by the adapter over xDS on loopback. Signals stop both parts, either part ending ends
 * both, and nothing the adapter does delays a Check.
 */

jest.setTimeout(180_000);

/** apis/petstore/api.yaml's id. */
const PETSTORE = '6b0d2c1e-4f3a-4c8e-9d27-5a1e0b7c3f42';
const CheckResponse = messageType('envoy.service.auth.v3.CheckResponse');
const AuthzClient = grpc.makeGenericClientConstructor(serviceDefinition('envoy.service.auth.v3.Authorization'), 'Authorization');
const CONFIG = `
[adapter]
host = "127.0.0.1"
xdsPort = 0
httpPort = 0
apisDirectory = "apis"
[enforcer]
host = "127.0.0.1"
port = 0
httpPort = 0
[log]
level = "info"
`;

let main: string;
beforeAll(async () => {
  main = await buildCli();
});
afterEach(killLeftovers);

const message = (m: string) => (l: LogLine) => l.message === m;
const portOf = (l: LogLine, key: string): number => Number(String(l[key]).split(':').pop());

/** `all` with CONFIG (plus `extra`), once its enforcer serves: the process and both ports. */
async function startAll(extra = '', options: { detached?: boolean } = {}): Promise<{ cli: LoggingProcess; xdsPort: number; checkPort: number; enforcerPid: number }> {
  const cli = new LoggingProcess([main, 'all', '--config', writeConfig(CONFIG + extra)], options);
  const xdsPort = portOf(await cli.waitForLog(message('adapter listening')), 'xds');
  const enforcerPid = Number((await cli.waitForLog(message('enforcer process started'))).pid);
  const checkPort = portOf(await cli.waitForLog(message('enforcer listening')), 'grpc');
  await cli.waitForLog(message('enforcer serving: view ready'));
  return { cli, xdsPort, checkPort, enforcerPid };
}

/** A Check of PetStore's unsecured GET /health; resolves to whether it was allowed. */
function checkHealth(client: grpc.Client & { Check: Function }): Promise<boolean> {
  const req = {
    attributes: {
      request: { http: { method: 'GET', path: '/health', host: 'localhost', headers: { ':method': 'GET' } } },
      route_metadata_context: { filter_metadata: { 'apimconnect.route': { fields: { apiId: { stringValue: PETSTORE }, path: { stringValue: '/health' } } } } },
    },
  };
  return new Promise((resolve, reject) =>
    client.Check(req, { deadline: Date.now() + 60_000 }, (err: Error | null, res: unknown) => (err ? reject(err) : resolve(!!(CheckResponse.toObject(res as never) as { ok_response?: object }).ok_response))),
  );
}

const authz = (port: number): grpc.Client & { Check: Function } => new AuthzClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as never;

test("the enforcer reaches the adapter where it listens: loopback for a wildcard address", () => {
  expect(loopbackAddress('0.0.0.0', 18000)).toBe('127.0.0.1:18000');
  expect(loopbackAddress('::', 18000)).toBe('[::1]:18000');
  expect(loopbackAddress('127.0.0.2', 18000)).toBe('127.0.0.2:18000');
  expect(loopbackAddress('::1', 18000)).toBe('[::1]:18000');
});

test('the enforcer runs in its own process, fed over loopback xDS; Ctrl-C (SIGINT to the group) stops both cleanly', async () => {
  const { cli, xdsPort, checkPort, enforcerPid } = await startAll('', { detached: true });
  expect(enforcerPid).not.toBe(cli.pid);
  expect(alive(enforcerPid)).toBe(true);
  const client = authz(checkPort);
  try {
    expect(await checkHealth(client)).toBe(true);
  } finally {
    client.close();
  }
  const nodes: string[] = [];
  await runCtl('nodes', [], { address: `127.0.0.1:${xdsPort}`, json: true, watch: false, group: '' }, (l) => nodes.push(l));
  expect(JSON.parse(nodes.join('\n'))).toEqual([expect.objectContaining({ node_id: `enforcer-${os.hostname()}-${enforcerPid}`, group: 'Default', protocol: 'delta' })]);

  cli.killGroup('SIGINT');
  expect(await cli.exited).toEqual({ code: 0, signal: null });
  expect(alive(enforcerPid)).toBe(false);
  expect(cli.lines.map((l) => l.message)).toContain('shutting down');
  expect(cli.stderr).toBe('');
});

test('SIGTERM to the all process stops the enforcer too', async () => {
  const { cli, enforcerPid } = await startAll();
  cli.kill('SIGTERM');
  expect(await cli.exited).toEqual({ code: 0, signal: null });
  expect(alive(enforcerPid)).toBe(false);
});

test('the enforcer process dying ends the whole all process with a clear message', async () => {
  const { cli, enforcerPid } = await startAll();
  process.kill(enforcerPid, 'SIGKILL');
  expect(await cli.exited).toEqual({ code: 1, signal: null });
  expect(cli.lines.find((l) => l.level === 'error')?.message).toBe('the enforcer process was killed (SIGKILL) while serving; stopping the adapter');
});

test('the enforcer does not outlive an all process that is killed outright', async () => {
  const { cli, enforcerPid } = await startAll();
  cli.kill('SIGKILL');
  await cli.exited;
  await waitFor(() => !alive(enforcerPid), 15_000);
});

test("over mutual TLS the child enforcer presents the adapter's certificate, which holds the enforcer role: it gets its view and answers a router", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'all-tls-'));
  try {
    await writeCertificates({ out: dir, hosts: [], days: 2 });
    const f = (name: string): string => JSON.stringify(path.join(dir, name));
    const { cli, checkPort } = await startAll(`[tls]\ncertFile = ${f('adapter.crt')}\nkeyFile = ${f('adapter.key')}\ncaFile = ${f('ca.crt')}\n`);
    const creds = channelCredentials({ certFile: path.join(dir, 'router.crt'), keyFile: path.join(dir, 'router.key'), caFile: path.join(dir, 'ca.crt') });
    const client = new AuthzClient(`127.0.0.1:${checkPort}`, creds) as never as grpc.Client & { Check: Function };
    try {
      expect(await checkHealth(client)).toBe(true);
    } finally {
      client.close();
    }
    expect(cli.lines.filter((l) => l.message === 'xDS stream refused')).toEqual([]);
    cli.kill('SIGTERM');
    expect(await cli.exited).toEqual({ code: 0, signal: null });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the enforcer gets the whole config: a bad enforcer key stops all with the enforcer's message", async () => {
  const cli = new LoggingProcess([main, 'all', '--config', writeConfig(CONFIG + '[enforcer.jwtGenerator]\nenabled = true\n')]);
  expect(await cli.exited).toEqual({ code: 2, signal: null });
  expect(cli.stderr).toBe('apim-connect: enforcer.jwtGenerator.privateKeyPath: required when enforcer.jwtGenerator.enabled is true\n');
  expect(cli.lines.find((l) => l.level === 'error')?.message).toBe('the enforcer process exited with code 2 before it was listening; stopping the adapter');
});

/**
 * The stall the issue measured: heavy adapter work while Checks are timed. The load is a 40 MB
 * Delta request (refused at the door now) and a few requests within the limit that cost the
 * adapter seconds each (Delta EDS subscriptions to thousands of names it must answer, each with
 * an empty ClusterLoadAssignment). The same load against the adapter and enforcer sharing one
 * event loop (what `all` used to be) delays Checks by seconds: that is what the test would see
 * if the enforcer were back in the adapter's loop.
 */
describe('Checks while the adapter is busy', () => {
  /**
   * The load, from a process of its own so the Checks timed here share no event loop with it: a
   * 40 MB request, then three Delta EDS subscriptions to 25,000 names each, sent at once. Prints
   * how each ended and how long the adapter took to answer them all.
   */
  const loadScript = (xdsPort: number): string => `
    const grpc = require('@grpc/grpc-js');
    const { messageType } = require(${JSON.stringify(path.join(BUILD, 'envoy', 'protos'))});
    const Delta = messageType('envoy.service.discovery.v3.DeltaDiscoveryRequest');
    const EDS = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
    const encode = (id, names) => Buffer.from(Delta.encode(Delta.fromObject({ node: { id, cluster: 'Default' }, type_url: EDS, resource_names_subscribe: names })).finish());
    const requests = [encode('huge', ['x'.repeat(40000000)])];
    for (const id of ['a', 'b', 'c']) requests.push(encode(id, Array.from({ length: 25000 }, (_, i) => id + '-cluster-' + String(i).padStart(32, '0'))));
    const ads = new grpc.Client('127.0.0.1:${xdsPort}', grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 });
    const t0 = performance.now();
    Promise.all(requests.map((bytes) => new Promise((resolve) => {
      const call = ads.makeBidiStreamRequest('/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources', (b) => b, (b) => b);
      call.on('data', () => { resolve('answered'); call.cancel(); });
      call.on('error', (e) => resolve(e.code === grpc.status.RESOURCE_EXHAUSTED ? 'refused' : 'error ' + e.code));
      call.write(bytes);
    }))).then((results) => {
      console.log(JSON.stringify({ message: 'load done', results, ms: performance.now() - t0 }));
      process.exit(0);
    });`;

  /**
   * Checks one after another (20 ms apart) while the load runs: the slowest Check's latency, how
   * many Checks ran, and how long the adapter was busy with the load.
   */
  async function slowestCheckUnderLoad(xdsPort: number, checkPort: number): Promise<{ slowestMs: number; checks: number; loadMs: number }> {
    const client = authz(checkPort);
    try {
      expect(await checkHealth(client)).toBe(true);
      const load = new LoggingProcess(['-e', loadScript(xdsPort)]);
      let loading = true;
      const done = load.waitForLog(message('load done'), 120_000).finally(() => (loading = false));
      let slowestMs = 0;
      let checks = 0;
      while (loading) {
        const t0 = performance.now();
        expect(await checkHealth(client)).toBe(true);
        slowestMs = Math.max(slowestMs, performance.now() - t0);
        checks++;
        await new Promise((r) => setTimeout(r, 20));
      }
      const { results, ms } = (await done) as LogLine & { results: string[]; ms: number };
      expect(results).toEqual(['refused', 'answered', 'answered', 'answered']);
      return { slowestMs, checks, loadMs: ms };
    } finally {
      client.close();
    }
  }

  test('in all, no Check waits for the adapter (the slowest under 500 ms while the adapter works for over a second)', async () => {
    const { cli, xdsPort, checkPort } = await startAll();
    try {
      const r = await slowestCheckUnderLoad(xdsPort, checkPort);
      expect(r.loadMs).toBeGreaterThan(1000);
      expect(r.checks).toBeGreaterThan(10);
      expect(r.slowestMs).toBeLessThan(500);
    } finally {
      cli.kill('SIGTERM');
      await cli.exited;
    }
  });

  test('control: with the enforcer in the adapter’s event loop, the same load delays a Check by seconds', async () => {
    const script = `
      const { parseConfig } = require(${JSON.stringify(path.join(BUILD, 'config', 'config'))});
      const { createLogger } = require(${JSON.stringify(path.join(BUILD, 'config', 'log'))});
      const { startAdapter } = require(${JSON.stringify(path.join(BUILD, 'cli', 'adapter'))});
      const { startEnforcer } = require(${JSON.stringify(path.join(BUILD, 'cli', 'enforcer'))});
      (async () => {
        const config = parseConfig(${JSON.stringify(CONFIG)}, 'one-loop.toml');
        const log = createLogger('info', 'one-loop');
        const adapter = await startAdapter(config, log);
        const enforcer = await startEnforcer({ ...config, enforcer: { ...config.enforcer, adapterAddress: '127.0.0.1:' + adapter.port } }, log);
        process.on('SIGTERM', async () => { await enforcer.stop(); await adapter.stop(); process.exit(0); });
      })();`;
    const one = new LoggingProcess(['-e', script]);
    try {
      const xdsPort = portOf(await one.waitForLog(message('adapter listening')), 'xds');
      const checkPort = portOf(await one.waitForLog(message('enforcer listening')), 'grpc');
      await one.waitForLog(message('enforcer serving: view ready'));
      const r = await slowestCheckUnderLoad(xdsPort, checkPort);
      expect(r.slowestMs).toBeGreaterThan(1000);
    } finally {
      one.kill('SIGTERM');
      await one.exited;
    }
  });
});
