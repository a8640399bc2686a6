import * as fs from 'fs';
import * as path from 'path';
import { ProjectError } from './errors';
import { followLink } from './symlinks';
import { unzipBounded, UnzipOptions, ZipError } from './zip';

/**
 * The files of one API project, whatever it was packed as: a folder, a zip, or a single bare
 * definition file. Paths are relative, with `/` separators.
 */
export interface ProjectFiles {
  /** Where the project lives, for messages: `apis/petstore`, `apis/petstore.zip`. */
  source: string;
  files: ReadonlyMap<string, Uint8Array>;
}

/** Guards against zip bombs and runaway folders: API projects are small. */
const MAX_TOTAL_BYTES = 64 * 1024 * 1024;
const MAX_FILES = 10_000;

/**
 * Reads a project folder. Symlinks are followed when they resolve inside `root` (the watched
 * folder; the project itself when read alone), else the project fails naming the link.
 */
export function readProjectFolder(dir: string, source = dir, root = dir): ProjectFiles {
  const files = new Map<string, Uint8Array>();
  let total = 0;
  const seen = new Set<string>();
  const walk = (abs: string, rel: string): void => {
    const real = fs.realpathSync(abs);
    if (seen.has(real)) throw new ProjectError(source, rel, 'symlink loop: this folder contains itself');
    seen.add(real);
    for (const entry of fs.readdirSync(abs, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      // Dot files are editor swap files, VCS folders and a ConfigMap's hidden `..data` (reached through its links).
      if (entry.name.startsWith('.')) continue;
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      const childAbs = followLink(root, path.join(abs, entry.name), source, childRel);
      const stat = entry.isSymbolicLink() ? fs.statSync(childAbs) : entry;
      if (stat.isDirectory()) walk(childAbs, childRel);
      else if (stat.isFile()) {
        const data = fs.readFileSync(childAbs);
        total += data.length;
        if (total > MAX_TOTAL_BYTES || files.size >= MAX_FILES) throw new ProjectError(source, '', 'project is too large');
        files.set(childRel, data);
      }
    }
    seen.delete(real);
  };
  walk(dir, '');
  return { source, files };
}

export function readProjectZip(bytes: Uint8Array, source: string): ProjectFiles {
  const entries = readZip(bytes, source, { maxBytes: MAX_TOTAL_BYTES, keep: (name) => !name.endsWith('/') && !name.startsWith('__MACOSX/') });
  const files = new Map<string, Uint8Array>();
  for (const [name, data] of entries) files.set(name.replace(/\\/g, '/').replace(/^\/+/, ''), data);
  return { source, files };
}

/** unzipBounded, with its errors as the project's: the entry to blame, else the zip itself. */
export function readZip(bytes: Uint8Array, source: string, options: UnzipOptions): Map<string, Uint8Array> {
  try {
    return unzipBounded(bytes, options);
  } catch (err) {
    if (err instanceof ZipError && err.entry) throw new ProjectError(source, err.entry, err.message);
    throw new ProjectError(source, '', `not a readable zip: ${(err as Error).message}`);
  }
}

/** A single OpenAPI file carrying x-wso2-* extensions; its base name is its path in the project. */
export function readBareDefinition(file: string, source = file): ProjectFiles {
  return { source, files: new Map([[path.basename(file), fs.readFileSync(file)]]) };
}

/**
 * Finds a file by its path suffix, case-insensitively, as Choreo Connect does: the top folder of
 * an exported zip (`PetStore-1.0.0/`) does not matter. The shallowest match wins; two equally
 * shallow matches are ambiguous (two projects in one zip). Earlier names win over later ones.
 */
export function findFile(project: ProjectFiles, names: readonly string[]): string | undefined {
  for (const name of names.map((n) => n.toLowerCase())) {
    const matches = [...project.files.keys()]
      .filter((file) => file.toLowerCase() === name || file.toLowerCase().endsWith(`/${name}`))
      .sort((a, b) => depth(a) - depth(b) || (a < b ? -1 : 1));
    if (matches.length > 1 && depth(matches[0]) === depth(matches[1])) {
      throw new ProjectError(project.source, matches[1], `ambiguous: both ${matches[0]} and ${matches[1]} exist`);
    }
    if (matches.length) return matches[0];
  }
  return undefined;
}

const depth = (file: string): number => file.split('/').length;

export function fileText(project: ProjectFiles, file: string): string {
  return Buffer.from(project.files.get(file)!).toString('utf8');
}
