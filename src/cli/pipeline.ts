import type { Logger } from 'winston';
import type { Config } from '../config/config';
import { ENFORCER_API } from '../envoy/typeUrls';
import type { Api } from '../model/api';
import { skippedLine, type Problem } from '../model/problems';
import { GatewayState, type GatewayEvent } from '../model/state';
import { EnforcerTranslator } from '../translate/enforcer';
import { bridgeApis } from '../translate/lockstep';
import { adoptPrepared, type PreparedApi } from '../translate/prepare';
import { Translator, type ApiReport, type LabelResources, type Quarantined } from '../translate/translate';
import type { SnapshotCache } from '../xds/cache';
import type { Straggler } from '../xds/server';

/** The xDS server's lock-step wait (XdsServer.whenAnswered): undefined when nobody is behind. */
export type WhenAnswered = (group: string, typeUrls: readonly string[], seq: number, timeoutMs: number) => Promise<Straggler[]> | undefined;

/** One label's publishing: one at a time; changes that arrive meanwhile are published after it, together. */
interface Lane {
  busy: boolean;
  dirty: boolean;
  /** The APIs whose routes the routers were last given. */
  routed: readonly Api[];
}

/**
 * The one-way flow inside the adapter: source events → GatewayState → translators (router and
 * enforcer resources) → snapshot cache. A batch of events is one new state and one translation per label; labels whose APIs
 * did not change translate from cache and set identical content, which pushes nothing.
 *
 * Lock-step (ARCHITECTURE.md rule 5), per label: the enforcers get new and changed APIs first
 * (still holding whatever the live routes need); once they have ACKed, or after
 * `lockStepTimeoutMs`, the routers get their routes; once the routers have ACKed those, the
 * enforcers forget what only the old routes needed. With nobody to wait for, all of it happens
 * synchronously within apply().
 */
export class Pipeline {
  private state = GatewayState.empty();
  private readonly translator: Translator;
  /** The enforcers' view (served to them by the same xDS server, in the same group). */
  private readonly enforcer = new EnforcerTranslator();
  /** Quarantined and partly served APIs by label, as of the last translation. */
  private readonly reported = new Map<string, Reported[]>();
  private readonly since = new Map<string, Date>();
  /** What each left-out list says, by identity (a translated API keeps its list while unchanged). */
  private readonly fingerprints = new WeakMap<object, string>();
  private readonly lanes = new Map<string, Lane>();
  private idleWaiters: Array<() => void> = [];
  private readonly timeoutMs: number;

  constructor(
    private readonly cache: SnapshotCache,
    config: Config,
    private readonly log: Logger,
    private readonly whenAnswered: WhenAnswered = () => undefined,
  ) {
    this.translator = new Translator(config);
    this.timeoutMs = config.adapter.lockStepTimeoutMs;
    for (const label of config.controlPlane.environmentLabels) cache.ensureGroup(label);
  }

  get current(): GatewayState {
    return this.state;
  }

  /** What a worker prepared for `api` (prepareApi, with this pipeline's config), used once it is deployed. */
  adopt(api: Api, prepared: unknown): void {
    adoptPrepared(api, prepared as PreparedApi, this.translator, this.enforcer);
  }

  apply(events: readonly GatewayEvent[]): void {
    const next = this.state.applyAll(events);
    if (next === this.state) return;
    this.state = next;
    this.publish();
  }

  /** Translates every label and sets the cache (first call: also the empty labels). */
  publish(): void {
    const labels = new Set([...this.cache.groups(), ...this.state.labels()]);
    for (const label of [...labels].sort()) this.run(label);
  }

  /** Resolves once everything applied so far is in the cache (lock-step waits included). */
  settled(): Promise<void> {
    if (![...this.lanes.values()].some((l) => l.busy)) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private run(label: string): void {
    let lane = this.lanes.get(label);
    if (!lane) this.lanes.set(label, (lane = { busy: false, dirty: false, routed: [] }));
    lane.dirty = true;
    if (lane.busy) return;
    lane.busy = true;
    const step = (): void => {
      while (lane.dirty) {
        lane.dirty = false;
        const waiting = this.publishLabel(label, lane);
        if (waiting) return void waiting.then(step);
      }
      lane.busy = false;
      if (![...this.lanes.values()].some((l) => l.busy)) for (const resolve of this.idleWaiters.splice(0)) resolve();
    };
    step();
  }

  /** One label's three lock-step phases; a promise only while it waits for ACKs. Never throws or rejects. */
  private publishLabel(label: string, lane: Lane): Promise<void> | undefined {
    // One label failing must not keep the others from being served.
    const guarded = <T>(what: string, f: () => T): T | undefined => {
      try {
        return f();
      } catch (err) {
        this.log.error(`label not updated: ${what} failed; routers and enforcers keep their last config`, { label, error: (err as Error).stack ?? String(err) });
        return undefined;
      }
    };
    const state = this.state;
    const apis = state.apisFor(label);
    const first = guarded('translation', () => {
      const out = this.translator.translate(apis);
      this.report(label, out);
      // Enforcers learn only what the routers will route: a quarantined API stays unknown to them.
      const served = servedApis(apis, out.quarantined);
      const bridge = bridgeApis(lane.routed, served);
      const enforcer = this.enforcer.translate(state, label, bridge);
      return { out, served, bridge, enforcerTypes: Object.keys(enforcer), changed: this.cache.setTypes(label, enforcer) };
    });
    if (!first) return undefined;
    const { out, served, bridge } = first;
    return after(first.changed && this.waitFor(label, first.enforcerTypes, 'enforcers', 'its routes go live anyway'), () => {
      const changed = guarded('router update', () => this.cache.setTypes(label, out.resources));
      if (changed === undefined) return undefined;
      lane.routed = served;
      if (bridge === served) return undefined;
      return after(changed && this.waitFor(label, Object.keys(out.resources), 'routers', 'the enforcers forget the API anyway'), () => {
        guarded('enforcer update', () => this.cache.setTypes(label, { [ENFORCER_API]: this.enforcer.apis(served) }));
        return undefined;
      });
    });
  }

  /** Waits (bounded) for the label's streams of these types to answer the cache's latest change. */
  private waitFor(label: string, typeUrls: readonly string[], who: string, otherwise: string): Promise<void> | undefined {
    return this.whenAnswered(label, typeUrls, this.cache.seq, this.timeoutMs)?.then((late) => {
      if (late.length > 0) this.log.warn(`lock-step: ${who} did not answer within ${this.timeoutMs} ms; ${otherwise}`, { label, nodes: late.map((s) => s.node) });
    });
  }

  /** Quarantined and partly served APIs, for the admin API. */
  problems(): Problem[] {
    return [...this.reported].flatMap(([group, list]) =>
      list.map((r) => ({
        kind: r.kind,
        group,
        apiId: r.api.apiId,
        apiName: r.api.name,
        apiVersion: r.api.version,
        source: r.api.source,
        reasons: r.reasons,
        skipped: r.api.skipped,
        since: this.since.get(r.key) ?? new Date(),
      })),
    );
  }

  /** Logs each quarantine and each set of left-out routes once, when it starts, and when it ends. */
  private report(label: string, out: LabelResources): void {
    const entry = (kind: Reported['kind'], api: ApiReport, reasons: string[]): Reported => ({
      kind,
      api,
      reasons,
      key: [label, kind, api.apiId, reasons.join('\n'), this.fingerprint(api.skipped)].join('\0'),
    });
    const now = [
      ...out.quarantined.map((q) => entry('quarantined', q, q.reasons)),
      ...out.partial.map((p) => entry('partial', p, [`served without ${count(p.skipped.length)}; the rest of it is served`])),
    ];
    const before = this.reported.get(label) ?? [];
    const known = new Set(before.map((r) => r.key));
    const current = new Set(now.map((r) => r.key));
    for (const r of now) {
      if (known.has(r.key)) continue;
      this.since.set(r.key, new Date());
      const fields = { label, api: `${r.api.name} ${r.api.version}`, id: r.api.apiId, source: r.api.source, ...listed(r.api.skipped) };
      if (r.kind === 'quarantined') this.log.error('API left out of the router config (quarantined)', { ...fields, reasons: r.reasons });
      else this.log.warn('API served without some of its paths or operations', fields);
    }
    const stillReported = new Set(now.map((r) => r.api.apiId));
    for (const r of before) {
      if (current.has(r.key)) continue;
      this.since.delete(r.key);
      if (stillReported.has(r.api.apiId)) continue; // its new state was logged above
      this.log.info(r.kind === 'quarantined' ? 'API no longer quarantined' : 'API no longer has paths or operations left out', { label, id: r.api.apiId });
    }
    this.reported.set(label, now);
  }

  private fingerprint(skipped: readonly object[]): string {
    let f = this.fingerprints.get(skipped);
    if (f === undefined) this.fingerprints.set(skipped, (f = JSON.stringify(skipped)));
    return f;
  }
}

/** A quarantined or partly served API as reported, keyed by what it says. */
interface Reported {
  kind: 'quarantined' | 'partial';
  api: ApiReport;
  reasons: string[];
  key: string;
}

const LOGGED_ROUTES = 20;

/** The left-out routes for a log line: the first few, and how many more `ctl problems` shows. */
function listed(skipped: ApiReport['skipped']): Record<string, unknown> {
  if (skipped.length === 0) return {};
  const more = skipped.length - LOGGED_ROUTES;
  return { skipped: skipped.slice(0, LOGGED_ROUTES).map(skippedLine), ...(more > 0 ? { more: `${more} more: apim-connect ctl problems` } : {}) };
}

function count(n: number): string {
  return `${n} ${n === 1 ? 'path or operation' : 'paths and operations'}`;
}

/** The APIs the router translation kept (the label's own array when it kept them all). */
function servedApis(apis: readonly Api[], quarantined: readonly Quarantined[]): readonly Api[] {
  if (quarantined.length === 0) return apis;
  const left = new Set(quarantined.map((q) => q.apiId));
  return apis.filter((a) => !left.has(a.id));
}

/** Runs `next` after `waiting`, or at once (synchronously) when there is nothing to wait for. */
function after(waiting: Promise<void> | undefined | false, next: () => Promise<void> | undefined): Promise<void> | undefined {
  return waiting ? waiting.then(next) : next();
}
