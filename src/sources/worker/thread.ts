import * as path from 'path';
import { parentPort, Worker } from 'worker_threads';

/**
 * One worker thread that answers requests, so slow, CPU-bound work (parsing API projects,
 * unpacking artifacts) never stalls the event loop that serves xDS and Checks. Started on first
 * use; when it dies (out of memory, say) its pending calls fail with the reason and the next call
 * starts a fresh one. It holds the process open only while a call is pending.
 */

interface Call<Req> {
  id: number;
  request: Req;
}
type Reply<Res> = { id: number; ok: true; result: Res } | { id: number; ok: false; message: string };

export interface WorkerThreadOptions {
  /** The worker's heap cap (its old generation), so a runaway parse fails alone. */
  maxHeapMb: number;
}

export class WorkerThread<Req, Res> {
  private worker?: Worker;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (r: Res) => void; reject: (e: Error) => void }>();

  /** `entry`: the worker's module, as a path beside the caller without its extension. */
  constructor(
    private readonly entry: string,
    private readonly options: WorkerThreadOptions,
  ) {}

  call(request: Req): Promise<Res> {
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    return new Promise<Res>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ id, request } satisfies Call<Req>);
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.failAll('the worker was closed');
    await worker?.terminate();
  }

  private start(): Worker {
    const [script, scriptOptions] = workerScript(this.entry);
    const worker = new Worker(script, { ...scriptOptions, resourceLimits: { maxOldGenerationSizeMb: this.options.maxHeapMb } });
    worker.on('message', (reply: Reply<Res>) => {
      const waiting = this.pending.get(reply.id);
      if (!waiting) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) worker.unref();
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

  private failAll(why: string): void {
    for (const { reject } of this.pending.values()) reject(new Error(why));
    this.pending.clear();
  }
}

/** In the worker: answers each call with `handle`'s result, or its error's message. */
export function serveCalls<Req, Res>(handle: (request: Req) => Res): void {
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
