/**
 * ApimEmulator: a test double for WSO2 API Manager's side of the Choreo Connect protocol.
 * Every state change updates the REST view and publishes the event APIM would publish, in APIM's
 * envelope and routing key. Independent of src/ on purpose (it must not share the adapter's bugs).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type * as amqp from 'amqplib';
import { operationsFromDefinition, parseDefinition, versionedContext } from './artifacts';
import * as ev from './events';
import type {
  ApiDefinition, ApiRecord, ApplicationRecord, BlockingRecord, BlockingType, KeyManagerRecord, KeyMappingRecord, Limit,
  Operation, PolicyKind, PolicyRecord, Revision, SubscriptionRecord,
} from './model';
import { EventPublisher, type PauseMode, type PublishedEvent } from './publisher';
import { createRestHandler, type DeployAck, type RestContext, type RestFault, type RestRequestRecord, type UndeployAck } from './rest';
import { EmulatorState, keyManagerKey } from './state';

export interface StartOptions {
  /** HTTP port; 0 (default) picks a free one. */
  port?: number;
  host?: string;
  /** Basic-auth credentials APIM accepts (controlPlane.username/password). */
  username: string;
  password: string;
  /** AMQP broker; `false` runs REST only (every event is recorded as 'dropped'). */
  amqpUrl?: string | false;
  exchange?: string;
  tenantDomain?: string;
  tenantId?: number;
  /** APIM's out-of-the-box policies and Resident Key Manager (default true). */
  seedDefaults?: boolean;
  /** Project files in revision zips: api.yaml + swagger.yaml (default) or api.json + swagger.json. */
  artifactFormat?: 'yaml' | 'json';
  /** keyManager `value`: APIM 4.0-4.2 (additionalProperties only, default) or the newer whole-DTO form. */
  keyManagerEventFormat?: '4.0' | 'newer';
  /** Blocking a subscription also publishes a SUBSCRIPTION blocking condition on throttleData (default true). */
  subscriptionBlockingEvents?: boolean;
  /** AMQP message properties per message (default: a Qpid JMS TextMessage's). */
  messageProperties?: (now: number) => amqp.Options.Publish;
  /** Event timestamps (default Date.now, made strictly increasing). */
  clock?: () => number;
  /** Printed steps (the CLI passes console.log). */
  log?: (line: string) => void;
}

export interface CreateApiInput {
  name: string;
  version: string;
  /** Unversioned (`/petstore`); a trailing `/<version>` is stripped. */
  context: string;
  openapi: string | Record<string, unknown>;
  endpoints: { production?: string; sandbox?: string };
  isDefaultVersion?: boolean;
  provider?: string;
  description?: string;
  type?: string;
  lifeCycleStatus?: string;
  /** Defaults: derived from the definition's paths (x-auth-type, x-throttling-tier, security scopes). */
  operations?: Operation[];
  securityScheme?: string[];
  apiThrottlingPolicy?: string;
  policies?: string[];
  corsConfiguration?: Record<string, unknown>;
  authorizationHeader?: string;
  transport?: string[];
  visibility?: string;
  endpointConfig?: Record<string, unknown>;
  /** Extra api.yaml `data` fields. */
  extra?: Record<string, unknown>;
  /** The owning tenant (see addTenant); default the emulator's own. */
  tenant?: string;
}

export interface ApplicationInput {
  name: string;
  owner: string;
  policy: string;
  attributes?: Record<string, string>;
  tokenType?: string;
  groupId?: string;
  /** The owning tenant (see addTenant); default the emulator's own. */
  tenant?: string;
}

export interface PolicyInput {
  type: PolicyKind;
  name: string;
  quotaType?: Limit['quotaType'];
  /** requestCount / dataAmount / eventCount, per quotaType. */
  limit?: number;
  timeUnit?: string;
  unitTime?: number;
  dataUnit?: string;
  rateLimitCount?: number;
  rateLimitTimeUnit?: string;
  stopOnQuotaReach?: boolean;
  subscriberCount?: number;
  graphQLMaxDepth?: number;
  graphQLMaxComplexity?: number;
  conditionGroupIds?: number[];
  applicableLevel?: string;
}

export interface KeyManagerInput {
  name: string;
  type?: string;
  enabled?: boolean;
  tokenType?: string;
  configuration?: Record<string, unknown>;
  /** The tenant it is configured in (see addTenant); default the emulator's own. */
  tenant?: string;
}

export type BlockingValue = string | { fixedIp: string; invert?: boolean } | { startingIp: string; endingIp: string; invert?: boolean };

export const RESIDENT_KM = 'Resident Key Manager';

function stripVersion(context: string, version: string): string {
  const c = context.startsWith('/') ? context : `/${context}`;
  return c.endsWith(`/${version}`) ? c.slice(0, -(version.length + 1)) : c;
}

function consumerKey(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(28)].map((b) => alphabet[b % alphabet.length]).join('');
}

export class ApimEmulator {
  readonly state = new EmulatorState();
  private readonly publisher = new EventPublisher();
  private server: http.Server | undefined;
  private opts: Required<Omit<StartOptions, 'port' | 'host' | 'messageProperties' | 'log'>> & Pick<StartOptions, 'messageProperties' | 'log'> = {
    username: 'admin', password: 'admin', amqpUrl: false, exchange: 'amq.topic', tenantDomain: 'carbon.super', tenantId: -1234,
    seedDefaults: true, artifactFormat: 'yaml', keyManagerEventFormat: '4.0', subscriptionBlockingEvents: true, clock: Date.now,
  };
  private readonly rest: RestContext;
  private lastTs = 0;
  private port = 0;
  private seeded = false;
  /** Tenants besides the emulator's own: domain → tenant id. */
  private readonly tenants = new Map<string, number>();

  constructor() {
    this.rest = {
      state: this.state, username: '', password: '', tenantDomain: 'carbon.super', tenantId: -1234, artifactFormat: 'yaml',
      faults: [], delay: { ms: 0 }, requests: [], deployAcks: [], undeployAcks: [],
    };
  }

  /** Creates and starts an emulator. */
  static async start(options: StartOptions): Promise<ApimEmulator> {
    const e = new ApimEmulator();
    await e.start(options);
    return e;
  }

  async start(options: StartOptions): Promise<void> {
    if (this.server) throw new Error('apim-emulator: already started');
    this.opts = {
      ...this.opts,
      ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
      amqpUrl: options.amqpUrl === undefined ? 'amqp://guest:guest@127.0.0.1:5672' : options.amqpUrl,
    } as typeof this.opts;
    Object.assign(this.rest, {
      username: this.opts.username, password: this.opts.password, tenantDomain: this.opts.tenantDomain,
      tenantId: this.opts.tenantId, artifactFormat: this.opts.artifactFormat,
    });
    if (this.opts.seedDefaults && !this.seeded) this.seedDefaults();
    if (this.opts.amqpUrl !== false) await this.publisher.connect(this.opts.amqpUrl, this.opts.exchange, this.opts.messageProperties);
    const server = http.createServer(createRestHandler(this.rest));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
      });
    } catch (err) {
      await this.publisher.close();
      throw err;
    }
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    await this.publisher.close();
  }

  /** serviceURL for the adapter, with the trailing slash CC needs. */
  get url(): string {
    if (!this.server) throw new Error('apim-emulator: not started');
    return `http://127.0.0.1:${this.port}/`;
  }

  // ---------------------------------------------------------------------------------- controls

  /** Published, dropped and held events, oldest first. */
  get events(): readonly PublishedEvent[] {
    return this.publisher.log;
  }

  /** REST calls received (including refused ones), oldest first. */
  get requests(): readonly RestRequestRecord[] {
    return this.rest.requests;
  }

  get deployAcks(): readonly DeployAck[] {
    return this.rest.deployAcks;
  }

  get undeployAcks(): readonly UndeployAck[] {
    return this.rest.undeployAcks;
  }

  clearLogs(): void {
    this.publisher.log.length = 0;
    this.rest.requests.length = 0;
    this.rest.deployAcks.length = 0;
    this.rest.undeployAcks.length = 0;
  }

  /** Stops publishing: 'drop' loses the events (a missed-events outage), 'hold' keeps them for `resumeEvents`. */
  pauseEvents(mode: PauseMode = 'drop'): void {
    this.publisher.pause(mode);
  }

  async resumeEvents(): Promise<void> {
    await this.publisher.resume();
  }

  /** The next `times` REST calls (optionally only to one endpoint, e.g. 'runtime-artifacts') answer `status`. */
  failRest(status: number, times = 1, match?: string | RegExp): void {
    const f: RestFault = { status, remaining: times };
    if (match !== undefined) f.match = match;
    this.rest.faults.push(f);
  }

  /** Every REST call (or those matching) waits `ms` first. 0 turns it off. */
  slowRest(ms: number, match?: string | RegExp): void {
    this.rest.delay = match === undefined ? { ms } : { ms, match };
  }

  clearRestFaults(): void {
    this.rest.faults.length = 0;
    this.rest.delay = { ms: 0 };
  }

  /** Publishes an arbitrary body (e.g. a malformed one) on a routing key. */
  async publishRaw(routingKey: string, body: ev.Envelope | string): Promise<PublishedEvent> {
    return this.publisher.publish(routingKey, body);
  }

  // ---------------------------------------------------------------------------------- events

  private now(): number {
    const t = Math.max(this.opts.clock(), this.lastTs + 1);
    this.lastTs = t;
    return t;
  }

  private base(type: string, tenant = this.opts.tenantDomain, tenantId = this.tenantId(tenant)): ev.BaseFields {
    return { eventId: randomUUID(), timeStamp: this.now(), type, tenantId, tenantDomain: tenant };
  }

  // ---------------------------------------------------------------------------------- tenants

  /**
   * Adds a tenant (an organization) to this APIM. APIs, applications and key managers created
   * with `tenant: domain` belong to it, and their events carry its domain and id. The REST API
   * answers for every tenant, each entry naming its own (as APIM does for `organizationId=ALL`).
   */
  addTenant(domain: string): void {
    if (domain === this.opts.tenantDomain || this.tenants.has(domain)) throw new Error(`apim-emulator: tenant ${domain} exists`);
    this.tenants.set(domain, this.tenants.size + 1);
    this.log(`addTenant ${domain}`);
  }

  /** The tenant a record is created in: the emulator's own unless one added is named. */
  private tenant(domain: string | undefined): string {
    if (domain === undefined || domain === this.opts.tenantDomain) return this.opts.tenantDomain;
    if (!this.tenants.has(domain)) throw new Error(`apim-emulator: no tenant ${domain} (addTenant first)`);
    return domain;
  }

  private tenantId(domain: string): number {
    return domain === this.opts.tenantDomain ? this.opts.tenantId : (this.tenants.get(domain) ?? 0);
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  private notify(event: Record<string, unknown>): Promise<PublishedEvent> {
    this.log(`  -> notification ${String(event['type'])}`);
    return this.publisher.publish(ev.TOPIC_NOTIFICATION, ev.notificationEnvelope(event));
  }

  private apiEvent(api: ApiRecord, type: string, extra: { securityScheme?: string; action?: string } = {}): Promise<PublishedEvent> {
    return this.notify(ev.apiEvent({
      apiName: api.def.name, apiId: api.apiId, uuid: api.uuid, apiVersion: api.def.version, apiContext: versionedContext(api.def),
      apiProvider: api.def.provider, apiType: api.def.type, apiStatus: api.lifeCycleStatus, ...extra, ...this.base(type, api.tenant),
    }));
  }

  private deployEvent(api: ApiRecord, type: 'DEPLOY_API_IN_GATEWAY' | 'REMOVE_API_FROM_GATEWAY', labels: string[]): Promise<PublishedEvent> {
    return this.notify(ev.deployEvent({
      apiId: api.apiId, uuid: api.uuid, name: api.def.name, version: api.def.version, provider: api.def.provider,
      apiType: api.def.type, gatewayLabels: labels, associatedApis: [], context: versionedContext(api.def),
      // DeployAPIInGatewayEvent never sets tenantId.
      ...this.base(type, api.tenant, 0),
    }));
  }

  // ---------------------------------------------------------------------------------- APIs

  async createApi(input: CreateApiInput): Promise<string> {
    const doc = parseDefinition(input.openapi);
    const def: ApiDefinition = {
      name: input.name,
      version: input.version,
      context: stripVersion(input.context, input.version),
      provider: input.provider ?? this.opts.username.replace(/@.*$/, ''),
      type: input.type ?? 'HTTP',
      openapi: input.openapi,
      endpoints: { ...input.endpoints },
      operations: input.operations ?? operationsFromDefinition(doc),
      securityScheme: input.securityScheme ?? ['oauth2', 'oauth_basic_auth_api_key_mandatory'],
      policies: input.policies ?? ['Unlimited'],
      authorizationHeader: input.authorizationHeader ?? 'Authorization',
      transport: input.transport ?? ['http', 'https'],
      visibility: input.visibility ?? 'PUBLIC',
    };
    if (input.description !== undefined) def.description = input.description;
    if (input.apiThrottlingPolicy !== undefined) def.apiThrottlingPolicy = input.apiThrottlingPolicy;
    if (input.corsConfiguration !== undefined) def.corsConfiguration = input.corsConfiguration;
    if (input.endpointConfig !== undefined) def.endpointConfig = input.endpointConfig;
    if (input.extra !== undefined) def.extra = input.extra;
    if (!input.endpoints.production && !input.endpoints.sandbox && !input.endpointConfig) {
      throw new Error('apim-emulator: an API needs a production or sandbox endpoint');
    }
    const tenant = this.tenant(input.tenant);
    for (const a of this.state.apis.values()) {
      if (a.tenant === tenant && a.def.name === def.name && a.def.version === def.version) throw new Error(`apim-emulator: API ${def.name} ${def.version} exists`);
    }
    const api: ApiRecord = {
      uuid: randomUUID(), tenant, apiId: this.state.nextId('api'), def, lifeCycleStatus: input.lifeCycleStatus ?? 'PUBLISHED',
      isDefaultVersion: false, revisions: [], deployments: new Map(),
    };
    this.state.apis.set(api.uuid, api);
    if (input.isDefaultVersion) this.takeDefault(api);
    this.log(`createApi ${def.name} ${def.version} (${api.uuid})`);
    await this.apiEvent(api, 'API_CREATE');
    return api.uuid;
  }

  /** Edits the working copy (deployed revisions keep what they had); publishes API_UPDATE. */
  async updateApi(uuid: string, patch: Partial<CreateApiInput>): Promise<void> {
    const api = this.state.api(uuid);
    const d = api.def;
    if (patch.openapi !== undefined) {
      d.openapi = patch.openapi;
      if (patch.operations === undefined) d.operations = operationsFromDefinition(parseDefinition(patch.openapi));
    }
    if (patch.endpoints !== undefined) d.endpoints = { ...patch.endpoints };
    if (patch.context !== undefined) d.context = stripVersion(patch.context, d.version);
    const simple = ['description', 'operations', 'securityScheme', 'apiThrottlingPolicy', 'policies', 'corsConfiguration',
      'authorizationHeader', 'transport', 'visibility', 'endpointConfig', 'extra'] as const;
    for (const k of simple) if (patch[k] !== undefined) (d as unknown as Record<string, unknown>)[k] = patch[k];
    this.log(`updateApi ${d.name} ${d.version}`);
    await this.apiEvent(api, 'API_UPDATE');
  }

  /** Undeploys from every label (REMOVE_API_FROM_GATEWAY), then API_DELETE. */
  async deleteApi(uuid: string): Promise<void> {
    const api = this.state.api(uuid);
    const labels = [...api.deployments.keys()];
    if (labels.length) await this.undeploy(uuid, labels);
    this.state.apis.delete(uuid);
    for (const s of [...this.state.subscriptions.values()]) if (s.apiUUID === uuid) this.state.subscriptions.delete(s.subscriptionUUID);
    this.log(`deleteApi ${api.def.name} ${api.def.version}`);
    await this.apiEvent(api, 'API_DELETE');
  }

  /**
   * Creates a revision of the working copy (or reuses `revisionId`) and deploys it to `labels`,
   * replacing what ran there; publishes DEPLOY_API_IN_GATEWAY with those gatewayLabels.
   */
  async deploy(uuid: string, labels: string[], vhost = 'localhost', opts: { revisionId?: number } = {}): Promise<Revision> {
    const api = this.state.api(uuid);
    if (labels.length === 0) throw new Error('apim-emulator: deploy needs at least one label');
    let rev: Revision | undefined;
    if (opts.revisionId !== undefined) {
      rev = api.revisions.find((r) => r.revisionId === opts.revisionId);
      if (!rev) throw new Error(`apim-emulator: API ${uuid} has no revision ${opts.revisionId}`);
    } else {
      const revisionId = api.revisions.reduce((m, r) => Math.max(m, r.revisionId), 0) + 1;
      rev = { revisionId, revisionUUID: randomUUID(), createdAt: this.opts.clock(), snapshot: structuredClone(api.def) };
      api.revisions.push(rev);
    }
    const at = this.opts.clock();
    for (const label of labels) {
      this.state.environments.add(label);
      api.deployments.set(label, { label, vhost, revisionUUID: rev.revisionUUID, deployedAt: at });
    }
    this.log(`deploy ${api.def.name} ${api.def.version} revision ${rev.revisionId} to ${labels.join(', ')} (vhost ${vhost})`);
    await this.deployEvent(api, 'DEPLOY_API_IN_GATEWAY', labels);
    return rev;
  }

  /** Removes the API from `labels` (all must be deployed); publishes REMOVE_API_FROM_GATEWAY. */
  async undeploy(uuid: string, labels: string[]): Promise<void> {
    const api = this.state.api(uuid);
    const missing = labels.filter((l) => !api.deployments.has(l));
    if (missing.length) throw new Error(`apim-emulator: API ${api.def.name} is not deployed on ${missing.join(', ')}`);
    for (const l of labels) api.deployments.delete(l);
    this.log(`undeploy ${api.def.name} ${api.def.version} from ${labels.join(', ')}`);
    await this.deployEvent(api, 'REMOVE_API_FROM_GATEWAY', labels);
  }

  /** Sets the lifecycle state; RETIRED first undeploys everywhere (as APIM does). Publishes API_LIFECYCLE_CHANGE. */
  async changeLifecycle(uuid: string, status: string): Promise<void> {
    const api = this.state.api(uuid);
    const target = status.toUpperCase();
    if (target === 'RETIRED' && api.deployments.size) await this.undeploy(uuid, [...api.deployments.keys()]);
    api.lifeCycleStatus = target;
    this.log(`changeLifecycle ${api.def.name} ${api.def.version} -> ${target}`);
    await this.apiEvent(api, 'API_LIFECYCLE_CHANGE', { securityScheme: api.def.securityScheme.join(',') });
  }

  private takeDefault(api: ApiRecord): ApiRecord | undefined {
    let previous: ApiRecord | undefined;
    for (const other of this.state.apis.values()) {
      if (other !== api && other.tenant === api.tenant && other.isDefaultVersion && other.def.name === api.def.name && other.def.provider === api.def.provider) {
        other.isDefaultVersion = false;
        previous = other;
      }
    }
    api.isDefaultVersion = true;
    return previous;
  }

  /** Makes this version the default; API_UPDATE action DEFAULT_VERSION for the previous default (if any), then for this one. */
  async setDefaultVersion(uuid: string): Promise<void> {
    const api = this.state.api(uuid);
    const previous = this.takeDefault(api);
    this.log(`setDefaultVersion ${api.def.name} ${api.def.version}${previous ? ` (was ${previous.def.version})` : ''}`);
    if (previous) await this.apiEvent(previous, 'API_UPDATE', { action: 'DEFAULT_VERSION' });
    await this.apiEvent(api, 'API_UPDATE', { action: 'DEFAULT_VERSION' });
  }

  // ---------------------------------------------------------------------------------- applications

  private applicationEvent(app: ApplicationRecord, type: string): Promise<PublishedEvent> {
    return this.notify(ev.applicationEvent({
      uuid: app.uuid, applicationId: app.id, applicationName: app.name, tokenType: app.tokenType,
      applicationPolicy: app.policy, groupId: app.groupId, attributes: app.attributes, subscriber: app.owner,
      ...this.base(type, app.tenant),
    }));
  }

  async createApplication(input: ApplicationInput): Promise<string> {
    const app: ApplicationRecord = {
      uuid: randomUUID(), tenant: this.tenant(input.tenant), id: this.state.nextId('application'), name: input.name, owner: input.owner, policy: input.policy,
      tokenType: input.tokenType ?? 'JWT', groupId: input.groupId ?? '', attributes: { ...(input.attributes ?? {}) },
    };
    this.state.applications.set(app.uuid, app);
    this.log(`createApplication ${app.name} (${app.uuid})`);
    await this.applicationEvent(app, 'APPLICATION_CREATE');
    return app.uuid;
  }

  async updateApplication(uuid: string, patch: Partial<ApplicationInput>): Promise<void> {
    const app = this.state.application(uuid);
    if (patch.name !== undefined) app.name = patch.name;
    if (patch.owner !== undefined) app.owner = patch.owner;
    if (patch.policy !== undefined) app.policy = patch.policy;
    if (patch.tokenType !== undefined) app.tokenType = patch.tokenType;
    if (patch.groupId !== undefined) app.groupId = patch.groupId;
    if (patch.attributes !== undefined) app.attributes = { ...patch.attributes };
    this.log(`updateApplication ${app.name}`);
    await this.applicationEvent(app, 'APPLICATION_UPDATE');
  }

  /** REMOVE_APPLICATION_KEYMAPPING per key, then APPLICATION_DELETE; its subscriptions go silently (as in APIM's DB). */
  async deleteApplication(uuid: string): Promise<void> {
    const app = this.state.application(uuid);
    for (const k of this.state.keyMappings.filter((m) => m.applicationUUID === uuid)) await this.removeKeys(uuid, k.keyType, k.keyManager);
    for (const s of [...this.state.subscriptions.values()]) if (s.applicationUUID === uuid) this.state.subscriptions.delete(s.subscriptionUUID);
    this.state.applications.delete(uuid);
    this.log(`deleteApplication ${app.name}`);
    await this.applicationEvent(app, 'APPLICATION_DELETE');
  }

  private keyMappingEvent(k: KeyMappingRecord, type: string): Promise<PublishedEvent> {
    return this.notify(ev.keyMappingEvent({
      applicationUUID: k.applicationUUID, applicationId: k.applicationId, consumerKey: k.consumerKey, keyType: k.keyType,
      keyManager: k.keyManager, ...this.base(type, this.state.application(k.applicationUUID).tenant),
    }));
  }

  /** Registers OAuth keys; returns the consumer key. Publishes APPLICATION_REGISTRATION_CREATE. */
  async generateKeys(appUuid: string, keyType: 'PRODUCTION' | 'SANDBOX', keyManager = RESIDENT_KM, key = consumerKey()): Promise<string> {
    const app = this.state.application(appUuid);
    if (this.state.keyMappings.some((m) => m.applicationUUID === appUuid && m.keyType === keyType && m.keyManager === keyManager)) {
      throw new Error(`apim-emulator: ${app.name} already has ${keyType} keys from ${keyManager}`);
    }
    const k: KeyMappingRecord = { applicationId: app.id, applicationUUID: app.uuid, consumerKey: key, keyType, keyManager };
    this.state.keyMappings.push(k);
    this.log(`generateKeys ${app.name} ${keyType} ${keyManager}: ${key}`);
    await this.keyMappingEvent(k, 'APPLICATION_REGISTRATION_CREATE');
    return key;
  }

  /** Publishes REMOVE_APPLICATION_KEYMAPPING. */
  async removeKeys(appUuid: string, keyType: 'PRODUCTION' | 'SANDBOX', keyManager = RESIDENT_KM): Promise<void> {
    const i = this.state.keyMappings.findIndex((m) => m.applicationUUID === appUuid && m.keyType === keyType && m.keyManager === keyManager);
    if (i < 0) throw new Error(`apim-emulator: no ${keyType} keys from ${keyManager} for application ${appUuid}`);
    const [k] = this.state.keyMappings.splice(i, 1);
    this.log(`removeKeys ${k!.consumerKey}`);
    await this.keyMappingEvent(k!, 'REMOVE_APPLICATION_KEYMAPPING');
  }

  // ---------------------------------------------------------------------------------- subscriptions

  private subscriptionEvent(s: SubscriptionRecord, type: string): Promise<PublishedEvent> {
    const api = this.state.apis.get(s.apiUUID);
    const app = this.state.applications.get(s.applicationUUID);
    return this.notify(ev.subscriptionEvent({
      subscriptionId: s.subscriptionId, subscriptionUUID: s.subscriptionUUID, apiId: api?.apiId ?? 0, apiUUID: s.apiUUID,
      applicationId: app?.id ?? 0, applicationUUID: s.applicationUUID, policyId: s.policyId,
      subscriptionState: s.subscriptionState, ...this.base(type, app?.tenant),
    }));
  }

  /** Returns the subscription UUID. Publishes SUBSCRIPTIONS_CREATE (state UNBLOCKED). */
  async subscribe(appUuid: string, apiUuid: string, policy = 'Unlimited'): Promise<string> {
    const app = this.state.application(appUuid);
    const api = this.state.api(apiUuid);
    const s: SubscriptionRecord = {
      subscriptionUUID: randomUUID(), subscriptionId: this.state.nextId('subscription'), policyId: policy, apiUUID: api.uuid,
      applicationUUID: app.uuid, subscriptionState: 'UNBLOCKED',
    };
    this.state.subscriptions.set(s.subscriptionUUID, s);
    this.log(`subscribe ${app.name} -> ${api.def.name} ${api.def.version} (${policy})`);
    await this.subscriptionEvent(s, 'SUBSCRIPTIONS_CREATE');
    return s.subscriptionUUID;
  }

  /**
   * Changes state (UNBLOCKED, BLOCKED, PROD_ONLY_BLOCKED, ON_HOLD, REJECTED, TIER_UPDATE_PENDING) and/or tier.
   * Publishes SUBSCRIPTIONS_UPDATE; blocking/unblocking also publishes a SUBSCRIPTION blocking condition on throttleData.
   */
  async updateSubscription(subUuid: string, change: string | { state?: string; policy?: string }): Promise<void> {
    const s = this.state.subscription(subUuid);
    const c = typeof change === 'string' ? { state: change } : change;
    const wasBlocked = s.subscriptionState.includes('BLOCKED') && s.subscriptionState !== 'UNBLOCKED';
    if (c.state !== undefined) s.subscriptionState = c.state;
    if (c.policy !== undefined) s.policyId = c.policy;
    const isBlocked = s.subscriptionState.includes('BLOCKED') && s.subscriptionState !== 'UNBLOCKED';
    this.log(`updateSubscription ${subUuid}: ${s.subscriptionState} ${s.policyId}`);
    await this.subscriptionEvent(s, 'SUBSCRIPTIONS_UPDATE');
    if (this.opts.subscriptionBlockingEvents && wasBlocked !== isBlocked) {
      const api = this.state.apis.get(s.apiUUID);
      const app = this.state.applications.get(s.applicationUUID);
      if (api && app) {
        await this.publishThrottle(ev.blockingEnvelope({
          id: 0, blockingCondition: 'SUBSCRIPTION', state: isBlocked ? 'true' : 'false', tenantDomain: this.opts.tenantDomain,
          conditionValue: `${versionedContext(api.def)}:${api.def.version}:${app.owner}-${app.name}`,
        }), 'blocking SUBSCRIPTION');
      }
    }
  }

  /** Publishes SUBSCRIPTIONS_DELETE. */
  async unsubscribe(subUuid: string): Promise<void> {
    const s = this.state.subscription(subUuid);
    this.state.subscriptions.delete(subUuid);
    this.log(`unsubscribe ${subUuid}`);
    await this.subscriptionEvent(s, 'SUBSCRIPTIONS_DELETE');
  }

  // ---------------------------------------------------------------------------------- policies

  private policyRecord(input: PolicyInput, id: number): PolicyRecord {
    const quotaType = input.quotaType ?? 'requestCount';
    const amount = input.limit ?? 2147483647;
    const limit: Limit = { quotaType, timeUnit: input.timeUnit ?? 'min', unitTime: input.unitTime ?? 1 };
    if (quotaType === 'requestCount') limit.requestCount = amount;
    else if (quotaType === 'bandwidthVolume') {
      limit.dataAmount = amount;
      limit.dataUnit = input.dataUnit ?? 'MB';
    } else limit.eventCount = amount;
    return {
      kind: input.type, id, name: input.name, limit,
      rateLimitCount: input.rateLimitCount ?? 0, rateLimitTimeUnit: input.rateLimitTimeUnit ?? 'NA',
      stopOnQuotaReach: input.stopOnQuotaReach ?? true, subscriberCount: input.subscriberCount ?? 0,
      graphQLMaxDepth: input.graphQLMaxDepth ?? 0, graphQLMaxComplexity: input.graphQLMaxComplexity ?? 0,
      conditionGroupIds: [...(input.conditionGroupIds ?? [])], applicableLevel: input.applicableLevel ?? 'apiLevel',
    };
  }

  private policyEvent(p: PolicyRecord, type: string, added: number[] = [], deleted: number[] = []): Promise<PublishedEvent> {
    const common = { policyId: p.id, policyName: p.name, quotaType: p.limit.quotaType, ...this.base(type) };
    if (p.kind === 'application') return this.notify(ev.applicationPolicyEvent(common));
    if (p.kind === 'api') return this.notify(ev.apiPolicyEvent({ ...common, addedConditionGroupIds: added, deletedConditionGroupIds: deleted }));
    return this.notify(ev.subscriptionPolicyEvent({
      ...common, subscriberCount: p.subscriberCount, rateLimitCount: p.rateLimitCount, rateLimitTimeUnit: p.rateLimitTimeUnit,
      stopOnQuotaReach: p.stopOnQuotaReach, graphQLMaxDepth: p.graphQLMaxDepth, graphQLMaxComplexity: p.graphQLMaxComplexity,
    }));
  }

  /** Returns the policy id. Publishes POLICY_CREATE. */
  async addPolicy(input: PolicyInput): Promise<number> {
    if (this.state.policies[input.type].has(input.name)) throw new Error(`apim-emulator: ${input.type} policy ${input.name} exists`);
    const p = this.policyRecord(input, this.state.nextId(`policy:${input.type}`));
    this.state.policies[input.type].set(p.name, p);
    this.log(`addPolicy ${input.type} ${p.name}`);
    await this.policyEvent(p, 'POLICY_CREATE', p.conditionGroupIds);
    return p.id;
  }

  /** Replaces the given fields. Publishes POLICY_UPDATE. */
  async updatePolicy(type: PolicyKind, name: string, patch: Omit<Partial<PolicyInput>, 'type' | 'name'>): Promise<void> {
    const old = this.state.policy(type, name);
    const merged: PolicyInput = {
      type, name, quotaType: old.limit.quotaType,
      limit: old.limit.requestCount ?? old.limit.dataAmount ?? old.limit.eventCount, timeUnit: old.limit.timeUnit,
      unitTime: old.limit.unitTime, rateLimitCount: old.rateLimitCount, rateLimitTimeUnit: old.rateLimitTimeUnit,
      stopOnQuotaReach: old.stopOnQuotaReach, subscriberCount: old.subscriberCount, graphQLMaxDepth: old.graphQLMaxDepth,
      graphQLMaxComplexity: old.graphQLMaxComplexity, conditionGroupIds: old.conditionGroupIds, applicableLevel: old.applicableLevel,
      ...(old.limit.dataUnit !== undefined ? { dataUnit: old.limit.dataUnit } : {}),
      ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)),
    };
    const p = this.policyRecord(merged, old.id);
    this.state.policies[type].set(name, p);
    this.log(`updatePolicy ${type} ${name}`);
    await this.policyEvent(p, 'POLICY_UPDATE',
      p.conditionGroupIds.filter((g) => !old.conditionGroupIds.includes(g)),
      old.conditionGroupIds.filter((g) => !p.conditionGroupIds.includes(g)));
  }

  /** Publishes POLICY_DELETE. */
  async deletePolicy(type: PolicyKind, name: string): Promise<void> {
    const p = this.state.policy(type, name);
    this.state.policies[type].delete(name);
    this.log(`deletePolicy ${type} ${name}`);
    await this.policyEvent(p, 'POLICY_DELETE', [], p.conditionGroupIds);
  }

  // ---------------------------------------------------------------------------------- key managers

  private keyManagerEvent(k: KeyManagerRecord, action: 'add' | 'update' | 'delete'): Promise<PublishedEvent> {
    const f = { action, name: k.name, type: k.type, enabled: k.enabled, tenantDomain: k.tenant, configuration: k.configuration };
    const body = this.opts.keyManagerEventFormat === 'newer'
      ? ev.keyManagerEnvelopeNewer({ ...f, uuid: k.uuid, tokenType: k.tokenType })
      : ev.keyManagerEnvelope(f);
    this.log(`  -> keyManager ${action} ${k.name}`);
    return this.publisher.publish(ev.TOPIC_KEY_MANAGER, body);
  }

  async addKeyManager(input: KeyManagerInput): Promise<void> {
    const tenant = this.tenant(input.tenant);
    if (this.state.keyManagers.has(keyManagerKey(tenant, input.name))) throw new Error(`apim-emulator: key manager ${input.name} exists in tenant ${tenant}`);
    const k: KeyManagerRecord = {
      uuid: randomUUID(), tenant, name: input.name, type: input.type ?? 'default', enabled: input.enabled ?? true,
      tokenType: input.tokenType ?? 'DIRECT', configuration: { ...(input.configuration ?? {}) },
    };
    this.state.keyManagers.set(keyManagerKey(tenant, k.name), k);
    this.log(`addKeyManager ${k.name} (${tenant})`);
    await this.keyManagerEvent(k, 'add');
  }

  async updateKeyManager(name: string, patch: Omit<Partial<KeyManagerInput>, 'name'>): Promise<void> {
    const k = this.state.keyManager(this.tenant(patch.tenant), name);
    if (patch.type !== undefined) k.type = patch.type;
    if (patch.enabled !== undefined) k.enabled = patch.enabled;
    if (patch.tokenType !== undefined) k.tokenType = patch.tokenType;
    if (patch.configuration !== undefined) k.configuration = { ...patch.configuration };
    this.log(`updateKeyManager ${name}`);
    await this.keyManagerEvent(k, 'update');
  }

  async deleteKeyManager(name: string, tenant?: string): Promise<void> {
    const k = this.state.keyManager(this.tenant(tenant), name);
    this.state.keyManagers.delete(keyManagerKey(k.tenant, name));
    this.log(`deleteKeyManager ${name} (${k.tenant})`);
    await this.keyManagerEvent(k, 'delete');
  }

  // ---------------------------------------------------------------------------------- revocation, throttling

  /** Publishes on tokenRevocation; `jti` is the token identifier (jti claim, or the signature). */
  async revokeToken(jti: string, expiryTime: number, type = 'JWT'): Promise<void> {
    this.state.revokedTokens.push({ jti, expiryTime, type });
    this.log(`revokeToken ${jti}`);
    await this.publisher.publish(ev.TOPIC_TOKEN_REVOCATION, ev.revocationEnvelope({
      eventId: randomUUID(), revokedToken: jti, ttl: '5000', expiryTime, type, tenantId: this.opts.tenantId,
    }));
  }

  private publishThrottle(body: ev.Envelope, what: string): Promise<PublishedEvent> {
    this.log(`  -> throttleData ${what}`);
    return this.publisher.publish(ev.TOPIC_THROTTLE_DATA, body);
  }

  private blockingEvent(b: BlockingRecord): Promise<PublishedEvent> {
    return this.publishThrottle(ev.blockingEnvelope({
      id: b.id, blockingCondition: b.type, conditionValue: b.value, state: b.enabled ? 'true' : 'false',
      tenantDomain: this.opts.tenantDomain,
    }), `blocking ${b.type} ${b.enabled}`);
  }

  /** Returns the condition id. IP/IPRANGE values are objects ({fixedIp} / {startingIp, endingIp}, invert). */
  async addBlockingCondition(type: BlockingType, value: BlockingValue, enabled = true): Promise<number> {
    let text: string;
    if (typeof value === 'string') text = value;
    else if ('fixedIp' in value) text = JSON.stringify({ fixedIp: value.fixedIp, invert: value.invert ?? false });
    else text = JSON.stringify({ startingIp: value.startingIp, endingIp: value.endingIp, invert: value.invert ?? false });
    const b: BlockingRecord = { id: this.state.nextId('block'), type, value: text, enabled };
    this.state.blockingConditions.set(b.id, b);
    this.log(`addBlockingCondition ${type} ${text}`);
    await this.blockingEvent(b);
    return b.id;
  }

  /** Enables/disables a condition (state "true"/"false"). */
  async setBlockingConditionEnabled(id: number, enabled: boolean): Promise<void> {
    const b = this.state.blockingConditions.get(id);
    if (!b) throw new Error(`apim-emulator: no blocking condition ${id}`);
    b.enabled = enabled;
    await this.blockingEvent(b);
  }

  /** Deletes a condition: APIM publishes it with state "false". */
  async removeBlockingCondition(id: number): Promise<void> {
    const b = this.state.blockingConditions.get(id);
    if (!b) throw new Error(`apim-emulator: no blocking condition ${id}`);
    this.state.blockingConditions.delete(id);
    this.log(`removeBlockingCondition ${id}`);
    await this.blockingEvent({ ...b, enabled: false });
  }

  /** A Traffic Manager decision: `key` is throttled until `untilMs` (or released with isThrottled false). */
  async throttle(key: string, untilMs: number, opts: { isThrottled?: boolean; evaluatedConditions?: unknown[] | string } = {}): Promise<void> {
    const f: ev.ThrottleDecisionFields = { throttleKey: key, isThrottled: opts.isThrottled ?? true, expiryTimeStamp: untilMs };
    if (opts.evaluatedConditions !== undefined) {
      f.evaluatedConditions = typeof opts.evaluatedConditions === 'string'
        ? opts.evaluatedConditions
        : Buffer.from(JSON.stringify(opts.evaluatedConditions)).toString('base64');
    }
    await this.publishThrottle(ev.throttleDecisionEnvelope(f), `decision ${key}`);
  }

  async addKeyTemplate(value: string): Promise<void> {
    if (!this.state.keyTemplates.includes(value)) this.state.keyTemplates.push(value);
    await this.publishThrottle(ev.keyTemplateEnvelope(value, 'add'), `keyTemplate add ${value}`);
  }

  async removeKeyTemplate(value: string): Promise<void> {
    const i = this.state.keyTemplates.indexOf(value);
    if (i >= 0) this.state.keyTemplates.splice(i, 1);
    await this.publishThrottle(ev.keyTemplateEnvelope(value, 'remove'), `keyTemplate remove ${value}`);
  }

  // ---------------------------------------------------------------------------------- seed

  /** APIM's out-of-the-box throttling policies and the Resident Key Manager (no events: they predate any gateway). */
  private seedDefaults(): void {
    this.seeded = true;
    const add = (input: PolicyInput) => {
      const p = this.policyRecord(input, this.state.nextId(`policy:${input.type}`));
      this.state.policies[input.type].set(p.name, p);
    };
    for (const [name, limit] of [['50PerMin', 50], ['20PerMin', 20], ['10PerMin', 10], ['Unlimited', 2147483647]] as const) {
      add({ type: 'application', name, limit });
    }
    for (const [name, limit] of [['Gold', 5000], ['Silver', 2000], ['Bronze', 1000], ['Unauthenticated', 500], ['Unlimited', 2147483647]] as const) {
      add({ type: 'subscription', name, limit });
    }
    for (const [name, limit] of [['50KPerMin', 50000], ['20KPerMin', 20000], ['10KPerMin', 10000], ['Unlimited', 2147483647]] as const) {
      add({ type: 'api', name, limit });
    }
    const km: KeyManagerRecord = {
      uuid: randomUUID(), tenant: this.opts.tenantDomain, name: RESIDENT_KM, type: 'default', enabled: true, tokenType: 'DIRECT',
      configuration: {
        issuer: 'https://localhost:9443/oauth2/token', self_validate_jwt: true, certificate_type: 'JWKS',
        certificate_value: 'https://localhost:9443/oauth2/jwks', consumer_key_claim: 'azp', scopes_claim: 'scope',
        claim_mappings: [], grant_types: ['password', 'client_credentials', 'refresh_token', 'authorization_code'],
        token_endpoint: 'https://localhost:9443/oauth2/token', revoke_endpoint: 'https://localhost:9443/oauth2/revoke',
        enable_token_generation: true, enable_token_hash: false, enable_token_encryption: false,
        enable_map_oauth_consumer_apps: false, enable_oauth_app_creation: true,
      },
    };
    this.state.keyManagers.set(keyManagerKey(km.tenant, km.name), km);
  }
}
