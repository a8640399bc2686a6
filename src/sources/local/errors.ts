/**
 * ProjectError: why one API project cannot be served, pointing at the file (its path inside the
 * project) and, when known, the 1-based line, so a user can go straight to the mistake.
 */
export class ProjectError extends Error {
  constructor(
    /** Where the project lives, as the user named it: `apis/petstore`, `apis/orders.yaml`. */
    readonly source: string,
    /** Path inside the project (`api.yaml`, `PetStore-1.0.0/Definitions/swagger.yaml`). */
    readonly file: string,
    readonly reason: string,
    readonly line?: number,
  ) {
    super(`${whereOf(source, file, line)}: ${reason}`);
    this.name = 'ProjectError';
  }

  /** Where to look, as the message starts: `apis/orders.yaml:94`, `apis/petstore/api.yaml`. */
  get where(): string {
    return whereOf(this.source, this.file, this.line);
  }
}

/** `apis/orders.yaml:94`, `apis/petstore/Definitions/swagger.yaml:12`: a bare definition named once. */
export const whereOf = (source: string, file: string, line?: number): string => `${displayPath(source, file)}${line ? `:${line}` : ''}`;

/** A bare definition file is its own project: do not print its name twice. */
function displayPath(source: string, file: string): string {
  if (!file) return source;
  if (source === file || source.endsWith(`/${file}`)) return source;
  return `${source}/${file}`;
}

export type PathSeg = string | number;

/** `endpointConfig.production_endpoints[0].url`, `paths["/pets/{id}"].get`. */
export function formatPath(path: readonly PathSeg[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}
