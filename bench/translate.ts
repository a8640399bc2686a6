import { wholeBytes } from '../src/envoy/protoWire';
import { fork } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import { Session } from 'inspector';
import * as path from 'path';
import { PerformanceObserver, performance } from 'perf_hooks';
import { Reader } from 'protobufjs';
import { parseConfig } from '../src/config/config';
import { CLUSTER, LISTENER, ROUTE } from '../src/envoy/typeUrls';
import { HTTP_METHODS, type Api, type EndpointSet, type EndpointSets, type HttpMethod, type Resource } from '../src/model/api';
import { apiRef } from '../src/translate/names';
import { Translator, type LabelResources } from '../src/translate/translate';
import { SnapshotCache, type CacheChange } from '../src/xds/cache';
import { memory, type Mem } from './protocol';

/**
 * Translation benchmark (issue: "Translate 10,000 APIs of 10 resources each: full translation
 * time and RSS; then change one API: time to the new snapshot").
 *
 * Runs in a fresh child process (this file, forked with --expose-gc), so that RSS is the
 * translation's own. The child builds BENCH_TRANSLATE_APIS Api objects of 10 resources each,
 * then measures:
 *  1. full translation (`Translator.translate`) + `SnapshotCache.setGroup`: wall, CPU, RSS/heap
 *     after GC, peak RSS, routes and bytes of the RouteConfiguration, quarantined APIs;
 *  2. one-API change (BENCH_TRANSLATE_CHANGES times, each on a different API): the Api object is
 *     replaced by a modified copy, then translate + setGroup; checks that only that API was
 *     re-translated (every other cluster value is the very same Uint8Array) and that only the
 *     expected types changed version;
 *  3. a re-translate of the same API objects: time, and that the cache notified nobody;
 *  4. baselines in the same process: one copy of the RouteConfiguration bytes (Buffer.concat of
 *     the per-API chunks, and of one buffer of the same size), one sha256 over them, one API
 *     translated alone (a fresh copy, so the per-API cache misses).
 * Knobs: BENCH_TRANSLATE_APIS=10000, BENCH_TRANSLATE_CHANGES=20,
 * BENCH_TRANSLATE_PROF=<dir> (CPU profile of the one-API changes only, via the inspector).
 */

const N_APIS = Number(process.env.BENCH_TRANSLATE_APIS ?? '10000');
const CHANGES = Number(process.env.BENCH_TRANSLATE_CHANGES ?? '20');
const PROF_DIR = process.env.BENCH_TRANSLATE_PROF;
const RESOURCES_PER_API = 10;
const GROUP = 'Default';
const CHILD_TIMEOUT_MS = 180_000;

// ---------- the 10,000 APIs ----------

/** mulberry32: deterministic, so every run translates the same APIs. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Resource templates; `#` is replaced by the resource's index so paths are unique per API.
 * 0–3 parameters, literal-only, partial segments (`{name}.json`, `v{major}.{minor}`), a few `/*`.
 */
const TEMPLATES: Array<{ t: string; w: number }> = [
  { t: '/items#', w: 14 },
  { t: '/items#/{id}', w: 18 },
  { t: '/orders#/{orderId}/lines/{lineId}', w: 10 },
  { t: '/stores#/{storeId}/aisles/{aisle}/shelves/{shelf}', w: 5 },
  { t: '/health#/status', w: 8 },
  { t: '/files#/{name}.json', w: 6 },
  { t: '/docs#/v{major}.{minor}/index', w: 3 },
  { t: '/reports#/{year}-{month}', w: 3 },
  { t: '/users#/{userId}/avatar.png', w: 6 },
  { t: '/search#', w: 6 },
  { t: '/static#/*', w: 2 },
  { t: '/proxy#/{tenant}/*', w: 1 },
];
const TEMPLATE_WEIGHT = TEMPLATES.reduce((a, x) => a + x.w, 0);

const VHOSTS = ['localhost', 'localhost', 'localhost', 'localhost', 'localhost', 'localhost', 'api.example.com', 'partners.example.com', 'internal.example.org', 'eu.example.com'];
const WORDS = ['Pet', 'Order', 'Store', 'Billing', 'Catalog', 'Shipping', 'Customer', 'Invoice', 'Payment', 'Inventory', 'Review', 'Search'];

function endpointSet(r: () => number, i: number, env: string): EndpointSet {
  const https = r() < 0.06;
  const ip = !https && r() < 0.1;
  const nUrls = r() < 0.08 ? 2 : 1;
  const urls = Array.from({ length: nUrls }, (_, k) => {
    const host = ip ? `10.${(i >> 8) & 255}.${i & 255}.${k + 1}` : `${env}-svc${i % 700}-${k}.backend${i % 13}.svc.cluster.local`;
    const port = https ? 443 : r() < 0.5 ? 80 : 8080;
    const basePath = r() < 0.6 ? `/v${1 + (i % 3)}/${env}` : '';
    return { url: `${https ? 'https' : 'http'}://${host}:${port}${basePath}`, scheme: https ? ('https' as const) : ('http' as const), host, port, basePath };
  });
  const set: EndpointSet = { type: nUrls > 1 && r() < 0.5 ? 'failover' : 'load_balance', urls };
  if (r() < 0.3) set.timeoutMs = 1000 * (5 + Math.floor(r() * 55));
  if (r() < 0.1) set.retry = { count: 2, statusCodes: [502, 503] };
  if (r() < 0.05) set.circuitBreakers = { maxConnections: 100, maxRequests: 200 };
  if (https && r() < 0.3) set.http2 = true;
  return set;
}

function makeApi(i: number): Api {
  const r = rng(0x9e3779b9 ^ i);
  const name = `${WORDS[i % WORDS.length]}Api${i}`;
  const version = r() < 0.5 ? '1.0.0' : `v${1 + Math.floor(r() * 3)}`;
  const context = `/t${i % 50}/${name.toLowerCase()}`; // unique per API
  const endpoints: EndpointSets = { production: endpointSet(r, i, 'prod') };
  if (r() < 0.2) endpoints.sandbox = endpointSet(r, i, 'sand');
  const resources: Resource[] = [];
  for (let j = 0; j < RESOURCES_PER_API; j++) {
    let x = r() * TEMPLATE_WEIGHT;
    const tpl = TEMPLATES.find((t) => (x -= t.w) < 0) ?? TEMPLATES[0];
    const nMethods = 1 + Math.floor(r() * 4);
    const methods = new Set<HttpMethod>();
    while (methods.size < nMethods) methods.add(HTTP_METHODS[Math.floor(r() * 5)]); // GET..PATCH
    const res: Resource = {
      path: tpl.t.replace('#', j === 0 ? '' : String(j)),
      operations: [...methods].map((method) => ({ method, secured: r() > 0.05, scopes: r() < 0.2 ? [`${name.toLowerCase()}:read`] : [] })),
    };
    if (r() < 0.01) res.endpoints = { production: endpointSet(r, i, 'res') }; // resource-level endpoints: their own cluster
    resources.push(res);
  }
  return {
    id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    name,
    version,
    context,
    basePath: `${context}/${version}`,
    vhost: VHOSTS[i % VHOSTS.length],
    type: 'HTTP',
    organization: 'carbon.super',
    labels: [GROUP],
    isDefaultVersion: r() < 0.1,
    lifecycleStatus: 'PUBLISHED',
    revision: `rev-${i}`,
    endpoints,
    security: { schemes: ['oauth2'], authorizationHeader: 'Authorization', apiKeyHeader: 'apikey' },
    cors:
      r() < 0.05
        ? { enabled: true, allowOrigins: ['https://app.example.com'], allowMethods: ['GET', 'POST'], allowHeaders: ['authorization', 'content-type'], exposeHeaders: [], allowCredentials: false }
        : undefined,
    throttlingTier: r() < 0.3 ? 'Unlimited' : undefined,
    resources,
    source: `apim:revision:rev-${i}`,
  };
}

/** A modified copy: a new object (the translator caches by identity); `k` picks the kind of change. */
function changedApi(api: Api, k: number): { api: Api; kind: string; routesAffected: boolean } {
  const prod = api.endpoints.production!;
  switch (k % 3) {
    case 0:
      return { kind: 'new endpoint timeout', routesAffected: true, api: { ...api, endpoints: { ...api.endpoints, production: { ...prod, timeoutMs: (prod.timeoutMs ?? 60_000) + 1000 } } } };
    case 1:
      return {
        kind: 'new resource',
        routesAffected: true,
        api: { ...api, resources: [...api.resources, { path: `/added${k}/{id}`, operations: [{ method: 'GET', secured: true, scopes: [] }] }] },
      };
    default: {
      const urls = prod.urls.map((u) => ({ ...u, port: u.port + 1, url: u.url.replace(`:${u.port}`, `:${u.port + 1}`) }));
      return { kind: 'new backend port', routesAffected: false, api: { ...api, endpoints: { ...api.endpoints, production: { ...prod, urls } } } };
    }
  }
}

// ---------- results ----------

export interface ChangeRun {
  index: number;
  kind: string;
  translateMs: number;
  routeConfigMs: number;
  setGroupMs: number;
  totalMs: number;
  /** This process's CPU time (user+system, all its threads, GC helpers included). */
  cpuMs: number;
  gcMs: number;
  /** Minor page faults of this process during the change (first touch of freshly mapped memory). */
  pageFaults: number;
  /** Cluster values that are not the same object as before (expected: the changed API's clusters). */
  newClusterValues: number;
  changedApiClusters: number;
  typesChanged: string[];
  /** Whether the change touches the routes at all (a new backend port changes only a cluster). */
  routesAffected: boolean;
  routeVersionChanged: boolean;
  listenerVersionChanged: boolean;
  notifications: number;
}

export interface TranslateResult {
  apis: number;
  resources: number;
  operations: number;
  buildApisMs: number;
  full: {
    translateMs: number;
    setGroupMs: number;
    cpuMs: number;
    gcMs: number;
    routes: number;
    virtualHosts: number;
    routeConfigBytes: number;
    clusters: number;
    clusterBytes: number;
    listeners: number;
    quarantined: number;
    firstQuarantined?: string;
  };
  mem: { empty: Mem; withApis: Mem; translated: Mem; afterChanges: Mem; peakRssBytes: number };
  changes: ChangeRun[];
  noChange: { runs: number; translateMs: number[]; setGroupMs: number[]; notifications: number; routeVersionSame: boolean };
  baselines: {
    concatChunksMs: number;
    chunks: number;
    concatOneMs: number;
    /** The same bytes copied into a buffer that is already allocated and touched: the copy alone. */
    copyTouchedMs: number;
    /** A fresh buffer of the same size written once (allocUnsafe + fill): the cost of first touch. */
    freshTouchMs: number;
    sha256Ms: number;
    singleApiMs: number;
    singleApiTranslations: number;
  };
  /** Machine-wide CPU busy (all cores) during the section, minus this process: other load on the machine. */
  otherLoadCores?: number;
  loadavg: number[];
  profiles: string[];
  error?: string;
}

// ---------- child ----------

const now = (): number => performance.now();
const cpuMs = (c: NodeJS.CpuUsage): number => (c.user + c.system) / 1000;

/** GC pauses (ms) reported by the VM, by start time, so they can be summed per interval. */
const gcPauses: Array<{ start: number; duration: number }> = [];
function gcIn(t0: number, t1: number): number {
  return gcPauses.filter((g) => g.start >= t0 && g.start < t1).reduce((a, g) => a + g.duration, 0);
}
const settle = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms)); // lets the GC observer deliver

/** Machine-wide busy CPU time (ms, all cores) from /proc/stat; undefined off Linux. */
function machineBusyMs(): number | undefined {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + (f[4] ?? 0);
    const total = f.reduce((a, x) => a + x, 0);
    return ((total - idle) * 1000) / 100; // USER_HZ = 100
  } catch {
    return undefined;
  }
}

async function profiled<T>(name: string, fn: () => Promise<T> | T): Promise<{ value: T; file?: string }> {
  if (!PROF_DIR) return { value: await fn() };
  const session = new Session();
  session.connect();
  const post = (method: string): Promise<unknown> => new Promise((r, j) => session.post(method, (e, p) => (e ? j(e) : r(p))));
  await post('Profiler.enable');
  await post('Profiler.start');
  const value = await fn();
  const { profile } = (await post('Profiler.stop')) as { profile: unknown };
  session.disconnect();
  fs.mkdirSync(PROF_DIR, { recursive: true });
  const file = path.join(PROF_DIR, `translate-${name}.cpuprofile`);
  fs.writeFileSync(file, JSON.stringify(profile));
  return { value, file };
}

/** Counts virtual hosts (RouteConfiguration field 2) and routes (VirtualHost field 3) without decoding routes. */
export function countRoutes(bytes: Uint8Array): { virtualHosts: number; routes: number } {
  const rc = Reader.create(bytes);
  let virtualHosts = 0;
  let routes = 0;
  while (rc.pos < rc.len) {
    const tag = rc.uint32();
    if (tag >>> 3 === 2 && (tag & 7) === 2) {
      virtualHosts++;
      const len = rc.uint32();
      const end = rc.pos + len;
      const vh = Reader.create(bytes.subarray(rc.pos, end));
      while (vh.pos < vh.len) {
        const t = vh.uint32();
        if (t >>> 3 === 3) routes++;
        vh.skipType(t & 7);
      }
      rc.pos = end;
    } else rc.skipType(tag & 7);
  }
  return { virtualHosts, routes };
}

function best(fn: () => void, rounds = 5): number {
  let min = Infinity;
  for (let i = 0; i < rounds; i++) {
    const t = now();
    fn();
    min = Math.min(min, now() - t);
  }
  return min;
}

async function child(): Promise<TranslateResult> {
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcPauses.push({ start: e.startTime, duration: e.duration });
  });
  obs.observe({ entryTypes: ['gc'] });
  const config = parseConfig('', 'bench');
  const empty = memory();

  let t = now();
  let apis = Array.from({ length: N_APIS }, (_, i) => makeApi(i));
  const buildApisMs = now() - t;
  const withApis = memory();

  const cache = new SnapshotCache();
  const notes: CacheChange[] = [];
  cache.watch((c) => notes.push(c));
  // Time the route-table assembly inside translate() by wrapping the private method at run time
  // (one call per translate, so no measurable overhead); src/ is not changed.
  const tproto = Translator.prototype as unknown as { routeConfiguration: (...a: unknown[]) => unknown };
  const origRouteConfiguration = tproto.routeConfiguration;
  let routeConfigMs = 0;
  tproto.routeConfiguration = function (this: Translator, ...a: unknown[]) {
    const t0 = now();
    const out = origRouteConfiguration.apply(this, a);
    routeConfigMs += now() - t0;
    return out;
  };

  // 1. Full translation.
  const profiles: string[] = [];
  const busy0 = machineBusyMs();
  const ownCpu0 = process.cpuUsage();
  const translator = new Translator(config);
  const cpu0 = process.cpuUsage();
  const t0 = now();
  const fullRun = await profiled('full', () => {
    const r = translator.translate(apis);
    return { r, t1: now() };
  });
  if (fullRun.file) profiles.push(fullRun.file);
  let res: LabelResources = fullRun.value.r;
  const t1 = fullRun.value.t1;
  cache.setGroup(GROUP, res.resources);
  const t2 = now();
  const fullCpu = cpuMs(process.cpuUsage(cpu0));
  const translated = memory();
  const routeConfig = res.resources[ROUTE][0];
  const { virtualHosts, routes } = countRoutes(wholeBytes(routeConfig.value));
  const full = {
    translateMs: t1 - t0,
    setGroupMs: t2 - t1,
    cpuMs: fullCpu,
    gcMs: 0, // filled in at the end
    routes,
    virtualHosts,
    routeConfigBytes: wholeBytes(routeConfig.value).length,
    clusters: res.resources[CLUSTER].length,
    clusterBytes: res.resources[CLUSTER].reduce((a, c) => a + c.value.length, 0),
    listeners: res.resources[LISTENER].length,
    quarantined: res.quarantined.length,
    firstQuarantined: res.quarantined[0] ? `${res.quarantined[0].name}: ${res.quarantined[0].reasons.join('; ')}` : undefined,
  };
  if (full.quarantined) console.error(`translate bench: ${full.quarantined} APIs quarantined, e.g. ${full.firstQuarantined}`);

  // A warm-up change (not reported): the first change after the full build pays one-off JIT work.
  {
    const w = changedApi(apis[N_APIS - 1], 0).api;
    apis = apis.slice();
    apis[N_APIS - 1] = w;
    res = translator.translate(apis);
    cache.setGroup(GROUP, res.resources);
  }

  // 2. One-API changes.
  const changes: ChangeRun[] = [];
  const windows: Array<[number, number]> = [];
  const changeRun = await profiled('changes', async () => {
    for (let k = 0; k < CHANGES; k++) {
      const index = Math.floor(((k + 0.5) * (N_APIS - 1)) / CHANGES);
      const { api, kind, routesAffected } = changedApi(apis[index], k);
      const next = apis.slice();
      next[index] = api;
      const before = new Map(res.resources[CLUSTER].map((c) => [c.name, c.value]));
      const routeVersion = cache.typeSet(GROUP, ROUTE)!.version;
      const listenerVersion = cache.typeSet(GROUP, LISTENER)!.version;
      notes.length = 0;
      routeConfigMs = 0;
      const cpuA = process.cpuUsage();
      const faultsA = process.resourceUsage().minorPageFault;
      const a = now();
      const out = translator.translate(next);
      const b = now();
      cache.setGroup(GROUP, out.resources);
      const c = now();
      const cpu = cpuMs(process.cpuUsage(cpuA));
      const pageFaults = process.resourceUsage().minorPageFault - faultsA;
      windows.push([a, c]);
      await settle(20); // changes arrive apart, not back to back
      changes.push({
        index,
        kind,
        translateMs: b - a,
        routeConfigMs,
        setGroupMs: c - b,
        totalMs: c - a,
        cpuMs: cpu,
        pageFaults,
        gcMs: 0, // filled in below, once the GC observer has delivered
        newClusterValues: out.resources[CLUSTER].filter((x) => before.get(x.name) !== x.value).length,
        changedApiClusters: out.resources[CLUSTER].filter((x) => x.name.startsWith(`${apiRef(api)}_`)).length,
        typesChanged: notes.flatMap((n) => n.types.map((x) => `${x.typeUrl.slice(x.typeUrl.lastIndexOf('.') + 1)}(${x.changed.length} changed, ${x.removed.length} removed)`)),
        routesAffected,
        routeVersionChanged: cache.typeSet(GROUP, ROUTE)!.version !== routeVersion,
        listenerVersionChanged: cache.typeSet(GROUP, LISTENER)!.version !== listenerVersion,
        notifications: notes.length,
      });
      apis = next;
      res = out;
    }
  });
  if (changeRun.file) profiles.push(changeRun.file);

  // 3. Same content again: the same API objects in a new array.
  const noChange = { runs: 5, translateMs: [] as number[], setGroupMs: [] as number[], notifications: 0, routeVersionSame: true };
  for (let k = 0; k < noChange.runs; k++) {
    const routeVersion = cache.typeSet(GROUP, ROUTE)!.version;
    notes.length = 0;
    const a = now();
    const out = translator.translate(apis.slice());
    const b = now();
    cache.setGroup(GROUP, out.resources);
    noChange.setGroupMs.push(now() - b);
    noChange.translateMs.push(b - a);
    noChange.notifications += notes.length;
    noChange.routeVersionSame &&= cache.typeSet(GROUP, ROUTE)!.version === routeVersion;
  }
  const afterChanges = memory();

  // 4. Baselines.
  const rcBytes = cache.get(GROUP, ROUTE, routeConfig.name)!.value;
  // The route table as per-API chunks of its real sizes (how the translator hands it to the cache).
  const chunks: Buffer[] = [];
  const chunkSize = Math.max(1, Math.floor(rcBytes.length / N_APIS));
  for (let o = 0; o < rcBytes.length; o += chunkSize) chunks.push(Buffer.from(rcBytes.subarray(o, Math.min(o + chunkSize, rcBytes.length))));
  const one = Buffer.from(rcBytes);
  const concatChunksMs = best(() => void Buffer.concat(chunks));
  const concatOneMs = best(() => void Buffer.concat([one]));
  const touched = Buffer.alloc(one.length, 1);
  const copyTouchedMs = best(() => void touched.set(one));
  const freshTouchMs = best(() => void Buffer.allocUnsafe(one.length).fill(0));
  const sha256Ms = best(() => void createHash('sha256').update(one).digest());
  // One API alone: fresh copies (new objects, so the translator's per-API cache misses) of varied APIs.
  const singles: number[] = [];
  const single = new Translator(config);
  for (let k = 0; k < 200; k++) {
    const copy = { ...apis[(k * 47) % N_APIS] };
    const s = now();
    single.translate([copy]);
    singles.push(now() - s);
  }
  singles.sort((x, y) => x - y);

  await settle(100);
  obs.disconnect();
  full.gcMs = gcIn(t0, t2);
  changes.forEach((x, i) => (x.gcMs = gcIn(windows[i][0], windows[i][1])));
  const busy1 = machineBusyMs();
  const ownCpu = cpuMs(process.cpuUsage(ownCpu0));
  const wall = now() - t0;
  return {
    apis: N_APIS,
    resources: apis.reduce((a, x) => a + x.resources.length, 0),
    operations: apis.reduce((a, x) => a + x.resources.reduce((b, r) => b + r.operations.length, 0), 0),
    buildApisMs,
    full,
    mem: { empty, withApis, translated, afterChanges, peakRssBytes: process.resourceUsage().maxRSS * 1024 },
    changes,
    noChange,
    baselines: { concatChunksMs, chunks: chunks.length, concatOneMs, copyTouchedMs, freshTouchMs, sha256Ms, singleApiMs: singles[Math.floor(singles.length / 2)], singleApiTranslations: singles.length },
    otherLoadCores: busy0 !== undefined && busy1 !== undefined ? Math.max(0, busy1 - busy0 - ownCpu) / wall : undefined,
    loadavg: os.loadavg(),
    profiles,
  };
}

// ---------- parent ----------

/** Forks this file as a fresh child (--expose-gc) and returns what it measured. */
export function translateBench(): Promise<TranslateResult> {
  return new Promise((resolve) => {
    const proc = fork(__filename, ['child'], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let done = false;
    const finish = (r: TranslateResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (proc.exitCode === null) proc.kill('SIGKILL');
      resolve(r);
    };
    const failed = (error: string): TranslateResult => ({ error } as TranslateResult);
    const timer = setTimeout(() => finish(failed(`timeout after ${CHILD_TIMEOUT_MS / 1000} s`)), CHILD_TIMEOUT_MS);
    proc.on('message', (m: { result?: TranslateResult; error?: string }) => finish(m.result ?? failed(m.error ?? 'no result')));
    proc.on('exit', (code, signal) => finish(failed(`child exited (${code ?? signal}) without a result`)));
  });
}

const fmt = (x: number | undefined): string => (x === undefined || Number.isNaN(x) ? '-' : x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0));
const mib = (b: number): string => (b / 2 ** 20).toFixed(1);
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN;
};
const med = (xs: number[]): number => pct(xs, 50);

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(' | ')} |`;
  return [line(head), `|${w.map((x, i) => (i === 0 ? ':' : '') + '-'.repeat(x + 1) + (i === 0 ? '' : ':')).join('|')}|`, ...rows.map(line)].join('\n');
}

/** The report printed by `npm run bench`; also the goals, met or not. */
export function formatTranslate(r: TranslateResult): string {
  if (r.error) return `translate: ERROR ${r.error}`;
  const f = r.full;
  const c = r.changes;
  const col = (k: keyof ChangeRun): number[] => c.map((x) => x[k] as number);
  const out: string[] = [];
  out.push(
    `APIs: ${r.apis.toLocaleString('en')} × ${RESOURCES_PER_API} resources (${r.operations.toLocaleString('en')} operations), built in ${fmt(r.buildApisMs)} ms; ` +
      `output: ${f.routes.toLocaleString('en')} routes in ${f.virtualHosts} virtual hosts, RouteConfiguration ${mib(f.routeConfigBytes)} MiB, ` +
      `${f.clusters.toLocaleString('en')} clusters (${mib(f.clusterBytes)} MiB), ${f.listeners} listener(s); quarantined: ${f.quarantined}`,
  );
  const m = r.mem;
  out.push('');
  out.push(
    table(
      ['full translation', 'translate (ms)', 'setGroup (ms)', 'wall total (ms)', 'CPU (ms)', 'GC pauses (ms)', 'RSS after GC (MiB)', 'peak RSS (MiB)', 'heap used (MiB)', 'external (MiB)'],
      [
        [
          `${r.apis} APIs`,
          fmt(f.translateMs),
          fmt(f.setGroupMs),
          fmt(f.translateMs + f.setGroupMs),
          fmt(f.cpuMs),
          fmt(f.gcMs),
          mib(m.translated.rss),
          mib(m.peakRssBytes),
          mib(m.translated.heapUsed),
          mib(m.translated.external),
        ],
      ],
    ),
  );
  out.push(
    `RSS after GC: empty process ${mib(m.empty.rss)} MiB -> with the ${r.apis} Api objects ${mib(m.withApis.rss)} MiB -> translated and in the cache ` +
      `${mib(m.translated.rss)} MiB (translation's own: ${mib(m.translated.rss - m.withApis.rss)} MiB) -> after the changes ${mib(m.afterChanges.rss)} MiB`,
  );
  out.push('');
  out.push(`one-API change (${c.length} changes, each on a different API; time to the new snapshot = translate + setGroup):`);
  const row = (name: string, f2: (xs: number[]) => number): string[] => [
    name,
    fmt(f2(col('translateMs'))),
    fmt(f2(col('routeConfigMs'))),
    fmt(f2(col('setGroupMs'))),
    fmt(f2(col('totalMs'))),
    fmt(f2(col('cpuMs'))),
    fmt(f2(col('gcMs'))),
    String(Math.round(f2(col('pageFaults')))),
  ];
  out.push(
    table(
      ['one-API change', 'translate (ms)', 'of which route table (ms)', 'setGroup (ms)', 'total = to new snapshot (ms)', 'CPU (ms)', 'GC pauses (ms)', 'minor page faults'],
      [row('median', med), row('p90', (xs) => pct(xs, 90)), row('max', (xs) => Math.max(...xs)), row('min', (xs) => Math.min(...xs))],
    ),
  );
  const onlyThat = c.every((x) => x.newClusterValues === x.changedApiClusters);
  const routeChanged = c.every((x) => x.routeVersionChanged === x.routesAffected && !x.listenerVersionChanged && x.notifications === 1);
  const kinds = [...new Set(c.map((x) => x.kind))];
  out.push(
    `checks: only the changed API re-translated (every other cluster value the same Uint8Array): ${onlyThat ? 'yes' : 'NO'} ` +
      `(new cluster values per change: ${[...new Set(c.map((x) => x.newClusterValues))].join('/')}); ` +
      `RouteConfiguration version changed exactly when the routes did (not for a new backend port), Listener version never, one notification per change: ${routeChanged ? 'yes' : 'NO'}; ` +
      `types notified per kind of change: ${kinds.map((k) => `${k}: ${c.find((x) => x.kind === k)!.typesChanged.join(' + ')}`).join('; ')}`,
  );
  const nc = r.noChange;
  out.push(
    `same content again (${nc.runs} runs, same Api objects): translate median ${fmt(med(nc.translateMs))} ms, setGroup ${fmt(med(nc.setGroupMs))} ms, ` +
      `notifications ${nc.notifications}, route version unchanged: ${nc.routeVersionSame ? 'yes' : 'NO'}`,
  );
  const b = r.baselines;
  const total = med(col('totalMs'));
  const fullPerApi = f.translateMs / r.apis;
  out.push('');
  out.push(
    `baselines (same process): copy the ${mib(f.routeConfigBytes)} MiB route table once: Buffer.concat of ${b.chunks.toLocaleString('en')} chunks ${fmt(b.concatChunksMs)} ms, ` +
      `of one buffer ${fmt(b.concatOneMs)} ms, into an already touched buffer (the copy alone) ${fmt(b.copyTouchedMs)} ms, first touch of a fresh buffer of that size ` +
      `(allocUnsafe + fill) ${fmt(b.freshTouchMs)} ms; sha256 over it ${fmt(b.sha256Ms)} ms; one API translated alone (median of ${b.singleApiTranslations}) ${fmt(b.singleApiMs)} ms`,
  );
  out.push(
    `ratios: one-API change / one copy of the route table (Buffer.concat of chunks) = ${(total / b.concatChunksMs).toFixed(1)}x, / the copy alone = ${(total / b.copyTouchedMs).toFixed(0)}x, ` +
      `/ sha256 of it = ${(total / b.sha256Ms).toFixed(1)}x; ` +
      `/ same-content re-translate + setGroup = ${(total / (med(nc.translateMs) + med(nc.setGroupMs))).toFixed(2)}x; / one API alone = ${(total / b.singleApiMs).toFixed(0)}x; ` +
      `full translation per API / one API alone = ${(fullPerApi / b.singleApiMs).toFixed(2)}x (${(fullPerApi * 1000).toFixed(0)} µs vs ${(b.singleApiMs * 1000).toFixed(0)} µs)`,
  );
  const fullMs = f.translateMs + f.setGroupMs;
  const worstChange = Math.max(...col('totalMs'));
  const p90 = pct(col('totalMs'), 90);
  out.push('');
  out.push(
    `goals (${r.apis} APIs): full translation < 5 s: ${fullMs < 5000 ? 'MET' : 'NOT MET'} (${fmt(fullMs)} ms); ` +
      `one-API change < 50 ms: ${p90 < 50 ? (worstChange < 50 ? 'MET' : 'MET at the median and p90, not the max') : total < 50 ? 'MET at the median only' : 'NOT MET'} ` +
      `(median ${fmt(total)}, p90 ${fmt(p90)}, max ${fmt(worstChange)} ms), only that API rebuilt: ${onlyThat ? 'yes' : 'NO'}; ` +
      `RSS < 1 GiB: ${m.peakRssBytes < 2 ** 30 ? 'MET' : m.translated.rss < 2 ** 30 ? 'MET after GC, not at peak' : 'NOT MET'} (after GC ${mib(m.translated.rss)} MiB, peak ${mib(m.peakRssBytes)} MiB)`,
  );
  out.push(
    `other load on the machine during this section: ${r.otherLoadCores === undefined ? '-' : `${r.otherLoadCores.toFixed(2)} cores busy besides this process`}; loadavg ${r.loadavg.map((x) => x.toFixed(2)).join(' ')}`,
  );
  if (r.profiles.length) out.push(`CPU profiles: ${r.profiles.join(', ')}`);
  return out.join('\n');
}

if (require.main === module && process.argv[2] === 'child') {
  child()
    .then((result) => process.send!({ result }, () => process.exit(0)))
    .catch((err) => process.send!({ error: (err as Error).stack ?? String(err) }, () => process.exit(1)));
} else if (require.main === module) {
  // `node build/bench/translate.js`: this section alone, without the xDS bench.
  translateBench().then((r) => console.log(formatTranslate(r)));
}
