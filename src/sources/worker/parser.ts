import * as path from 'path';
import type { ArtifactOptions, ArtifactsResult } from '../apim/artifacts';
import type { ProjectOptions } from '../local/project';
import type { ProjectRead } from '../local/read';
import { fromFields, type ArtifactsReply, type ParseCall, type ProjectReply } from './parse-calls';
import { WorkerThread } from './thread';

/**
 * API projects and runtime-artifact zips, read and parsed on a worker thread (ARCHITECTURE.md
 * rule 12): a multi-megabyte definition takes seconds to parse and must not delay xDS or a Check.
 * One worker per parser; calls queue in it, in order.
 */
export class ProjectParser {
  private readonly thread: WorkerThread<ParseCall, ProjectReply | ArtifactsReply>;

  /** `maxHeapMb`: the worker's heap; a parse that needs more fails alone (the default caps need about 800 MB). */
  constructor(maxHeapMb = 2048) {
    this.thread = new WorkerThread(path.join(__dirname, 'parse-entry'), { maxHeapMb });
  }

  /** readAndParse (local/read.ts), on the worker. Never rejects: a failure is the project's error. */
  async project(root: string, name: string, source: string, known: string | undefined, options: ProjectOptions): Promise<ProjectRead> {
    try {
      const reply = (await this.thread.call({ kind: 'project', root, name, source, known, options: projectOnly(options) })) as ProjectReply;
      return { hash: reply.hash, api: reply.api, error: reply.error && fromFields(reply.error) };
    } catch (err) {
      const message = `cannot parse: ${(err as Error).message}`;
      return { hash: `error:${message}`, error: fromFields({ source, file: '', reason: message }) };
    }
  }

  /** apisFromArtifacts (apim/artifacts.ts), on the worker; rejects as it throws. */
  async artifacts(zip: Uint8Array, options: ArtifactOptions, source: string): Promise<ArtifactsResult> {
    const reply = (await this.thread.call({ kind: 'artifacts', zip, options: { ...projectOnly(options), labels: options.labels, maxBytes: options.maxBytes }, source })) as ArtifactsReply;
    return { ...reply, errors: reply.errors.map(fromFields), warnings: reply.warnings.map(fromFields) };
  }

  close(): Promise<void> {
    return this.thread.close();
  }
}

/** Just the parse options: callers pass richer objects (a logger) that cannot cross to a thread. */
function projectOnly(o: ProjectOptions): ProjectOptions {
  return { defaultVhost: o.defaultVhost, defaultLabels: o.defaultLabels, retryStatusCodes: o.retryStatusCodes, limits: o.limits };
}
