import * as fs from 'fs';
import * as path from 'path';
import { zipSync } from 'fflate';
import type { ProjectFiles } from '../../../src/sources/local/files';
import { ProjectError } from '../../../src/sources/local/errors';

export const FIXTURES = path.join(__dirname, '../../fixtures/projects');
export const OPTIONS = { defaultVhost: 'localhost' };

/** An in-memory project from file texts. */
export function memProject(files: Record<string, string>, source = 'apis/p'): ProjectFiles {
  return { source, files: new Map(Object.entries(files).map(([k, v]) => [k, Buffer.from(v)])) };
}

/** Zips a folder, every entry under `top/` as APIM's exports do. */
export function zipFolder(dir: string, top: string): Uint8Array {
  const entries: Record<string, Uint8Array> = {};
  const walk = (abs: string, rel: string): void => {
    for (const e of fs.readdirSync(abs, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(abs, e.name), r);
      else entries[top ? `${top}/${r}` : r] = fs.readFileSync(path.join(abs, e.name));
    }
  };
  walk(dir, '');
  return zipSync(entries);
}

export function errorOf(fn: () => unknown): ProjectError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ProjectError) return err;
    throw err;
  }
  throw new Error('expected a ProjectError');
}

/** A minimal valid api.yaml, with `extra` lines appended inside `data`. */
export function apiYaml(extra = '', head = 'name: Shop\n  version: 2.0\n  context: /shop'): string {
  return `type: api\nversion: v4.2.0\ndata:\n  ${head}\n  endpointConfig:\n    endpoint_type: http\n    production_endpoints:\n      url: http://shop.internal:8080/api\n  operations:\n    - target: /items\n      verb: GET\n${extra}`;
}
