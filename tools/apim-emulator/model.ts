/** The emulator's view of APIM's database: what the REST endpoints serve and the events describe. */

export interface Operation {
  target: string;
  verb: string;
  authType: string;
  throttlingPolicy: string;
  scopes: string[];
}

/** An API's working copy (what `createApi`/`updateApi` edit). Revisions snapshot it. */
export interface ApiDefinition {
  name: string;
  version: string;
  /** Unversioned, e.g. /petstore. */
  context: string;
  provider: string;
  description?: string;
  type: string;
  /** The definition as given: YAML text, or an object (written as YAML). */
  openapi: string | Record<string, unknown>;
  endpoints: { production?: string; sandbox?: string };
  /** Overrides the raw endpointConfig entirely when given. */
  endpointConfig?: Record<string, unknown>;
  operations: Operation[];
  securityScheme: string[];
  apiThrottlingPolicy?: string;
  policies: string[];
  corsConfiguration?: Record<string, unknown>;
  authorizationHeader: string;
  transport: string[];
  visibility: string;
  /** Extra api.yaml `data` fields, merged last. */
  extra?: Record<string, unknown>;
}

export interface Revision {
  revisionId: number;
  revisionUUID: string;
  createdAt: number;
  snapshot: ApiDefinition;
}

export interface Deployment {
  label: string;
  vhost: string;
  revisionUUID: string;
  deployedAt: number;
}

export interface ApiRecord {
  uuid: string;
  /** The tenant domain (organization) that owns it. */
  tenant: string;
  apiId: number;
  def: ApiDefinition;
  lifeCycleStatus: string;
  isDefaultVersion: boolean;
  revisions: Revision[];
  /** By label. */
  deployments: Map<string, Deployment>;
}

export interface ApplicationRecord {
  uuid: string;
  /** The tenant domain (organization) that owns it, and its keys and subscriptions. */
  tenant: string;
  id: number;
  name: string;
  owner: string;
  policy: string;
  tokenType: string;
  groupId: string;
  attributes: Record<string, string>;
}

export interface KeyMappingRecord {
  applicationId: number;
  applicationUUID: string;
  consumerKey: string;
  keyType: 'PRODUCTION' | 'SANDBOX';
  keyManager: string;
}

export interface SubscriptionRecord {
  subscriptionUUID: string;
  subscriptionId: number;
  policyId: string;
  apiUUID: string;
  applicationUUID: string;
  subscriptionState: string;
}

export type PolicyKind = 'application' | 'subscription' | 'api';

export interface Limit {
  quotaType: 'requestCount' | 'bandwidthVolume' | 'eventCount';
  timeUnit: string;
  unitTime: number;
  requestCount?: number;
  dataAmount?: number;
  dataUnit?: string;
  eventCount?: number;
}

export interface PolicyRecord {
  kind: PolicyKind;
  id: number;
  name: string;
  limit: Limit;
  /** subscription policies */
  rateLimitCount: number;
  rateLimitTimeUnit: string;
  stopOnQuotaReach: boolean;
  subscriberCount: number;
  graphQLMaxDepth: number;
  graphQLMaxComplexity: number;
  /** api policies */
  conditionGroupIds: number[];
  applicableLevel: string;
}

export interface KeyManagerRecord {
  uuid: string;
  /** The tenant domain (organization) it is configured in; names are unique per tenant only. */
  tenant: string;
  name: string;
  type: string;
  enabled: boolean;
  tokenType: string;
  configuration: Record<string, unknown>;
}

export interface RevokedTokenRecord {
  jti: string;
  expiryTime: number;
  type: string;
}

export type BlockingType = 'API' | 'APPLICATION' | 'USER' | 'IP' | 'IPRANGE' | 'SUBSCRIPTION' | 'CUSTOM';

export interface BlockingRecord {
  id: number;
  type: BlockingType;
  /** For IP/IPRANGE: the JSON text APIM stores, e.g. {"fixedIp":"1.2.3.4","invert":false}. */
  value: string;
  enabled: boolean;
}
