import type { Logger } from 'winston';
import type { Config } from '../../config/config';
import type { Api } from '../../model/api';
import { keyOf, type GatewayEvent, type GatewayState } from '../../model/state';
import { projectOptions } from '../local/project';
import type { PrepareHook } from '../worker/parse-calls';
import { ProjectParser } from '../worker/parser';
import { deployAcks, type ArtifactsResult } from './artifacts';
import { decodeMessage } from './decode';
import {
  restApiMetadata,
  restApiPolicies,
  restApplicationPolicies,
  restApplications,
  restBlockingConditions,
  restKeyManagers,
  restKeyMappings,
  restKeyTemplates,
  restRevokedTokens,
  restSubscriptionPolicies,
  restSubscriptions,
} from './decode-rest';
import { ROUTING_KEYS, type ApimAction } from './decode-types';
import { EventHubListener } from './eventHub';
import { ApimRestClient } from './rest';

/**
 * WSO2 API Manager as the source: a full pull over REST, then its event hub over AMQP.
 *
 * All work runs one piece at a time, in order (a pull, then each message as it arrived), so a
 * deploy event is never applied before the pull it follows. After every (re)connect the whole
 * state is pulled again before queued messages are handled: whatever was deployed, undeployed or
 * revoked while the broker was away is reconciled, with adds, updates and removals. A periodic
 * pull does the same for anything an event never said.
 */
export interface ApimSourceDeps {
  rest?: ApimRestClient;
  hub?: EventHubListener;
  /** How long start() waits for the broker before pulling without it (ms; default 10 s). */
  brokerWaitMs?: number;
  /**
   * Prepare (translate) each API of an artifact on the worker that unpacked it (ARCHITECTURE.md
   * rule 12); `adopt` gets each API with what was prepared, before it is emitted.
   */
  prepare?: PrepareHook & { adopt: (api: Api, prepared: unknown) => void };
}

/** How often lapsed Traffic Manager decisions are forgotten. */
const LAPSE_SWEEP_MS = 10_000;

export class ApimSource {
  private readonly rest: ApimRestClient;
  private readonly hub: EventHubListener;
  private readonly labels: string[];
  /** Runtime-artifact zips are unpacked, parsed and (with a prepare hook) translated on worker threads. */
  private readonly parser: ProjectParser;
  private tail: Promise<unknown> = Promise.resolve();
  private readonly seen = new Set<string>();
  private timer?: NodeJS.Timeout;
  private lapseTimer?: NodeJS.Timeout;
  private pulledOnce = false;
  private startError?: Error;
  private closed = false;

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
    private readonly emit: (events: GatewayEvent[]) => void,
    private readonly current: () => GatewayState,
    private readonly deps: ApimSourceDeps = {},
  ) {
    const cp = config.controlPlane;
    this.labels = cp.environmentLabels;
    this.parser = new ProjectParser({ workers: config.adapter.parseWorkers, prepare: deps.prepare && { module: deps.prepare.module, config: deps.prepare.config } });
    this.rest = deps.rest ?? ApimRestClient.fromConfig(config, { logger: log });
    this.hub =
      deps.hub ??
      new EventHubListener(
        {
          endpoints: cp.brokerConnectionParameters.eventListeningEndpoints,
          topics: [...ROUTING_KEYS],
          reconnectIntervalMs: cp.brokerConnectionParameters.reconnectInterval,
          maxReconnectRounds: cp.brokerConnectionParameters.reconnectRetryCount,
          logger: log,
          // Named for the labels it serves, so operators can tell adapters apart on the broker.
          connectionName: `apim-connect ${cp.environmentLabels.join(',')}`,
        },
        (routingKey, body) => this.serial(() => this.handle(routingKey, body)),
      );
    // Every (re)connect: pull everything before the messages queued meanwhile are handled.
    this.hub.onConnected(() =>
      this.serial(() => this.pull(this.pulledOnce ? 'reconnected to the event hub' : 'startup')).catch((err: Error) => {
        if (!this.pulledOnce) this.startError = err;
        this.log.error(`APIM pull failed: ${err.message}`);
      }),
    );
  }

  /**
   * Connects to the event hub (so nothing published during the first pull is missed) and pulls
   * the whole state; resolves once it is served. A wrong password or a missing endpoint fails
   * here with a clear error; APIM or the broker being down makes it wait and retry.
   */
  async start(): Promise<void> {
    const connected = this.hub.start().then(
      () => true,
      () => false,
    );
    const waited = await Promise.race([connected, sleep(this.deps.brokerWaitMs ?? 10_000).then(() => false)]);
    await this.tail; // the pull the first connection started
    if (this.startError) throw this.startError;
    if (!this.pulledOnce) {
      if (!waited) this.log.warn('event hub not reachable yet: pulling from APIM without it; changes are picked up once it connects');
      await this.serial(() => this.pull('startup'));
    }
    // Traffic Manager decisions end at their expiry whether or not APIM says so: forget them then,
    // so neither the adapter nor the enforcers keep every key ever throttled.
    this.lapseTimer = setInterval(() => void this.serial(async () => this.forgetLapsedDecisions(Date.now())), LAPSE_SWEEP_MS);
    this.lapseTimer.unref();
    const every = this.config.controlPlane.syncInterval;
    if (every > 0) {
      this.timer = setInterval(() => void this.serial(() => this.pull('periodic sync')).catch((err: Error) => this.log.error(`APIM pull failed: ${err.message}`)), every * 1000);
      this.timer.unref();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    clearInterval(this.lapseTimer);
    await this.hub.close();
    this.rest.close();
    await this.parser.close();
  }

  /** Deletes the Traffic Manager decisions that have lapsed by `now`. */
  forgetLapsedDecisions(now: number): void {
    const lapsed = [...this.current().collection('throttleDecisions').values()].filter((d) => d.until <= now);
    if (lapsed.length > 0) this.emit(lapsed.map((d) => ({ kind: 'Deleted', collection: 'throttleDecisions', key: d.key })));
  }

  /** Runs work after everything queued before it. */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work, work);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** The whole state from APIM, applied as one change: one push for thousands of APIs. */
  private async pull(why: string): Promise<void> {
    if (this.closed) return;
    const started = Date.now();
    const org = { organization: tenantOf(this.config.controlPlane.username) };
    const [metadata, subscriptions, applications, keyMappings, appPolicies, subPolicies, apiPolicies, keyManagers, revoked, templates, blocking, zip] = await Promise.all([
      Promise.all(this.labels.map((label) => this.rest.apis(label))),
      this.rest.subscriptions(),
      this.rest.applications(),
      this.rest.keyMappings(),
      this.rest.applicationPolicies(),
      this.rest.subscriptionPolicies(),
      this.rest.apiPolicies(),
      this.rest.keyManagers(),
      this.rest.revokedTokens(),
      this.rest.keyTemplates(),
      this.rest.blockingConditions(),
      this.rest.runtimeArtifacts(this.labels),
    ]);
    const apps = restApplications(applications, org);
    // APIM's subscription and key-mapping DTOs name no organization: theirs is their application's.
    const appOrgs = new Map(apps.map((a) => [a.uuid, a.organization]));
    const ofItsApplication = <T extends { appUuid: string; organization: string }>(x: T): T => ({ ...x, organization: appOrgs.get(x.appUuid) ?? x.organization });
    const events: GatewayEvent[] = [
      { kind: 'Replaced', collection: 'subscriptions', values: restSubscriptions(subscriptions, org).map(ofItsApplication) },
      { kind: 'Replaced', collection: 'applications', values: apps },
      { kind: 'Replaced', collection: 'keyMappings', values: restKeyMappings(keyMappings, org).map(ofItsApplication) },
      {
        kind: 'Replaced',
        collection: 'policies',
        values: [...restApplicationPolicies(appPolicies, org), ...restSubscriptionPolicies(subPolicies, org), ...restApiPolicies(apiPolicies, org)],
      },
      { kind: 'Replaced', collection: 'keyManagers', values: restKeyManagers(keyManagers, org) },
      { kind: 'Replaced', collection: 'revokedTokens', values: restRevokedTokens(revoked) },
      { kind: 'Replaced', collection: 'keyTemplates', values: restKeyTemplates(templates) },
      { kind: 'Replaced', collection: 'blockingConditions', values: restBlockingConditions(blocking, org) },
    ];
    const artifacts = zip ? await this.artifacts(zip, 'runtime-artifacts') : undefined;
    // An API whose artifact does not parse keeps the version being served, rather than going.
    const kept = (artifacts?.failed ?? []).flatMap((id) => this.current().apis.get(id) ?? []);
    events.push({ kind: 'ApisReplaced', labels: this.labels, apis: [...(artifacts?.result.apis ?? []), ...kept] });
    // A revision's artifact keeps the lifecycle status it was deployed with; /apis has today's
    // (an API blocked since, say).
    for (const m of metadata.flatMap((json) => restApiMetadata(json, org))) events.push({ kind: 'ApiStatusChanged', apiId: m.uuid, status: m.status });
    this.emit(events);
    this.pulledOnce = true;
    this.log.info(`pulled from APIM (${why}): ${artifacts?.result.apis.length ?? 0} APIs on ${this.labels.join(', ')}`, { ms: Date.now() - started });
    if (artifacts) await this.ack(artifacts.result);
  }

  /** One message from the event hub. Malformed ones are reported by the listener and dropped. */
  private async handle(routingKey: string, body: Buffer): Promise<void> {
    const decoded = decodeMessage(routingKey, body, { labels: this.labels });
    if (decoded.eventId) {
      if (this.seen.has(decoded.eventId)) return; // a redelivery or a duplicate publish
      this.seen.add(decoded.eventId);
      if (this.seen.size > 10_000) this.seen.delete(this.seen.values().next().value as string);
    }
    for (const action of decoded.actions) await this.act(action, decoded.type);
  }

  private async act(action: ApimAction, type: string): Promise<void> {
    switch (action.kind) {
      case 'apply':
        return this.emit(action.events.map((e) => this.keepLimits(e)));
      case 'ignore':
        this.log.debug(`event ${type} ignored: ${action.reason}`);
        return;
      case 'undeploy':
        // The undeploy ack needs the revision UUID, which APIM's event does not carry (as in Choreo Connect).
        return this.emit([{ kind: 'ApiUndeployed', apiId: action.apiId, labels: action.labels }]);
      case 'deploy':
      case 'refresh': {
        const zip = await this.rest.runtimeArtifacts(this.labels, action.apiId);
        if (!zip) {
          // Deployed nowhere we serve any more (undeployed since the event was sent).
          return this.emit([{ kind: 'ApiUndeployed', apiId: action.apiId, labels: this.labels }]);
        }
        const { result, failed } = await this.artifacts(zip, `runtime-artifacts of ${action.apiId}`);
        if (failed.includes(action.apiId)) return; // reported; the version being served stays
        const gone = result.apis.some((a) => a.id === action.apiId) ? [] : [{ kind: 'ApiUndeployed' as const, apiId: action.apiId, labels: this.labels }];
        this.emit([...result.apis.map((api) => ({ kind: 'ApiDeployed' as const, api })), ...gone]);
        return this.ack(result);
      }
      case 'refresh-policies': {
        const org = { organization: tenantOf(this.config.controlPlane.username) };
        const [app, sub, api] = await Promise.all([this.rest.applicationPolicies(), this.rest.subscriptionPolicies(), this.rest.apiPolicies()]);
        return this.emit([
          { kind: 'Replaced', collection: 'policies', values: [...restApplicationPolicies(app, org), ...restSubscriptionPolicies(sub, org), ...restApiPolicies(api, org)] },
        ]);
      }
    }
  }

  /**
   * Policy events never carry the limits (a re-pull follows): until it lands, an updated policy
   * keeps the limits held, rather than briefly not limiting at all.
   */
  private keepLimits(e: GatewayEvent): GatewayEvent {
    if (e.kind !== 'Upserted' || e.collection !== 'policies' || e.value.defaultLimit) return e;
    const held = this.current().collection('policies').get(keyOf('policies', e.value));
    return held ? { ...e, value: { ...e.value, defaultLimit: held.defaultLimit, burst: e.value.burst ?? held.burst } } : e;
  }

  /** The APIs of a runtime-artifacts zip; the ids of broken ones (reported) are in `failed`. */
  private async artifacts(zip: Buffer, source: string): Promise<{ result: ArtifactsResult; failed: string[] }> {
    const result = await this.parser.artifacts(zip, { ...projectOptions(this.config), labels: this.labels }, source);
    result.prepared?.forEach((prepared, i) => prepared !== undefined && this.deps.prepare?.adopt(result.apis[i], prepared));
    for (const err of result.errors) this.log.error(`API artifact not served: ${err.message}`);
    for (const w of result.warnings) this.log.warn(w);
    const failed = result.deployments.filter((d) => d.served.length > 0 && !d.api && d.apiId).map((d) => d.apiId as string);
    return { result, failed };
  }

  /** Tells APIM which revisions are deployed, when configured to. */
  private async ack(result: ArtifactsResult): Promise<void> {
    if (!this.config.controlPlane.sendRevisionUpdate || result.apis.length === 0) return;
    try {
      await this.rest.ackDeployed(deployAcks(result, new Set(result.apis.map((a) => a.id))));
    } catch (err) {
      this.log.warn(`deploy acknowledgement to APIM failed: ${(err as Error).message}`);
    }
  }
}

/** The tenant of the Basic-auth user (`user@tenant`), as APIM scopes REST data to it. */
function tenantOf(username: string): string {
  const at = username.lastIndexOf('@');
  return at >= 0 ? username.slice(at + 1) : 'carbon.super';
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
