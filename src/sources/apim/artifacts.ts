import { restDeployments, type Deployment } from './decode-rest';
import type { Api } from '../../model/api';
import { ProjectError } from '../local/errors';
import { ProjectFiles, readProjectZip, readZip } from '../local/files';
import { ProjectOptions, parseProject } from '../local/project';
import type { DeployedRevision } from './rest';

/**
 * The runtime-artifacts zip → Apis. The root holds deployments.json (which inner zip goes to which
 * environments, on which vhost, for which organization), env_properties.json, and one API project
 * zip per deployment (`<apiUUID>-<revision>.zip`), parsed with the local project parser.
 *
 * In control-plane mode deployments.json decides labels and vhost; the project's
 * deployment_environments.yaml is ignored. A broken or missing inner zip is reported and the
 * others still come back (Choreo Connect drops the whole batch). A broken root (unreadable zip,
 * no or bad deployments.json) throws: returning no APIs would read as "nothing deployed".
 *
 * Our model holds one Api per id, with one vhost. So:
 * - environments of one deployment on different vhosts: the vhost with the most of our labels
 *   wins (the first listed on a tie); the other labels are left out and a warning says so;
 * - one API listed twice (e.g. revision N on label A, N+1 on label B): merged when revision and
 *   vhost agree, else the highest revision wins (the first listed on a tie) and the other
 *   deployment's labels are left out with a warning.
 */

export interface ArtifactEnvironment {
  name: string;
  vhost: string;
}

export interface ArtifactDeployment {
  /** The inner zip, as deployments.json names it. */
  apiFile: string;
  /** The API's UUID: the parsed project's id, else the UUID the file name starts with. */
  apiId?: string;
  /** Environments as listed. */
  environments: ArtifactEnvironment[];
  organizationId?: string;
  /** The environments this gateway serves from this deployment (the deploy ack's envInfo). */
  served: ArtifactEnvironment[];
  /** The Api this deployment went into (undefined: failed, or none of our labels). */
  api?: Api;
}

export interface ArtifactsResult {
  /** One per API id, in deployments.json order. */
  apis: Api[];
  /** Deployments that could not be served (source: the inner zip's name). */
  errors: ProjectError[];
  /** Served, but not everything listed could be (vhost or revision clashes, env_properties.json). */
  warnings: ProjectError[];
  deployments: ArtifactDeployment[];
}

export type ArtifactOptions = ProjectOptions & {
  /** This gateway's labels (controlPlane.environmentLabels); empty: every environment. */
  labels: readonly string[];
  /** Largest uncompressed root zip (default 1 GiB). */
  maxBytes?: number;
};

const DEPLOYMENTS = 'deployments.json';
const ENV_PROPERTIES = 'env_properties.json';
const UUID_PREFIX = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})-/i;

export function apisFromArtifacts(zip: Uint8Array, options: ArtifactOptions, source: string): ArtifactsResult {
  const root = unzipRoot(zip, source, options.maxBytes ?? 1024 ** 3);
  const deploymentsName = rootName(root, DEPLOYMENTS);
  if (!deploymentsName) throw new ProjectError(source, DEPLOYMENTS, 'missing from the runtime-artifacts zip');
  const listed = readDeployments(root.get(deploymentsName)!, source, deploymentsName, options.defaultVhost);

  const errors: ProjectError[] = [];
  const warnings: ProjectError[] = [];
  const deployments: ArtifactDeployment[] = [];
  const byId = new Map<string, { api: Api; from: ArtifactDeployment[] }>();
  const wanted = new Set(options.labels);

  for (const entry of listed) {
    const d: ArtifactDeployment = { ...entry, served: [] };
    deployments.push(d);
    const ours = uniqueByName(entry.environments.filter((e) => wanted.size === 0 || wanted.has(e.name)));
    if (!ours.length) continue;

    const file = rootName(root, entry.apiFile);
    if (!file) {
      errors.push(new ProjectError(entry.apiFile, '', `listed in ${deploymentsName} but missing from the runtime-artifacts zip`));
      continue;
    }
    let parsed: Api;
    try {
      parsed = parseProject(withoutEnvironments(readProjectZip(root.get(file)!, entry.apiFile)), { ...options, defaultLabels: ours.map((e) => e.name) }, warnings);
    } catch (err) {
      errors.push(err instanceof ProjectError ? err : new ProjectError(entry.apiFile, '', (err as Error).message));
      continue;
    } finally {
      root.delete(file); // let the inner zip go before the next one is unpacked
    }
    d.apiId = parsed.id;

    const vhost = chooseVhost(ours);
    d.served = ours.filter((e) => e.vhost === vhost);
    for (const e of ours.filter((o) => o.vhost !== vhost)) {
      warnings.push(new ProjectError(entry.apiFile, deploymentsName, `environment ${e.name} (vhost ${e.vhost}) not served: an API has one vhost here, and ${d.served.map((s) => s.name).join(', ')} use ${vhost}`));
    }
    const api: Api = {
      ...parsed,
      labels: d.served.map((e) => e.name),
      vhost,
      organization: entry.organizationId || parsed.organization,
    };

    const held = byId.get(api.id);
    if (!held) {
      byId.set(api.id, { api, from: [d] });
      d.api = api;
      continue;
    }
    if (held.api.revision === api.revision && held.api.vhost === api.vhost) {
      const labels = [...held.api.labels, ...api.labels.filter((l) => !held.api.labels.includes(l))];
      held.api = { ...held.api, labels };
      held.from.push(d);
      for (const f of held.from) f.api = held.api;
      continue;
    }
    const [winner, loser] = compareRevisions(api.revision, held.api.revision) > 0 ? [api, held.api] : [held.api, api];
    const dropped = loser.labels.filter((l) => !winner.labels.includes(l));
    const what = (a: Api): string => `revision ${a.revision ?? '?'} on ${a.vhost}`;
    warnings.push(
      new ProjectError(entry.apiFile, deploymentsName, `API ${api.id} is listed twice (${what(held.api)}, ${what(api)}); serving ${what(winner)} on ${winner.labels.join(', ')}${dropped.length ? `, not on ${dropped.join(', ')}` : ''}`),
    );
    if (winner === api) {
      for (const f of held.from) {
        f.api = undefined;
        f.served = [];
      }
      byId.set(api.id, { api, from: [d] });
      d.api = api;
    } else d.served = [];
  }

  const envName = rootName(root, ENV_PROPERTIES);
  if (envName) warnings.push(...envPropertiesWarnings(root.get(envName)!, [...byId.values()].map((h) => h.api), source, envName));

  return { apis: [...byId.values()].map((h) => h.api), errors, warnings, deployments };
}

/**
 * The deploy ack's entries for what was served: one per API and revision. Send it only for APIs
 * whose xDS update succeeded (filter the result's apis first when some failed).
 */
export function deployAcks(result: Pick<ArtifactsResult, 'deployments'>, served?: ReadonlySet<string>): DeployedRevision[] {
  const acks = new Map<string, DeployedRevision>();
  for (const d of result.deployments) {
    const api = d.api;
    if (!api || api.revision === undefined || !d.served.length || (served && !served.has(api.id))) continue;
    const key = `${api.id}\n${api.revision}`;
    const ack = acks.get(key) ?? { apiId: api.id, revisionId: /^\d+$/.test(api.revision) ? Number(api.revision) : api.revision, envInfo: [] };
    for (const e of d.served) if (!ack.envInfo.some((x) => x.name === e.name)) ack.envInfo.push({ name: e.name, vhost: e.vhost });
    acks.set(key, ack);
  }
  return [...acks.values()];
}

/** Root entries by name (inner zips stay packed). Throws when the zip is unreadable. */
function unzipRoot(zip: Uint8Array, source: string, maxBytes: number): Map<string, Uint8Array> {
  // Only root files matter; skipping the rest also skips their decompression.
  const entries = readZip(zip, source, { maxBytes, keep: (name) => !rootless(name).includes('/') && rootless(name) !== '' });
  return new Map([...entries].map(([name, data]) => [rootless(name), data]));
}

const rootless = (name: string): string => name.replace(/\\/g, '/').replace(/^\/+/, '');

/** A root entry by name: exact first, then case-insensitively (as Choreo Connect matches). */
function rootName(root: Map<string, Uint8Array>, name: string): string | undefined {
  if (root.has(name)) return name;
  const lower = name.toLowerCase();
  return [...root.keys()].sort().find((k) => k.toLowerCase() === lower);
}

type Listed = Omit<ArtifactDeployment, 'served' | 'api'>;

/** deployments.json, read by the shared decoder; an environment without a vhost gets the default one. */
function readDeployments(bytes: Uint8Array, source: string, file: string, defaultVhost: string): Listed[] {
  let list: Deployment[];
  try {
    list = restDeployments(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (err) {
    throw new ProjectError(source, file, (err as Error).message);
  }
  return list.map((d): Listed => {
    const uuid = UUID_PREFIX.exec(d.apiFile)?.[1];
    return {
      apiFile: d.apiFile,
      ...(uuid && { apiId: uuid.toLowerCase() }),
      environments: d.environments.map((e) => ({ name: e.name, vhost: e.vhost || defaultVhost })),
      organizationId: d.organization,
    };
  });
}

/** deployments.json decides labels and vhost here: the project's own list must not fail the parse. */
function withoutEnvironments(project: ProjectFiles): ProjectFiles {
  const files = new Map([...project.files].filter(([name]) => !/(^|\/)deployment_environments\.ya?ml$/i.test(name)));
  return { ...project, files };
}

function uniqueByName(envs: ArtifactEnvironment[]): ArtifactEnvironment[] {
  const seen = new Set<string>();
  return envs.filter((e) => !seen.has(e.name) && seen.add(e.name));
}

/** The vhost most of our environments use; the first listed on a tie. */
function chooseVhost(envs: ArtifactEnvironment[]): string {
  const count = new Map<string, number>();
  for (const e of envs) count.set(e.vhost, (count.get(e.vhost) ?? 0) + 1);
  let best = envs[0].vhost;
  for (const [vhost, n] of count) if (n > count.get(best)!) best = vhost;
  return best;
}

/** Numeric when both are integers; undefined is lowest. */
function compareRevisions(a?: string, b?: string): number {
  if (a === b) return 0;
  if (a === undefined) return -1;
  if (b === undefined) return 1;
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) return Number(a) - Number(b);
  return a < b ? -1 : 1;
}

/**
 * env_properties.json (`{apis: {<apiUUID>: {<env>: {configs: {productionEndpoint, sandboxEndpoint}}}}}`)
 * overrides endpoints per environment. Its shape is unconfirmed and our Api has one endpoint set
 * for all labels, so it is not applied; served APIs it would change get a warning.
 */
function envPropertiesWarnings(bytes: Uint8Array, apis: Api[], source: string, file: string): ProjectError[] {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return [new ProjectError(source, file, 'not JSON; ignored')];
  }
  const byApi = isRecord(json) ? (isRecord(json.apis) ? json.apis : isRecord(json.data) && isRecord(json.data.apis) ? json.data.apis : undefined) : undefined;
  if (!byApi) return [];
  const out: ProjectError[] = [];
  for (const api of apis) {
    const envs = byApi[api.id];
    if (!isRecord(envs)) continue;
    const names = api.labels.filter((l) => {
      const env = envs[l];
      return isRecord(env) && isRecord(env.configs) && Object.values(env.configs).some((v) => v !== null && v !== undefined && v !== '');
    });
    if (names.length) out.push(new ProjectError(source, file, `environment-specific endpoints of API ${api.id} on ${names.join(', ')} are not applied (the API's own endpoints are used)`));
  }
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
