import { keys, type Application, type KeyMapping, type KeyType, type PolicyKind, type Subscription, type ThrottlePolicy } from '../../model/access';
import type { CollectionName, Entities, GatewayEvent } from '../../model/state';
import { base64Text, excerpt, Fields, lookup, parseJson, SUPER_TENANT } from './decode-json';
import { burst } from './decode-limits';
import { apply, ignore, type ApimAction, type DecodeContext, type Decoded } from './decode-types';

/**
 * The `notification` topic: `{"event":{"payloadData":{eventType, timestamp, event}}}` where
 * `event` is base64 of the Gson JSON of APIM's event object.
 *
 * Routing rule (Choreo Connect routes by substring of the envelope type, then picks the action
 * from the decoded `type`): we route on the envelope `eventType` by its exact name (ignoring case),
 * and refuse a message whose decoded `type` names another event. Unknown types are ignored
 * without decoding `event`, since their payloads are not ours to judge.
 */

type Handler = (e: Fields, ctx: DecodeContext, type: string) => ApimAction[];

export function decodeNotification(body: Fields, ctx: DecodeContext): Decoded {
  const payload = body.child('event').child('payloadData');
  const eventType = payload.str('eventType');
  const timestamp = payload.int('timestamp');
  const type = eventType.toUpperCase();
  const handler = lookup(HANDLERS, type);
  if (!handler) return { at: timestamp, type: eventType, actions: [ignore(`unknown notification event type ${eventType}`)] };

  const inner = base64Text(payload.str('event'), 'payloadData.event');
  const e = Fields.of(parseJson(inner, 'payloadData.event'), `${eventType} event`, () => excerpt(inner));
  const declared = e.optStr('type');
  if (declared !== undefined && declared.toUpperCase() !== type) e.fail('type', `says ${declared} but the envelope says ${eventType}`);
  // The event's own timeStamp is what APIM stamped it with (and what CC dedupes on); the envelope copies it.
  const at = e.optInt('timeStamp') ?? timestamp;
  return { eventId: e.optStr('eventId'), at, type: eventType, actions: handler(e, ctx, type).map((a) => stamp(a, at)) };
}

/** Every entry event carries the event's source time, so older news never overwrites newer. */
function stamp(action: ApimAction, at: number): ApimAction {
  if (action.kind !== 'apply') return action;
  return { kind: 'apply', events: action.events.map((ev) => (ev.kind === 'Upserted' || ev.kind === 'Deleted' ? { ...ev, at } : ev)) };
}

const organization = (e: Fields): string => e.optStr('tenantDomain') || SUPER_TENANT;

/** The labels we serve. None configured: Choreo Connect's rule, `Default` only. */
const configured = (ctx: DecodeContext): string[] => (ctx.labels.length ? [...ctx.labels] : ['Default']);

/** The event's labels that we serve, in the event's order. */
function ourLabels(e: Fields, ctx: DecodeContext): string[] {
  const ours = configured(ctx);
  return [...new Set(e.strings('gatewayLabels'))].filter((l) => ours.includes(l));
}

// API events: DeployAPIInGatewayEvent names its fields name/version/context, APIEvent apiName/apiVersion/apiContext.

const deploy: Handler = (e, ctx) => {
  const apiId = e.str('uuid');
  const labels = ourLabels(e, ctx);
  if (!labels.length) return [ignore(`API ${apiId} deployed to ${e.strings('gatewayLabels').join(', ') || 'no labels'}, none of them ours`)];
  const context = e.optStr('context', 'apiContext');
  const version = e.optStr('version', 'apiVersion');
  return [{ kind: 'deploy', apiId, labels, ...(context ? { context } : {}), ...(version ? { version } : {}) }];
};

const undeploy: Handler = (e, ctx) => {
  const apiId = e.str('uuid');
  const labels = ourLabels(e, ctx);
  if (!labels.length) return [ignore(`API ${apiId} removed from ${e.strings('gatewayLabels').join(', ') || 'no labels'}, none of them ours`)];
  return [{ kind: 'undeploy', apiId, labels }];
};

/** apiStatus is the target state (PUBLISHED, BLOCKED, ...). */
const lifecycle: Handler = (e) => [apply({ kind: 'ApiStatusChanged', apiId: e.str('uuid'), status: e.str('apiStatus', 'status') })];

/**
 * Only a default-version change matters: the artifact's isDefaultVersion follows it. Creating,
 * changing or deleting an API changes nothing on a gateway until a revision is (un)deployed,
 * which comes as its own event.
 */
const apiUpdate: Handler = (e, ctx, type) => {
  const apiId = e.str('uuid');
  if (type === 'API_UPDATE' && e.optStr('action')?.toUpperCase() === 'DEFAULT_VERSION') return [{ kind: 'refresh', apiId, labels: configured(ctx) }];
  return [ignore(`${type} of API ${apiId}: gateways change only when a revision is deployed or removed`)];
};

function application(e: Fields): Application {
  const tokenType = e.optStr('tokenType');
  const id = e.optInt('applicationId', 'id');
  return {
    uuid: e.str('uuid'),
    ...(id !== undefined ? { id } : {}),
    name: e.str('applicationName', 'name'),
    owner: e.str('subscriber', 'subName'),
    policy: e.str('applicationPolicy', 'policy'),
    ...(tokenType ? { tokenType } : {}),
    attributes: e.optStringMap('attributes') ?? {},
    organization: organization(e),
  };
}

export function keyType(f: Fields): KeyType {
  const t = f.str('keyType').toUpperCase();
  if (t !== 'PRODUCTION' && t !== 'SANDBOX') return f.fail('keyType', `expected PRODUCTION or SANDBOX, got ${JSON.stringify(t)}`);
  return t;
}

function keyMapping(e: Fields): KeyMapping {
  return {
    consumerKey: e.str('consumerKey'),
    keyManager: e.str('keyManager'),
    keyType: keyType(e),
    appUuid: e.str('applicationUUID', 'applicationUuid'),
    organization: organization(e),
  };
}

function subscription(e: Fields): Subscription {
  const id = e.optInt('subscriptionId');
  return {
    uuid: e.str('subscriptionUUID', 'subscriptionUuid'),
    ...(id !== undefined ? { id } : {}),
    apiUuid: e.str('apiUUID', 'apiUuid'),
    appUuid: e.str('applicationUUID', 'applicationUuid'),
    policy: e.str('policyId', 'policy'),
    state: e.str('subscriptionState'),
    organization: organization(e),
  };
}

const POLICY_KINDS: Record<string, PolicyKind> = { API: 'api', APPLICATION: 'application', SUBSCRIPTION: 'subscription' };

/**
 * What a policy event knows. No policy event carries the limit itself (only its quota type), so
 * `defaultLimit` stays undefined here and the handler asks for a policy pull to fill it in.
 */
function policy(e: Fields): ThrottlePolicy {
  const rawKind = e.str('policyType');
  const kind = lookup(POLICY_KINDS, rawKind.toUpperCase()) ?? e.fail('policyType', `expected API, APPLICATION or SUBSCRIPTION, got ${JSON.stringify(rawKind)}`);
  const id = e.optInt('policyId');
  const out: ThrottlePolicy = { kind, name: e.str('policyName', 'name'), ...(id !== undefined ? { id } : {}), organization: organization(e) };
  if (kind === 'subscription') {
    const spike = burst(e);
    const stop = e.optBool('stopOnQuotaReach');
    if (spike) out.burst = spike;
    if (stop !== undefined) out.stopOnQuotaReach = stop;
  }
  return out;
}

/**
 * Upserted on create and update; Deleted on delete, by a key made from the key fields alone (a
 * DELETE may carry less than a CREATE). `keys` is what `keyOf` uses for each collection.
 */
function entry<C extends CollectionName>(collection: C, read: (e: Fields) => Entities[C], key: (e: Fields) => string): Handler {
  return (e, _ctx, type) => {
    const event = /DELETE|REMOVE/.test(type)
      ? { kind: 'Deleted' as const, collection, key: key(e) }
      : ({ kind: 'Upserted', collection, value: read(e) } as GatewayEvent);
    return [apply(event)];
  };
}

const applications = entry('applications', application, (e) => keys.application({ uuid: e.str('uuid') }));
const keyMappings = entry('keyMappings', keyMapping, (e) => keys.keyMapping({ consumerKey: e.str('consumerKey'), keyManager: e.str('keyManager'), organization: organization(e) }));
const subscriptions = entry('subscriptions', subscription, (e) => keys.subscription({ uuid: e.str('subscriptionUUID', 'subscriptionUuid') }));
const policyEntry = entry('policies', policy, (e) => keys.policy(policy(e)));

const policies: Handler = (e, ctx, type) => {
  const actions = policyEntry(e, ctx, type);
  return type === 'POLICY_DELETE' ? actions : [...actions, { kind: 'refresh-policies' }];
};

const scopes: Handler = (_e, _ctx, type) => [ignore(`${type}: scopes are read from each API's definition`)];

const HANDLERS: Record<string, Handler> = {
  DEPLOY_API_IN_GATEWAY: deploy,
  REMOVE_API_FROM_GATEWAY: undeploy,
  API_LIFECYCLE_CHANGE: lifecycle,
  API_CREATE: apiUpdate,
  API_UPDATE: apiUpdate,
  API_DELETE: apiUpdate,
  APPLICATION_CREATE: applications,
  APPLICATION_UPDATE: applications,
  APPLICATION_DELETE: applications,
  APPLICATION_REGISTRATION_CREATE: keyMappings,
  REMOVE_APPLICATION_KEYMAPPING: keyMappings,
  SUBSCRIPTIONS_CREATE: subscriptions,
  SUBSCRIPTIONS_UPDATE: subscriptions,
  SUBSCRIPTIONS_DELETE: subscriptions,
  POLICY_CREATE: policies,
  POLICY_UPDATE: policies,
  POLICY_DELETE: policies,
  SCOPE_CREATE: scopes,
  SCOPE_UPDATE: scopes,
  SCOPE_DELETE: scopes,
};
