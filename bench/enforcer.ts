import { execFile, fork, type ChildProcess } from 'child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';
import { startAdapter } from '../src/cli/adapter';
import { parseConfig } from '../src/config/config';
import { createLogger } from '../src/config/log';
import { BackendJwtIssuer } from '../src/enforcer/backend-jwt';
import { ROUTE_METADATA_NAMESPACE, type DecideDeps, decide } from '../src/enforcer/check';
import { IssuerRegistry, JwtValidator } from '../src/enforcer/jwt';
import { RevocationSet } from '../src/enforcer/revocations';
import { LocalCounters, type Counters } from '../src/enforcer/counters';
import { RedisCounters } from '../src/enforcer/redis-counters';
import { AUTHORIZATION_SERVICE, ResponseEncoder, checkRequestFrom, startEnforcerServer } from '../src/enforcer/server';
import { Throttle } from '../src/enforcer/throttle';
import { EnforcerView } from '../src/enforcer/view';
import { serviceDefinition } from '../src/envoy/grpcService';
import { messageType } from '../src/envoy/protos';
import { silentLog } from '../src/xds/log';
import { stats, type Stats } from './apim';

/**
 * BENCH_ONLY=enforcer: Check throughput and latency of the enforcer for a JWT-secured,
 * subscription-validated resource, against a bare grpc-js Check handler that always allows. Each
 * server runs alone in a forked child (one JS thread: one core); the client, the same for both,
 * is this process. The adapter that feeds the enforcer over loopback xDS runs in a third child, idle
 * once the view is complete.
 * Knobs: BENCH_ENF_SECONDS=5 (per closed-loop run), BENCH_ENF_CONCURRENCY=32 (requests in flight),
 * BENCH_ENF_RATE=2000 (checks/s of the open-loop latency run), BENCH_ENF_FRESH=3000 (distinct
 * tokens for the first-sight run), BENCH_ENF_ROUNDS=3 and BENCH_ENF_ROUND_SECONDS=3 (the
 * throttling comparison: rounds, and seconds per run within a round), BENCH_ENF_CALLGRIND=1 and
 * BENCH_ENF_CALLGRIND_CHECKS=1000 (the same comparison in instructions, under valgrind;
 * BENCH_ENF_CALLGRIND_KEEP=1 keeps the dumps for callgrind_annotate).
 */

const env = (k: string, d: string): string => process.env[k] ?? d;
const SECONDS = Number(env('BENCH_ENF_SECONDS', '5'));
const CONCURRENCY = Number(env('BENCH_ENF_CONCURRENCY', '32'));
const RATE = Number(env('BENCH_ENF_RATE', '2000'));
const FRESH = Number(env('BENCH_ENF_FRESH', '3000'));
/** h2load paces each client on a ~10 ms timer, in bursts: more clients, smaller bursts. */
const H2LOAD_CLIENTS = Number(env('BENCH_ENF_H2LOAD_CLIENTS', '10'));
const REDIS_URL = env('BENCH_ENF_REDIS_URL', 'redis://127.0.0.1:6379');
const ROUNDS = Number(env('BENCH_ENF_ROUNDS', '3'));
const ROUND_SECONDS = Number(env('BENCH_ENF_ROUND_SECONDS', '3'));
const CALLGRIND = env('BENCH_ENF_CALLGRIND', '1') !== '0';
const CALLGRIND_CHECKS = Number(env('BENCH_ENF_CALLGRIND_CHECKS', '1000'));

type ThrottleMode = 'off' | 'local' | 'redis';
const ISS = 'https://localhost:9443/oauth2/token';
const KM = 'Resident Key Manager';
const ORG = 'carbon.super';
const API_PATH = '/petstore/1.0.0/pets';
const CHECK_PATH = `/${AUTHORIZATION_SERVICE}/Check`;
const CheckRequest = messageType('envoy.service.auth.v3.CheckRequest');
// CheckResponse's field 1 (status) alone: the rest of the reply is skipped, not decoded.
const CheckStatusOnly = new protobuf.Type('CheckStatusOnly').add(new protobuf.Field('status', 1, 'Status')).add(
  new protobuf.Type('Status').add(new protobuf.Field('code', 1, 'int32')),
);
new protobuf.Root().add(CheckStatusOnly);

type Msg = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

// ---------------------------------------------------------------------------------- children

async function bareChild(): Promise<Msg> {
  const server = new grpc.Server();
  server.addService(serviceDefinition(AUTHORIZATION_SERVICE), {
    Check: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, { status: { code: 0 }, ok_response: {} }),
  });
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  return { port };
}

/** The adapter that feeds the enforcer, in a process of its own so the enforcer's CPU and heap are the enforcer's alone. */
async function adapterChild(): Promise<Msg> {
  const apisDir = path.join(__dirname, '..', '..', 'apis');
  const config = parseConfig(`[adapter]\nhost = "127.0.0.1"\nxdsPort = 0\nhttpPort = 0\ndebounceMs = 0\napisDirectory = ${JSON.stringify(apisDir)}\n`, 'bench.toml');
  const adapter = await startAdapter(config, createLogger('error', 'bench'));
  const pet = [...adapter.pipeline.current.apis.values()].find((a) => a.name === 'PetStore');
  if (!pet) throw new Error(`no PetStore API in ${apisDir}`);
  // Tiers no run reaches (so throttled runs count at subscription and application level and
  // allow), and one of a single request per minute for the over-limit run.
  const tier = (kind: 'subscription' | 'application', name: string, limit: number) =>
    ({ kind: 'Upserted', collection: 'policies', value: { kind, name, organization: ORG, defaultLimit: { quotaType: 'requestCount', limit, unitTimeMs: 60_000 }, stopOnQuotaReach: true } }) as const;
  adapter.pipeline.apply([
    tier('subscription', 'Vast', 1e9),
    tier('application', 'VastApp', 1e9),
    tier('subscription', 'One', 1),
    { kind: 'Upserted', collection: 'applications', value: { uuid: 'app-1', name: 'Shop', owner: 'alice', policy: 'VastApp', attributes: {}, organization: ORG } },
    { kind: 'Upserted', collection: 'keyMappings', value: { consumerKey: 'ck-prod', keyManager: KM, keyType: 'PRODUCTION', appUuid: 'app-1', organization: ORG } },
    { kind: 'Upserted', collection: 'subscriptions', value: { uuid: 'sub-1', apiUuid: pet.id, appUuid: 'app-1', policy: 'Vast', state: 'UNBLOCKED', organization: ORG } },
    { kind: 'Upserted', collection: 'applications', value: { uuid: 'app-2', name: 'Greedy', owner: 'bob', policy: 'VastApp', attributes: {}, organization: ORG } },
    { kind: 'Upserted', collection: 'keyMappings', value: { consumerKey: 'ck-over', keyManager: KM, keyType: 'PRODUCTION', appUuid: 'app-2', organization: ORG } },
    { kind: 'Upserted', collection: 'subscriptions', value: { uuid: 'sub-2', apiUuid: pet.id, appUuid: 'app-2', policy: 'One', state: 'UNBLOCKED', organization: ORG } },
  ]);
  return { port: adapter.port, pet: { id: pet.id, name: pet.name, version: pet.version } };
}

async function enforcerChild(publicKeyPem: string, adapterPort: number, pet: { id: string; name: string; version: string }, throttling: ThrottleMode): Promise<Msg> {
  const view = new EnforcerView({ address: `127.0.0.1:${adapterPort}`, label: 'Default', nodeId: 'bench-enforcer' });
  const registry = new IssuerRegistry();
  registry.setConfigIssuers([{ name: KM, issuer: ISS, certificate: publicKeyPem }]);
  const jwt = new JwtValidator(registry);
  const revoked = new RevocationSet({ pruneIntervalMs: 0 });
  let throttle: Throttle | undefined;
  if (throttling !== 'off') {
    const local = new LocalCounters();
    const counters: Counters = throttling === 'local' ? local : new RedisCounters({ url: REDIS_URL, keyPrefix: `bench:${process.pid}:`, timeoutMs: 1000, onFailure: 'deny', log: silentLog }, local);
    if (!(await counters.whenReady?.(5000) ?? true)) throw new Error(`Redis at ${REDIS_URL} does not answer (BENCH_ENF_REDIS_URL)`);
    throttle = new Throttle({
      blocking: () => view.blocking(),
      policy: (k, o, n) => view.policy(k, o, n),
      policyGeneration: () => view.policyGeneration,
      decisions: view.decisions,
      counters,
      log: silentLog,
    });
  }
  const server = await startEnforcerServer({ host: '127.0.0.1', port: 0, view, jwt, revoked, throttle, log: silentLog });
  await view.whenReady();
  const deadline = Date.now() + 10_000;
  while (!view.subscription(pet.id, 'app-1') || !view.subscription(pet.id, 'app-2') || !view.policy('subscription', ORG, 'One')) {
    if (Date.now() > deadline) throw new Error('the enforcer view never received the subscription');
    await new Promise((r) => setTimeout(r, 10));
  }
  // The handler's own work, without the transport: decode, decide, encode the reply; then the
  // same with a backend JWT (cached after the first check), and the signing of a new one.
  const backendJwt = new BackendJwtIssuer({
    headerName: 'X-JWT-Assertion',
    privateKeyPem: crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    ttlSeconds: 3600,
    claimDialect: 'http://wso2.org/claims',
  });
  process.on('message', (m: Msg) => {
    if (m.op !== 'handlerCost') return;
    const buf = Buffer.from(m.request, 'base64');
    const responses = new ResponseEncoder();
    const handler = (deps: DecideDeps): Stats => {
      const lat: number[] = [];
      for (let i = 0; i < m.iterations; i++) {
        const t0 = process.hrtime.bigint();
        const d = decide(checkRequestFrom(CheckRequest.decode(buf)), deps);
        if (d instanceof Promise || !d.allow) throw new Error('handlerCost: the cached request must be allowed synchronously');
        responses.encode(d);
        lat.push(Number(process.hrtime.bigint() - t0) / 1e3);
      }
      return stats(lat.slice(lat.length >> 2)); // the first quarter is warm-up
    };
    const plain = handler({ view, jwt, revoked });
    // With the throttle stage (local counters answer synchronously): what the stage adds in-process,
    // iterations alternating with the stage off so both see the same JIT and heap.
    let withThrottle: { off: Stats; local: Stats; overLimit: Stats } | undefined;
    if (throttle && throttling === 'local' && m.overRequest) {
      const bufs = [buf, buf, Buffer.from(m.overRequest, 'base64')];
      const lat: number[][] = [[], [], []];
      for (let i = 0; i < 3 * m.iterations; i++) {
        const which = i % 3; // 0: stage off; 1: on, allowed; 2: on, over the limit
        const t0 = process.hrtime.bigint();
        const req = checkRequestFrom(CheckRequest.decode(bufs[which]!));
        const d = decide(req, { view, jwt, revoked });
        if (d instanceof Promise || !d.allow) throw new Error('handlerCost: the cached request must be allowed synchronously');
        const out = which === 0 ? d : throttle.apply(d, '', Date.now(), req);
        if (out instanceof Promise || out.allow !== (which < 2)) throw new Error('handlerCost: the throttled requests must be answered synchronously, the over-limit one refused');
        responses.encode(out);
        lat[which]!.push(Number(process.hrtime.bigint() - t0) / 1e3);
      }
      const [off, local, overLimit] = lat.map((l) => stats(l.slice(l.length >> 2)));
      withThrottle = { off: off!, local: local!, overLimit: overLimit! };
    }
    const withBackendJwt = handler({ view, jwt, revoked, backendJwt });
    const signing: number[] = [];
    const api = { id: pet.id, name: pet.name, version: pet.version, context: '/petstore/1.0.0' };
    for (let i = 0; i < 2000; i++) {
      const t0 = process.hrtime.bigint();
      backendJwt.forCaller({ api, keyType: 'PRODUCTION', endUser: 'alice', claims: { scope: 'openid' }, expiresAt: Date.now() + 3_600_000, tokenId: `t-${i}` });
      signing.push(Number(process.hrtime.bigint() - t0) / 1e3);
    }
    process.send!({ op: 'handlerCost', plain, withThrottle, withBackendJwt, backendJwtSigning: stats(signing.slice(500)) });
  });
  return { port: server.port, apiId: pet.id };
}

// ---------------------------------------------------------------------------------- client

/**
 * Requests are encoded once, before timing, and replies decoded only as far as their status: the
 * client's own protobuf work would otherwise be most of what the closed loop measures.
 */
class CheckClient {
  private readonly client: grpc.Client;
  constructor(port: number) {
    this.client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  }
  Check(req: Buffer, cb: (err: grpc.ServiceError | null, res: { status?: { code?: number } }) => void): void {
    this.client.makeUnaryRequest(CHECK_PATH, (b: Buffer) => b, (b: Buffer) => b, req, (err, res) =>
      cb(err, err ? {} : (CheckStatusOnly.decode(res!) as { status?: { code?: number } })),
    );
  }
  close(): void {
    this.client.close();
  }
}

interface Run {
  checks: number;
  checksPerSec: number;
  latencyMs: Stats;
  denied: number;
  errors: number;
}

function checkRequest(apiId: string, token: string): Buffer {
  const req = {
    attributes: {
      request: { http: { id: 'bench', method: 'GET', path: API_PATH, host: 'localhost', headers: { ':method': 'GET', ':path': API_PATH, authorization: `Bearer ${token}` } } },
      route_metadata_context: { filter_metadata: { [ROUTE_METADATA_NAMESPACE]: { fields: { apiId: { stringValue: apiId }, path: { stringValue: '/pets' } } } } },
    },
  };
  return Buffer.from(CheckRequest.encode(CheckRequest.fromObject(req)).finish());
}

/** Closed loop: CONCURRENCY requests in flight until `seconds` pass or `requests` run out. */
function closedLoop(client: CheckClient, next: () => Buffer | undefined, seconds: number): Promise<Run> {
  return new Promise((resolve) => {
    const lat: number[] = [];
    let denied = 0;
    let errors = 0;
    let inFlight = 0;
    const start = process.hrtime.bigint();
    const end = start + BigInt(Math.round(seconds * 1e9));
    const finish = (): void => {
      const secs = Number(process.hrtime.bigint() - start) / 1e9;
      resolve({ checks: lat.length, checksPerSec: lat.length / secs, latencyMs: stats(lat), denied, errors });
    };
    const fire = (): void => {
      const req = process.hrtime.bigint() < end ? next() : undefined;
      if (req === undefined) {
        if (inFlight === 0) finish();
        return;
      }
      inFlight++;
      const t0 = process.hrtime.bigint();
      client.Check(req, (err, res) => {
        inFlight--;
        lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (err) errors++;
        else if (res.status?.code) denied++;
        fire();
      });
    };
    for (let i = 0; i < CONCURRENCY; i++) fire();
  });
}

/** Open loop: RATE checks per second for `seconds`, sent on a 1 ms tick whatever the replies do. */
function openLoop(client: CheckClient, req: Buffer, seconds: number): Promise<Run> {
  return new Promise((resolve) => {
    const lat: number[] = [];
    let denied = 0;
    let errors = 0;
    const total = Math.round(RATE * seconds);
    let sent = 0;
    let done = 0;
    const start = process.hrtime.bigint();
    const tick = setInterval(() => {
      const due = Math.min(total, Math.floor((Number(process.hrtime.bigint() - start) / 1e9) * RATE));
      for (; sent < due; sent++) {
        const t0 = process.hrtime.bigint();
        client.Check(req, (err, res) => {
          lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
          if (err) errors++;
          else if (res.status?.code) denied++;
          if (++done === total) resolve({ checks: total, checksPerSec: total / (Number(process.hrtime.bigint() - start) / 1e9), latencyMs: stats(lat), denied, errors });
        });
      }
      if (sent === total) clearInterval(tick);
    }, 1);
  });
}

/**
 * The open loop again, driven by h2load (nghttp2's HTTP/2 load generator, in C) when it is
 * installed: a Node client's own event-loop stalls (p99 ~4 ms, max ~20 ms on this VM) land in
 * every latency it measures, so its p99 says more about the client than the server. h2load
 * logs each request's duration; gRPC status is not checked here (the Node runs check it).
 */
function h2loadLoop(port: number, req: Buffer, seconds: number): Promise<Run | string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'h2load-'));
  const body = path.join(dir, 'body');
  const log = path.join(dir, 'log');
  const frame = Buffer.alloc(5 + req.length);
  frame.writeUInt32BE(req.length, 1);
  req.copy(frame, 5);
  fs.writeFileSync(body, frame);
  const args = ['-c', String(H2LOAD_CLIENTS), '-m', '16', `--rps=${RATE / H2LOAD_CLIENTS}`, '-D', String(seconds), `--log-file=${log}`, '-d', body, '-H', 'content-type: application/grpc', '-H', 'te: trailers', `http://127.0.0.1:${port}${CHECK_PATH}`];
  return new Promise((resolve) => {
    execFile('h2load', args, (err, stdout) => {
      try {
        if (err) return resolve((err as NodeJS.ErrnoException).code === 'ENOENT' ? 'h2load not installed (apt-get install nghttp2-client)' : `h2load failed: ${err.message}`);
        const rows = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split('\t').map(Number));
        const lat = rows.map((r) => r[2] / 1000);
        const bad = rows.filter((r) => r[1] !== 200).length;
        const done = /finished in ([\d.]+)s, ([\d.]+) req\/s/.exec(stdout);
        resolve({ checks: rows.length, checksPerSec: done ? Number(done[2]) : rows.length / seconds, latencyMs: stats(lat), denied: 0, errors: bad });
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

// ---------------------------------------------------------------------------------- parent

/** `callgrindDir`: run the child under valgrind's callgrind, its counts dumped into that directory. */
function startChild(mode: 'bare' | 'enforcer' | 'adapter', start: Msg, callgrindDir?: string): Promise<{ proc: ChildProcess; msg: Msg }> {
  const nodeArgs = mode === 'adapter' ? [] : (process.env.BENCH_ENF_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const proc = callgrindDir
    ? fork(__filename, ['child', mode], {
        execPath: 'valgrind',
        // V8's background threads (compilation, GC marking) do their work whenever they get to it;
        // on the main thread it is counted the same way every time.
        execArgv: ['--tool=callgrind', '--quiet', `--callgrind-out-file=${callgrindDir}/%p.out`, process.execPath, '--single-threaded', ...nodeArgs],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      })
    : fork(__filename, ['child', mode], { execArgv: nodeArgs, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    proc.once('message', (msg: Msg) => (msg.error ? reject(new Error(`${mode} child: ${msg.error}`)) : resolve({ proc, msg })));
    proc.once('exit', (code) => reject(new Error(`${mode} child exited with ${code}`)));
    proc.send(start);
  });
}

/**
 * Instructions the child executes per check over `checks` closed-loop checks (all its threads, as
 * callgrind counts them): counters zeroed before, dumped after, the dump's total read back.
 */
async function instructionsPerCheck(child: { proc: ChildProcess }, dir: string, client: CheckClient, req: Buffer, checks: number): Promise<number> {
  const control = (flag: string): Promise<void> =>
    new Promise((resolve, reject) => execFile('callgrind_control', [flag, String(child.proc.pid)], (err) => (err ? reject(err) : resolve())));
  await control('-z');
  let sent = 0;
  const run = await closedLoop(client, () => (sent++ < checks ? req : undefined), 3600);
  await control('-d');
  if (run.errors) throw new Error(`${run.errors} errors under callgrind`);
  const dumps = fs.readdirSync(dir).filter((f) => f.startsWith(`${child.proc.pid}.out.`));
  const last = dumps.sort((a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop())).pop();
  const total = last && /^(?:totals|summary): (\d+)/m.exec(fs.readFileSync(path.join(dir, last), 'utf8'));
  if (!total) throw new Error(`no callgrind totals for child ${child.proc.pid} in ${dir}`);
  return Number(total[1]) / run.checks;
}

/** A closed loop, with the server child's CPU time per check over it (user + system, µs). */
async function withServerCpu(proc: ChildProcess, run: () => Promise<Run>): Promise<Run & { serverCpuUsPerCheck: number }> {
  const cpu = (): Promise<NodeJS.CpuUsage> =>
    new Promise((resolve) => {
      const on = (m: Msg): void => {
        if (m.op !== 'cpu') return;
        proc.off('message', on);
        resolve(m.usage as NodeJS.CpuUsage);
      };
      proc.on('message', on);
      proc.send({ op: 'cpu' });
    });
  const before = await cpu();
  const r = await run();
  const after = await cpu();
  return { ...r, serverCpuUsPerCheck: (after.user - before.user + after.system - before.system) / r.checks };
}

type CpuRun = Run & { serverCpuUsPerCheck: number };

/** One round of the throttling comparison: the stage off, then on with each backend, allowed and over the limit. */
interface ThrottleRound {
  off: CpuRun;
  local: { allowed: CpuRun; overLimit: CpuRun };
  redis?: { allowed: CpuRun; overLimit: CpuRun };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export interface EnforcerBenchResult {
  /**
   * The cached-token Check with the throttle stage on, against the same Check with it off (server
   * CPU per check), in interleaved rounds; ratios are the medians of the rounds' own. `redis` says
   * why Redis was not measured, when it was not. `handlerUs`: in-process, stage off and on (local).
   */
  throttling: {
    rounds: ThrottleRound[];
    localRatio: number;
    redisRatio?: number;
    /** Over-limit CPU / allowed CPU per check, medians of the rounds. */
    localOverVsAllowed: number;
    redisOverVsAllowed?: number;
    redis?: string;
    handlerUs: { off: Stats; local: Stats; overLimit: Stats };
    /** The same comparison in instructions per check (callgrind), or why it did not run. */
    instructions?: ThrottleInstructions | string;
  };
  settings: { seconds: number; concurrency: number; rate: number; fresh: number };
  /** atRateH2load: the open loop driven by h2load, or why it did not run. */
  bare: { throughput: Run & { serverCpuUsPerCheck: number }; atRate: Run; atRateH2load: Run | string };
  enforcer: { cached: Run & { serverCpuUsPerCheck: number }; atRate: Run; atRateH2load: Run | string; firstSight: Run };
  throughputRatio: number;
  /** Bare server CPU per check / enforcer server CPU per check: the one-core capacity ratio. */
  cpuCapacityRatio: number;
  /** decode + decide + encode in the enforcer's process, no transport (µs; the first quarter is warm-up). */
  handlerUs: { plain: Stats; withBackendJwt: Stats; backendJwtSigning: Stats };
}

export async function enforcerBench(): Promise<EnforcerBenchResult> {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const mint = (consumerKey = 'ck-prod'): string => {
    const input = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64({ iss: ISS, sub: 'alice', azp: consumerKey, scope: 'openid', jti: crypto.randomUUID(), exp: Math.floor(Date.now() / 1000) + 3600 })}`;
    return `${input}.${crypto.sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
  };
  const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;

  const adapter = await startChild('adapter', {});
  const measure = async <T>(mode: 'bare' | 'enforcer', body: (client: CheckClient, msg: Msg, proc: ChildProcess) => Promise<T>, throttling: ThrottleMode = 'off'): Promise<T> => {
    const { proc, msg } = await startChild(mode, { publicKeyPem: pem, adapterPort: adapter.msg.port, pet: adapter.msg.pet, throttling });
    const client = new CheckClient(msg.port);
    try {
      return await body(client, msg, proc);
    } finally {
      client.close();
      proc.removeAllListeners('exit');
      proc.kill();
    }
  };

  const token = mint();
  const greedy = mint('ck-over');
  const fresh = Array.from({ length: FRESH }, () => mint());
  const bare = await measure('bare', async (client, msg, proc): Promise<EnforcerBenchResult['bare']> => {
    const req = checkRequest('unused', token);
    await closedLoop(client, () => req, 1); // warm-up
    return { throughput: await withServerCpu(proc, () => closedLoop(client, () => req, SECONDS)), atRate: await openLoop(client, req, SECONDS), atRateH2load: await h2loadLoop(msg.port, req, SECONDS) };
  });
  let handlerUs: EnforcerBenchResult['handlerUs'] | undefined;
  const enforcer = await measure('enforcer', async (client, msg, proc): Promise<EnforcerBenchResult['enforcer']> => {
    const req = checkRequest(msg.apiId, token);
    await closedLoop(client, () => req, 1);
    const cached = await withServerCpu(proc, () => closedLoop(client, () => req, SECONDS));
    const atRate = await openLoop(client, req, SECONDS);
    const atRateH2load = await h2loadLoop(msg.port, req, SECONDS);
    // After the served runs: the in-process loop (with and without a backend JWT) changes what the
    // JIT has seen and leaves garbage, which would bias the served runs against the enforcer.
    const handler = await new Promise<Msg>((resolve) => {
      proc.on('message', (m: Msg) => m.op === 'handlerCost' && resolve(m));
      proc.send({ op: 'handlerCost', request: req.toString('base64'), iterations: 20_000 });
    });
    handlerUs = { plain: handler.plain, withBackendJwt: handler.withBackendJwt, backendJwtSigning: handler.backendJwtSigning };
    let i = 0;
    const firstSight = await closedLoop(client, () => (i < fresh.length ? checkRequest(msg.apiId, fresh[i++]) : undefined), 600);
    for (const [name, run] of Object.entries({ cached, atRate, firstSight })) {
      if (run.denied || run.errors) throw new Error(`enforcer ${name}: ${run.denied} denied, ${run.errors} errors: the bench request is not the allowed one`);
    }
    return { cached, atRate, atRateH2load, firstSight };
  });
  const throttling = { ...(await throttleRounds(pem, adapter.msg, token, greedy)), instructions: await throttleInstructions(pem, adapter.msg, token, greedy) };
  adapter.proc.removeAllListeners('exit');
  adapter.proc.kill();
  return {
    throttling,
    settings: { seconds: SECONDS, concurrency: CONCURRENCY, rate: RATE, fresh: FRESH },
    bare,
    enforcer,
    throughputRatio: enforcer.cached.checksPerSec / bare.throughput.checksPerSec,
    cpuCapacityRatio: bare.throughput.serverCpuUsPerCheck / enforcer.cached.serverCpuUsPerCheck,
    handlerUs: handlerUs!,
  };
}

/**
 * Three enforcer children at once (the stage off, on with local counters, on with Redis), each
 * measured in turn in every round: a drift in the machine's speed falls on all three alike, and
 * each round gives its own ratios.
 */
async function throttleRounds(pem: string, adapter: Msg, token: string, greedy: string): Promise<EnforcerBenchResult['throttling']> {
  const start = (mode: ThrottleMode) => startChild('enforcer', { publicKeyPem: pem, adapterPort: adapter.port, pet: adapter.pet, throttling: mode });
  const off = await start('off');
  const local = await start('local');
  const redis = await start('redis').catch((e: Error) => `not measured: ${e.message.split('\n')[0]}`);
  const children = [off, local, ...(typeof redis === 'string' ? [] : [redis])];
  const clients = new Map(children.map((c) => [c, new CheckClient(c.msg.port)]));
  try {
    const req = checkRequest(off.msg.apiId, token);
    const over = checkRequest(off.msg.apiId, greedy);
    for (const c of children) {
      await closedLoop(clients.get(c)!, () => req, 1);
      await closedLoop(clients.get(c)!, () => over, 1);
    }
    type Child = typeof off;
    const run = (c: Child, r: Buffer) => withServerCpu(c.proc, () => closedLoop(clients.get(c)!, () => r, ROUND_SECONDS));
    const onOff = async (c: Child, mode: string) => {
      const allowed = await run(c, req);
      const overLimit = await run(c, over);
      if (allowed.denied || allowed.errors) throw new Error(`throttled (${mode}): ${allowed.denied} denied, ${allowed.errors} errors on the allowed path`);
      // A minute boundary during the run lets one more through (the tier allows one per minute).
      if (overLimit.checks - overLimit.denied > 2) throw new Error(`throttled (${mode}): only ${overLimit.denied} of ${overLimit.checks} over-limit checks were refused`);
      return { allowed, overLimit };
    };
    const rounds: ThrottleRound[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const offRun = await run(off, req);
      if (offRun.denied || offRun.errors) throw new Error(`throttling off: ${offRun.denied} denied, ${offRun.errors} errors`);
      rounds.push({ off: offRun, local: await onOff(local, 'local'), ...(typeof redis === 'string' ? {} : { redis: await onOff(redis, 'redis') }) });
    }
    const handler = await new Promise<Msg>((resolve) => {
      local.proc.on('message', (m: Msg) => m.op === 'handlerCost' && resolve(m));
      local.proc.send({ op: 'handlerCost', request: req.toString('base64'), overRequest: over.toString('base64'), iterations: 20_000 });
    });
    const ratio = (pick: (r: ThrottleRound) => CpuRun | undefined) => median(rounds.map((r) => r.off.serverCpuUsPerCheck / pick(r)!.serverCpuUsPerCheck));
    const overVsAllowed = (pick: (r: ThrottleRound) => ThrottleRound['local'] | undefined) =>
      median(rounds.map((r) => pick(r)!.overLimit.serverCpuUsPerCheck / pick(r)!.allowed.serverCpuUsPerCheck));
    return {
      rounds,
      localRatio: ratio((r) => r.local.allowed),
      localOverVsAllowed: overVsAllowed((r) => r.local),
      ...(typeof redis === 'string' ? { redis } : { redisRatio: ratio((r) => r.redis?.allowed), redisOverVsAllowed: overVsAllowed((r) => r.redis) }),
      handlerUs: handler.withThrottle,
    };
  } finally {
    for (const [c, client] of clients) {
      client.close();
      c.proc.removeAllListeners('exit');
      c.proc.kill();
    }
  }
}

interface ThrottleInstructions {
  checks: number;
  off: number;
  local: { allowed: number; overLimit: number };
  redis?: { allowed: number; overLimit: number };
  redisSkipped?: string;
}

/**
 * The throttling comparison again, in instructions per check counted by callgrind: repeatable
 * where CPU time on a shared VM is not (two identical children measured in turn differ by up to
 * ±40% here). Each child runs under valgrind, checks CALLGRIND_CHECKS of each request first to
 * warm up, then counts CALLGRIND_CHECKS more of each, twice, keeping the lower count (the JIT may
 * still be at work in the first). Counts do not depend on what else runs, so the three children
 * run at once. The enforcer's instructions only: Redis's own work is another process's (another
 * machine's, in production).
 */
async function throttleInstructions(pem: string, adapter: Msg, token: string, greedy: string): Promise<ThrottleInstructions | string> {
  if (!CALLGRIND) return 'not measured (BENCH_ENF_CALLGRIND=0)';
  const installed = await new Promise<boolean>((resolve) => execFile('valgrind', ['--version'], (err) => resolve(!err)));
  if (!installed) return 'not measured: valgrind is not installed (apt-get install valgrind)';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callgrind-'));
  const started: Array<{ proc: ChildProcess; client: CheckClient }> = [];
  try {
    const measure = async (mode: ThrottleMode): Promise<{ allowed: number; overLimit: number }> => {
      const child = await startChild('enforcer', { publicKeyPem: pem, adapterPort: adapter.port, pet: adapter.pet, throttling: mode }, dir);
      const client = new CheckClient(child.msg.port);
      started.push({ proc: child.proc, client });
      const req = checkRequest(child.msg.apiId, token);
      const over = checkRequest(child.msg.apiId, greedy);
      for (const r of [req, over]) {
        let n = 0;
        await closedLoop(client, () => (n++ < CALLGRIND_CHECKS ? r : undefined), 3600);
      }
      const counts = { allowed: Infinity, overLimit: Infinity };
      for (let i = 0; i < 2; i++) {
        counts.allowed = Math.min(counts.allowed, await instructionsPerCheck(child, dir, client, req, CALLGRIND_CHECKS));
        counts.overLimit = Math.min(counts.overLimit, await instructionsPerCheck(child, dir, client, over, CALLGRIND_CHECKS));
      }
      return counts;
    };
    const [off, local, redis] = await Promise.all([
      measure('off'),
      measure('local'),
      measure('redis').catch((e: Error) => `not measured: ${e.message.split('\n')[0]}`),
    ]);
    return { checks: CALLGRIND_CHECKS, off: off.allowed, local, ...(typeof redis === 'string' ? { redisSkipped: redis } : { redis }) };
  } finally {
    // valgrind writes its last dump as the child exits: the folder goes after that.
    await Promise.all(
      started.map(({ proc, client }) => {
        client.close();
        proc.removeAllListeners('exit');
        const exited = new Promise((resolve) => proc.once('exit', resolve));
        proc.kill();
        return exited;
      }),
    );
    if (process.env.BENCH_ENF_CALLGRIND_KEEP) console.log(`callgrind dumps kept in ${dir}`);
    else fs.rmSync(dir, { recursive: true, force: true });
  }
}

function throttleLines(t: EnforcerBenchResult['throttling']): string[] {
  const us = (x: CpuRun): string => x.serverCpuUsPerCheck.toFixed(1);
  const pair = (p: ThrottleRound['local'] | undefined): string => (p ? `${us(p.allowed)} / ${us(p.overLimit)}` : '-');
  const goal = (name: string, ratio: number, want: number, over: number): string =>
    `  ${name}: ratio off/on ${ratio.toFixed(2)} (goal >= ${want}: ${ratio >= want ? 'MET' : 'NOT MET'}); over the limit / allowed ${over.toFixed(2)} (${over <= 1.02 ? 'no dearer' : 'DEARER'})`;
  const lines = [
    `throttling, server CPU per check in ${t.rounds.length} interleaved rounds of ${ROUND_SECONDS} s runs (off | local allowed / over | Redis allowed / over), us:`,
    ...t.rounds.map((r, i) => `  round ${i + 1}: ${us(r.off)} | ${pair(r.local)} | ${pair(r.redis)}`),
    goal('local counters (CPU time, medians of the rounds)', t.localRatio, 0.85, t.localOverVsAllowed),
    t.redis ? `  Redis counters: ${t.redis}` : goal('Redis counters (CPU time, medians of the rounds)', t.redisRatio!, 0.6, t.redisOverVsAllowed!),
    `  in-process handler (decode, decide, throttle, encode; iterations interleaved), us per check, p50: off ${t.handlerUs.off.p50.toFixed(2)}, ` +
      `local allowed ${t.handlerUs.local.p50.toFixed(2)}, local over the limit ${t.handlerUs.overLimit.p50.toFixed(2)}`,
  ];
  const ins = t.instructions;
  if (typeof ins !== 'object') return [...lines, `throttling in instructions (callgrind): ${ins ?? 'not measured'}`];
  const k = (n: number): string => `${(n / 1000).toFixed(0)}k`;
  return [
    ...lines,
    `throttling in instructions per check (callgrind, the lower of two runs of ${ins.checks} checks, after as many to warm up): off ${k(ins.off)}; ` +
      `local allowed ${k(ins.local.allowed)} / over ${k(ins.local.overLimit)}; Redis ${ins.redis ? `allowed ${k(ins.redis.allowed)} / over ${k(ins.redis.overLimit)}` : ins.redisSkipped}`,
    goal('local counters (instructions)', ins.off / ins.local.allowed, 0.85, ins.local.overLimit / ins.local.allowed),
    ...(ins.redis ? [goal('Redis counters (instructions)', ins.off / ins.redis.allowed, 0.6, ins.redis.overLimit / ins.redis.allowed)] : []),
  ];
}

export function formatEnforcer(r: EnforcerBenchResult): string {
  const f = (n: number): string => n.toFixed(2);
  const row = (name: string, x: Run): string =>
    `${name.padEnd(44)} ${x.checksPerSec.toFixed(0).padStart(7)}/s  p50 ${f(x.latencyMs.p50)} ms  p99 ${f(x.latencyMs.p99)} ms  denied ${x.denied}  errors ${x.errors}`;
  const perCheckUs = (x: Run): number => 1e6 / x.checksPerSec;
  const h2 = (name: string, x: Run | string): string => (typeof x === 'string' ? `${name.padEnd(44)} ${x}` : row(name, x));
  // The p99 goal is judged on h2load's figures when it ran (the Node client's stalls dominate its own).
  const p99 = typeof r.enforcer.atRateH2load === 'string' ? r.enforcer.atRate.latencyMs.p99 : r.enforcer.atRateH2load.latencyMs.p99;
  return [
    `Check, concurrency ${r.settings.concurrency}, ${r.settings.seconds} s per run (client: this process; each server: one child)`,
    row('bare grpc-js handler (always allows)', r.bare.throughput),
    row('enforcer, JWT + subscription, cached token', r.enforcer.cached),
    row(`enforcer, first sight of each of ${r.settings.fresh} tokens`, r.enforcer.firstSight),
    `open loop at ${r.settings.rate} checks/s:`,
    row('  bare', r.bare.atRate),
    row('  enforcer, cached token', r.enforcer.atRate),
    `open loop at ${r.settings.rate} checks/s, driven by h2load (${H2LOAD_CLIENTS} connections, each paced in bursts every ~10 ms):`,
    h2('  bare', r.bare.atRateH2load),
    h2('  enforcer, cached token', r.enforcer.atRateH2load),
    `server CPU per check: bare ${r.bare.throughput.serverCpuUsPerCheck.toFixed(1)} us, enforcer ${r.enforcer.cached.serverCpuUsPerCheck.toFixed(1)} us: ` +
      `one-core capacity ratio enforcer/bare ${f(r.cpuCapacityRatio)} (goal >= 0.70: ${r.cpuCapacityRatio >= 0.7 ? 'MET' : 'NOT MET'})`,
    `closed-loop throughput ratio enforcer/bare: ${f(r.throughputRatio)} (bounded by the client here, see docs/PERFORMANCE.md); ` +
      `p99 at ${r.settings.rate}/s: ${f(p99)} ms (goal < 5 ms: ${p99 < 5 ? 'MET' : 'NOT MET'}); ` +
      `first sight costs ${(perCheckUs(r.enforcer.firstSight) - perCheckUs(r.enforcer.cached)).toFixed(0)} us more per check than a cached token`,
    ...throttleLines(r.throttling),
    `handler alone (decode, decide, encode; no transport), us per check: p50 ${f(r.handlerUs.plain.p50)}, p99 ${f(r.handlerUs.plain.p99)}; ` +
      `with a cached backend JWT: p50 ${f(r.handlerUs.withBackendJwt.p50)}, p99 ${f(r.handlerUs.withBackendJwt.p99)}; ` +
      `signing a new backend JWT (RS256): p50 ${f(r.handlerUs.backendJwtSigning.p50)}, p99 ${f(r.handlerUs.backendJwtSigning.p99)}`,
  ].join('\n');
}

if (require.main === module && process.argv[2] === 'child') {
  process.once('SIGTERM', () => process.exit(0)); // exit normally, so --cpu-prof (BENCH_ENF_NODE_ARGS) is written
  process.on('message', (m: Msg) => m.op === 'cpu' && process.send!({ op: 'cpu', usage: process.cpuUsage() }));
  process.once('message', (m: Msg) => {
    const mode = process.argv[3];
    (mode === 'bare' ? bareChild() : mode === 'adapter' ? adapterChild() : enforcerChild(m.publicKeyPem, m.adapterPort, m.pet, m.throttling ?? 'off')).then(
      (msg) => process.send!(msg),
      (e: unknown) => process.send!({ error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
    );
  });
}
