import { fork, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { apimBench, formatApim } from './apim';
import { encodeBench, type EncodeRow } from './encode';
import { enforcerBench, formatEnforcer } from './enforcer';
import type { Mem, Protocol } from './protocol';
import { formatLoading, loadingBench } from './loading';
import { formatTranslate, translateBench, type TranslateResult } from './translate';

/**
 * `npm run bench`: xDS fan-out (server in its own process, clients in another) and encode cost.
 * Knobs (environment): BENCH_N="100,1000", BENCH_PROTOCOLS="delta,sotw", BENCH_CHANGES=5,
 * BENCH_DEBOUNCE_MS=10, BENCH_PER_CHANNEL=50, BENCH_CLIENT_PROCS=1, BENCH_WINDOW=16777216,
 * BENCH_CONNECT_WAVE=0 (>0: clients connect in waves of that many, each wave once the previous is
 * in sync), BENCH_SERVER_PROF=<dir> (server child runs with --cpu-prof).
 * BENCH_ONLY=translate|xds runs one section only (default: the translation section first, then xDS);
 * the translation section's own knobs are in bench/translate.ts.
 * BENCH_ONLY=apim runs the APIM section (startup with 10,000 APIs against the APIM emulator, and
 * deploy-event latency; needs RabbitMQ at 127.0.0.1:5672, about 3 minutes). It runs only when
 * asked for; its knobs are in bench/apim.ts.
 * BENCH_ONLY=enforcer runs the enforcer section (Check against a bare grpc-js handler, about 40 s);
 * its knobs are in bench/enforcer.ts.
 * BENCH_ONLY=loading runs the loading section (the adapter loading a folder of public OpenAPI
 * definitions; a few minutes); its knobs are in bench/loading.ts.
 */

const env = (k: string, d: string): string => process.env[k] ?? d;
const NS = env('BENCH_N', '100,1000').split(',').map(Number);
const PROTOCOLS = env('BENCH_PROTOCOLS', 'delta,sotw').split(',') as Protocol[];
const CHANGES = Number(env('BENCH_CHANGES', '5'));
const DEBOUNCE_MS = Number(env('BENCH_DEBOUNCE_MS', '10'));
const PER_CHANNEL = Number(env('BENCH_PER_CHANNEL', '50'));
const CLIENT_PROCS = Number(env('BENCH_CLIENT_PROCS', '1'));
const WINDOW = Number(env('BENCH_WINDOW', String(16 * 1024 * 1024)));
const WAVE = Number(env('BENCH_CONNECT_WAVE', '0'));
const SERVER_PROF = process.env.BENCH_SERVER_PROF; // a folder: the server child runs with --cpu-prof there
const ONLY = env('BENCH_ONLY', ''); // '' (translate and xds), 'translate', 'xds', 'apim', 'enforcer' or 'loading'
// The loading section has its own child timeout (bench/loading.ts).
const DEADLINE_MS = ONLY === 'loading' ? 3_600_000 : 290_000;

type Msg = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A forked child with request/reply (by id) and events (by `ev`). */
class Child {
  readonly proc: ChildProcess;
  private nextId = 1;
  private readonly replies = new Map<number, (m: Msg) => void>();
  private readonly events: Msg[] = [];
  private waiters: Array<{ pred: (m: Msg) => boolean; resolve: (m: Msg) => void }> = [];

  constructor(file: string, execArgv: string[] = []) {
    this.proc = fork(path.join(__dirname, file), [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.proc.on('message', (m: Msg) => {
      if (m.id !== undefined) return this.replies.get(m.id)?.(m);
      const w = this.waiters.find((x) => x.pred(m));
      if (w) {
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve(m);
      } else this.events.push(m);
    });
  }

  request(m: Msg, timeoutMs = 60_000): Promise<Msg> {
    const id = this.nextId++;
    return withTimeout(
      new Promise((resolve) => {
        this.replies.set(id, resolve);
        this.proc.send({ ...m, id });
      }),
      timeoutMs,
      `${m.cmd}`,
    );
  }

  event(pred: (m: Msg) => boolean, timeoutMs: number): Promise<Msg> {
    const i = this.events.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.events.splice(i, 1)[0]);
    return withTimeout(new Promise((resolve) => this.waiters.push({ pred, resolve })), timeoutMs, 'event');
  }

  kill(): void {
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

interface ChangeResult {
  k: number;
  allAckedMs: number;
  acks: number;
  wanted: number;
  timedOut: boolean;
  serverCpuMs: number;
  pushLoopMs: number[];
  clientResponses: number;
  clientBytes: number;
  resourcesPerClient: number;
}

interface Scenario {
  protocol: Protocol;
  /** Baseline: clients connected to a no-op ADS service (grpc-js + HTTP/2 cost only). */
  bare?: boolean;
  n: number;
  connectMs?: number;
  readyP50Ms?: number;
  connectServerCpuMs?: number;
  memBefore?: Mem;
  memConnected?: Mem;
  streams?: number;
  changes: ChangeResult[];
  clientErrors?: number;
  firstClientError?: string;
  error?: string;
}

async function scenario(protocol: Protocol, n: number, setupInfo: Msg[], bare = false): Promise<Scenario> {
  const out: Scenario = { protocol, n, bare, changes: [] };
  const server = new Child('serverChild.js', ['--expose-gc', ...(SERVER_PROF ? ['--cpu-prof', `--cpu-prof-dir=${SERVER_PROF}`, `--cpu-prof-name=server-${protocol}-${n}.cpuprofile`] : [])]);
  const clientProcs: Child[] = [];
  try {
    const setup = await server.request({ cmd: 'setup', debounceMs: DEBOUNCE_MS, bare });
    if (!bare) setupInfo.push(setup);
    out.memBefore = setup.mem;
    await server.request({ cmd: 'expect', expect: { phase: 'connect', acks: bare ? n : 4 * n } });
    const per = Math.ceil(n / CLIENT_PROCS);
    for (let p = 0, first = 0; first < n; p++, first += per) {
      const c = new Child('clientChild.js');
      clientProcs.push(c);
      c.proc.send({ cmd: 'start', port: setup.port, protocol, first, count: Math.min(per, n - first), perChannel: PER_CHANNEL, window: WINDOW, wave: WAVE });
    }
    const opened = await Promise.all(clientProcs.map((c) => c.event((m) => m.ev === 'opened', 30_000)));
    const t0 = Math.min(...opened.map((m) => m.t0));
    const done = await server.event((m) => m.ev === 'phaseDone' && m.phase === 'connect', 125_000);
    const ready = bare ? [] : await Promise.all(clientProcs.map((c) => c.event((m) => m.ev === 'ready', 10_000).catch(() => undefined)));
    if (done.timedOut) throw new Error(`connect: only ${done.acks} of ${done.wanted} ACKs`);
    out.connectMs = done.at - t0;
    out.readyP50Ms = ready[0]?.readyAt.p50;
    out.connectServerCpuMs = done.cpuUserMs + done.cpuSysMs;
    await sleep(1000);
    const mem = await server.request({ cmd: 'mem' });
    out.memConnected = mem.mem;
    out.streams = mem.streams;

    for (let k = 1; k <= (bare ? 0 : CHANGES); k++) {
      await Promise.all(clientProcs.map((c) => c.request({ cmd: 'reset' })));
      await server.request({ cmd: 'change', k });
      const r = await server.event((m) => m.ev === 'phaseDone' && m.phase === `change${k}`, 65_000);
      await sleep(200);
      const stats = await Promise.all(clientProcs.map((c) => c.request({ cmd: 'stats' })));
      const responses = stats.reduce((a, s) => a + s.counters.responses, 0);
      const bytes = stats.reduce((a, s) => a + s.counters.bytes, 0);
      const resources = stats.reduce((a, s) => a + s.counters.resources, 0);
      out.changes.push({
        k,
        allAckedMs: r.ms,
        acks: r.acks,
        wanted: r.wanted,
        timedOut: r.timedOut,
        serverCpuMs: r.cpuUserMs + r.cpuSysMs,
        pushLoopMs: r.pushMs,
        clientResponses: responses,
        clientBytes: bytes,
        resourcesPerClient: resources / n,
      });
      await sleep(300);
    }
    const stats = await Promise.all(clientProcs.map((c) => c.request({ cmd: 'stats' })));
    out.clientErrors = stats.reduce((a, s) => a + s.errors, 0);
    out.firstClientError = stats.find((s) => s.firstError)?.firstError;
  } catch (err) {
    out.error = (err as Error).message;
  } finally {
    await Promise.all(clientProcs.map((c) => c.request({ cmd: 'stop' }, 5000).catch(() => undefined)));
    await server.request({ cmd: 'stop' }, 5000).catch(() => undefined);
    await sleep(200);
    clientProcs.forEach((c) => c.kill());
    server.kill();
  }
  return out;
}

// ---------- reporting ----------

const ms = (x: number | undefined): string => (x === undefined || Number.isNaN(x) ? '-' : x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0));
const kb = (b: number | undefined): string => (b === undefined ? '-' : (b / 1024).toFixed(1));
const mb = (b: number | undefined): string => (b === undefined ? '-' : (b / 1024 / 1024).toFixed(1));
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
};
const ratio = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined || !b ? '-' : `${(a / b).toFixed(2)}x`);

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(' | ')} |`;
  return [line(head), `|${w.map((x, i) => (i === 0 ? ':' : '') + '-'.repeat(x + 1) + (i === 0 ? '' : ':')).join('|')}|`, ...rows.map(line)].join('\n');
}

const memPerClient = (s: Scenario, key: keyof Mem): number | undefined =>
  s.memBefore && s.memConnected ? (s.memConnected[key] - s.memBefore[key]) / s.n : undefined;

async function main(): Promise<void> {
  const started = Date.now();
  const watchdog = setTimeout(() => {
    console.error(`bench: over ${DEADLINE_MS / 1000} s, giving up`);
    process.exit(2);
  }, DEADLINE_MS);
  const machine = { nproc: os.cpus().length, cpu: os.cpus()[0]?.model, memGB: +(os.totalmem() / 2 ** 30).toFixed(1), node: process.version, platform: `${os.platform()} ${os.release()}` };
  const file = path.join(__dirname, '..', '..', 'bench', 'results.json');
  /** Writes one section of results.json (as BENCH_ONLY=`name` makes it), keeping every other section of the last runs. */
  const writeSection = (name: string, result: object, lead = '\n'): void => {
    let prev: Record<string, unknown> = {};
    try {
      prev = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch {
      /* no earlier results */
    }
    fs.writeFileSync(file, JSON.stringify({ ...prev, [name]: { command: `BENCH_ONLY=${name} npm run bench`, at: new Date().toISOString(), machine, ...result } }, null, 2));
    console.log(`${lead}wrote the ${name} section of ${path.relative(process.cwd(), file)}; total ${((Date.now() - started) / 1000).toFixed(0)} s`);
  };
  // Sections that run only when asked for survive the default run.
  let kept: { apim?: unknown; enforcer?: unknown; loading?: unknown } = {};
  try {
    const { apim, enforcer, loading } = JSON.parse(fs.readFileSync(file, 'utf8'));
    kept = { apim, enforcer, loading };
  } catch {
    /* no earlier results */
  }
  if (ONLY === 'enforcer') {
    console.log(`apim-connect enforcer benchmark  (node ${machine.node}, ${machine.nproc} cpus: ${machine.cpu}, ${machine.memGB} GB)`);
    const enforcer = await enforcerBench();
    console.log(`\n${formatEnforcer(enforcer)}`);
    writeSection('enforcer', enforcer);
    clearTimeout(watchdog);
    return;
  }
  if (ONLY === 'loading') {
    console.log(`apim-connect loading benchmark  (node ${machine.node}, ${machine.nproc} cpus: ${machine.cpu}, ${machine.memGB} GB)`);
    const loading = await loadingBench();
    console.log(`\n${formatLoading(loading)}`);
    writeSection('loading', loading);
    clearTimeout(watchdog);
    if (loading.error) process.exitCode = 1;
    return;
  }
  if (ONLY === 'apim') {
    console.log(`apim-connect APIM benchmark  (node ${machine.node}, ${machine.nproc} cpus: ${machine.cpu}, ${machine.memGB} GB)`);
    const apim = await apimBench();
    console.log(`\n${formatApim(apim)}`);
    writeSection('apim', apim);
    clearTimeout(watchdog);
    if (apim.error) process.exitCode = 1;
    return;
  }
  let translate: TranslateResult | undefined;
  if (ONLY !== 'xds') {
    console.log(`apim-connect translation benchmark  (node ${machine.node}, ${machine.nproc} cpus: ${machine.cpu}, ${machine.memGB} GB)`);
    console.log('translate 10,000 APIs in a fresh child process (--expose-gc) ...');
    const t = Date.now();
    translate = await translateBench();
    console.log(`${formatTranslate(translate)}\ntranslation section done in ${((Date.now() - t) / 1000).toFixed(1)} s\n`);
    if (ONLY === 'translate') {
      writeSection('translate', translate, '');
      clearTimeout(watchdog);
      return;
    }
  }
  console.log(`apim-connect xDS benchmark  (node ${machine.node}, ${machine.nproc} cpus: ${machine.cpu}, ${machine.memGB} GB)`);
  console.log(
    `settings: debounceMs=${DEBOUNCE_MS} maxDelayMs=500, ${PER_CHANNEL} streams per HTTP/2 connection, client flow-control window ${WINDOW} B, ` +
      `${CLIENT_PROCS} client process(es), ${CHANGES} changes per scenario, connect ${WAVE ? `in waves of ${WAVE}` : 'all at once'}\n`,
  );

  console.log('encode cost (this process) ...');
  const enc: EncodeRow[] = encodeBench();
  console.log(
    table(
      ['response', 'bytes', 'µs/op', 'note'],
      enc.map((r) => [r.name, String(r.bytes), (r.nsPerOp / 1000).toFixed(r.nsPerOp < 10_000 ? 2 : 0), r.note]),
    ),
  );
  const find = (prefix: string): EncodeRow | undefined => enc.find((r) => r.name.startsWith(prefix));
  const cdsBody = find('SotW CDS 1,000 clusters: body');
  const deltaBody = find('Delta CDS 1 changed cluster: body (once');
  const sotwAllBodies = enc.filter((r) => r.name.startsWith('SotW') && r.name.includes(': body')).reduce((a, r) => a + r.nsPerOp, 0);
  const encodeRatios = {
    sotwCdsBodyVsDeltaBody: cdsBody && deltaBody ? cdsBody.nsPerOp / deltaBody.nsPerOp : undefined,
    sotwGroupBodiesVsDeltaBody: deltaBody ? sotwAllBodies / deltaBody.nsPerOp : undefined,
    sotwCdsPerStreamVsDeltaPerStream: (find('SotW CDS 1,000 clusters: withNonce')?.nsPerOp ?? NaN) / (find('Delta CDS 1 changed cluster: withNonce')?.nsPerOp ?? NaN),
    protobufjsVsHand: Object.fromEntries(
      ['SotW CDS 1,000 clusters', 'SotW EDS 1,000 assignments', 'SotW RDS 1 config / 10,000 routes', 'Delta CDS 1 changed cluster'].map((p) => [
        p,
        (find(`${p}: protobufjs`)?.nsPerOp ?? NaN) / (find(`${p}: body (once`)?.nsPerOp ?? NaN),
      ]),
    ),
    clientDecodeVsScan: (find('Client: decode')?.nsPerOp ?? NaN) / (find('Client: scan')?.nsPerOp ?? NaN),
  };
  console.log(
    `\nratios: SotW CDS body / Delta 1-cluster body = ${encodeRatios.sotwCdsBodyVsDeltaBody?.toFixed(0)}x; ` +
      `SotW bodies of the whole group (CDS+EDS+LDS+RDS) / Delta 1-cluster body = ${encodeRatios.sotwGroupBodiesVsDeltaBody?.toFixed(0)}x; ` +
      `per-stream withNonce SotW CDS / Delta = ${encodeRatios.sotwCdsPerStreamVsDeltaPerStream.toFixed(0)}x`,
  );
  console.log(
    `protobufjs encode / hand assembly: ${Object.entries(encodeRatios.protobufjsVsHand)
      .map(([k, v]) => `${k} ${v.toFixed(1)}x`)
      .join('; ')}; client full decode / scan = ${encodeRatios.clientDecodeVsScan.toFixed(1)}x\n`,
  );

  const scenarios: Scenario[] = [];
  const setupInfo: Msg[] = [];
  for (const n of NS) {
    for (const p of PROTOCOLS) {
      process.stdout.write(`fan-out ${p} N=${n} ... `);
      const t = Date.now();
      const s = await scenario(p, n, setupInfo);
      scenarios.push(s);
      console.log(s.error ? `ERROR: ${s.error}` : `done in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    }
  }
  const nMax = Math.max(...NS);
  if (env('BENCH_BARE', '1') === '1') {
    process.stdout.write(`baseline: ${nMax} streams on a no-op ADS service ... `);
    const bare = await scenario('delta', nMax, setupInfo, true);
    scenarios.push(bare);
    console.log(bare.error ? `ERROR: ${bare.error}` : 'done');
  }
  const setup = setupInfo[0];
  if (setup) {
    const sizes = Object.entries(setup.sizes as Record<string, number>).map(([t, b]) => `${t.slice(t.lastIndexOf('.') + 1)} ${kb(b)} KB`);
    console.log(
      `\ngroup: ${sizes.join(', ')} (encoded resources); build ${ms(setup.buildMs)} ms, cache.setGroup ${ms(setup.setGroupMs)} ms; ` +
        `server RSS empty ${mb(setup.memEmpty.rss)} MB -> with group ${mb(setup.mem.rss)} MB`,
    );
  }

  console.log('\nfan-out: change one cluster (connect_timeout); time until the server has recorded the CDS and the EDS re-warm ACK of every client');
  console.log(
    table(
      ['scenario', 'connect all (ms)', 'server CPU connect (ms)', 'change→all ACKed median (ms)', 'max (ms)', 'server CPU/change (ms)', 'push loop (ms)', 'bytes/client/change', 'RSS/client (KB)', 'heap+ext/client (KB)'],
      scenarios.map((s) => {
        const c = s.changes.filter((x) => !x.timedOut);
        const heapExt = s.memBefore && s.memConnected ? (s.memConnected.heapUsed + s.memConnected.external - s.memBefore.heapUsed - s.memBefore.external) / s.n : undefined;
        return [
          `${s.bare ? 'baseline no-op ADS' : s.protocol} N=${s.n}${s.error ? ' (error)' : ''}${s.changes.some((x) => x.timedOut) ? ' (timeout)' : ''}`,
          ms(s.connectMs),
          ms(s.connectServerCpuMs),
          ms(median(c.map((x) => x.allAckedMs))),
          ms(c.length ? Math.max(...c.map((x) => x.allAckedMs)) : undefined),
          ms(median(c.map((x) => x.serverCpuMs))),
          ms(median(c.map((x) => x.pushLoopMs.reduce((a, b) => a + b, 0)))),
          c.length ? String(Math.round(median(c.map((x) => x.clientBytes)) / s.n)) : '-',
          kb(memPerClient(s, 'rss')),
          heapExt === undefined ? '-' : kb(heapExt),
        ];
      }),
    ),
  );

  // Ratios against baselines measured in this run.
  const get = (p: Protocol, n: number): Scenario | undefined => scenarios.find((s) => s.protocol === p && s.n === n && !s.error && !s.bare);
  const ack = (s?: Scenario): number | undefined => (s && s.changes.length ? median(s.changes.map((x) => x.allAckedMs)) : undefined);
  const cpu = (s?: Scenario): number | undefined => (s && s.changes.length ? median(s.changes.map((x) => x.serverCpuMs)) : undefined);
  const lines: string[] = [];
  for (const n of NS) lines.push(`N=${n}: SotW/Delta change→all ACKed ${ratio(ack(get('sotw', n)), ack(get('delta', n)))}, server CPU ${ratio(cpu(get('sotw', n)), cpu(get('delta', n)))}, connect ${ratio(get('sotw', n)?.connectMs, get('delta', n)?.connectMs)}`);
  const [lo, hi] = [Math.min(...NS), Math.max(...NS)];
  const slopes: Record<string, number | undefined> = {};
  if (lo !== hi) {
    for (const p of PROTOCOLS) {
      const a = get(p, lo);
      const b = get(p, hi);
      lines.push(`${p}: N=${hi} vs N=${lo} (${hi / lo}x clients): change→all ACKed ${ratio(ack(b), ack(a))}, server CPU ${ratio(cpu(b), cpu(a))}, connect ${ratio(b?.connectMs, a?.connectMs)}`);
      if (a?.memConnected && b?.memConnected) {
        slopes[p] = (b.memConnected.rss - a.memConnected.rss) / (hi - lo);
        lines.push(`${p}: marginal server RSS per client between N=${lo} and N=${hi}: ${kb(slopes[p])} KB`);
      }
    }
  }
  console.log(`\n${lines.join('\n')}`);

  const bareRun = scenarios.find((s) => s.bare && !s.error);
  if (bareRun) {
    const floor = memPerClient(bareRun, 'rss');
    console.log(
      `\nper-client server RSS minus the no-op grpc-js baseline (${kb(floor)} KB/stream at N=${bareRun.n}): ` +
        PROTOCOLS.map((p) => `${p} N=${bareRun.n} ${kb((memPerClient(get(p, bareRun.n) ?? bareRun, 'rss') ?? NaN) - (floor ?? NaN))} KB`).join(', '),
    );
  }
  const d1000 = get('delta', 1000);
  if (d1000) {
    const worst = Math.max(...d1000.changes.map((x) => x.allAckedMs));
    const perClient = memPerClient(d1000, 'rss');
    console.log(
      `\ngoals: 1,000 Delta clients all ACKed within 1 s: ${worst < 1000 ? 'MET' : 'NOT MET'} (worst of ${d1000.changes.length}: ${ms(worst)} ms); ` +
        `server memory per Delta client < 100 KB: ${perClient !== undefined && perClient < 100 * 1024 ? 'MET' : 'NOT MET'} (${kb(perClient)} KB RSS)`,
    );
  }
  const errs = scenarios.filter((s) => s.clientErrors || s.error).map((s) => `${s.protocol} N=${s.n}: ${s.error ?? ''} ${s.clientErrors ?? 0} client stream errors ${s.firstClientError ?? ''}`);
  if (errs.length) console.log(`\nproblems:\n${errs.join('\n')}`);

  if (!translate) {
    // BENCH_ONLY=xds: keep the translation figures of the last run that had them.
    try {
      translate = JSON.parse(fs.readFileSync(file, 'utf8')).translate;
    } catch {
      /* no earlier results */
    }
  }
  fs.writeFileSync(
    file,
    JSON.stringify(
      { command: 'npm run bench', at: new Date().toISOString(), machine, settings: { NS, PROTOCOLS, CHANGES, DEBOUNCE_MS, PER_CHANNEL, CLIENT_PROCS, WINDOW, WAVE }, encode: enc, encodeRatios, group: setup && { sizes: setup.sizes, buildMs: setup.buildMs, setGroupMs: setup.setGroupMs, memEmpty: setup.memEmpty, memWithGroup: setup.mem }, scenarios, marginalRssPerClient: slopes, ...(translate ? { translate: ONLY === 'xds' ? translate : { command: 'npm run bench', ...translate } } : {}), ...kept },
      null,
      2,
    ),
  );
  console.log(`\nwrote ${path.relative(process.cwd(), file)}; total ${((Date.now() - started) / 1000).toFixed(0)} s`);
  clearTimeout(watchdog);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
