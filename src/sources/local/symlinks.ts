import * as fs from 'fs';
import * as path from 'path';
import { ProjectError } from './errors';

/**
 * Symlinks in the API folder. Kubernetes mounts a ConfigMap as symlinks (`orders.yaml ->
 * ..data/orders.yaml`, `..data -> ..2024_12_07_10_00_00.123/`), so links are followed, but only
 * to somewhere inside the watched folder: a link that leads outside it, dangles or loops is
 * reported, naming the link, and not read.
 */

/** The real path of `abs`, which must lie inside `root` (and not be `root` itself). */
export function followLink(root: string, abs: string, source: string, file: string): string {
  if (!fs.lstatSync(abs).isSymbolicLink()) return abs;
  const target = safeReadlink(abs);
  let real: string;
  try {
    real = fs.realpathSync(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new ProjectError(source, file, `symlink loop (-> ${target})`);
    if (code === 'ENOENT') throw new ProjectError(source, file, `broken symlink: ${target} does not exist`);
    throw new ProjectError(source, file, `cannot follow symlink -> ${target}: ${(err as Error).message}`);
  }
  const realRoot = fs.realpathSync(root);
  if (real === realRoot || !real.startsWith(`${realRoot}${path.sep}`)) {
    throw new ProjectError(source, file, `symlink -> ${target} leads ${real === realRoot ? 'back to the folder itself' : 'outside the watched folder'}; not followed`);
  }
  return real;
}

function safeReadlink(abs: string): string {
  try {
    return fs.readlinkSync(abs);
  } catch {
    return '?';
  }
}
