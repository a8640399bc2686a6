import type { ChannelCredentials } from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';
import { messageType } from '../envoy/protos';
import {
  ENFORCER_API,
  ENFORCER_APPLICATION,
  ENFORCER_BLOCKING_CONDITION,
  ENFORCER_KEY_MANAGER,
  ENFORCER_KEY_MAPPING,
  ENFORCER_KEY_TEMPLATE,
  ENFORCER_POLICY,
  ENFORCER_REVOKED_TOKEN,
  ENFORCER_SUBSCRIPTION,
  ENFORCER_THROTTLE_DECISION,
  messageName,
} from '../envoy/typeUrls';
import { DeltaXdsClient, type Decoder } from '../xds/client';
import type { Log } from '../xds/log';
import { keys } from '../model/access';
import { BlockingConditions, type BlockingEntry } from './blocking';
import { ConditionGroups, type DecisionEntry } from './condition-groups';
import type { EnforcerKeyManager } from './jwt-issuers';
import { KeyTemplates } from './key-templates';
import type { EnforcerPolicy } from './rate-limits';
import type { TrafficManagerDecisions } from './throttle';

/**
 * The enforcer's view of what the adapter serves it (proto/apimconnect/enforcer/v1), held in
 * memory and indexed for the questions a check asks, so deciding a request does no I/O. It keeps
 * answering from the last good view while the adapter is away, and is not ready until every
 * type has arrived once.
 */

export interface EnforcerOperation {
  method: string;
  secured: boolean;
  scopes: string[];
  throttling_tier: string;
}

export interface EnforcerResource {
  path: string;
  operations: EnforcerOperation[];
  production_cluster: string;
  sandbox_cluster: string;
  production_authorization: string;
  sandbox_authorization: string;
}

export interface EnforcerClientCertificate {
  alias: string;
  sha256_fingerprint: string;
  tier: string;
}

export interface EnforcerApi {
  id: string;
  name: string;
  version: string;
  context: string;
  base_path: string;
  vhost: string;
  type: string;
  organization: string;
  is_default_version: boolean;
  lifecycle_status: string;
  security_schemes: string[];
  authorization_header: string;
  api_key_header: string;
  throttling_tier: string;
  resources: EnforcerResource[];
  revision: string;
  client_certificates: EnforcerClientCertificate[];
}

export interface EnforcerApplication {
  uuid: string;
  /** APIM's numeric id; 0 when none is known (an application not from APIM). */
  id: number;
  name: string;
  owner: string;
  policy: string;
  attributes: Record<string, string>;
  organization: string;
}

export interface EnforcerKeyMapping {
  consumer_key: string;
  key_manager: string;
  key_type: string;
  application_uuid: string;
  organization: string;
}

export interface EnforcerSubscription {
  uuid: string;
  api_id: string;
  application_uuid: string;
  policy: string;
  state: string;
  organization: string;
}

/** The types an enforcer subscribes to. */
export const ENFORCER_TYPES = [
  ENFORCER_API,
  ENFORCER_APPLICATION,
  ENFORCER_KEY_MAPPING,
  ENFORCER_SUBSCRIPTION,
  ENFORCER_POLICY,
  ENFORCER_KEY_MANAGER,
  ENFORCER_REVOKED_TOKEN,
  ENFORCER_BLOCKING_CONDITION,
  ENFORCER_THROTTLE_DECISION,
  ENFORCER_KEY_TEMPLATE,
];

/** Plain objects with every field present (proto3 defaults), enums as names, 64-bit as numbers. */
const PLAIN: protobuf.IConversionOptions = { longs: Number, enums: String, defaults: true, arrays: true, objects: true };

function decoder(typeUrl: string): Decoder<unknown> {
  const type = messageType(messageName(typeUrl));
  return (value) => type.toObject(type.decode(value), PLAIN);
}

export interface EnforcerViewOptions {
  /** The adapter's xDS address. */
  address: string;
  /** The label (node group) this enforcer serves. */
  label: string;
  nodeId: string;
  /** TLS to the adapter (see cli/tls); plain when absent. */
  credentials?: ChannelCredentials;
  log?: Log;
  backoff?: { initialMs?: number; maxMs?: number };
  /** Largest xDS response accepted from the adapter. */
  maxMessageBytes?: number;
}

export class EnforcerView {
  private readonly client: DeltaXdsClient<unknown>;
  /** (API, application, organization) → subscription: the lookup subscription validation makes. */
  private readonly subscriptionIndex = new Map<string, EnforcerSubscription>();
  /** Subscription name → its index key, to drop the entry when the subscription goes or moves. */
  private readonly indexKeyOf = new Map<string, string>();
  /** Counts policy updates, so what is computed from policies knows when to compute it again. */
  private policyUpdates = 0;
  /** Blocking conditions, indexed again whenever they change. */
  private blockingIndex = new BlockingConditions([]);
  /** Decisions on API and resource keys by condition group, kept one decision at a time. */
  private readonly groupIndex = new ConditionGroups();
  private templateIndex = new KeyTemplates([]);
  private readonly log?: Log;

  /** The Traffic Manager's decisions and key templates, for the throttle stage. */
  readonly decisions: TrafficManagerDecisions = {
    until: (key) => this.throttledUntil(key),
    groups: () => this.groupIndex,
    templates: () => this.templateIndex,
  };

  constructor(options: EnforcerViewOptions) {
    this.client = new DeltaXdsClient<unknown>({
      address: options.address,
      node: { id: options.nodeId, cluster: options.label },
      typeUrls: ENFORCER_TYPES,
      decode: Object.fromEntries(ENFORCER_TYPES.map((t) => [t, decoder(t)])),
      log: options.log,
      backoff: options.backoff,
      maxMessageBytes: options.maxMessageBytes,
      credentials: options.credentials,
    });
    this.log = options.log;
    this.client.onChange((c) => {
      if (c.typeUrl === ENFORCER_SUBSCRIPTION) this.reindexSubscriptions(c.updated, c.removed);
      if (c.typeUrl === ENFORCER_BLOCKING_CONDITION) this.reindexBlocking();
      if (c.typeUrl === ENFORCER_POLICY) this.policyUpdates++;
      if (c.typeUrl === ENFORCER_THROTTLE_DECISION) this.reindexDecisions(c.updated, c.removed);
      if (c.typeUrl === ENFORCER_KEY_TEMPLATE) this.templateIndex = new KeyTemplates(this.all(ENFORCER_KEY_TEMPLATE).map((t) => (t as { template: string }).template));
    });
  }

  get ready(): boolean {
    return this.client.ready;
  }

  whenReady(): Promise<void> {
    return this.client.whenReady();
  }

  /** Calls back after each applied change of a type (names updated and removed). */
  onChange(listener: (change: { typeUrl: string; updated: string[]; removed: string[] }) => void): () => void {
    return this.client.onChange(listener);
  }

  api(id: string): EnforcerApi | undefined {
    return this.client.get(ENFORCER_API, id) as EnforcerApi | undefined;
  }

  /** An application of `organization`: one of another organization's is not there for it. */
  application(uuid: string, organization: string): EnforcerApplication | undefined {
    const app = this.client.get(ENFORCER_APPLICATION, uuid) as EnforcerApplication | undefined;
    return app?.organization === organization ? app : undefined;
  }

  /** The key mapping of a consumer key of a key manager, in `organization`. */
  keyMapping(consumerKey: string, keyManager: string, organization: string): EnforcerKeyMapping | undefined {
    const m = this.client.get(ENFORCER_KEY_MAPPING, keys.keyMapping({ consumerKey, keyManager, organization })) as EnforcerKeyMapping | undefined;
    return m?.organization === organization ? m : undefined;
  }

  /** The subscription of an application to an API, in `organization`, if any. */
  subscription(apiId: string, appUuid: string, organization: string): EnforcerSubscription | undefined {
    return this.subscriptionIndex.get(subscriptionKey(apiId, appUuid, organization));
  }

  /** A throttling policy by kind, organization and name (the adapter's key). */
  policy(kind: 'api' | 'subscription' | 'application', organization: string, name: string): EnforcerPolicy | undefined {
    return this.client.get(ENFORCER_POLICY, `${kind}:${organization}:${name}`) as EnforcerPolicy | undefined;
  }

  /** Every key manager, as the issuer registry takes them. */
  keyManagers(): EnforcerKeyManager[] {
    return this.all(ENFORCER_KEY_MANAGER) as EnforcerKeyManager[];
  }

  /** Until when the Traffic Manager throttles `key` (ms), if it does. */
  throttledUntil(key: string): number | undefined {
    const d = this.client.get(ENFORCER_THROTTLE_DECISION, key) as { until_ms: number } | undefined;
    return d ? Number(d.until_ms) : undefined;
  }

  /** Changes whenever any throttling policy does. */
  get policyGeneration(): number {
    return this.policyUpdates;
  }

  /** The blocking conditions in force. */
  blocking(): BlockingConditions {
    return this.blockingIndex;
  }

  /** One entry of a type by name, as decoded. */
  entry(typeUrl: string, name: string): unknown {
    return this.client.get(typeUrl, name);
  }

  /** Every entry of a type, as decoded (policies, revoked tokens, blocking conditions). */
  all(typeUrl: string): unknown[] {
    return [...this.client.entries(typeUrl).values()].map((h) => h.value);
  }

  close(): void {
    this.client.close();
  }

  private reindexBlocking(): void {
    this.blockingIndex = new BlockingConditions(this.all(ENFORCER_BLOCKING_CONDITION) as BlockingEntry[]);
    for (const problem of this.blockingIndex.unusable) this.log?.warn('blocking condition ignored', { problem });
  }

  private reindexDecisions(updated: string[], removed: string[]): void {
    for (const name of removed) this.groupIndex.set(name, undefined);
    for (const name of updated) {
      for (const problem of this.groupIndex.set(name, this.client.get(ENFORCER_THROTTLE_DECISION, name) as DecisionEntry | undefined)) {
        this.log?.warn('Traffic Manager condition ignored', { problem });
      }
    }
  }

  private reindexSubscriptions(updated: string[], removed: string[]): void {
    for (const name of [...removed, ...updated]) {
      const key = this.indexKeyOf.get(name);
      if (key !== undefined) this.subscriptionIndex.delete(key);
      this.indexKeyOf.delete(name);
    }
    for (const name of updated) {
      const s = this.client.get(ENFORCER_SUBSCRIPTION, name) as EnforcerSubscription | undefined;
      if (!s) continue;
      const key = subscriptionKey(s.api_id, s.application_uuid, s.organization);
      this.subscriptionIndex.set(key, s);
      this.indexKeyOf.set(name, key);
    }
  }
}

const subscriptionKey = (apiId: string, appUuid: string, organization: string): string => `${organization}\0${apiId}\0${appUuid}`;
