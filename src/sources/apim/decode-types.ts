import type { GatewayEvent } from '../../model/state';

/**
 * What one APIM message asks of the adapter. Most messages carry their data and become domain
 * events (`apply`); API deployments carry only a reference, so the listener has to pull the API
 * (`deploy`, `refresh`); some messages matter to nobody here (`ignore`, with the reason for the log).
 */
export type ApimAction =
  | { kind: 'apply'; events: GatewayEvent[] }
  /**
   * Pull this API's runtime artifact for these labels (the event's labels that are also ours).
   * `context` is the versioned context the event names (`/pizzashack/1.0.0`), for the `/apis` call.
   */
  | { kind: 'deploy'; apiId: string; labels: string[]; revision?: string; context?: string; version?: string }
  | { kind: 'undeploy'; apiId: string; labels: string[] }
  /** Pull this API again (its metadata and artifact), e.g. after a default-version change. */
  | { kind: 'refresh'; apiId: string; labels: string[] }
  /** Pull the throttling policies again: policy events never carry the limits themselves. */
  | RefreshPolicies
  | { kind: 'ignore'; reason: string };

export type RefreshPolicies = { kind: 'refresh-policies' };

export interface Decoded {
  /** APIM's event id, where the message has one (notification and tokenRevocation). */
  eventId?: string;
  /** When it happened at the source (ms), where the message says. */
  at?: number;
  /** What the message is, for logs and metrics: the notification eventType, or `KEY_MANAGER_ADD`, `TOKEN_REVOCATION`, ... */
  type: string;
  actions: ApimAction[];
}

export interface DecodeContext {
  /** The gateway labels (environments) this adapter serves. */
  labels: string[];
}

/** The four routing keys APIM publishes on, spelt as APIM spells them. */
export const ROUTING_KEYS = ['notification', 'keyManager', 'tokenRevocation', 'throttleData'] as const;
export type RoutingKey = (typeof ROUTING_KEYS)[number];

export const ignore = (reason: string): ApimAction => ({ kind: 'ignore', reason });
export const apply = (...events: GatewayEvent[]): ApimAction => ({ kind: 'apply', events });
