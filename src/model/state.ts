import type { Api } from './api';
import {
  keys,
  type Application,
  type BlockingCondition,
  type KeyManager,
  type KeyMapping,
  type RevokedToken,
  type Subscription,
  type ThrottleDecision,
  type ThrottlePolicy,
} from './access';
import { fingerprint, Keyed } from './keyed';

/**
 * GatewayState: everything the gateway serves, as an immutable revision. Sources produce
 * events; `apply` returns a new revision, or the same object when the events change nothing
 * (a redeploy of identical content, an undeploy of something unknown, news older than what is
 * held), so consumers can skip work by comparing identities.
 */

/** The keyed collections besides APIs, and what each holds. */
export interface Entities {
  applications: Application;
  keyMappings: KeyMapping;
  subscriptions: Subscription;
  policies: ThrottlePolicy;
  keyManagers: KeyManager;
  revokedTokens: RevokedToken;
  blockingConditions: BlockingCondition;
  throttleDecisions: ThrottleDecision;
  /** Traffic Manager key templates of custom (global) policies. */
  keyTemplates: string;
}

export type CollectionName = keyof Entities;

const KEY_OF: { [C in CollectionName]: (v: Entities[C]) => string } = {
  applications: keys.application,
  keyMappings: keys.keyMapping,
  subscriptions: keys.subscription,
  policies: keys.policy,
  keyManagers: keys.keyManager,
  revokedTokens: keys.revokedToken,
  blockingConditions: keys.blockingCondition,
  throttleDecisions: (d) => d.key,
  keyTemplates: (t) => t,
};

export const COLLECTIONS = Object.keys(KEY_OF) as CollectionName[];

/** The key an entry is held by in its collection. */
export function keyOf<C extends CollectionName>(collection: C, value: Entities[C]): string {
  return KEY_OF[collection](value);
}

type Each<T> = { [C in CollectionName]: T extends 'upsert' ? { collection: C; value: Entities[C] } : { collection: C; values: Entities[C][] } }[CollectionName];

export type GatewayEvent =
  /** An API (re)deployed to the labels it names. */
  | { kind: 'ApiDeployed'; api: Api }
  /** An API removed from some labels, or from all when `labels` is absent. */
  | { kind: 'ApiUndeployed'; apiId: string; labels?: string[] }
  /** A full pull: exactly these APIs are deployed to these labels (the others are undeployed from them). */
  | { kind: 'ApisReplaced'; labels: string[]; apis: Api[] }
  /** A lifecycle change (PUBLISHED, BLOCKED, ...) of a deployed API. */
  | { kind: 'ApiStatusChanged'; apiId: string; status: string }
  /** An entry added or changed at source time `at` (older news than what is held is ignored). */
  | ({ kind: 'Upserted'; at?: number } & Each<'upsert'>)
  | { kind: 'Deleted'; collection: CollectionName; key: string; at?: number }
  /** A full pull of a collection: exactly these entries. */
  | ({ kind: 'Replaced' } & Each<'replace'>);

type Collections = { [C in CollectionName]: Keyed<Entities[C]> };

export class GatewayState {
  private byLabel?: Map<string, Api[]>;

  private constructor(
    readonly revision: number,
    private readonly apiMap: ReadonlyMap<string, Api>,
    private readonly fingerprints: ReadonlyMap<string, string>,
    private readonly collections: Collections,
  ) {}

  static empty(): GatewayState {
    const empty = Object.fromEntries(Object.keys(KEY_OF).map((c) => [c, Keyed.empty()])) as unknown as Collections;
    return new GatewayState(0, new Map(), new Map(), empty);
  }

  get apis(): ReadonlyMap<string, Api> {
    return this.apiMap;
  }

  /** One of the keyed collections (applications, subscriptions, ...). */
  collection<C extends CollectionName>(name: C): Keyed<Entities[C]> {
    return this.collections[name];
  }

  /** The APIs deployed to a label, ordered by id (deterministic). */
  apisFor(label: string): readonly Api[] {
    if (!this.byLabel) {
      this.byLabel = new Map();
      const sorted = [...this.apiMap.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      for (const api of sorted) {
        for (const l of api.labels) {
          let list = this.byLabel.get(l);
          if (!list) this.byLabel.set(l, (list = []));
          list.push(api);
        }
      }
    }
    return this.byLabel.get(label) ?? [];
  }

  /** Every label some API is deployed to. */
  labels(): string[] {
    return [...new Set([...this.apiMap.values()].flatMap((a) => a.labels))].sort();
  }

  apply(event: GatewayEvent): GatewayState {
    return this.applyAll([event]);
  }

  /** Applies a batch as one revision (a startup pull of thousands of APIs is one change). */
  applyAll(events: readonly GatewayEvent[]): GatewayState {
    const next = new Draft(this.apiMap, this.fingerprints, this.collections);
    for (const e of events) next.apply(e);
    return next.changed ? new GatewayState(this.revision + 1, next.apis(), next.prints(), next.collections) : this;
  }
}

/** The mutable working copy of one applyAll: maps are copied on first write only. */
class Draft {
  changed = false;
  private apiMap?: Map<string, Api>;
  private printMap?: Map<string, string>;
  readonly collections: Collections;

  constructor(
    private readonly baseApis: ReadonlyMap<string, Api>,
    private readonly basePrints: ReadonlyMap<string, string>,
    collections: Collections,
  ) {
    this.collections = { ...collections };
  }

  apis(): ReadonlyMap<string, Api> {
    return this.apiMap ?? this.baseApis;
  }

  prints(): ReadonlyMap<string, string> {
    return this.printMap ?? this.basePrints;
  }

  apply(e: GatewayEvent): void {
    switch (e.kind) {
      case 'ApiDeployed':
        return this.deploy(e.api);
      case 'ApiUndeployed':
        return this.undeploy(e.apiId, e.labels);
      case 'ApisReplaced': {
        const wanted = new Set(e.apis.map((a) => a.id));
        for (const api of [...this.apis().values()]) {
          if (!wanted.has(api.id) && api.labels.some((l) => e.labels.includes(l))) this.undeploy(api.id, e.labels);
        }
        for (const api of e.apis) this.deploy(api);
        return;
      }
      case 'ApiStatusChanged': {
        const api = this.apis().get(e.apiId);
        if (api && api.lifecycleStatus !== e.status) this.deploy({ ...api, lifecycleStatus: e.status });
        return;
      }
      case 'Upserted':
        return this.set(e.collection, (c) => c.upsert(keyOf(e.collection, e.value as never), e.value as never, e.at));
      case 'Deleted':
        return this.set(e.collection, (c) => c.delete(e.key, e.at));
      case 'Replaced':
        return this.set(e.collection, (c) => c.replace((e.values as never[]).map((v) => [keyOf(e.collection, v), v])));
    }
  }

  private set<C extends CollectionName>(name: C, change: (c: Keyed<Entities[C]>) => Keyed<Entities[C]> | undefined): void {
    const next = change(this.collections[name] as Keyed<Entities[C]>);
    if (!next) return;
    (this.collections as Record<CollectionName, unknown>)[name] = next;
    this.changed = true;
  }

  private deploy(api: Api): void {
    const print = fingerprint(api);
    if (this.prints().get(api.id) === print) return;
    this.write().apis.set(api.id, api);
    this.write().prints.set(api.id, print);
    this.changed = true;
  }

  private undeploy(apiId: string, labels?: readonly string[]): void {
    const api = this.apis().get(apiId);
    if (!api) return;
    const keep = labels ? api.labels.filter((l) => !labels.includes(l)) : [];
    if (keep.length === api.labels.length) return;
    if (keep.length === 0) {
      this.write().apis.delete(apiId);
      this.write().prints.delete(apiId);
      this.changed = true;
    } else this.deploy({ ...api, labels: keep });
  }

  private write(): { apis: Map<string, Api>; prints: Map<string, string> } {
    this.apiMap ??= new Map(this.baseApis);
    this.printMap ??= new Map(this.basePrints);
    return { apis: this.apiMap, prints: this.printMap };
  }
}
