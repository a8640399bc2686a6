/** Type URLs of the xDS resources we serve. */
export const TYPE_PREFIX = 'type.googleapis.com/';

export const LISTENER = `${TYPE_PREFIX}envoy.config.listener.v3.Listener`;
export const ROUTE = `${TYPE_PREFIX}envoy.config.route.v3.RouteConfiguration`;
export const CLUSTER = `${TYPE_PREFIX}envoy.config.cluster.v3.Cluster`;
export const ENDPOINT = `${TYPE_PREFIX}envoy.config.endpoint.v3.ClusterLoadAssignment`;
export const SECRET = `${TYPE_PREFIX}envoy.extensions.transport_sockets.tls.v3.Secret`;

/** Custom resources for the enforcer (proto/apimconnect/enforcer/v1). */
export const ENFORCER_PREFIX = `${TYPE_PREFIX}apimconnect.enforcer.v1.`;
export const ENFORCER_API = `${ENFORCER_PREFIX}Api`;
export const ENFORCER_APPLICATION = `${ENFORCER_PREFIX}Application`;
export const ENFORCER_KEY_MAPPING = `${ENFORCER_PREFIX}ApplicationKeyMapping`;
export const ENFORCER_SUBSCRIPTION = `${ENFORCER_PREFIX}Subscription`;
export const ENFORCER_POLICY = `${ENFORCER_PREFIX}ThrottlePolicy`;
export const ENFORCER_KEY_MANAGER = `${ENFORCER_PREFIX}KeyManager`;
export const ENFORCER_REVOKED_TOKEN = `${ENFORCER_PREFIX}RevokedToken`;
export const ENFORCER_BLOCKING_CONDITION = `${ENFORCER_PREFIX}BlockingCondition`;
export const ENFORCER_THROTTLE_DECISION = `${ENFORCER_PREFIX}ThrottleDecision`;
export const ENFORCER_KEY_TEMPLATE = `${ENFORCER_PREFIX}KeyTemplate`;

/** The message name a type URL refers to (the part after the last '/'). */
export function messageName(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

/** Short names for people (`ctl`, logs): "Cluster", "enforcer.v1.Api". */
export function shortTypeName(typeUrl: string): string {
  const name = messageName(typeUrl);
  if (name.startsWith('envoy.')) return name.slice(name.lastIndexOf('.') + 1);
  return name.replace(/^apimconnect\./, '');
}
