import type { Logger } from 'winston';
import type { Config } from '../config/config';
import type { Problem } from '../model/problems';
import { GatewayState, type GatewayEvent } from '../model/state';
import { EnforcerTranslator } from '../translate/enforcer';
import { Translator, type Quarantined } from '../translate/translate';
import type { SnapshotCache } from '../xds/cache';

/**
 * The one-way flow inside the adapter: source events → GatewayState → translators (router and
 * enforcer resources) → snapshot cache. A batch of events is one new state and one translation per label; labels whose APIs
 * did not change translate from cache and set identical content, which pushes nothing.
 */
export class Pipeline {
  private state = GatewayState.empty();
  private readonly translator: Translator;
  /** The enforcers' view (served to them by the same xDS server, in the same group). */
  private readonly enforcer = new EnforcerTranslator();
  /** Quarantined APIs by label, as of the last translation. */
  private readonly quarantined = new Map<string, Quarantined[]>();
  private readonly since = new Map<string, Date>();

  constructor(
    private readonly cache: SnapshotCache,
    config: Config,
    private readonly log: Logger,
  ) {
    this.translator = new Translator(config);
    for (const label of config.controlPlane.environmentLabels) cache.ensureGroup(label);
  }

  get current(): GatewayState {
    return this.state;
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
    for (const label of [...labels].sort()) {
      // One label failing must not keep the others from being served.
      try {
        const out = this.translator.translate(this.state.apisFor(label));
        this.cache.setGroup(label, { ...out.resources, ...this.enforcer.translate(this.state, label) });
        this.report(label, out.quarantined);
      } catch (err) {
        this.log.error('label not updated: translation failed; the router keeps its last config', { label, error: (err as Error).stack ?? String(err) });
      }
    }
  }

  /** Quarantined APIs, for the admin API. */
  problems(): Problem[] {
    return [...this.quarantined].flatMap(([group, list]) =>
      list.map((q) => ({
        kind: 'quarantined' as const,
        group,
        apiId: q.apiId,
        apiName: q.name,
        apiVersion: q.version,
        source: q.source,
        reasons: q.reasons,
        since: this.since.get(`${group}\0${q.apiId}\0${q.reasons.join('\n')}`) ?? new Date(),
      })),
    );
  }

  /** Logs each quarantine once, when it starts, and when it ends. */
  private report(label: string, now: Quarantined[]): void {
    const key = (q: Quarantined): string => `${label}\0${q.apiId}\0${q.reasons.join('\n')}`;
    const before = new Set((this.quarantined.get(label) ?? []).map(key));
    const after = new Set(now.map(key));
    for (const q of now) {
      if (before.has(key(q))) continue;
      this.since.set(key(q), new Date());
      this.log.error('API left out of the router config (quarantined)', { label, api: `${q.name} ${q.version}`, id: q.apiId, source: q.source, reasons: q.reasons });
    }
    for (const k of before) {
      if (after.has(k)) continue;
      this.since.delete(k);
      const [, id] = k.split('\0');
      this.log.info('API no longer quarantined', { label, id });
    }
    this.quarantined.set(label, now);
  }
}
