import { promises as fs } from 'fs';
import * as path from 'path';

/** Past this many files, a project is too large anyway (files.ts refuses it): stop looking. */
const MAX_ENTRIES = 10_000;

/**
 * A cheap signature of one child of the API folder: the identity, size and times of each file in
 * it (symlinks followed, dot files skipped as files.ts skips them), from stat alone. While it
 * holds, the project is not read again. Replacing a ConfigMap's `..data` gives every linked file
 * a new inode, so that shows too. Never throws: what cannot be looked at is part of the stamp.
 */
export async function projectStamp(abs: string): Promise<string> {
  const parts: string[] = [];
  const visit = async (p: string, rel: string, parents: readonly string[]): Promise<void> => {
    if (parts.length > MAX_ENTRIES) return;
    let st;
    try {
      st = await fs.stat(p, { bigint: true });
    } catch (err) {
      parts.push(`${rel}!${(err as NodeJS.ErrnoException).code ?? 'error'}`);
      return;
    }
    const id = `${st.dev}:${st.ino}`;
    if (!st.isDirectory()) {
      parts.push(`${rel}:${id}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`);
      return;
    }
    // A folder linked into itself: readProjectFolder reports the loop; do not walk it forever.
    if (parents.includes(id)) return void parts.push(`${rel}!loop`);
    let names: string[];
    try {
      names = (await fs.readdir(p)).filter((n) => !n.startsWith('.')).sort();
    } catch (err) {
      parts.push(`${rel}/!${(err as NodeJS.ErrnoException).code ?? 'error'}`);
      return;
    }
    parts.push(`${rel}/`);
    for (const name of names) await visit(path.join(p, name), rel ? `${rel}/${name}` : name, [...parents, id]);
  };
  await visit(abs, '', []);
  return parts.join('\n');
}
