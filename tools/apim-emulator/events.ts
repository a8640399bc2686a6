/**
 * APIM's event payloads on the four topics, built field by field in the order APIM's Java classes
 * declare them (Gson writes subclass fields first, then `Event`'s base fields). Independent of the
 * adapter's decoders on purpose: this file is written from the protocol notes and the samples.
 */
import { b64, gsonJson, plainJson } from './gson';

export const TOPIC_NOTIFICATION = 'notification';
export const TOPIC_KEY_MANAGER = 'keyManager';
export const TOPIC_TOKEN_REVOCATION = 'tokenRevocation';
export const TOPIC_THROTTLE_DATA = 'throttleData';
export const ROUTING_KEYS = [TOPIC_NOTIFICATION, TOPIC_KEY_MANAGER, TOPIC_TOKEN_REVOCATION, TOPIC_THROTTLE_DATA] as const;
export type RoutingKey = (typeof ROUTING_KEYS)[number];

/** `impl/notifier/events/Event.java`: written after the subclass fields. */
export interface BaseFields {
  eventId: string;
  timeStamp: number;
  type: string;
  tenantId: number;
  tenantDomain: string;
}

function base(b: BaseFields): BaseFields {
  return { eventId: b.eventId, timeStamp: b.timeStamp, type: b.type, tenantId: b.tenantId, tenantDomain: b.tenantDomain };
}

/** `APIEvent` (API_CREATE/UPDATE/DELETE, API_LIFECYCLE_CHANGE). */
export interface ApiEventFields extends BaseFields {
  apiName: string;
  apiId: number;
  uuid: string;
  apiVersion: string;
  apiContext: string;
  apiProvider: string;
  apiType: string;
  apiStatus: string;
  securityScheme?: string;
  action?: string;
}
export function apiEvent(f: ApiEventFields): Record<string, unknown> {
  return {
    apiName: f.apiName, apiId: f.apiId, uuid: f.uuid, apiVersion: f.apiVersion, apiContext: f.apiContext,
    apiProvider: f.apiProvider, apiType: f.apiType, apiStatus: f.apiStatus, securityScheme: f.securityScheme,
    action: f.action, ...base(f),
  };
}

/** `DeployAPIInGatewayEvent` (DEPLOY_API_IN_GATEWAY, REMOVE_API_FROM_GATEWAY). tenantId is 0 in APIM. */
export interface DeployEventFields extends BaseFields {
  apiId: number;
  uuid: string;
  name: string;
  version: string;
  provider: string;
  apiType: string;
  gatewayLabels: string[];
  associatedApis: unknown[];
  /** Versioned, e.g. /pizzashack/1.0.0. */
  context: string;
}
export function deployEvent(f: DeployEventFields): Record<string, unknown> {
  return {
    apiId: f.apiId, uuid: f.uuid, name: f.name, version: f.version, provider: f.provider, apiType: f.apiType,
    gatewayLabels: [...f.gatewayLabels], associatedApis: [...f.associatedApis], context: f.context, ...base(f),
  };
}

/** `ApplicationEvent` (APPLICATION_CREATE/UPDATE/DELETE). */
export interface ApplicationEventFields extends BaseFields {
  uuid: string;
  applicationId: number;
  applicationName: string;
  tokenType: string;
  applicationPolicy: string;
  groupId: string;
  attributes: Record<string, string>;
  subscriber: string;
}
export function applicationEvent(f: ApplicationEventFields): Record<string, unknown> {
  return {
    uuid: f.uuid, applicationId: f.applicationId, applicationName: f.applicationName, tokenType: f.tokenType,
    applicationPolicy: f.applicationPolicy, groupId: f.groupId, attributes: { ...f.attributes }, subscriber: f.subscriber,
    ...base(f),
  };
}

/** `ApplicationRegistrationEvent` (APPLICATION_REGISTRATION_CREATE, REMOVE_APPLICATION_KEYMAPPING). */
export interface KeyMappingEventFields extends BaseFields {
  applicationUUID: string;
  applicationId: number;
  consumerKey: string;
  keyType: string;
  keyManager: string;
}
export function keyMappingEvent(f: KeyMappingEventFields): Record<string, unknown> {
  return {
    applicationUUID: f.applicationUUID, applicationId: f.applicationId, consumerKey: f.consumerKey, keyType: f.keyType,
    keyManager: f.keyManager, ...base(f),
  };
}

/** `SubscriptionEvent` (SUBSCRIPTIONS_CREATE/UPDATE/DELETE). */
export interface SubscriptionEventFields extends BaseFields {
  subscriptionId: number;
  subscriptionUUID: string;
  apiId: number;
  apiUUID: string;
  applicationId: number;
  applicationUUID: string;
  policyId: string;
  subscriptionState: string;
}
export function subscriptionEvent(f: SubscriptionEventFields): Record<string, unknown> {
  return {
    subscriptionId: f.subscriptionId, subscriptionUUID: f.subscriptionUUID, apiId: f.apiId, apiUUID: f.apiUUID,
    applicationId: f.applicationId, applicationUUID: f.applicationUUID, policyId: f.policyId,
    subscriptionState: f.subscriptionState, ...base(f),
  };
}

/** `ApplicationPolicyEvent` (POLICY_*, policyType APPLICATION). */
export interface ApplicationPolicyEventFields extends BaseFields {
  policyId: number;
  policyName: string;
  quotaType: string;
}
export function applicationPolicyEvent(f: ApplicationPolicyEventFields): Record<string, unknown> {
  return { policyId: f.policyId, policyName: f.policyName, quotaType: f.quotaType, policyType: 'APPLICATION', ...base(f) };
}

/** `SubscriptionPolicyEvent` (POLICY_*, policyType SUBSCRIPTION). */
export interface SubscriptionPolicyEventFields extends ApplicationPolicyEventFields {
  subscriberCount: number;
  rateLimitCount: number;
  rateLimitTimeUnit: string;
  stopOnQuotaReach: boolean;
  graphQLMaxDepth: number;
  graphQLMaxComplexity: number;
}
export function subscriptionPolicyEvent(f: SubscriptionPolicyEventFields): Record<string, unknown> {
  return {
    policyId: f.policyId, policyName: f.policyName, quotaType: f.quotaType, subscriberCount: f.subscriberCount,
    rateLimitCount: f.rateLimitCount, rateLimitTimeUnit: f.rateLimitTimeUnit, stopOnQuotaReach: f.stopOnQuotaReach,
    graphQLMaxDepth: f.graphQLMaxDepth, graphQLMaxComplexity: f.graphQLMaxComplexity, policyType: 'SUBSCRIPTION',
    ...base(f),
  };
}

/** `APIPolicyEvent` (POLICY_*, policyType API). Condition-group ids are int arrays. */
export interface ApiPolicyEventFields extends ApplicationPolicyEventFields {
  addedConditionGroupIds: number[];
  deletedConditionGroupIds: number[];
}
export function apiPolicyEvent(f: ApiPolicyEventFields): Record<string, unknown> {
  return {
    policyId: f.policyId, policyName: f.policyName, quotaType: f.quotaType,
    addedConditionGroupIds: [...f.addedConditionGroupIds], deletedConditionGroupIds: [...f.deletedConditionGroupIds],
    policyType: 'API', ...base(f),
  };
}

// ---------------------------------------------------------------------------------------------
// Envelopes (the WSO2 event publisher's default JSON mapping: {"event":{"payloadData":{...}}})

export interface Envelope {
  event: { payloadData: Record<string, unknown> };
}

/** notification topic: payloadData = [eventType, timestamp, event=base64(Gson(event))]. */
export function notificationEnvelope(event: Record<string, unknown>): Envelope {
  const type = event['type'];
  const ts = event['timeStamp'];
  if (typeof type !== 'string' || typeof ts !== 'number') throw new Error('event needs type and timeStamp');
  return { event: { payloadData: { eventType: type, timestamp: ts, event: b64(gsonJson(event)) } } };
}

/** keyManager topic, 4.0-4.2 sender: value = base64(Gson(additionalProperties)) or "" when there are none. */
export interface KeyManagerPayloadFields {
  action: 'add' | 'update' | 'delete';
  name: string;
  type: string;
  enabled: boolean;
  tenantDomain: string;
  configuration: Record<string, unknown> | null;
}
export function keyManagerEnvelope(f: KeyManagerPayloadFields): Envelope {
  return {
    event: {
      payloadData: {
        event_type: 'key_manager_configuration', action: f.action, name: f.name, type: f.type, enabled: f.enabled,
        value: f.configuration ? b64(gsonJson(f.configuration)) : '', tenantDomain: f.tenantDomain,
      },
    },
  };
}

/**
 * keyManager topic, newer sender: value = base64(Gson(whole KeyManagerConfigurationDTO)), payload gains tokenType.
 * Attribute names of the newer stream are UNCONFIRMED (protocol notes §2.4); modelled on sample 08.
 */
export interface NewerKeyManagerPayloadFields extends KeyManagerPayloadFields {
  uuid: string;
  tokenType: string;
}
export function keyManagerEnvelopeNewer(f: NewerKeyManagerPayloadFields): Envelope {
  const dto = {
    uuid: f.uuid, name: f.name, type: f.type, enabled: f.enabled, organization: f.tenantDomain, tokenType: f.tokenType,
    additionalProperties: f.configuration ?? {},
  };
  return {
    event: {
      payloadData: {
        event_type: 'key_manager_configuration', action: f.action, name: f.name, type: f.type, enabled: f.enabled,
        value: b64(gsonJson(dto)), tenantDomain: f.tenantDomain, tokenType: f.tokenType,
      },
    },
  };
}

/** tokenRevocation topic: eventId, revokedToken, ttl (string), expiryTime, type, tenantId. No base64. */
export interface RevocationPayloadFields {
  eventId: string;
  revokedToken: string;
  ttl: string;
  expiryTime: number;
  type: string;
  tenantId: number;
}
export function revocationEnvelope(f: RevocationPayloadFields): Envelope {
  return {
    event: {
      payloadData: {
        eventId: f.eventId, revokedToken: f.revokedToken, ttl: f.ttl, expiryTime: f.expiryTime, type: f.type,
        tenantId: f.tenantId,
      },
    },
  };
}

/** throttleData topic, Traffic Manager decision. */
export interface ThrottleDecisionFields {
  throttleKey: string;
  isThrottled: boolean;
  expiryTimeStamp: number;
  /** base64 of a JSON array; left out when undefined. */
  evaluatedConditions?: string;
}
export function throttleDecisionEnvelope(f: ThrottleDecisionFields): Envelope {
  const payloadData: Record<string, unknown> = {
    throttleKey: f.throttleKey, isThrottled: f.isThrottled, expiryTimeStamp: f.expiryTimeStamp,
  };
  if (f.evaluatedConditions !== undefined) payloadData['evaluatedConditions'] = f.evaluatedConditions;
  return { event: { payloadData } };
}

/** throttleData topic, blocking condition. `state` is the STRING "true"/"false". */
export interface BlockingPayloadFields {
  id: number;
  blockingCondition: string;
  conditionValue: string;
  state: 'true' | 'false';
  tenantDomain: string;
}
export function blockingEnvelope(f: BlockingPayloadFields): Envelope {
  return {
    event: {
      payloadData: {
        id: f.id, blockingCondition: f.blockingCondition, conditionValue: f.conditionValue, state: f.state,
        tenantDomain: f.tenantDomain,
      },
    },
  };
}

/** throttleData topic, key template. */
export function keyTemplateEnvelope(keyTemplateValue: string, keyTemplateState: 'add' | 'remove'): Envelope {
  return { event: { payloadData: { keyTemplateValue, keyTemplateState } } };
}

/** The message body as published: compact JSON text (a JMS TextMessage's UTF-8 text). */
export function envelopeText(envelope: Envelope): string {
  return plainJson(envelope);
}
