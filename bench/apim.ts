import { fork, type ChildProcess } from 'child_process';
import { randomUUID } from 'crypto';
import type { IncomingMessage, Server, ServerResponse } from 'http';
import { strToU8, unzipSync, zipSync } from 'fflate';
import { parseConfig, type Config } from '../src/config/config';
import { createLogger } from '../src/config/log';
import { startAdapter, type Adapter } from '../src/cli/adapter';
import { CLUSTER, ROUTE } from '../src/envoy/typeUrls';
import { GatewayState } from '../src/model/state';
import * as artifactsModule from '../src/sources/apim/artifacts';
import { ApimRestClient } from '../src/sources/apim/rest';
import { ApimSource } from '../src/sources/apim/source';
import { projectOptions } from '../src/sources/local/project';
import { Translator } from '../src/translate/translate';
import { SnapshotCache, type CacheChange } from '../src/xds/cache';
import { ApimEmulator } from '../tools/apim-emulator';
import { rootZip } from '../tools/apim-emulator/artifacts';
import { artifactEntries, type RestContext } from '../tools/apim-emulator/rest';
import { nowMs } from './protocol';

/**
 * APIM benchmark (issue: "Startup against the emulator with 10,000 APIs: time to first complete
 * snapshot and peak RSS; goal under 30 s and under 1.5 GiB. Event to router snapshot: publish to
 * new version visible, p50/p99 over 1,000 deploy events; goal p99 under 200 ms, not counting the
 * artifact download").
 *
 * This process runs the APIM emulator (tools/apim-emulator: REST on loopback, events on the real
 * RabbitMQ). The adapter (`startAdapter`, `[controlPlane] enabled = true`) runs in a forked child
 * (this file with `child`), so its RSS (`process.resourceUsage().maxRSS`) is its own. The child
 * wraps, at run time, a few prototype methods to time the phases (src/ is not changed):
 * `ApimRestClient.getJson/runtimeArtifacts/ackDeployed` (REST), `apisFromArtifacts` (unzip +
 * parse), `GatewayState.applyAll`, `Translator.translate`, `SnapshotCache.setGroup` (push into the
 * cache; its first call also registers a `cache.watch` listener), `ApimSource.handle` (an event
 * starts being handled). Every timestamp is CLOCK_MONOTONIC (`nowMs`), shared by both processes.
 *
 *  1. Startup: BENCH_APIM_STARTUP_APIS (10,000) APIs, ~5 paths each, deployed to one label with the
 *     emulator's events paused ('drop'). Then the child calls startAdapter(); measured: time to the
 *     first cache change holding every API's cluster, split into REST pull / parse / translate /
 *     cache; startAdapter() resolving (includes the deploy ack of every API); peak RSS.
 *  2. Events at that size: BENCH_APIM_BIG_EVENTS (100) redeploys on the 10,000-API adapter.
 *  3. Events: a fresh child with BENCH_APIM_EVENT_APIS (1,000) APIs preloaded on another label;
 *     BENCH_APIM_EVENTS (1,000) deploy events one after another, alternating a redeploy of an
 *     existing API with a changed endpoint and the first deploy of a new API. Each is timed from
 *     just before `emulator.deploy()` (which publishes DEPLOY_API_IN_GATEWAY) to the cache change
 *     in the adapter; the next one is published once the adapter has acknowledged the deploy.
 *  4. Baselines in the same run: the emulator building the 10,000-API zip; unzip of that zip
 *     alone; one API's artifact parsed alone (warm); a cold and a warm `Translator.translate` of
 *     the same 10,000 APIs; a small REST GET round trip.
 * Other knobs: BENCH_APIM_DEBOUNCE_MS=10 (adapter debounceMs: delays pushes to routers, not the
 * cache), BENCH_APIM_AMQP_URL, BENCH_APIM_DEADLINE_MS=240000, BENCH_APIM_PROF=<dir> (adapter
 * children run with --cpu-prof). Needs RabbitMQ (amqp://guest:guest@127.0.0.1:5672).
 */

const env = (k: string, d: string): string => process.env[k] ?? d;
const STARTUP_APIS = Number(env('BENCH_APIM_STARTUP_APIS', '10000'));
const BIG_EVENTS = Number(env('BENCH_APIM_BIG_EVENTS', '100'));
const EVENT_APIS = Number(env('BENCH_APIM_EVENT_APIS', '1000'));
const EVENTS = Number(env('BENCH_APIM_EVENTS', '1000'));
const DEBOUNCE_MS = Number(env('BENCH_APIM_DEBOUNCE_MS', '10'));
const AMQP = env('BENCH_APIM_AMQP_URL', 'amqp://guest:guest@127.0.0.1:5672');
const SECTION_DEADLINE_MS = Number(env('BENCH_APIM_DEADLINE_MS', '240000'));
// Adapter log level (BENCH_APIM_LOG, default warn): retries and dropped artifacts show up in the output.
const PROF_DIR = process.env.BENCH_APIM_PROF; // a folder: adapter children run with --cpu-prof there
const EVENT_TIMEOUT_MS = 5000;
const USER = 'admin';
const PASSWORD = 'bench-secret';

type Msg = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

// ---------------------------------------------------------------------------------- shared

export interface Stats {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number): number => (s.length ? s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)] : NaN);
  return { n: s.length, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: s.length ? s[s.length - 1] : NaN, mean: s.length ? s.reduce((a, b) => a + b, 0) / s.length : NaN };
}

function configText(serviceURL: string, label: string): string {
  return (
    `[adapter]\nhost = "127.0.0.1"\nxdsPort = 0\nhttpPort = 0\ndebounceMs = ${DEBOUNCE_MS}\napisDirectory = ""\n` +
    `[controlPlane]\nenabled = true\nserviceURL = "${serviceURL}"\nusername = "${USER}"\npassword = "${PASSWORD}"\n` +
    `environmentLabels = ["${label}"]\nretryInterval = 1\nsyncInterval = 0\nsendRevisionUpdate = true\nrequestTimeout = 120\n` +
    `[controlPlane.brokerConnectionParameters]\neventListeningEndpoints = ["${AMQP}?retries='2'&connectdelay='1'"]\nreconnectInterval = 500\n`
  );
}

// ---------------------------------------------------------------------------------- child (the adapter)

interface Span {
  what: string;
  t0: number;
  t1: number;
  bytes?: number;
  n?: number;
}

interface ChangeRecord {
  at: number;
  seq: number;
  types: Array<{ type: string; changed: number; removed: number }>;
  clusters: number;
  spans: Span[];
}

/** Records the adapter's phases; installed once in the child, before startAdapter. */
class Probe {
  spans: Span[] = [];
  changes: ChangeRecord[] = [];
  label = '';
  watched = new WeakSet<SnapshotCache>();
  onChange?: (c: ChangeRecord) => void;
  lastZip?: Buffer;

  span<T>(what: string, fn: () => T, extra?: (r: T) => Partial<Span>): T {
    const t0 = nowMs();
    const r = fn();
    this.spans.push({ what, t0, t1: nowMs(), ...(extra ? extra(r) : {}) });
    return r;
  }

  async spanAsync<T>(what: string, fn: () => Promise<T>, extra?: (r: T) => Partial<Span>): Promise<T> {
    const t0 = nowMs();
    const r = await fn();
    this.spans.push({ what, t0, t1: nowMs(), ...(extra ? extra(r) : {}) });
    return r;
  }

  install(): void {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const probe = this;
    const rest = ApimRestClient.prototype as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    const getJson = rest.getJson;
    rest.getJson = function (this: unknown, endpoint: string, ...a: unknown[]) {
      return probe.spanAsync(`GET ${endpoint}`, () => getJson.call(this, endpoint, ...a), (r) => ({ bytes: JSON.stringify(r ?? null).length }));
    };
    const runtimeArtifacts = rest.runtimeArtifacts;
    rest.runtimeArtifacts = function (this: unknown, ...a: unknown[]) {
      return probe.spanAsync('GET runtime-artifacts', () => runtimeArtifacts.apply(this, a) as Promise<Buffer | undefined>, (r) => {
        probe.lastZip = r;
        return { bytes: r?.length ?? 0 };
      });
    };
    const ackDeployed = rest.ackDeployed;
    rest.ackDeployed = function (this: unknown, entries: unknown[], ...a: unknown[]) {
      return probe.spanAsync('PATCH deployed-revisions', () => ackDeployed.call(this, entries, ...a), () => ({ n: entries.length }));
    };
    const parse = artifactsModule.apisFromArtifacts;
    (artifactsModule as any).apisFromArtifacts = (...a: Parameters<typeof parse>) => probe.span('parse artifacts', () => parse(...a), (r) => ({ n: r.apis.length })); // eslint-disable-line @typescript-eslint/no-explicit-any
    const applyAll = GatewayState.prototype.applyAll;
    GatewayState.prototype.applyAll = function (this: GatewayState, events) {
      return probe.span('state.applyAll', () => applyAll.call(this, events));
    };
    const translate = Translator.prototype.translate;
    Translator.prototype.translate = function (this: Translator, apis) {
      return probe.span('translate', () => translate.call(this, apis), () => ({ n: apis.length }));
    };
    const setGroup = SnapshotCache.prototype.setGroup;
    SnapshotCache.prototype.setGroup = function (this: SnapshotCache, group, resources) {
      if (!probe.watched.has(this)) {
        probe.watched.add(this);
        this.watch((c) => probe.changed(this, c));
      }
      return probe.span('cache.setGroup', () => setGroup.call(this, group, resources));
    };
    const src = ApimSource.prototype as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    const handle = src.handle;
    src.handle = function (this: unknown, routingKey: string, body: Buffer) {
      probe.spans.push({ what: 'event handled', t0: nowMs(), t1: nowMs() });
      return handle.call(this, routingKey, body);
    };
  }

  private changed(cache: SnapshotCache, c: CacheChange): void {
    if (c.group !== this.label) return;
    const rec: ChangeRecord = {
      at: nowMs(),
      seq: c.seq,
      types: c.types.map((t) => ({ type: t.typeUrl.slice(t.typeUrl.lastIndexOf('.') + 1), changed: t.changed.length, removed: t.removed.length })),
      clusters: cache.typeSet(c.group, CLUSTER)?.entries.size ?? 0,
      spans: [],
    };
    this.changes.push(rec);
    // setGroup's own span ends after the listeners ran; it is added when it lands (see takeSpans).
    this.onChange?.(rec);
  }

  takeSpans(): Span[] {
    const s = this.spans;
    this.spans = [];
    return s;
  }
}

const maxRss = (): number => process.resourceUsage().maxRSS * 1024;
const gcNow = (): void => (globalThis as { gc?: () => void }).gc?.();

async function child(): Promise<void> {
  const probe = new Probe();
  probe.install();
  let adapter: Adapter | undefined;
  let config: Config | undefined;
  const send = (m: Msg): void => void process.send!(m);
  process.on('message', (m: Msg) => {
    void (async () => {
      try {
        switch (m.cmd) {
          case 'start': {
            probe.label = m.label;
            config = parseConfig(m.config, 'bench.toml');
            gcNow();
            const rssBefore = process.memoryUsage().rss;
            const maxBefore = maxRss();
            let complete: ChangeRecord | undefined;
            probe.onChange = (c) => {
              if (!complete && c.clusters >= m.expectClusters) complete = c;
            };
            const t0 = nowMs();
            const cpu0 = process.cpuUsage();
            adapter = await startAdapter(config, createLogger(process.env.BENCH_APIM_LOG ?? 'warn', 'bench-adapter'));
            const resolved = nowMs();
            const cpu = process.cpuUsage(cpu0);
            const peakAtResolve = maxRss();
            // Anything the startup still had in flight would show up as a further change now.
            await new Promise((r) => setTimeout(r, 1000));
            const state = adapter.pipeline.current;
            const apis = state.apisFor(probe.label);
            const rssAfter = process.memoryUsage().rss;
            gcNow();
            const mem = process.memoryUsage();
            const out: Msg = {
              t0,
              resolved,
              complete,
              changes: probe.changes,
              spans: probe.takeSpans(),
              apis: apis.length,
              clusters: adapter.cache.typeSet(probe.label, CLUSTER)?.entries.size ?? 0,
              routeBytes: adapter.cache.get(probe.label, ROUTE, 'default')?.value.length ?? 0,
              quarantined: adapter.pipeline.problems().length,
              cpuMs: (cpu.user + cpu.system) / 1000,
              rssBefore,
              maxBefore,
              peakAtResolve,
              peak: maxRss(),
              rssAfter,
              afterGc: { rss: mem.rss, heapUsed: mem.heapUsed, external: mem.external, arrayBuffers: mem.arrayBuffers },
            };
            probe.changes = [];
            probe.onChange = (c) => send({ ev: 'change', change: c });
            send({ id: m.id, ...out });
            return;
          }
          case 'baselines': {
            // Same process, after the startup was measured: cold translate and unzip-only of the very same input.
            const apis = adapter!.pipeline.current.apisFor(probe.label);
            const t = new Translator(config!);
            const realTranslate = Object.getPrototypeOf(t).translate as Translator['translate'];
            const t0 = nowMs();
            const out = realTranslate.call(t, apis);
            const translateMs = nowMs() - t0;
            const t1 = nowMs();
            const again = realTranslate.call(t, apis);
            const warmMs = nowMs() - t1;
            void again;
            let unzipMs = NaN;
            let zipEntries = 0;
            if (probe.lastZip) {
              const u0 = nowMs();
              zipEntries = Object.keys(unzipSync(probe.lastZip)).length;
              unzipMs = nowMs() - u0;
            }
            const rtt: number[] = [];
            const client = (adapter!.apim as any).rest as ApimRestClient; // eslint-disable-line @typescript-eslint/no-explicit-any
            for (let i = 0; i < 50; i++) {
              const r0 = nowMs();
              await client.keyTemplates();
              rtt.push(nowMs() - r0);
            }
            // One inner project alone, parsed 200 times (warm): the per-API parse cost without the rest.
            let parseOneMs = NaN;
            if (probe.lastZip) {
              const root = unzipSync(probe.lastZip);
              const deployments = JSON.parse(Buffer.from(root['deployments.json']).toString('utf8')) as { data: { deployments: Array<{ apiFile: string }> } };
              const d0 = deployments.data.deployments[0];
              const one = zipSync({ 'deployments.json': strToU8(JSON.stringify({ ...deployments, data: { deployments: [d0] } })), [d0.apiFile]: root[d0.apiFile] });
              const opts = { ...projectOptions(config!), labels: [probe.label] };
              const parse = (artifactsModule as unknown as { apisFromArtifacts: typeof artifactsModule.apisFromArtifacts }).apisFromArtifacts;
              for (let i = 0; i < 20; i++) parse(one, opts, 'bench');
              const p0 = nowMs();
              for (let i = 0; i < 200; i++) parse(one, opts, 'bench');
              parseOneMs = (nowMs() - p0) / 200;
            }
            probe.takeSpans();
            probe.lastZip = undefined;
            send({ id: m.id, translateMs, translateWarmMs: warmMs, translatedClusters: out.resources[CLUSTER]?.length ?? 0, unzipMs, zipEntries, restRttMs: stats(rtt), parseOneMs, peak: maxRss() });
            return;
          }
          case 'spans':
            send({ id: m.id, spans: probe.takeSpans() });
            return;
          case 'state': {
            const apis = adapter!.pipeline.current.apisFor(probe.label);
            send({ id: m.id, apis: apis.length, clusters: adapter!.cache.typeSet(probe.label, CLUSTER)?.entries.size ?? 0, quarantined: adapter!.pipeline.problems().length, peak: maxRss(), rss: process.memoryUsage().rss });
            return;
          }
          case 'stop':
            await adapter?.stop();
            send({ id: m.id });
            setTimeout(() => process.exit(0), 50);
            return;
        }
      } catch (err) {
        send({ id: m.id, error: (err as Error).stack ?? String(err) });
      }
    })();
  });
  send({ ev: 'ready' });
}

// ---------------------------------------------------------------------------------- parent

class Child {
  readonly proc: ChildProcess;
  private nextId = 1;
  private readonly replies = new Map<number, (m: Msg) => void>();
  private readonly queue: Msg[] = [];
  private waiter?: (m: Msg) => void;
  private exited?: string;

  constructor(name: string) {
    const prof = PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROF_DIR}`, `--cpu-prof-name=apim-${name}.cpuprofile`] : [];
    this.proc = fork(__filename, ['child'], { execArgv: ['--expose-gc', ...prof], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.proc.on('message', (m: Msg) => {
      if (m.id !== undefined) return this.replies.get(m.id)?.(m);
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w(m);
      } else this.queue.push(m);
    });
    this.proc.on('exit', (code, sig) => {
      this.exited = `adapter child exited (${code ?? sig})`;
      for (const r of this.replies.values()) r({ error: this.exited });
      this.waiter?.({ error: this.exited });
    });
  }

  async request(m: Msg, timeoutMs: number): Promise<Msg> {
    if (this.exited) throw new Error(this.exited);
    const id = this.nextId++;
    const r = await withTimeout(
      new Promise<Msg>((resolve) => {
        this.replies.set(id, resolve);
        this.proc.send({ ...m, id });
      }),
      timeoutMs,
      `adapter child: ${m.cmd}`,
    );
    this.replies.delete(id);
    if (r.error) throw new Error(r.error);
    return r;
  }

  /** The next unsolicited message (ready, change). */
  next(timeoutMs: number): Promise<Msg | undefined> {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    if (this.exited) return Promise.reject(new Error(this.exited));
    return withTimeout(new Promise<Msg>((resolve) => (this.waiter = resolve)), timeoutMs, 'change').catch(() => {
      this.waiter = undefined;
      return undefined;
    });
  }

  drain(): Msg[] {
    return this.queue.splice(0);
  }

  async stop(): Promise<void> {
    const exited = new Promise((r) => (this.proc.exitCode !== null ? r(undefined) : this.proc.once('exit', r)));
    await this.request({ cmd: 'stop' }, 5000).catch(() => undefined);
    // A --cpu-prof child writes its profile on exit.
    await withTimeout(exited, PROF_DIR ? 20_000 : 2000, 'adapter child exit').catch(() => undefined);
    if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`timeout: ${what} after ${ms} ms`)), ms))),
  ]);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A small OpenAPI of 5 paths (6 operations), slightly different per API. */
function openapi(i: number): Record<string, unknown> {
  const ok = { responses: { '200': { description: 'ok' } } };
  return {
    openapi: '3.0.1',
    info: { title: `Api${i}`, version: '1.0.0' },
    paths: {
      [`/items`]: { get: ok, post: ok },
      [`/items/{id}`]: { get: ok },
      [`/orders${i % 7}/{orderId}/lines`]: { get: ok },
      [`/status`]: { get: { ...ok, security: [] } },
      [`/search/{term}`]: { get: ok },
    },
  };
}

async function createApis(emulator: ApimEmulator, prefix: string, n: number, label: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const uuid = await emulator.createApi({
      name: `${prefix}${i}`,
      version: '1.0.0',
      context: `/${prefix.toLowerCase()}${i}`,
      openapi: openapi(i),
      endpoints: { production: `http://backend${i % 50}.internal:8080/${prefix.toLowerCase()}${i}` },
    });
    await emulator.deploy(uuid, [label]);
    ids.push(uuid);
  }
  return ids;
}

interface ServerSpan {
  endpoint: string;
  query: string;
  t0: number;
  t1: number;
  bytes: number;
}

/** Timestamps (arrival, response finished) of every request the emulator's HTTP server serves. */
function watchServer(emulator: ApimEmulator): ServerSpan[] {
  const spans: ServerSpan[] = [];
  const server = (emulator as unknown as { server: Server }).server;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const t0 = nowMs();
    const url = new URL(req.url ?? '/', 'http://x');
    res.on('finish', () => {
      spans.push({ endpoint: url.pathname.replace(/^\/internal\/data\/v1\//, ''), query: url.search, t0, t1: nowMs(), bytes: Number(res.getHeader('content-length') ?? 0) });
    });
  });
  return spans;
}

export interface StartupResult {
  apis: number;
  /** startAdapter() call → the cache change holding every API's cluster. */
  firstCompleteMs?: number;
  /** startAdapter() call → resolved (after the deploy ack of every API). */
  resolvedMs: number;
  phases: Record<string, number>;
  zipBytes: number;
  emulatorZipMs?: number;
  listBytes: number;
  routeChanges: number;
  changesAfterComplete: number;
  stateApis: number;
  clusters: number;
  routeConfigBytes: number;
  quarantined: number;
  /** The adapter's timed calls, ms from the startAdapter() call. */
  spans: Array<{ what: string; startMs: number; ms: number; bytes?: number; n?: number }>;
  /** What the emulator served meanwhile, ms from the startAdapter() call. */
  served: Array<{ endpoint: string; startMs: number; ms: number; bytes: number }>;
  cpuMs: number;
  rssBeforeMB: number;
  peakRssMB: number;
  rssAfterGcMB: number;
  heapAfterGcMB: number;
  rssAtResolveMB: number;
  error?: string;
}

export interface EventKindResult {
  latency: Stats;
  withoutDownload: Stats;
  download: Stats;
  emulatorServe: Stats;
  deliver: Stats;
  parse: Stats;
  applyAll: Stats;
  translate: Stats;
  setGroup: Stats;
  /** latency minus every measured part: decoding, queueing, emitting, GC. */
  rest: Stats;
}

export interface EventsResult {
  apis: number;
  events: number;
  timedOut: number;
  wrongChanges: number;
  /** Cache changes beyond the one per event. */
  extraChanges: number;
  all: EventKindResult;
  redeploy?: EventKindResult;
  newApi?: EventKindResult;
  finalApis?: number;
  finalClusters?: number;
  expectedApis?: number;
  peakRssMB?: number;
  wallS?: number;
  error?: string;
}

export interface ApimResult {
  settings: Record<string, unknown>;
  setup: { createMs: number; apis: number; createPerApiMs: number };
  baselines: Record<string, unknown>;
  startup?: StartupResult;
  bigEvents?: EventsResult;
  events?: EventsResult;
  error?: string;
  wallS: number;
}

interface EventSample {
  kind: 'redeploy' | 'new';
  latency: number;
  download: number;
  emulatorServe: number;
  deliver: number;
  parse: number;
  applyAll: number;
  translate: number;
  setGroup: number;
}

function summarize(samples: EventSample[]): EventKindResult {
  return {
    latency: stats(samples.map((s) => s.latency)),
    withoutDownload: stats(samples.map((s) => s.latency - s.download)),
    download: stats(samples.map((s) => s.download)),
    emulatorServe: stats(samples.map((s) => s.emulatorServe)),
    deliver: stats(samples.map((s) => s.deliver)),
    parse: stats(samples.map((s) => s.parse)),
    applyAll: stats(samples.map((s) => s.applyAll)),
    translate: stats(samples.map((s) => s.translate)),
    setGroup: stats(samples.map((s) => s.setGroup)),
    rest: stats(samples.map((s) => s.latency - s.deliver - s.download - s.parse - s.applyAll - s.translate - s.setGroup)),
  };
}

/**
 * Publishes `count` deploy events one after another and times each to the adapter's cache change.
 * `pool`: APIs already deployed on `label` (redeployed with a changed endpoint); every other event
 * deploys a new API when `withNew`.
 */
async function runEvents(emulator: ApimEmulator, c: Child, server: ServerSpan[], label: string, pool: string[], count: number, withNew: boolean, prefix: string, deadline: number): Promise<EventsResult> {
  const started = Date.now();
  const samples: EventSample[] = [];
  let timedOut = 0;
  let wrongChanges = 0;
  let extraChanges = 0;
  let created = 0;
  c.drain();
  await c.request({ cmd: 'spans' }, 5000);
  for (let k = 0; k < count && Date.now() < deadline; k++) {
    const kind: EventSample['kind'] = withNew && k % 2 === 1 ? 'new' : 'redeploy';
    let uuid: string;
    // Setup of the event with events paused: API_CREATE / API_UPDATE change nothing on a gateway anyway.
    emulator.pauseEvents('drop');
    if (kind === 'new') {
      uuid = await emulator.createApi({ name: `${prefix}${created}`, version: '1.0.0', context: `/${prefix.toLowerCase()}${created}`, openapi: openapi(created), endpoints: { production: `http://new${created % 50}.internal:8080/x${created}` } });
      created++;
    } else {
      uuid = pool[k % pool.length];
      await emulator.updateApi(uuid, { endpoints: { production: `http://moved${k}.internal:9090/v${k}` } });
    }
    await emulator.resumeEvents();
    const acks = emulator.deployAcks.length;
    const serverFrom = server.length;
    const t0 = nowMs();
    await emulator.deploy(uuid, [label]);
    const m = await c.next(EVENT_TIMEOUT_MS);
    if (!m || m.error) {
      timedOut++;
      await sleep(500);
      c.drain();
      continue;
    }
    const change = m.change as ChangeRecord;
    const types = change.types.map((t) => t.type);
    if (change.at < t0) wrongChanges++; // a change left over from an earlier event
    if (!types.includes('Cluster') || (kind === 'new' && !types.includes('RouteConfiguration'))) wrongChanges++;
    // Wait for the deploy ack, so the next event does not queue behind it.
    const ackBy = Date.now() + EVENT_TIMEOUT_MS;
    while (emulator.deployAcks.length === acks && Date.now() < ackBy) await sleep(1);
    const { spans } = await c.request({ cmd: 'spans' }, 5000);
    extraChanges += c.drain().length; // one event, one change: anything more is counted
    const sp = spans as Span[];
    const dur = (what: string): number => sp.filter((s) => s.what === what).reduce((a, s) => a + (s.t1 - s.t0), 0);
    const handled = sp.find((s) => s.what === 'event handled');
    const srv = server.slice(serverFrom).find((s) => s.endpoint === 'runtime-artifacts');
    samples.push({
      kind,
      latency: change.at - t0,
      download: dur('GET runtime-artifacts'),
      emulatorServe: srv ? srv.t1 - srv.t0 : NaN,
      deliver: handled ? handled.t0 - t0 : NaN,
      parse: dur('parse artifacts'),
      applyAll: dur('state.applyAll'),
      translate: dur('translate'),
      setGroup: dur('cache.setGroup'),
    });
  }
  const st = await c.request({ cmd: 'state' }, 5000);
  const out: EventsResult = {
    apis: pool.length,
    events: samples.length + timedOut,
    timedOut,
    wrongChanges,
    extraChanges,
    all: summarize(samples),
    finalApis: st.apis,
    finalClusters: st.clusters,
    expectedApis: pool.length + created,
    peakRssMB: st.peak / 2 ** 20,
    wallS: (Date.now() - started) / 1000,
  };
  if (withNew) {
    out.redeploy = summarize(samples.filter((s) => s.kind === 'redeploy'));
    out.newApi = summarize(samples.filter((s) => s.kind === 'new'));
  }
  if (samples.length + timedOut < count) out.error = `stopped at ${samples.length + timedOut} of ${count} events (section deadline)`;
  return out;
}

const mb = (b: number): number => b / 2 ** 20;

export async function apimBench(log: (line: string) => void = console.log): Promise<ApimResult> {
  const started = Date.now();
  const deadline = started + SECTION_DEADLINE_MS;
  const result: ApimResult = {
    settings: { STARTUP_APIS, BIG_EVENTS, EVENT_APIS, EVENTS, DEBOUNCE_MS, pathsPerApi: 5, operationsPerApi: 6, syncInterval: 0, retryInterval: 1, sendRevisionUpdate: true },
    setup: { createMs: 0, apis: 0, createPerApiMs: 0 },
    baselines: {},
    wallS: 0,
  };
  const emulator = await ApimEmulator.start({ username: USER, password: PASSWORD, amqpUrl: AMQP });
  const server = watchServer(emulator);
  const children: Child[] = [];
  try {
    const bigLabel = `bench-big-${randomUUID().slice(0, 8)}`;
    const smallLabel = `bench-ev-${randomUUID().slice(0, 8)}`;

    // ---- setup: APIs in the emulator, events dropped (nobody listens yet, and it must not flood the broker)
    log(`creating ${STARTUP_APIS} + ${EVENT_APIS} APIs in the emulator (events paused) ...`);
    emulator.pauseEvents('drop');
    const c0 = Date.now();
    const bigIds = await createApis(emulator, 'Big', STARTUP_APIS, bigLabel);
    const smallIds = await createApis(emulator, 'Ev', EVENT_APIS, smallLabel);
    result.setup = { createMs: Date.now() - c0, apis: STARTUP_APIS + EVENT_APIS, createPerApiMs: (Date.now() - c0) / (STARTUP_APIS + EVENT_APIS) };
    emulator.clearLogs();
    await emulator.resumeEvents();
    void bigIds;

    // ---- baseline: the emulator building the same zip the adapter will download
    const ctx = (emulator as unknown as { rest: RestContext }).rest;
    const z0 = nowMs();
    const zip = rootZip(artifactEntries(ctx, [bigLabel], undefined), { format: 'yaml' });
    result.baselines.emulatorZipMs = nowMs() - z0;
    result.baselines.zipBytes = zip.length;
    log(`  created in ${(result.setup.createMs / 1000).toFixed(1)} s; emulator builds the ${STARTUP_APIS}-API zip (${mb(zip.length).toFixed(1)} MB) in ${(result.baselines.emulatorZipMs as number).toFixed(0)} ms`);

    // ---- 1. startup
    log(`startup: adapter child, ${STARTUP_APIS} APIs on one label ...`);
    const big = new Child('startup');
    children.push(big);
    await big.next(10_000);
    const serverFrom = server.length;
    const s = await big.request({ cmd: 'start', label: bigLabel, config: configText(emulator.url, bigLabel), expectClusters: STARTUP_APIS }, 150_000);
    const spans = s.spans as Span[];
    const t0 = s.t0 as number;
    const complete = s.complete as ChangeRecord | undefined;
    const first = (what: string): Span | undefined => spans.find((x) => x.what === what);
    const dl = first('GET runtime-artifacts');
    const lists = spans.filter((x) => x.what.startsWith('GET ') && x.what !== 'GET runtime-artifacts');
    const parse = first('parse artifacts');
    const apply = spans.filter((x) => x.what === 'state.applyAll').pop();
    const translates = spans.filter((x) => x.what === 'translate' && (x.n ?? 0) > 0);
    const setGroups = spans.filter((x) => x.what === 'cache.setGroup');
    const lastSetGroup = setGroups[setGroups.length - 1];
    const ack = first('PATCH deployed-revisions');
    const srvZip = server.slice(serverFrom).find((x) => x.endpoint === 'runtime-artifacts');
    const routeChanges = (s.changes as ChangeRecord[]).filter((c) => c.types.some((t) => t.type === 'RouteConfiguration'));
    const completeIdx = complete ? (s.changes as ChangeRecord[]).findIndex((c) => c.seq === complete.seq) : -1;
    const phases: Record<string, number> = {};
    const put = (k: string, v: number | undefined): void => {
      if (v !== undefined && !Number.isNaN(v)) phases[k] = v;
    };
    const gets = [...lists, ...(dl ? [dl] : [])];
    const apisMeta = first('GET apis');
    put('connect to the event hub, until the pull starts', (gets.length ? Math.min(...gets.map((x) => x.t0)) : NaN) - t0);
    put(`REST pull: ${lists.length} GETs and runtime-artifacts, concurrent (until the last answer)`, gets.length ? Math.max(...gets.map((x) => x.t1)) - Math.min(...gets.map((x) => x.t0)) : NaN);
    put('  runtime-artifacts download (adapter side)', dl ? dl.t1 - dl.t0 : NaN);
    put('    of which the emulator builds and sends the zip', srvZip ? srvZip.t1 - srvZip.t0 : NaN);
    put(`  GET apis (lifecycle status, ${f((apisMeta?.bytes ?? 0) / 2 ** 20)} MB JSON; waits for the zip in the emulator)`, apisMeta ? apisMeta.t1 - apisMeta.t0 : NaN);
    put('unzip + parse the projects (apisFromArtifacts)', parse ? parse.t1 - parse.t0 : NaN);
    put('state.applyAll', apply ? apply.t1 - apply.t0 : NaN);
    put('translate', translates.length ? translates[translates.length - 1].t1 - translates[translates.length - 1].t0 : NaN);
    put('cache.setGroup (hash + store + notify)', lastSetGroup ? lastSetGroup.t1 - lastSetGroup.t0 : NaN);
    put('= first complete snapshot (from the startAdapter() call)', complete ? complete.at - t0 : NaN);
    put('  of it in the adapter (minus the emulator building the zip)', complete && srvZip ? complete.at - t0 - (srvZip.t1 - srvZip.t0) : NaN);
    put('deploy ack (PATCH deployed-revisions, after the snapshot)', ack ? ack.t1 - ack.t0 : NaN);
    put('= startAdapter() resolved', s.resolved - t0);
    result.startup = {
      apis: STARTUP_APIS,
      firstCompleteMs: complete ? complete.at - t0 : undefined,
      resolvedMs: s.resolved - t0,
      phases,
      zipBytes: dl?.bytes ?? 0,
      emulatorZipMs: srvZip ? srvZip.t1 - srvZip.t0 : undefined,
      listBytes: lists.reduce((a, x) => a + (x.bytes ?? 0), 0),
      routeChanges: routeChanges.length,
      changesAfterComplete: completeIdx >= 0 ? (s.changes as ChangeRecord[]).length - completeIdx - 1 : -1,
      stateApis: s.apis,
      clusters: s.clusters,
      routeConfigBytes: s.routeBytes,
      quarantined: s.quarantined,
      spans: spans.map((x) => ({ what: x.what, startMs: x.t0 - t0, ms: x.t1 - x.t0, ...(x.bytes !== undefined ? { bytes: x.bytes } : {}), ...(x.n !== undefined ? { n: x.n } : {}) })),
      served: server.slice(serverFrom).map((x) => ({ endpoint: x.endpoint, startMs: x.t0 - t0, ms: x.t1 - x.t0, bytes: x.bytes })),
      cpuMs: s.cpuMs,
      rssBeforeMB: mb(s.rssBefore),
      peakRssMB: mb(s.peak),
      rssAtResolveMB: mb(s.peakAtResolve),
      rssAfterGcMB: mb(s.afterGc.rss),
      heapAfterGcMB: mb(s.afterGc.heapUsed),
    };
    if (!complete) result.startup.error = `no cache change held ${STARTUP_APIS} clusters (had ${s.clusters})`;
    log(`  first complete snapshot ${complete ? ((complete.at - t0) / 1000).toFixed(2) : '-'} s, startAdapter resolved ${((s.resolved - t0) / 1000).toFixed(2)} s, peak RSS ${mb(s.peak).toFixed(0)} MB`);

    const b = await big.request({ cmd: 'baselines' }, 60_000);
    Object.assign(result.baselines, {
      coldTranslateMs: b.translateMs,
      warmTranslateMs: b.translateWarmMs,
      translatedClusters: b.translatedClusters,
      unzipOnlyMs: b.unzipMs,
      zipEntries: b.zipEntries,
      parseOneApiMs: b.parseOneMs,
      restRttMs: b.restRttMs,
    });

    // ---- 2. events on the 10,000-API adapter
    if (BIG_EVENTS > 0) {
      log(`events: ${BIG_EVENTS} redeploys on the ${STARTUP_APIS}-API adapter ...`);
      result.bigEvents = await runEvents(emulator, big, server, bigLabel, bigIds, BIG_EVENTS, false, 'BigNew', deadline - 60_000);
      result.bigEvents.apis = STARTUP_APIS;
      log(`  p50 ${result.bigEvents.all.latency.p50.toFixed(1)} ms, p99 ${result.bigEvents.all.latency.p99.toFixed(1)} ms`);
    }
    await big.stop();

    // ---- 3. events on a 1,000-API adapter
    log(`events: fresh adapter child with ${EVENT_APIS} APIs, ${EVENTS} deploy events (half redeploys with a new endpoint, half new APIs) ...`);
    const small = new Child('events');
    children.push(small);
    await small.next(10_000);
    const s2 = await small.request({ cmd: 'start', label: smallLabel, config: configText(emulator.url, smallLabel), expectClusters: EVENT_APIS }, 60_000);
    if (s2.apis !== EVENT_APIS) throw new Error(`event adapter started with ${s2.apis} APIs, wanted ${EVENT_APIS}`);
    result.events = await runEvents(emulator, small, server, smallLabel, smallIds, EVENTS, true, 'EvNew', deadline);
    log(`  p50 ${result.events.all.latency.p50.toFixed(1)} ms, p99 ${result.events.all.latency.p99.toFixed(1)} ms`);
    await small.stop();
  } catch (err) {
    result.error = (err as Error).stack ?? String(err);
  } finally {
    for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
    await emulator.stop();
  }
  result.wallS = (Date.now() - started) / 1000;
  return result;
}

// ---------------------------------------------------------------------------------- report

const f = (x: number | undefined, d = 1): string => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(d));

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(' | ')} |`;
  return [line(head), `|${w.map((x, i) => (i === 0 ? ':' : '') + '-'.repeat(x + 1) + (i === 0 ? '' : ':')).join('|')}|`, ...rows.map(line)].join('\n');
}

function eventRows(name: string, r: EventKindResult): string[][] {
  const row = (what: string, s: Stats): string[] => [`${name}: ${what}`, f(s.p50), f(s.p90), f(s.p99), f(s.max)];
  return [
    row('publish → cache change', r.latency),
    row('  minus the artifact download', r.withoutDownload),
    row('  artifact download (adapter side)', r.download),
    row('    emulator builds + sends the zip', r.emulatorServe),
    row('  publish → event handled (broker)', r.deliver),
    row('  unzip + parse', r.parse),
    row('  state.applyAll', r.applyAll),
    row('  translate', r.translate),
    row('  cache.setGroup', r.setGroup),
    row('  other (unmeasured)', r.rest),
  ];
}

export function formatApim(r: ApimResult): string {
  const out: string[] = [];
  const s = r.startup;
  if (s) {
    out.push(
      `startup, ${s.apis} APIs: first complete snapshot ${f((s.firstCompleteMs ?? NaN) / 1000, 2)} s after startAdapter(); startAdapter() resolved after ${f(s.resolvedMs / 1000, 2)} s`,
      table(
        ['phase (startup)', 'ms'],
        Object.entries(s.phases).map(([k, v]) => [k, f(v, 0)]),
      ),
      `runtime-artifacts zip ${f(s.zipBytes / 2 ** 20)} MB; REST lists ${f(s.listBytes / 1024)} KB; route configuration ${f(s.routeConfigBytes / 2 ** 20, 2)} MB`,
      `snapshot: ${s.stateApis} APIs in state, ${s.clusters} clusters, ${s.quarantined} quarantined; ${s.routeChanges} route-table change(s) during startup ` +
        `(the first is the empty table published before the pull), ${s.changesAfterComplete} cache change(s) after the complete one`,
      `adapter process: RSS ${f(s.rssBeforeMB, 0)} MB before startAdapter, peak (maxRSS) ${f(s.peakRssMB, 0)} MB, ${f(s.rssAfterGcMB, 0)} MB RSS / ${f(s.heapAfterGcMB, 0)} MB heap after GC; CPU ${f(s.cpuMs / 1000, 1)} s until resolved`,
    );
  }
  const bl = r.baselines as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  out.push(
    `baselines: emulator builds the zip alone ${f(bl.emulatorZipMs, 0)} ms; unzip only ${f(bl.unzipOnlyMs, 0)} ms (${bl.zipEntries} entries); ` +
      `parse one API's artifact (warm, alone) ${f(bl.parseOneApiMs, 2)} ms; cold Translator.translate of the same APIs ${f(bl.coldTranslateMs, 0)} ms, warm ${f(bl.warmTranslateMs, 0)} ms; ` +
      `REST GET keyTemplates round trip p50 ${f(bl.restRttMs?.p50, 2)} ms`,
  );
  for (const [name, e] of [
    [`${r.bigEvents?.apis ?? '?'} APIs`, r.bigEvents],
    [`${r.events?.apis ?? '?'} APIs`, r.events],
  ] as const) {
    if (!e) continue;
    const rows = e.redeploy && e.newApi ? [...eventRows('redeploy', e.redeploy), ...eventRows('new API', e.newApi), ...eventRows('all', e.all)] : eventRows('redeploy', e.all);
    out.push(
      `\nevents on the ${name} adapter: ${e.events} events, ${e.timedOut} timed out, ${e.wrongChanges} without the expected types, ${e.extraChanges} extra cache changes; final state ${e.finalApis} APIs (expected ${e.expectedApis}), ${e.finalClusters} clusters; ${f(e.wallS, 1)} s${e.error ? `; ${e.error}` : ''}`,
      table(['ms', 'p50', 'p90', 'p99', 'max'], rows),
    );
  }
  if (s) {
    const e = r.events;
    out.push(
      `\ngoals: startup ${s.apis} APIs under 30 s: ${(s.firstCompleteMs ?? Infinity) < 30_000 ? 'MET' : 'NOT MET'} (${f((s.firstCompleteMs ?? NaN) / 1000, 2)} s to the snapshot, ${f(s.resolvedMs / 1000, 2)} s to startAdapter resolving); ` +
        `peak RSS under 1.5 GiB: ${s.peakRssMB < 1536 ? 'MET' : 'NOT MET'} (${f(s.peakRssMB, 0)} MB)` +
        (e ? `; event p99 under 200 ms without the download: ${e.all.withoutDownload.p99 < 200 ? 'MET' : 'NOT MET'} (${f(e.all.withoutDownload.p99)} ms; with it ${f(e.all.latency.p99)} ms)` : ''),
    );
  }
  if (r.error) out.push(`\nERROR: ${r.error}`);
  return out.join('\n');
}

if (require.main === module && process.argv[2] === 'child') {
  void child();
} else if (require.main === module) {
  apimBench()
    .then((r) => {
      console.log(formatApim(r));
      process.exit(0);
    })
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}
