import * as path from 'path';
import type { ArtifactOptions, ArtifactsResult } from '../apim/artifacts';
import type { ProjectOptions } from '../local/project';
import type { ProjectRead } from '../local/read';
import { fromFields, type ArtifactsReply, type ParseCall, type ParseWorkerData, type PrepareHook, type ProjectReply } from './parse-calls';
import { WorkerPool } from './thread';

export interface ParserOptions {
  /** Workers (0, the default: one per core, up to 4). */
  workers?: number;
  /** Each worker's heap; a parse that needs more fails alone (default 2048). */
  maxHeapMb?: number;
  /** Stop a worker after this long without work (default 10 s). */
  idleMs?: number;
  /** Prepare each parsed API on the worker too. */
  prepare?: PrepareHook;
}

/**
 * API projects and runtime-artifact zips, read and parsed on a pool of worker threads
 * (ARCHITECTURE.md rule 12): a multi-megabyte definition takes a while to parse, and a big API
 * to translate; neither may delay xDS or a Check. Projects parse in parallel, one per worker.
 */
export class ProjectParser {
  private readonly pool: WorkerPool<ParseCall, ProjectReply | ArtifactsReply>;

  constructor(options: ParserOptions = {}) {
    const data: ParseWorkerData = { prepare: options.prepare };
    this.pool = new WorkerPool(path.join(__dirname, 'parse-entry'), options.workers ?? 0, { maxHeapMb: options.maxHeapMb ?? 2048, idleMs: options.idleMs, data });
  }

  /** How many workers there are at most. */
  get workers(): number {
    return this.pool.size;
  }

  /** readAndParse (local/read.ts), on a worker. Never rejects: a failure is the project's error. */
  async project(root: string, name: string, source: string, known: string | undefined, options: ProjectOptions): Promise<ProjectRead> {
    try {
      const reply = (await this.pool.call({ kind: 'project', root, name, source, known, options: projectOnly(options) })) as ProjectReply;
      return { hash: reply.hash, api: reply.api, prepared: reply.prepared, error: reply.error && fromFields(reply.error), notes: reply.notes?.map(fromFields) };
    } catch (err) {
      const message = `cannot parse: ${(err as Error).message}`;
      return { hash: `error:${message}`, error: fromFields({ source, file: '', reason: message }) };
    }
  }

  /** apisFromArtifacts (apim/artifacts.ts), on a worker; rejects as it throws. */
  async artifacts(zip: Uint8Array, options: ArtifactOptions, source: string): Promise<ArtifactsResult & { prepared?: unknown[] }> {
    const reply = (await this.pool.call({ kind: 'artifacts', zip, options: { ...projectOnly(options), labels: options.labels, maxBytes: options.maxBytes }, source })) as ArtifactsReply;
    return { ...reply, errors: reply.errors.map(fromFields), warnings: reply.warnings.map(fromFields) };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/** Just the parse options: callers pass richer objects (a logger) that cannot cross to a thread. */
function projectOnly(o: ProjectOptions): ProjectOptions {
  return { defaultVhost: o.defaultVhost, defaultLabels: o.defaultLabels, retryStatusCodes: o.retryStatusCodes, limits: o.limits };
}
