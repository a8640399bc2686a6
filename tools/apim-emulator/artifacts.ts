/**
 * Runtime artifacts as APIM's `MicroGatewayArtifactGenerator` ships them: a root zip with
 * `deployments.json` and one inner zip `<apiUUID>-<revisionUUID>.zip` per deployed revision, each an
 * API project export (`<Name>-<version>/api.yaml`, `Definitions/swagger.yaml`, `deployment_environments.yaml`).
 */
import { zipSync, strToU8, type Zippable } from 'fflate';
import YAML from 'yaml';
import type { ApiDefinition, ApiRecord, Deployment, Operation, Revision } from './model';

export const ARTIFACT_VERSION = 'v4.2.0';
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

export function parseDefinition(openapi: string | Record<string, unknown>): Record<string, unknown> {
  if (typeof openapi !== 'string') return openapi;
  const doc: unknown = YAML.parse(openapi);
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new Error('openapi: not a YAML/JSON object');
  return doc as Record<string, unknown>;
}

export function definitionText(openapi: string | Record<string, unknown>): string {
  return typeof openapi === 'string' ? openapi : YAML.stringify(openapi);
}

function scopesOf(security: unknown): string[] | undefined {
  if (!Array.isArray(security)) return undefined;
  const scopes = new Set<string>();
  for (const req of security) {
    if (req && typeof req === 'object') {
      for (const v of Object.values(req as Record<string, unknown>)) {
        if (Array.isArray(v)) for (const s of v) if (typeof s === 'string') scopes.add(s);
      }
    }
  }
  return [...scopes];
}

/** api.yaml operations as APIM derives them from the definition (x-auth-type, x-throttling-tier, security). */
export function operationsFromDefinition(doc: Record<string, unknown>): Operation[] {
  const ops: Operation[] = [];
  const paths = (doc['paths'] ?? {}) as Record<string, Record<string, unknown>>;
  const rootSecurity = doc['security'];
  for (const [target, item] of Object.entries(paths)) {
    if (!item || typeof item !== 'object') continue;
    for (const m of METHODS) {
      const op = item[m] as Record<string, unknown> | undefined;
      if (!op || typeof op !== 'object') continue;
      const security = op['security'] ?? rootSecurity;
      const explicitNone = Array.isArray(op['security']) && (op['security'] as unknown[]).length === 0;
      const authType =
        typeof op['x-auth-type'] === 'string' ? (op['x-auth-type'] as string) : explicitNone ? 'None' : 'Application & Application User';
      const throttlingPolicy = typeof op['x-throttling-tier'] === 'string' ? (op['x-throttling-tier'] as string) : 'Unlimited';
      ops.push({ target, verb: m.toUpperCase(), authType, throttlingPolicy, scopes: scopesOf(security) ?? [] });
    }
  }
  return ops;
}

export function versionedContext(def: ApiDefinition): string {
  return `${def.context}/${def.version}`;
}

function endpointConfig(def: ApiDefinition): Record<string, unknown> {
  if (def.endpointConfig) return def.endpointConfig;
  const cfg: Record<string, unknown> = { endpoint_type: 'http' };
  if (def.endpoints.production) cfg['production_endpoints'] = { url: def.endpoints.production };
  if (def.endpoints.sandbox) cfg['sandbox_endpoints'] = { url: def.endpoints.sandbox };
  return cfg;
}

/** `api.yaml` (`{type:'api', version, data}`) of one revision; status and default version are read at export time. */
export function apiYamlDoc(api: ApiRecord, rev: Revision, organizationId: string): Record<string, unknown> {
  const d = rev.snapshot;
  const data: Record<string, unknown> = {
    id: api.uuid,
    name: d.name,
    ...(d.description !== undefined ? { description: d.description } : {}),
    context: d.context,
    version: d.version,
    provider: d.provider,
    lifeCycleStatus: api.lifeCycleStatus,
    isDefaultVersion: api.isDefaultVersion,
    isRevision: true,
    revisionedApiId: api.uuid,
    revisionId: rev.revisionId,
    organizationId,
    type: d.type,
    transport: [...d.transport],
    policies: [...d.policies],
    ...(d.apiThrottlingPolicy !== undefined ? { apiThrottlingPolicy: d.apiThrottlingPolicy } : {}),
    authorizationHeader: d.authorizationHeader,
    securityScheme: [...d.securityScheme],
    visibility: d.visibility,
    ...(d.corsConfiguration !== undefined ? { corsConfiguration: d.corsConfiguration } : {}),
    endpointImplementationType: 'ENDPOINT',
    endpointConfig: endpointConfig(d),
    operations: d.operations.map((o) => ({
      id: '',
      target: o.target,
      verb: o.verb,
      authType: o.authType,
      throttlingPolicy: o.throttlingPolicy,
      scopes: [...o.scopes],
      usedProductIds: [],
      operationPolicies: { request: [], response: [], fault: [] },
    })),
    keyManagers: ['all'],
    ...(d.extra ?? {}),
  };
  return { type: 'api', version: ARTIFACT_VERSION, data };
}

export interface ArtifactOptions {
  format: 'yaml' | 'json';
}

/** One inner zip: an API project for one revision, with the environments it is deployed to. */
export function innerZip(api: ApiRecord, rev: Revision, deployments: Deployment[], opts: ArtifactOptions): Uint8Array {
  const d = rev.snapshot;
  const dir = `${d.name}-${d.version}`;
  const mtime = new Date(rev.createdAt);
  const apiDoc = apiYamlDoc(api, rev, api.tenant);
  const envDoc = {
    type: 'deployment_environments',
    version: ARTIFACT_VERSION,
    data: deployments.map((dep) => ({ displayOnDevportal: true, deploymentEnvironment: dep.label, deploymentVhost: dep.vhost })),
  };
  const files: Zippable = {};
  if (opts.format === 'json') {
    files[`${dir}/api.json`] = [strToU8(JSON.stringify(apiDoc, null, 2)), { mtime }];
    files[`${dir}/Definitions/swagger.json`] = [strToU8(JSON.stringify(parseDefinition(d.openapi), null, 2)), { mtime }];
  } else {
    files[`${dir}/api.yaml`] = [strToU8(YAML.stringify(apiDoc)), { mtime }];
    files[`${dir}/Definitions/swagger.yaml`] = [strToU8(definitionText(d.openapi)), { mtime }];
  }
  // Only the .yaml name is read by Choreo Connect (and only in standalone mode).
  files[`${dir}/deployment_environments.yaml`] = [strToU8(YAML.stringify(envDoc)), { mtime }];
  return zipSync(files, { level: 6 });
}

export interface ArtifactEntry {
  api: ApiRecord;
  revision: Revision;
  deployments: Deployment[];
}

/** The root zip (`apis.zip`): deployments.json plus the inner zips, in deployments.json order. */
export function rootZip(entries: ArtifactEntry[], opts: ArtifactOptions): Uint8Array {
  const deployments = entries.map((e) => ({
    apiFile: `${e.api.uuid}-${e.revision.revisionUUID}.zip`,
    environments: e.deployments.map((d) => ({ name: d.label, vhost: d.vhost })),
    organizationId: e.api.tenant,
  }));
  const files: Zippable = {
    'deployments.json': strToU8(JSON.stringify({ type: 'deployments', version: ARTIFACT_VERSION, data: { deployments } }, null, 2)),
  };
  for (const e of entries) {
    files[`${e.api.uuid}-${e.revision.revisionUUID}.zip`] = [innerZip(e.api, e.revision, e.deployments, opts), { level: 0 }];
  }
  return zipSync(files, { level: 6 });
}
