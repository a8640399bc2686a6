/**
 * APIM's Internal Data REST API (`/internal/data/v1/...`) over the emulator's tables, with APIM's
 * response shapes (samples 11-14): `{count, list, pagination:null}` wrappers (Jackson keeps nulls),
 * bare arrays for keymanagers/revokedjwt/keyTemplates, zips for runtime-artifacts.
 */
import * as http from 'node:http';
import type { ArtifactEntry } from './artifacts';
import { rootZip, versionedContext } from './artifacts';
import type { ApiRecord, Deployment, Limit, PolicyRecord, Revision } from './model';
import type { EmulatorState } from './state';

export const BASE_PATH = '/internal/data/v1/';

export interface RestRequestRecord {
  seq: number;
  method: string;
  /** Path after /internal/data/v1/, e.g. `runtime-artifacts`. */
  endpoint: string;
  query: Record<string, string>;
  /** Raw request target (path and query as sent). */
  url: string;
  status: number;
  authorized: boolean;
  at: number;
  body?: unknown;
}

export interface RestFault {
  /** HTTP status to answer with (e.g. 500, 503, 401). */
  status: number;
  /** Calls left to fail; Infinity = until cleared. */
  remaining: number;
  /** Only calls whose endpoint equals this string / matches this regex. */
  match?: string | RegExp;
}

export interface DeployAck {
  apiId: string;
  revisionId: number;
  envInfo: { name: string; vhost: string }[];
  at: number;
}

export interface UndeployAck {
  apiUUID: string;
  revisionUUID: string;
  environment: string;
  at: number;
}

export interface RestContext {
  state: EmulatorState;
  username: string;
  password: string;
  tenantDomain: string;
  tenantId: number;
  artifactFormat: 'yaml' | 'json';
  faults: RestFault[];
  delay: { ms: number; match?: string | RegExp };
  requests: RestRequestRecord[];
  deployAcks: DeployAck[];
  undeployAcks: UndeployAck[];
}

class HttpError extends Error {
  constructor(readonly status: number, readonly body: unknown) {
    super(`HTTP ${status}`);
  }
}

export function errorBody(code: number, message: string, description = message): Record<string, unknown> {
  return { code, message, description, moreInfo: '', error: [] };
}

const STATUS_BODIES: Record<number, Record<string, unknown>> = {
  401: errorBody(900901, 'Invalid Credentials', 'Invalid Credentials. Make sure you have provided the correct security credentials'),
  500: errorBody(500, 'Internal server error', 'The server encountered an internal error. Please contact administrator.'),
  502: errorBody(502, 'Bad Gateway'),
  503: errorBody(503, 'Service Unavailable'),
  504: errorBody(504, 'Gateway Timeout'),
};

function matches(m: string | RegExp | undefined, endpoint: string): boolean {
  if (m === undefined) return true;
  return typeof m === 'string' ? m === endpoint : m.test(endpoint);
}

function listOf<T>(list: T[]): { count: number; list: T[]; pagination: null } {
  return { count: list.length, list, pagination: null };
}

function defaultLimit(l: Limit): Record<string, unknown> {
  return {
    quotaType: l.quotaType,
    requestCount: l.quotaType === 'requestCount' ? { timeUnit: l.timeUnit, unitTime: l.unitTime, requestCount: l.requestCount ?? 0 } : null,
    bandwidth:
      l.quotaType === 'bandwidthVolume'
        ? { timeUnit: l.timeUnit, unitTime: l.unitTime, dataAmount: l.dataAmount ?? 0, dataUnit: l.dataUnit ?? 'MB' }
        : null,
    eventCount: l.quotaType === 'eventCount' ? { timeUnit: l.timeUnit, unitTime: l.unitTime, eventCount: l.eventCount ?? 0 } : null,
  };
}

function policyCommon(ctx: RestContext, p: PolicyRecord): Record<string, unknown> {
  return { id: p.id, tenantId: ctx.tenantId, tenantDomain: ctx.tenantDomain, name: p.name, quotaType: p.limit.quotaType };
}

/** The revision deployed on `label`, or undefined. */
function deployedRevision(api: ApiRecord, label: string): Revision | undefined {
  const d = api.deployments.get(label);
  return d ? api.revisions.find((r) => r.revisionUUID === d.revisionUUID) : undefined;
}

function apiView(api: ApiRecord, label: string | undefined): Record<string, unknown> {
  const rev = label ? deployedRevision(api, label) : undefined;
  const def = rev ? rev.snapshot : api.def;
  return {
    uuid: api.uuid,
    apiId: api.apiId,
    provider: def.provider,
    name: def.name,
    version: def.version,
    context: versionedContext(def),
    policy: def.apiThrottlingPolicy ?? null,
    apiType: def.type,
    status: api.lifeCycleStatus,
    isDefaultVersion: api.isDefaultVersion,
    organization: api.tenant,
    urlMappings: def.operations.map((o) => ({
      authScheme: o.authType === 'None' ? 'None' : 'Any',
      throttlingPolicy: o.throttlingPolicy,
      httpMethod: o.verb,
      urlPattern: o.target,
      scopes: [...o.scopes],
      operationPolicies: [],
    })),
    apiPolicies: [],
  };
}

function apis(ctx: RestContext, q: Record<string, string>): unknown {
  const label = q['gatewayLabel'];
  let list = [...ctx.state.apis.values()];
  if (label !== undefined) list = list.filter((a) => a.deployments.has(label));
  if (q['apiId'] !== undefined) list = list.filter((a) => a.uuid === q['apiId'] || String(a.apiId) === q['apiId']);
  if (q['context'] !== undefined && q['version'] !== undefined) {
    const ctxParam = q['context'];
    const ver = q['version'];
    list = list.filter((a) => a.def.version === ver && (versionedContext(a.def) === ctxParam || a.def.context === ctxParam));
  }
  return listOf(list.map((a) => apiView(a, label)));
}

/** Entries for runtime-artifacts: per API, one per deployed revision, with the requested labels it runs on. */
export function artifactEntries(ctx: RestContext, labels: string[] | undefined, apiIds: string[] | undefined): ArtifactEntry[] {
  const out: ArtifactEntry[] = [];
  for (const api of ctx.state.apis.values()) {
    if (apiIds && !apiIds.includes(api.uuid)) continue;
    const byRevision = new Map<string, Deployment[]>();
    for (const dep of api.deployments.values()) {
      if (labels && !labels.includes(dep.label)) continue;
      const arr = byRevision.get(dep.revisionUUID) ?? [];
      arr.push(dep);
      byRevision.set(dep.revisionUUID, arr);
    }
    for (const [revUUID, deps] of byRevision) {
      const revision = api.revisions.find((r) => r.revisionUUID === revUUID);
      if (revision) out.push({ api, revision, deployments: deps });
    }
  }
  return out;
}

function decodeLabels(param: string | undefined): string[] | undefined {
  if (param === undefined) return undefined;
  return Buffer.from(param, 'base64').toString('utf8').split('|');
}

const NO_ARTIFACTS = errorBody(900910, 'No Api artifacts found for given criteria');

function artifactsZip(ctx: RestContext, labels: string[] | undefined, apiIds: string[] | undefined, type: string | undefined) {
  if (type !== 'Envoy') {
    throw new HttpError(400, errorBody(900970, 'Gateway type not found', `Gateway type ${type ?? ''} not found. Supported types: [Envoy]`));
  }
  const entries = artifactEntries(ctx, labels, apiIds);
  if (entries.length === 0) throw new HttpError(404, NO_ARTIFACTS);
  return Buffer.from(rootZip(entries, { format: ctx.artifactFormat }));
}

function block(ctx: RestContext): unknown {
  const out: Record<string, unknown[]> = { api: [], application: [], ip: [], user: [], custom: [], subscription: [] };
  for (const b of ctx.state.blockingConditions.values()) {
    if (!b.enabled) continue;
    if (b.type === 'IP' || b.type === 'IPRANGE') {
      const v = JSON.parse(b.value) as Record<string, unknown>;
      out['ip']!.push({
        type: b.type, fixedIp: v['fixedIp'] ?? null, startingIp: v['startingIp'] ?? null, endingIp: v['endingIp'] ?? null,
        invert: v['invert'] === true, tenantDomain: ctx.tenantDomain, id: b.id,
      });
    } else {
      out[b.type.toLowerCase()]!.push(b.value);
    }
  }
  return out;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, errorBody(400, 'Bad Request', 'Malformed JSON body'));
  }
}

function deployedRevisions(ctx: RestContext, body: unknown): void {
  if (!Array.isArray(body)) throw new HttpError(400, errorBody(400, 'Bad Request', 'Expected an array of deployed revisions'));
  const acks: DeployAck[] = [];
  for (const item of body as Record<string, unknown>[]) {
    const api = ctx.state.apis.get(String(item?.['apiId']));
    const revisionId = item?.['revisionId'];
    const envInfo = item?.['envInfo'];
    if (!api || typeof revisionId !== 'number' || !api.revisions.some((r) => r.revisionId === revisionId)) {
      throw new HttpError(400, errorBody(400, 'Bad Request', `Unknown API or revision: ${JSON.stringify(item)}`));
    }
    if (!Array.isArray(envInfo)) throw new HttpError(400, errorBody(400, 'Bad Request', 'envInfo must be an array'));
    for (const e of envInfo as Record<string, unknown>[]) {
      if (typeof e?.['name'] !== 'string' || !ctx.state.environments.has(e['name'])) {
        throw new HttpError(400, errorBody(400, 'Bad Request', `Unknown environment ${String(e?.['name'])}`));
      }
      if (typeof e['vhost'] !== 'string' || e['vhost'] === '') throw new HttpError(400, errorBody(400, 'Bad Request', 'vhost is empty'));
    }
    acks.push({
      apiId: api.uuid, revisionId,
      envInfo: (envInfo as { name: string; vhost: string }[]).map((e) => ({ name: e.name, vhost: e.vhost })), at: Date.now(),
    });
  }
  ctx.deployAcks.push(...acks);
}

function undeployedRevision(ctx: RestContext, body: unknown): void {
  const b = body as Record<string, unknown> | null;
  if (!b || typeof b['apiUUID'] !== 'string' || typeof b['revisionUUID'] !== 'string' || typeof b['environment'] !== 'string') {
    throw new HttpError(400, errorBody(400, 'Bad Request', 'apiUUID, revisionUUID and environment are required'));
  }
  ctx.undeployAcks.push({ apiUUID: b['apiUUID'], revisionUUID: b['revisionUUID'], environment: b['environment'], at: Date.now() });
}

type Result = { status: number; json?: unknown; zip?: Buffer };

async function route(ctx: RestContext, method: string, endpoint: string, q: Record<string, string>, rawBody: string): Promise<Result> {
  const s = ctx.state;
  const ok = (json: unknown): Result => ({ status: 200, json });
  const key = `${method} ${endpoint}`;
  switch (key) {
    case 'GET subscriptions': {
      let list = [...s.subscriptions.values()].map((sub) => {
        const api = s.apis.get(sub.apiUUID);
        const app = s.applications.get(sub.applicationUUID);
        return {
          subscriptionUUID: sub.subscriptionUUID, subscriptionId: sub.subscriptionId, policyId: sub.policyId,
          apiUUID: sub.apiUUID, apiId: api?.apiId ?? 0, applicationUUID: sub.applicationUUID, appId: app?.id ?? 0,
          subscriptionState: sub.subscriptionState,
        };
      });
      if (q['apiId'] !== undefined) list = list.filter((x) => String(x.apiId) === q['apiId']);
      if (q['appId'] !== undefined) list = list.filter((x) => String(x.appId) === q['appId']);
      if (q['apiUUID'] !== undefined) list = list.filter((x) => x.apiUUID === q['apiUUID']);
      if (q['applicationUUID'] !== undefined) list = list.filter((x) => x.applicationUUID === q['applicationUUID']);
      return ok(listOf(list));
    }
    case 'GET applications':
      return ok(listOf([...s.applications.values()].map((a) => ({
        uuid: a.uuid, id: a.id, name: a.name, subName: a.owner, policy: a.policy, tokenType: a.tokenType,
        groupIds: a.groupId ? a.groupId.split(',').map((g) => ({ groupId: g, applicationId: a.id })) : [],
        attributes: { ...a.attributes }, organization: a.tenant,
      }))));
    case 'GET application-key-mappings': {
      let list = s.keyMappings.map((k) => ({ ...k }));
      if (q['consumerKey'] !== undefined) list = list.filter((k) => k.consumerKey === q['consumerKey']);
      if (q['keymanager'] !== undefined) list = list.filter((k) => k.keyManager === q['keymanager']);
      return ok(listOf(list));
    }
    case 'GET application-policies':
      return ok(listOf([...s.policies.application.values()].map((p) => ({ ...policyCommon(ctx, p), defaultLimit: defaultLimit(p.limit) }))));
    case 'GET subscription-policies': {
      let list = [...s.policies.subscription.values()];
      if (q['policyName'] !== undefined) list = list.filter((p) => p.name === q['policyName']);
      return ok(listOf(list.map((p) => ({
        ...policyCommon(ctx, p), graphQLMaxComplexity: p.graphQLMaxComplexity, graphQLMaxDepth: p.graphQLMaxDepth,
        rateLimitCount: p.rateLimitCount, rateLimitTimeUnit: p.rateLimitTimeUnit, stopOnQuotaReach: p.stopOnQuotaReach,
        defaultLimit: defaultLimit(p.limit),
      }))));
    }
    case 'GET api-policies': {
      let list = [...s.policies.api.values()];
      if (q['policyName'] !== undefined) list = list.filter((p) => p.name === q['policyName']);
      return ok(listOf(list.map((p) => ({
        ...policyCommon(ctx, p), applicableLevel: p.applicableLevel, defaultLimit: defaultLimit(p.limit),
        conditionGroups: p.conditionGroupIds.map((id) => ({ policyId: p.id, quotaType: p.limit.quotaType, conditionGroupId: id, condition: [], defaultLimit: defaultLimit(p.limit) })),
      }))));
    }
    case 'GET apis':
      return ok(apis(ctx, q));
    case 'GET runtime-artifacts': {
      const ids = q['apiId'] !== undefined ? [q['apiId']] : undefined;
      return { status: 200, zip: artifactsZip(ctx, decodeLabels(q['gatewayLabel']), ids, q['type']) };
    }
    case 'POST retrieve-api-artifacts': {
      const body = parseJson(rawBody) as { uuids?: unknown };
      const uuids = Array.isArray(body?.uuids) ? body.uuids.map(String) : [];
      return { status: 200, zip: artifactsZip(ctx, decodeLabels(q['gatewayLabel']), uuids, q['type']) };
    }
    case 'GET keymanagers':
      return ok([...s.keyManagers.values()].map((k) => ({
        name: k.name, type: k.type, enabled: k.enabled, tenantDomain: k.tenant, tokenType: k.tokenType,
        configuration: { ...k.configuration },
      })));
    case 'GET revokedjwt':
      return ok(s.revokedTokens.map((t) => ({ jwt_signature: t.jti, expiry_time: t.expiryTime })));
    case 'GET keyTemplates':
      return ok([...s.keyTemplates]);
    case 'GET block':
      return ok(block(ctx));
    case 'PATCH apis/deployed-revisions':
      deployedRevisions(ctx, parseJson(rawBody));
      return { status: 200 };
    case 'POST apis/undeployed-revision':
      undeployedRevision(ctx, parseJson(rawBody));
      return { status: 200 };
    default:
      throw new HttpError(404, errorBody(404, 'Not Found', `No resource ${method} ${BASE_PATH}${endpoint}`));
  }
}

function authorized(ctx: RestContext, header: string | undefined): boolean {
  if (!header || !header.startsWith('Basic ')) return false;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  return decoded === `${ctx.username}:${ctx.password}`;
}

function send(res: http.ServerResponse, r: Result): void {
  if (r.zip) {
    res.writeHead(r.status, {
      'Content-Type': 'application/zip',
      'Content-Disposition': 'attachment; filename=apis.zip',
      'Content-Length': r.zip.length,
    });
    res.end(r.zip);
  } else if (r.json !== undefined) {
    const text = JSON.stringify(r.json);
    res.writeHead(r.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  } else {
    res.writeHead(r.status, { 'Content-Length': 0 });
    res.end();
  }
}

export function createRestHandler(ctx: RestContext): http.RequestListener {
  let seq = 0;
  return (req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://emulator');
      const method = (req.method ?? 'GET').toUpperCase();
      const endpoint = url.pathname.startsWith(BASE_PATH) ? url.pathname.slice(BASE_PATH.length).replace(/\/+$/, '') : url.pathname;
      const query: Record<string, string> = {};
      for (const [k, v] of url.searchParams) query[k] = v;
      const rawBody = await readBody(req);
      const ok = authorized(ctx, req.headers.authorization);
      const rec: RestRequestRecord = { seq: ++seq, method, endpoint, query, url: req.url ?? '', status: 0, authorized: ok, at: Date.now() };
      if (rawBody) {
        try {
          rec.body = JSON.parse(rawBody);
        } catch {
          rec.body = rawBody;
        }
      }
      ctx.requests.push(rec);
      let result: Result;
      try {
        if (ctx.delay.ms > 0 && matches(ctx.delay.match, endpoint)) await new Promise((r) => setTimeout(r, ctx.delay.ms));
        const fault = ctx.faults.find((f) => f.remaining > 0 && matches(f.match, endpoint));
        if (fault) {
          fault.remaining--;
          throw new HttpError(fault.status, STATUS_BODIES[fault.status] ?? errorBody(fault.status, http.STATUS_CODES[fault.status] ?? 'Error'));
        }
        if (!url.pathname.startsWith(BASE_PATH)) throw new HttpError(404, errorBody(404, 'Not Found'));
        if (!ok) throw new HttpError(401, STATUS_BODIES[401]);
        result = await route(ctx, method, endpoint, query, rawBody);
      } catch (err) {
        result = err instanceof HttpError ? { status: err.status, json: err.body } : { status: 500, json: STATUS_BODIES[500] };
      }
      rec.status = result.status;
      if (result.status === 401) res.setHeader('WWW-Authenticate', 'Basic realm="WSO2 API Manager"');
      if (!res.destroyed) send(res, result);
    })();
  };
}
