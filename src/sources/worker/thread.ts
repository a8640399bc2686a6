import * as os from 'os';
import * as path from 'path';
import { parentPort, Worker } from 'worker_threads';

/**
 * Worker threads that answer requests, so slow, CPU-bound work (parsing API projects, unpacking
 * artifacts, translating) never stalls the event loop that serves xDS and Checks. A worker is
 * started on first use and stopped after a while without calls, giving its memory back; when it
 * dies (out of memory, say) its pending calls fail with the reason and the next call starts a
 * fresh one. It holds the process open only while a call is pending.
 */

interface Call<Req> {
  id: number;
  request: Req;
}
type Reply<Res> = { id: number; ok: true; result: Res } | { id: number; ok: false; message: string };

export interface WorkerThreadOptions {
  /** The worker's heap cap (its old generation), so a runaway parse fails alone. */
  maxHeapMb: number;
  /** Stop the worker after this long without a call (default 10 s; 0: keep it). */
  idleMs?: number;
  /** Handed to the worker's script as `workerData` when it starts. */
  data?: unknown;
}

export class WorkerThread<Req, Res> {
  private worker?: Worker;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (r: Res) => void; reject: (e: Error) => void }>();
  private idle?: NodeJS.Timeout;

  /** `entry`: the worker's module, as a path beside the caller without its extension. */
  constructor(
    private readonly entry: string,
    private readonly options: WorkerThreadOptions,
  ) {}

  /** Calls waiting for an answer. */
  get load(): number {
    return this.pending.size;
  }

  call(request: Req): Promise<Res> {
    clearTimeout(this.idle);
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    return new Promise<Res>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ id, request } satisfies Call<Req>);
    });
  }

  async close(): Promise<void> {
    clearTimeout(this.idle);
    const worker = this.worker;
    this.worker = undefined;
    this.failAll('the worker was closed');
    await worker?.terminate();
  }

  private start(): Worker {
    const [script, scriptOptions] = workerScript(this.entry);
    const worker = new Worker(script, { ...scriptOptions, workerData: this.options.data, resourceLimits: { maxOldGenerationSizeMb: this.options.maxHeapMb } });
    worker.on('message', (reply: Reply<Res>) => {
      const waiting = this.pending.get(reply.id);
      if (!waiting) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) {
        worker.unref();
        this.stopWhenIdle(worker);
      }
      if (reply.ok) waiting.resolve(reply.result);
      else waiting.reject(new Error(reply.message));
    });
    const stopped = (why: string): void => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.failAll(why);
    };
    worker.on('error', (err: Error & { code?: string }) =>
      stopped(err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? `the worker ran out of memory (over ${this.options.maxHeapMb} MB)` : `the worker failed: ${err.message}`),
    );
    worker.on('exit', (code) => stopped(`the worker exited (code ${code})`));
    worker.unref();
    this.worker = worker;
    return worker;
  }

  /** An idle worker still holds the heap its last (biggest) parse grew: stop it after a while. */
  private stopWhenIdle(worker: Worker): void {
    const idleMs = this.options.idleMs ?? 10_000;
    if (idleMs <= 0) return;
    clearTimeout(this.idle);
    this.idle = setTimeout(() => {
      if (this.worker !== worker || this.pending.size > 0) return;
      this.worker = undefined;
      void worker.terminate();
    }, idleMs);
    this.idle.unref();
  }

  private failAll(why: string): void {
    for (const { reject } of this.pending.values()) reject(new Error(why));
    this.pending.clear();
  }
}

/**
 * Several workers of one script; each call goes to the one with the fewest calls waiting. Calls
 * run in parallel across workers, in order within one.
 */
export class WorkerPool<Req, Res> {
  private readonly threads: WorkerThread<Req, Res>[];

  /** `size`: how many workers at most (0: one per core, up to 4). */
  constructor(entry: string, size: number, options: WorkerThreadOptions) {
    const n = size > 0 ? size : Math.min(os.availableParallelism(), 4);
    this.threads = Array.from({ length: n }, () => new WorkerThread<Req, Res>(entry, options));
  }

  get size(): number {
    return this.threads.length;
  }

  call(request: Req): Promise<Res> {
    let least = this.threads[0];
    for (const t of this.threads) if (t.load < least.load) least = t;
    return least.call(request);
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.close()));
  }
}

/**
 * In the worker: answers each call with `handle`'s result, or its error's message. The worker
 * runs at a lower priority than the event loop, so that when both want the CPU, Checks, xDS and
 * health checks win (Linux keeps a nice value per thread; elsewhere it is the whole process's, so
 * it is left alone there).
 */
export function serveCalls<Req, Res>(handle: (request: Req) => Res): void {
  if (process.platform === 'linux') {
    try {
      os.setPriority(WORKER_NICE);
    } catch {
      // Not permitted: the worker runs at the event loop's priority.
    }
  }
  parentPort!.on('message', ({ id, request }: Call<Req>) => {
    let reply: Reply<Res>;
    try {
      reply = { id, ok: true, result: handle(request) };
    } catch (err) {
      reply = { id, ok: false, message: (err as Error).message };
    }
    parentPort!.postMessage(reply);
  });
}

/** A worker thread's nice value: 10 gives it about a tenth of a core the event loop also wants. */
const WORKER_NICE = 10;

/**
 * The worker's script. Built code (dist/) runs `entry.js`. Run from TypeScript sources (the
 * tests, through swc), the worker compiles each .ts module with swc as it loads it, as jest does.
 */
function workerScript(entry: string): [string, { eval?: boolean }] {
  if (path.extname(__filename) !== '.ts') return [`${entry}.js`, {}];
  const loader = `
    const { transformSync } = require(${JSON.stringify(require.resolve('@swc/core'))});
    const fs = require('fs');
    require.extensions['.ts'] = (module, filename) => module._compile(
      transformSync(fs.readFileSync(filename, 'utf8'), { filename, sourceMaps: 'inline', jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } }).code,
      filename,
    );
    require(${JSON.stringify(`${entry}.ts`)});
  `;
  return [loader, { eval: true }];
}
