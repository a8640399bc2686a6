import type { Config } from '../../config/config';
import type { Api } from '../../model/api';
import type { ArtifactOptions, ArtifactsResult } from '../apim/artifacts';
import { ProjectError } from '../local/errors';
import type { ProjectOptions } from '../local/project';

/**
 * What the parser worker is asked and answers. Messages are structured clones: a ProjectError
 * travels as its fields (a clone would keep only its message).
 */

export type ParseCall =
  | { kind: 'project'; root: string; name: string; source: string; known?: string; options: ProjectOptions }
  | { kind: 'artifacts'; zip: Uint8Array; options: ArtifactOptions; source: string };

export interface ProblemFields {
  source: string;
  file: string;
  reason: string;
  line?: number;
}

export interface ProjectReply {
  hash: string;
  api?: Api;
  /** What the worker's prepare module derived from the API, when it was given one. */
  prepared?: unknown;
  error?: ProblemFields;
  notes?: ProblemFields[];
}

/** What each parser worker is started with. */
export interface ParseWorkerData {
  prepare?: PrepareHook;
}

/**
 * Work the parser worker does on each parsed API besides, named by whoever wires it (the adapter:
 * translate/prepare.ts), so sources never import a translator: `module` (a path without its
 * extension) exports `prepareApi(api, config)`, whose result must survive a structured clone.
 */
export interface PrepareHook {
  module: string;
  config: Config;
}

export type ArtifactsReply = Omit<ArtifactsResult, 'errors' | 'warnings'> & {
  errors: ProblemFields[];
  warnings: ProblemFields[];
  /** What the prepare hook derived from each API (same order as `apis`), when there is one. */
  prepared?: unknown[];
};

export const toFields = (e: ProjectError): ProblemFields => ({ source: e.source, file: e.file, reason: e.reason, line: e.line });
export const fromFields = (f: ProblemFields): ProjectError => new ProjectError(f.source, f.file, f.reason, f.line);
