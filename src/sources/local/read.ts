import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { Api } from '../../model/api';
import { ProjectError } from './errors';
import { ProjectFiles, readProjectFolder, readProjectZip } from './files';
import { ProjectOptions, parseProject } from './project';
import { followLink } from './symlinks';

/** One direct child of the API folder, read and (when its content changed) parsed. */
export interface ProjectRead {
  /** Content hash of the project's files (or of the error that kept them from being read). */
  hash: string;
  /** Parsed: absent when the hash is the one the caller already knew. */
  api?: Api;
  /** What the worker derived from the API beside parsing it, when asked (opaque here). */
  prepared?: unknown;
  error?: ProjectError;
  /** What the parse noted without refusing anything (the servers it did not use, say). */
  notes?: ProjectError[];
}

/**
 * Reads the child `name` of the watched folder `root` and parses it unless its content hash is
 * `known`. A symlink is followed when it resolves inside `root`; never throws.
 */
export function readAndParse(root: string, name: string, source: string, known: string | undefined, options: ProjectOptions): ProjectRead {
  let read: { hash: string; project?: ProjectFiles };
  try {
    read = readChild(root, name, source, known);
  } catch (err) {
    const error = err instanceof ProjectError ? err : new ProjectError(source, '', `cannot read: ${(err as Error).message}`);
    return { hash: `error:${error.message}`, error };
  }
  if (!read.project || read.hash === known) return { hash: read.hash };
  try {
    const notes: ProjectError[] = [];
    const api = parseProject(read.project, options, notes);
    return { hash: read.hash, api, ...(notes.length ? { notes } : {}) };
  } catch (err) {
    return { hash: read.hash, error: err instanceof ProjectError ? err : new ProjectError(source, '', (err as Error).message) };
  }
}

function readChild(root: string, name: string, source: string, known: string | undefined): { hash: string; project?: ProjectFiles } {
  const abs = followLink(root, path.join(root, name), source, '');
  if (fs.statSync(abs).isDirectory()) {
    const project = readProjectFolder(abs, source, root);
    const h = createHash('sha256');
    for (const [file, data] of [...project.files].sort(byKey)) h.update(`${file}\0${data.length}\0`).update(data);
    return { hash: h.digest('hex'), project };
  }
  const bytes = fs.readFileSync(abs);
  const hash = createHash('sha256').update(bytes).digest('hex');
  // Unzip only when the zip changed: hashing the raw bytes is enough to know.
  if (hash === known) return { hash };
  const project = /\.zip$/i.test(name) ? readProjectZip(bytes, source) : { source, files: new Map([[name, new Uint8Array(bytes)]]) };
  return { hash, project };
}

const byKey = <T>(a: [string, T], b: [string, T]): number => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
