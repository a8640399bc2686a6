/**
 * Who may call which API and how much: applications, their keys, subscriptions, throttling
 * policies, key managers (token issuers), revoked tokens and blocking conditions. Ours and plain,
 * whatever APIM's REST or event field names are (sources translate). When a change happened at
 * the source travels with the event that carries it (see GatewayState), not in the entry.
 */

/** APIM's super tenant: the organization of entries that name none, and of APIM's own Resident Key Manager. */
export const SUPER_TENANT = 'carbon.super';

export interface Application {
  uuid: string;
  /** APIM's numeric id, where it sent one. */
  id?: number;
  name: string;
  owner: string;
  /** Application throttling policy name. */
  policy: string;
  tokenType?: string;
  attributes: Record<string, string>;
  organization: string;
}

export type KeyType = 'PRODUCTION' | 'SANDBOX';

export interface KeyMapping {
  consumerKey: string;
  /** Key manager name, as the token's issuer is known by. */
  keyManager: string;
  keyType: KeyType;
  appUuid: string;
  organization: string;
}

/** UNBLOCKED, BLOCKED, PROD_ONLY_BLOCKED, ON_HOLD, REJECTED, TIER_UPDATE_PENDING (APIM's names). */
export type SubscriptionState = string;

export interface Subscription {
  uuid: string;
  id?: number;
  apiUuid: string;
  appUuid: string;
  /** Subscription throttling policy (tier) name. */
  policy: string;
  state: SubscriptionState;
  organization: string;
}

export type PolicyKind = 'api' | 'application' | 'subscription';

export interface RateLimit {
  /** requestCount, bandwidthVolume or eventCount. */
  quotaType: string;
  limit: number;
  /** Bandwidth limits: the unit of `limit` (KB, MB). */
  dataUnit?: string;
  unitTimeMs: number;
}

export interface ThrottlePolicy {
  kind: PolicyKind;
  name: string;
  id?: number;
  organization: string;
  /** Undefined when the policy does not limit (Unlimited) or its limit is not known yet. */
  defaultLimit?: RateLimit;
  /** Subscription policies: burst (spike) control. */
  burst?: { limit: number; unitTimeMs: number };
  /** Subscription policies: false means over-quota requests are let through and logged. */
  stopOnQuotaReach?: boolean;
}

export interface KeyManager {
  name: string;
  type: string;
  enabled: boolean;
  organization: string;
  /** The configuration APIM holds for it (issuer, certificate_type, certificate_value, ...). */
  configuration: Record<string, unknown>;
}

export interface RevokedToken {
  /** The token's jti, or its signature when it has none, as APIM sends it. */
  id: string;
  /** When the token would expire anyway (ms): after that it need not be remembered. */
  expiresAt: number;
  /** Default (opaque), JWT, API_KEY, ... */
  tokenType?: string;
  organization?: string;
}

export type BlockingType = 'API' | 'APPLICATION' | 'USER' | 'IP' | 'IPRANGE' | 'SUBSCRIPTION' | 'CUSTOM';

export interface BlockingCondition {
  /** APIM's id where it has one; else the type and value make the key. */
  id?: string;
  type: BlockingType;
  /** API context, application `owner:name`, user name, subscription key, ... */
  value?: string;
  fixedIp?: string;
  startingIp?: string;
  endingIp?: string;
  /** Block everything but the IP or range. */
  invert?: boolean;
  organization: string;
}

/** A Traffic Manager decision: `key` is throttled until `until` (ms), or no longer. */
export interface ThrottleDecision {
  key: string;
  throttled: boolean;
  until: number;
  /**
   * For an API or resource key's condition group (`_default`, `_condition_N`): the conditions the
   * Traffic Manager evaluated (its evaluatedConditions). A request is in the group when any one
   * of them holds; the default group lists the other groups', and holds when none of them does.
   */
  conditions?: ThrottleCondition[];
}

/** One evaluated condition: every part it has must hold. */
export interface ThrottleCondition {
  /** The client's address within [start, end] (one address when equal), as APIM's decimal integers. */
  ip?: { start: string; end: string; invert: boolean };
  header?: ValueConditions;
  query?: ValueConditions;
  jwtClaims?: ValueConditions;
}

/** Named values (header, query parameter, JWT claim), each matching a regular expression somewhere. */
export interface ValueConditions {
  values: Record<string, string>;
  invert: boolean;
}

/** A stable key for each kind of entry. */
export const keys = {
  application: (a: Pick<Application, 'uuid'>): string => a.uuid,
  /** Two organizations may hold the same consumer key of same-named key managers: each keeps its own. */
  keyMapping: (m: Pick<KeyMapping, 'consumerKey' | 'keyManager' | 'organization'>): string => `${m.organization}:${m.consumerKey}:${m.keyManager}`,
  subscription: (s: Pick<Subscription, 'uuid'>): string => s.uuid,
  policy: (p: Pick<ThrottlePolicy, 'kind' | 'name' | 'organization'>): string => `${p.kind}:${p.organization}:${p.name}`,
  keyManager: (k: Pick<KeyManager, 'name' | 'organization'>): string => `${k.organization}:${k.name.toLowerCase()}`,
  revokedToken: (t: Pick<RevokedToken, 'id'>): string => t.id,
  blockingCondition: (b: BlockingCondition): string =>
    b.id ?? `${b.type}:${b.organization}:${(b.value ?? `${b.fixedIp ?? ''}-${b.startingIp ?? ''}-${b.endingIp ?? ''}`).toLowerCase()}`,
};
