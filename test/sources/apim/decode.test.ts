import * as fs from 'fs';
import * as path from 'path';
import { keyOf } from '../../../src/model/state';
import {
  DecodeError,
  decodeMessage,
  restApiMetadata,
  restApiPolicies,
  restApplicationPolicies,
  restApplications,
  restBlockingConditions,
  restDeployments,
  restKeyManagers,
  restKeyMappings,
  restKeyTemplates,
  restRevokedTokens,
  restSubscriptionPolicies,
  restSubscriptions,
  type ApimAction,
  type Decoded,
} from '../../../src/sources/apim/decode';

/* Samples are copies of shared/reference/samples (APIM's wire formats, as facts). */
const FIXTURES = path.join(__dirname, '../../fixtures/apim');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const sample = (name: string): any => JSON.parse(fs.readFileSync(path.join(FIXTURES, name), 'utf8'));

const ctx = { labels: ['Default'] };
const API = 'a5b6c7d8-1111-4a2b-9c3d-0e1f2a3b4c5d';
const APP = 'c0ffee00-1234-4abc-9def-0123456789ab';

const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64');

/** A notification envelope as APIM's publisher writes it. */
function notification(eventType: string, event: Record<string, unknown>, timestamp = 1700000000000): string {
  return JSON.stringify({ event: { payloadData: { eventType, timestamp, event: b64(event) } } });
}

const payload = (p: Record<string, unknown>): string => JSON.stringify({ event: { payloadData: p } });

/** The one apply action's events, failing when the message decoded to something else. */
function events(d: Decoded): unknown[] {
  expect(d.actions).toHaveLength(1);
  const a = d.actions[0]!;
  if (a.kind !== 'apply') throw new Error(`expected apply, got ${JSON.stringify(a)}`);
  return a.events;
}

function decodeError(fn: () => unknown): DecodeError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DecodeError);
    return e as DecodeError;
  }
  throw new Error('expected a DecodeError');
}

describe('notification samples', () => {
  test('the base64 in each sample is the decoded event it shows', () => {
    const bodies: [any, any][] = [];
    for (const f of ['01-amqp-notification-api-create.json', '02-amqp-deploy-api-in-gateway.json', '03-amqp-remove-api-from-gateway.json']) {
      const s = sample(f);
      bodies.push([s.body, s['decodedPayloadData.event']]);
    }
    for (const f of ['04-amqp-api-lifecycle-and-default-version.json', '05-amqp-application-events.json', '06-amqp-subscription-events.json', '07-amqp-policy-events.json']) {
      for (const s of Object.values(sample(f)) as any[]) bodies.push([s.body, s['decodedPayloadData.event']]);
    }
    expect(bodies).toHaveLength(13);
    for (const [body, decoded] of bodies) {
      expect(JSON.parse(Buffer.from(body.event.payloadData.event, 'base64').toString('utf8'))).toEqual(decoded);
    }
  });

  test('01 API_CREATE is ignored, with its event id and time', () => {
    const s = sample('01-amqp-notification-api-create.json');
    expect(s.routingKey).toBe('notification');
    const d = decodeMessage(s.routingKey, JSON.stringify(s.body), ctx);
    expect(d).toMatchObject({ eventId: '14667304-23dd-4b9f-8c39-a1103d06d058', at: 1628490908147, type: 'API_CREATE' });
    expect(d.actions).toEqual([{ kind: 'ignore', reason: expect.stringContaining('7808af84-6b9a-4c86-953a-4f40f157671f') }]);
  });

  test('02 DEPLOY_API_IN_GATEWAY deploys to the labels we share with the event', () => {
    const body = JSON.stringify(sample('02-amqp-deploy-api-in-gateway.json').body);
    const d = decodeMessage('notification', Buffer.from(body), { labels: ['US', 'Default'] });
    expect(d).toEqual({
      eventId: '3c1f4b0e-6a7d-4c55-9d0b-2f6c1f0f9e11',
      at: 1700000000123,
      type: 'DEPLOY_API_IN_GATEWAY',
      actions: [{ kind: 'deploy', apiId: API, labels: ['Default'], context: '/pizzashack/1.0.0', version: '1.0.0' }],
    });
  });

  test('02 DEPLOY for labels we do not serve is ignored, saying which', () => {
    const body = JSON.stringify(sample('02-amqp-deploy-api-in-gateway.json').body);
    const d = decodeMessage('notification', body, { labels: ['US'] });
    expect(d.actions).toEqual([{ kind: 'ignore', reason: expect.stringMatching(/Default.*none of them ours/) }]);
  });

  test('no labels configured means Default, as in Choreo Connect', () => {
    const body = JSON.stringify(sample('02-amqp-deploy-api-in-gateway.json').body);
    expect(decodeMessage('notification', body, { labels: [] }).actions[0]).toMatchObject({ kind: 'deploy', labels: ['Default'] });
  });

  test('03 REMOVE_API_FROM_GATEWAY undeploys from the shared labels', () => {
    const s = sample('03-amqp-remove-api-from-gateway.json');
    const d = decodeMessage('notification', JSON.stringify(s.body), ctx);
    expect(d).toEqual({ eventId: '9a0b1c2d-3e4f-4a5b-8c7d-6e5f4a3b2c1d', at: 1700000900456, type: 'REMOVE_API_FROM_GATEWAY', actions: [{ kind: 'undeploy', apiId: API, labels: ['Default'] }] });
    expect(decodeMessage('notification', JSON.stringify(s.body), { labels: ['EU'] }).actions[0]!.kind).toBe('ignore');
  });

  test('04 API_LIFECYCLE_CHANGE sets the target status; API_UPDATE DEFAULT_VERSION re-pulls the API', () => {
    const s = sample('04-amqp-api-lifecycle-and-default-version.json');
    const lc = decodeMessage('notification', JSON.stringify(s.apiLifecycleChange.body), ctx);
    expect(lc.at).toBe(1700001000000);
    expect(events(lc)).toEqual([{ kind: 'ApiStatusChanged', apiId: API, status: 'BLOCKED' }]);
    const dv = decodeMessage('notification', JSON.stringify(s.apiUpdateDefaultVersion.body), { labels: ['Default', 'US'] });
    expect(dv).toEqual({ eventId: '11111111-2222-4333-8444-555555555555', at: 1700002000000, type: 'API_UPDATE', actions: [{ kind: 'refresh', apiId: API, labels: ['Default', 'US'] }] });
  });

  test('05 application, key mapping created, key mapping removed', () => {
    const s = sample('05-amqp-application-events.json');
    const app = decodeMessage('notification', JSON.stringify(s.APPLICATION_CREATE.body), ctx);
    expect(app.eventId).toBe('a1a1a1a1-b2b2-4c3c-8d4d-e5e5e5e5e5e5');
    expect(events(app)).toEqual([
      {
        kind: 'Upserted',
        collection: 'applications',
        at: 1700003000000,
        value: { uuid: APP, id: 3, name: 'PizzaApp', owner: 'admin', policy: 'Unlimited', tokenType: 'JWT', attributes: { 'cost-center': '42' }, organization: 'carbon.super' },
      },
    ]);
    const mapping = { consumerKey: 'Vx4r9Xq2HkZpPqv0m3Lw5t8yUa', keyManager: 'Resident Key Manager', keyType: 'PRODUCTION' as const, appUuid: APP, organization: 'carbon.super' };
    const reg = decodeMessage('notification', JSON.stringify(s.APPLICATION_REGISTRATION_CREATE.body), ctx);
    expect(events(reg)).toEqual([{ kind: 'Upserted', collection: 'keyMappings', value: mapping, at: 1700003100000 }]);
    const rm = decodeMessage('notification', JSON.stringify(s.REMOVE_APPLICATION_KEYMAPPING.body), ctx);
    expect(events(rm)).toEqual([{ kind: 'Deleted', collection: 'keyMappings', key: keyOf('keyMappings', mapping), at: 1700009000000 }]);
    expect(keyOf('keyMappings', mapping)).toBe('carbon.super:Vx4r9Xq2HkZpPqv0m3Lw5t8yUa:Resident Key Manager');
  });

  test('06 subscription created, then blocked', () => {
    const s = sample('06-amqp-subscription-events.json');
    const sub = { uuid: 'd4d4d4d4-e5e5-4f6f-8a7a-b8b8b8b8b8b8', id: 5, apiUuid: API, appUuid: APP, policy: 'Gold', state: 'UNBLOCKED', organization: 'carbon.super' };
    expect(events(decodeMessage('notification', JSON.stringify(s.SUBSCRIPTIONS_CREATE.body), ctx))).toEqual([{ kind: 'Upserted', collection: 'subscriptions', value: sub, at: 1700004000000 }]);
    const upd = decodeMessage('notification', JSON.stringify(s.SUBSCRIPTIONS_UPDATE_blocked.body), ctx);
    expect(upd.type).toBe('SUBSCRIPTIONS_UPDATE');
    expect(events(upd)).toEqual([{ kind: 'Upserted', collection: 'subscriptions', value: { ...sub, state: 'BLOCKED' }, at: 1700005000000 }]);
  });

  test('07 policy events upsert what they carry and ask for the limits to be pulled', () => {
    const s = sample('07-amqp-policy-events.json');
    const refresh: ApimAction = { kind: 'refresh-policies' };
    expect(decodeMessage('notification', JSON.stringify(s.subscriptionPolicy.body), ctx).actions).toEqual([
      { kind: 'apply', events: [{ kind: 'Upserted', collection: 'policies', at: 1700006000000, value: { kind: 'subscription', name: 'Gold', id: 2, organization: 'carbon.super', stopOnQuotaReach: true } }] },
      refresh,
    ]);
    expect(decodeMessage('notification', JSON.stringify(s.applicationPolicy.body), ctx).actions).toEqual([
      { kind: 'apply', events: [{ kind: 'Upserted', collection: 'policies', at: 1700006100000, value: { kind: 'application', name: '10PerMin', id: 7, organization: 'carbon.super' } }] },
      refresh,
    ]);
    expect(decodeMessage('notification', JSON.stringify(s.apiPolicy.body), ctx).actions).toEqual([
      { kind: 'apply', events: [{ kind: 'Upserted', collection: 'policies', at: 1700006200000, value: { kind: 'api', name: '10KPerMin', id: 9, organization: 'carbon.super' } }] },
      refresh,
    ]);
  });
});

describe('notification events beyond the samples', () => {
  const apiEvent = { apiName: 'PizzaShackAPI', apiId: 6, uuid: API, apiVersion: '1.0.0', apiContext: '/pizzashack/1.0.0', apiType: 'HTTP', apiStatus: 'PUBLISHED', tenantDomain: 'carbon.super' };

  test('a DEPLOY event with APIEvent field names (apiName/apiVersion/apiContext) reads the same', () => {
    const d = decodeMessage('notification', notification('DEPLOY_API_IN_GATEWAY', { ...apiEvent, gatewayLabels: ['Default', 'Default', 'US'] }), ctx);
    expect(d.actions).toEqual([{ kind: 'deploy', apiId: API, labels: ['Default'], context: '/pizzashack/1.0.0', version: '1.0.0' }]);
  });

  test('API_UPDATE without DEFAULT_VERSION, and API_DELETE, are ignored with a reason', () => {
    for (const [type, extra] of [['API_UPDATE', {}], ['API_UPDATE', { action: 'ENDPOINT_CONFIG' }], ['API_DELETE', {}]] as const) {
      const d = decodeMessage('notification', notification(type, { ...apiEvent, ...extra, type }), ctx);
      expect(d.actions).toEqual([{ kind: 'ignore', reason: expect.stringContaining('revision') }]);
    }
  });

  test('APPLICATION_UPDATE upserts, APPLICATION_DELETE deletes by uuid even when it carries only that', () => {
    const app = { uuid: APP, applicationId: 3, applicationName: 'PizzaApp2', applicationPolicy: '10PerMin', subscriber: 'bob', tenantDomain: 'wso2.com' };
    const [up] = events(decodeMessage('notification', notification('APPLICATION_UPDATE', app, 42), ctx)) as any[];
    expect(up).toEqual({ kind: 'Upserted', collection: 'applications', at: 42, value: { uuid: APP, id: 3, name: 'PizzaApp2', owner: 'bob', policy: '10PerMin', attributes: {}, organization: 'wso2.com' } });
    const del = decodeMessage('notification', notification('APPLICATION_DELETE', { uuid: APP, timeStamp: 43 }, 43), ctx);
    expect(events(del)).toEqual([{ kind: 'Deleted', collection: 'applications', key: keyOf('applications', up.value), at: 43 }]);
  });

  test('SUBSCRIPTIONS_DELETE deletes by subscription uuid; POLICY_DELETE by kind, name and tenant', () => {
    const sub = decodeMessage('notification', notification('SUBSCRIPTIONS_DELETE', { subscriptionId: 5, subscriptionUUID: 'sub-1' }, 7), ctx);
    expect(events(sub)).toEqual([{ kind: 'Deleted', collection: 'subscriptions', key: 'sub-1', at: 7 }]);
    const pol = decodeMessage('notification', notification('POLICY_DELETE', { policyId: 2, policyName: 'Gold', policyType: 'SUBSCRIPTION', tenantDomain: 'wso2.com' }, 8), ctx);
    const key = keyOf('policies', { kind: 'subscription', name: 'Gold', organization: 'wso2.com' });
    expect(pol.actions).toEqual([{ kind: 'apply', events: [{ kind: 'Deleted', collection: 'policies', key, at: 8 }] }]);
  });

  test('subscription policy events carry spike arrest as burst', () => {
    const e = { policyId: 3, policyName: 'Burst', quotaType: 'requestCount', rateLimitCount: 10, rateLimitTimeUnit: 'sec', stopOnQuotaReach: false, policyType: 'SUBSCRIPTION' };
    const [apply, refresh] = decodeMessage('notification', notification('POLICY_CREATE', e), ctx).actions;
    expect(refresh).toEqual({ kind: 'refresh-policies' });
    expect(apply?.kind === 'apply' && (apply.events[0] as any).value).toEqual({ kind: 'subscription', name: 'Burst', id: 3, organization: 'carbon.super', burst: { limit: 10, unitTimeMs: 1000 }, stopOnQuotaReach: false });
  });

  test('the event timeStamp wins over the envelope timestamp; digit strings are numbers', () => {
    const d = decodeMessage('notification', JSON.stringify({ event: { payloadData: { eventType: 'SUBSCRIPTIONS_DELETE', timestamp: '1700000000001', event: b64({ subscriptionUUID: 's', timeStamp: 1700000000002 }) } } }), ctx);
    expect(d.at).toBe(1700000000002);
    expect(events(d)).toEqual([{ kind: 'Deleted', collection: 'subscriptions', key: 's', at: 1700000000002 }]);
  });

  test('SCOPE_* and unknown event types are ignored; unknown types are not even decoded', () => {
    expect(decodeMessage('notification', notification('SCOPE_CREATE', { name: 'read' }), ctx).actions).toEqual([{ kind: 'ignore', reason: expect.stringContaining('SCOPE_CREATE') }]);
    const unknown = JSON.stringify({ event: { payloadData: { eventType: 'HEALTH_CHECK', timestamp: 5, event: 'not base64 at all!' } } });
    expect(decodeMessage('notification', unknown, ctx)).toEqual({ at: 5, type: 'HEALTH_CHECK', actions: [{ kind: 'ignore', reason: 'unknown notification event type HEALTH_CHECK' }] });
  });

  test('an event whose decoded type disagrees with the envelope is refused', () => {
    const e = decodeError(() => decodeMessage('notification', notification('APPLICATION_CREATE', { uuid: APP, type: 'APPLICATION_DELETE' }), ctx));
    expect(e.reason).toMatch(/type: says APPLICATION_DELETE but the envelope says APPLICATION_CREATE/);
  });
});

describe('keyManager topic', () => {
  const s = sample('08-amqp-keymanager-event.json');

  test('08 both value formats give the same key manager', () => {
    const old = decodeMessage('keyManager', JSON.stringify(s.body_APIM_4_0_style), ctx);
    const newer = decodeMessage('keyManager', JSON.stringify(s.body_newer_APIM_style), ctx);
    const km = { name: 'Keycloak', type: 'KeyCloak', enabled: true, organization: 'carbon.super', configuration: s.decoded_value_APIM_4_0_style };
    expect(old).toEqual({ type: 'KEY_MANAGER_ADD', actions: [{ kind: 'apply', events: [{ kind: 'Upserted', collection: 'keyManagers', value: km }] }] });
    expect(newer).toEqual({ type: 'KEY_MANAGER_UPDATE', actions: [{ kind: 'apply', events: [{ kind: 'Upserted', collection: 'keyManagers', value: km }] }] });
    expect(s.decoded_value_newer_APIM_style.additionalProperties).toEqual(s.decoded_value_APIM_4_0_style);
    expect((km.configuration as any).self_validate_jwt).toBe(true);
  });

  test('delete removes by name (case-insensitively) and tenant; an empty value is no configuration', () => {
    const del = decodeMessage('keyManager', payload({ event_type: 'key_manager_configuration', action: 'delete', name: 'KeyCloak', type: 'KeyCloak', enabled: true, value: '', tenantDomain: 'carbon.super' }), ctx);
    expect(events(del)).toEqual([{ kind: 'Deleted', collection: 'keyManagers', key: keyOf('keyManagers', { name: 'Keycloak', type: '', enabled: true, organization: 'carbon.super', configuration: {} }) }]);
    const add = decodeMessage('keyManager', payload({ event_type: 'KEY_MANAGER_CONFIGURATION', action: 'ADD', name: 'Plain', type: 'default', enabled: 'false', value: '' }), ctx);
    expect(events(add)).toEqual([{ kind: 'Upserted', collection: 'keyManagers', value: { name: 'Plain', type: 'default', enabled: false, organization: 'carbon.super', configuration: {} } }]);
  });

  test('other keyManager event types are ignored', () => {
    expect(decodeMessage('keyManager', payload({ event_type: 'something_else', action: 'add', name: 'x' }), ctx).actions[0]!.kind).toBe('ignore');
  });
});

describe('tokenRevocation topic', () => {
  test('09 both samples become revoked tokens', () => {
    const s = sample('09-amqp-token-revocation.json');
    expect(decodeMessage('tokenRevocation', JSON.stringify(s.body_from_CC_unit_test), ctx)).toEqual({
      eventId: '444d2f9b-57d8-4245-bef2-3f8d824741c3',
      type: 'TOKEN_REVOCATION',
      actions: [{ kind: 'apply', events: [{ kind: 'Upserted', collection: 'revokedTokens', value: { id: 'fc8ee897-b3d9-3bb6-a9ca-f4aeb036e5c0', expiresAt: 1628175421481, tokenType: 'Default', organization: 'carbon.super' } }] }],
    });
    expect(events(decodeMessage('tokenRevocation', JSON.stringify(s.body_jwt_example), ctx))).toEqual([
      { kind: 'Upserted', collection: 'revokedTokens', value: { id: '2f8c1e6a-4b3d-4a7e-9c10-5d6e7f809a1b', expiresAt: 1700007200000, tokenType: 'JWT', organization: 'carbon.super' } },
    ]);
  });

  test('another tenant id names no organization we could know', () => {
    const [ev] = events(decodeMessage('tokenRevocation', payload({ revokedToken: 'jti-1', ttl: '5000', expiryTime: 9, type: 'JWT', tenantId: 3 }), ctx)) as any[];
    expect(ev.value).toEqual({ id: 'jti-1', expiresAt: 9, tokenType: 'JWT' });
  });
});

describe('throttleData topic', () => {
  const s = sample('10-amqp-throttle-data.json');
  const decode = (p: unknown): Decoded => decodeMessage('throttleData', JSON.stringify(p), ctx);

  test('10 throttle decisions: throttled upserts, not throttled deletes', () => {
    expect(decode(s.throttleDecision_consumedByEnforcer)).toEqual({
      type: 'THROTTLE_DECISION',
      actions: [
        {
          kind: 'apply',
          events: [
            {
              kind: 'Upserted',
              collection: 'throttleDecisions',
              value: { key: '/pizzashack/1.0.0:1.0.0_default', throttled: true, until: 1700007260000, conditions: [{ header: { values: { 'x-tier': 'free' }, invert: false } }] },
            },
          ],
        },
      ],
    });
    expect(events(decode(s.throttleDecision_resourceLevel))).toEqual([{ kind: 'Deleted', collection: 'throttleDecisions', key: '/pizzashack/1.0.0/1.0.0/menu:GET_default' }]);
  });

  const withConditions = (text: string): unknown => ({
    event: { payloadData: { throttleKey: '/a/1.0.0/1.0.0/x:GET_condition_1', isThrottled: true, expiryTimeStamp: 5, evaluatedConditions: Buffer.from(text).toString('base64') } },
  });

  test('evaluated conditions: every kind, keys in any case, IPv6 addresses to the last digit', () => {
    const text =
      '[{"ipspecific":{"specificIp":167772167,"invert":true}},' +
      '{"IPRange":{"startingIp":42540766411282592856903984951653826560,"endingIp":"42540766411282592856903984951653826815","invert":false},' +
      '"queryparametertype":{"values":{"region":"^eu"},"invert":false},"jwtclaims":{"values":{"plan":"trial"},"invert":true}}]';
    const [ev] = events(decode(withConditions(text))) as any[];
    expect(ev.value.conditions).toEqual([
      { ip: { start: '167772167', end: '167772167', invert: true } },
      {
        ip: { start: '42540766411282592856903984951653826560', end: '42540766411282592856903984951653826815', invert: false },
        query: { values: { region: '^eu' }, invert: false },
        jwtClaims: { values: { plan: 'trial' }, invert: true },
      },
    ]);
  });

  test('evaluated conditions that cannot be read reject the decision, saying where and why', () => {
    const reason = (text: string): string => decodeError(() => decode(withConditions(text))).message;
    expect(reason('{"header":{}}')).toMatch(/evaluatedConditions: expected a JSON array/);
    expect(reason('[{"header":{"values":{"x-tier":"(["}}}]')).toMatch(/evaluatedConditions\[0\]\.header\.values\.x-tier: is not a regular expression/);
    expect(reason('[{"ipspecific":{"specificIp":"10.0.0.7"}}]')).toMatch(/evaluatedConditions\[0\]\.ipspecific\.specificIp: expected an address as a decimal integer/);
    expect(reason('[1]')).toMatch(/evaluatedConditions\[0\]: expected an object/);
    const bad = { event: { payloadData: { throttleKey: 'k', isThrottled: true, expiryTimeStamp: 5, evaluatedConditions: 'not base64!' } } };
    expect(decodeError(() => decode(bad)).message).toMatch(/evaluatedConditions: is not standard padded base64/);
  });

  test('10 blocking conditions: IP, IP range, API removal', () => {
    expect(events(decode(s.blockingCondition_IP))).toEqual([{ kind: 'Upserted', collection: 'blockingConditions', value: { id: '3', type: 'IP', fixedIp: '192.168.10.20', invert: false, organization: 'carbon.super' } }]);
    expect(events(decode(s.blockingCondition_IPRANGE))).toEqual([
      { kind: 'Upserted', collection: 'blockingConditions', value: { id: '4', type: 'IPRANGE', startingIp: '10.0.0.1', endingIp: '10.0.0.254', invert: false, organization: 'carbon.super' } },
    ]);
    const api = { type: 'API' as const, value: '/pizzashack/1.0.0', organization: 'carbon.super' };
    expect(events(decode(s.blockingCondition_API))).toEqual([{ kind: 'Deleted', collection: 'blockingConditions', key: keyOf('blockingConditions', api) }]);
  });

  test('10 key template added, and removed', () => {
    expect(decode(s.keyTemplate)).toEqual({ type: 'KEY_TEMPLATE', actions: [{ kind: 'apply', events: [{ kind: 'Upserted', collection: 'keyTemplates', value: '$userId$apiContext$apiVersion' }] }] });
    expect(events(decode({ event: { payloadData: { keyTemplateValue: '$userId', keyTemplateState: 'remove' } } }))).toEqual([{ kind: 'Deleted', collection: 'keyTemplates', key: '$userId' }]);
  });

  test('IP range with invert, keys in any case; removal by id needs no value', () => {
    const add = { id: 11, blockingCondition: 'iprange', conditionValue: '{"StartingIP":"10.1.0.0","ENDINGIP":"10.1.255.255","Invert":"true"}', state: 'true', tenantDomain: 'wso2.com' };
    expect(events(decode({ event: { payloadData: add } }))).toEqual([
      { kind: 'Upserted', collection: 'blockingConditions', value: { id: '11', type: 'IPRANGE', startingIp: '10.1.0.0', endingIp: '10.1.255.255', invert: true, organization: 'wso2.com' } },
    ]);
    const rm = { ...add, state: 'false', conditionValue: 'garbage' };
    expect(events(decode({ event: { payloadData: rm } }))).toEqual([{ kind: 'Deleted', collection: 'blockingConditions', key: '11' }]);
  });

  test('SUBSCRIPTION conditions are kept (unlike Choreo Connect), and so are USER and CUSTOM', () => {
    for (const type of ['SUBSCRIPTION', 'USER', 'CUSTOM', 'APPLICATION']) {
      const [ev] = events(decode({ event: { payloadData: { id: 9, blockingCondition: type, conditionValue: 'v:1', state: 'true', tenantDomain: 'carbon.super' } } })) as any[];
      expect(ev).toEqual({ kind: 'Upserted', collection: 'blockingConditions', value: { type, value: 'v:1', organization: 'carbon.super' } });
    }
  });

  test('event and REST pull key the same condition the same way', () => {
    const rest = restBlockingConditions(sample('13-rest-revokedjwt-keytemplates-block.json')['GET internal/data/v1/block']);
    const [ip] = events(decode(s.blockingCondition_IP)) as any[];
    expect(rest.map((c) => keyOf('blockingConditions', c))).toContain(keyOf('blockingConditions', ip.value));
    const [api] = events(decode(s.blockingCondition_API)) as any[];
    expect(rest.map((c) => keyOf('blockingConditions', c))).toContain(api.key);
  });

  test('a payload of none of the three kinds is refused', () => {
    expect(decodeError(() => decode({ event: { payloadData: { something: 1 } } })).reason).toMatch(/none of throttle decision/);
  });
});

describe('REST responses', () => {
  const s11 = sample('11-rest-internal-data-startup.json');

  test('11 subscriptions, applications, key mappings', () => {
    expect(restSubscriptions(s11['GET internal/data/v1/subscriptions'])).toEqual([
      { uuid: 'd4d4d4d4-e5e5-4f6f-8a7a-b8b8b8b8b8b8', id: 5, apiUuid: API, appUuid: APP, policy: 'Gold', state: 'UNBLOCKED', organization: 'carbon.super' },
    ]);
    expect(restApplications(s11['GET internal/data/v1/applications'])).toEqual([
      { uuid: APP, id: 3, name: 'PizzaApp', owner: 'admin', policy: 'Unlimited', tokenType: 'JWT', attributes: { 'cost-center': '42' }, organization: 'carbon.super' },
    ]);
    expect(restKeyMappings(s11['GET internal/data/v1/application-key-mappings'], { organization: 'wso2.com' })).toEqual([
      { consumerKey: 'Vx4r9Xq2HkZpPqv0m3Lw5t8yUa', keyManager: 'Resident Key Manager', keyType: 'PRODUCTION', appUuid: APP, organization: 'wso2.com' },
      { consumerKey: 'sNd8Bx3LqW7eR2yT9uI0oP4aSd', keyManager: 'Resident Key Manager', keyType: 'SANDBOX', appUuid: APP, organization: 'wso2.com' },
    ]);
  });

  test('11 application and subscription policies with their default limits', () => {
    expect(restApplicationPolicies(s11['GET internal/data/v1/application-policies'])).toEqual([
      { kind: 'application', name: 'Unlimited', id: 1, organization: 'carbon.super', defaultLimit: { quotaType: 'requestCount', limit: 2147483647, unitTimeMs: 60000 } },
      { kind: 'application', name: '10PerMin', id: 7, organization: 'carbon.super', defaultLimit: { quotaType: 'requestCount', limit: 10, unitTimeMs: 60000 } },
    ]);
    expect(restSubscriptionPolicies(s11['GET internal/data/v1/subscription-policies'])).toEqual([
      { kind: 'subscription', name: 'Gold', id: 2, organization: 'carbon.super', defaultLimit: { quotaType: 'requestCount', limit: 5000, unitTimeMs: 60000 }, stopOnQuotaReach: true },
    ]);
  });

  test('bandwidth limits, burst and time units', () => {
    const list = [
      {
        id: 4, name: 'Bw', tenantDomain: 'carbon.super', quotaType: 'bandwidthVolume', rateLimitCount: 20, rateLimitTimeUnit: 'min', stopOnQuotaReach: false,
        defaultLimit: { quotaType: 'bandwidthVolume', requestCount: null, bandwidth: { timeUnit: 'hour', unitTime: 2, dataAmount: 500, dataUnit: 'MB' } },
      },
      { id: 5, name: 'Days', quotaType: 'requestCount', defaultLimit: { requestCount: { timeUnit: 'days', unitTime: 1, requestCount: '100' } } },
    ];
    expect(restSubscriptionPolicies({ count: 2, list })).toEqual([
      { kind: 'subscription', name: 'Bw', id: 4, organization: 'carbon.super', defaultLimit: { quotaType: 'bandwidthVolume', limit: 500, dataUnit: 'MB', unitTimeMs: 7_200_000 }, burst: { limit: 20, unitTimeMs: 60_000 }, stopOnQuotaReach: false },
      { kind: 'subscription', name: 'Days', id: 5, organization: 'carbon.super', defaultLimit: { quotaType: 'requestCount', limit: 100, unitTimeMs: 86_400_000 } },
    ]);
    const bad = { list: [{ name: 'X', defaultLimit: { quotaType: 'requestCount', requestCount: { timeUnit: 'fortnight', unitTime: 1, requestCount: 1 } } }] };
    expect(decodeError(() => restApplicationPolicies(bad)).reason).toBe('GET /application-policies list[0].defaultLimit.requestCount.timeUnit: unknown time unit "fortnight"');
  });

  test('/api-policies keep their default limit', () => {
    const list = [{ id: 9, name: '10KPerMin', tenantDomain: 'carbon.super', quotaType: 'requestCount', defaultLimit: { quotaType: 'requestCount', requestCount: { timeUnit: 'min', unitTime: 1, requestCount: 10000 } }, conditionGroups: [] }];
    expect(restApiPolicies({ count: 1, list })).toEqual([{ kind: 'api', name: '10KPerMin', id: 9, organization: 'carbon.super', defaultLimit: { quotaType: 'requestCount', limit: 10000, unitTimeMs: 60000 } }]);
  });

  test('11 /apis metadata', () => {
    expect(restApiMetadata(s11['GET internal/data/v1/apis?gatewayLabel=Default'])).toEqual([
      { uuid: API, name: 'PizzaShackAPI', version: '1.0.0', context: '/pizzashack/1.0.0', isDefaultVersion: false, status: 'PUBLISHED', apiType: 'HTTP' },
    ]);
    expect(restApiMetadata('{"count":0,"list":[]}')).toEqual([]);
  });

  test('12 key managers (a bare array)', () => {
    const kms = restKeyManagers(sample('12-rest-keymanagers.json').response_200);
    expect(kms.map((k) => [k.name, k.type, k.enabled, k.organization])).toEqual([
      ['Resident Key Manager', 'default', true, 'carbon.super'],
      ['Keycloak', 'KeyCloak', true, 'carbon.super'],
    ]);
    expect(kms[0]!.configuration).toMatchObject({ issuer: 'https://localhost:9443/oauth2/token', self_validate_jwt: true, certificate_type: 'JWKS', certificate_value: 'https://localhost:9443/oauth2/jwks' });
    expect(kms[1]!.configuration.claim_mappings).toEqual([{ remoteClaim: 'preferred_username', localClaim: 'http://wso2.org/claims/username' }]);
    expect(decodeError(() => restKeyManagers({ count: 2, list: [] })).reason).toBe('GET /keymanagers: expected a JSON array');
  });

  test('13 revoked tokens in both shapes, key templates, blocking conditions', () => {
    const s13 = sample('13-rest-revokedjwt-keytemplates-block.json');
    expect(restRevokedTokens(s13['GET internal/data/v1/revokedjwt (APIM 4.0-4.2 shape, what Choreo Connect parses)'])).toEqual([
      { id: '2f8c1e6a-4b3d-4a7e-9c10-5d6e7f809a1b', expiresAt: 1700007200000, organization: 'carbon.super' },
      { id: 'e0Yx3kZ9m2...signature-or-jti...', expiresAt: 1700010800000, organization: 'carbon.super' },
    ]);
    expect(restRevokedTokens(s13['GET internal/data/v1/revokedjwt (newer carbon-apimgt master shape, NOT parseable by Choreo Connect)'], { organization: 'wso2.com' })).toEqual([
      { id: '2f8c1e6a-4b3d-4a7e-9c10-5d6e7f809a1b', expiresAt: 1700007200000, organization: 'wso2.com' },
    ]);
    expect(restRevokedTokens({})).toEqual([]);
    expect(restKeyTemplates(s13['GET internal/data/v1/keyTemplates'])).toEqual(['$userId', '$apiContext:$apiVersion', '$userId$apiContext$apiVersion']);
    expect(restBlockingConditions(s13['GET internal/data/v1/block'])).toEqual([
      { type: 'API', value: '/pizzashack/1.0.0', organization: 'carbon.super' },
      { type: 'APPLICATION', value: 'admin:PizzaApp', organization: 'carbon.super' },
      { type: 'USER', value: 'baduser@carbon.super', organization: 'carbon.super' },
      { type: 'SUBSCRIPTION', value: '/pizzashack/1.0.0:1.0.0:admin-PizzaApp', organization: 'carbon.super' },
      { id: '3', type: 'IP', fixedIp: '192.168.10.20', invert: false, organization: 'carbon.super' },
      { id: '4', type: 'IPRANGE', startingIp: '10.0.0.1', endingIp: '10.0.0.254', invert: true, organization: 'carbon.super' },
    ]);
  });

  test('14 deployments.json', () => {
    const s14 = sample('14-runtime-artifacts-root-and-acks.json');
    expect(restDeployments(JSON.stringify(s14['deployments.json']))).toEqual([
      { apiFile: 'a5b6c7d8-1111-4a2b-9c3d-0e1f2a3b4c5d-8e8e8e8e-7d7d-4c6c-9b5b-4a4a4a4a4a4a.zip', environments: [{ name: 'Default', vhost: 'localhost' }], organization: 'carbon.super' },
    ]);
    const sneaky = { type: 'deployments', data: { deployments: [{ apiFile: '../../etc/x.zip', environments: [] }] } };
    expect(decodeError(() => restDeployments(sneaky)).reason).toMatch(/data\.deployments\[0\]\.apiFile: must be a file name at the zip root/);
  });

  test('errors name the endpoint, the index and the field', () => {
    const list = [s11['GET internal/data/v1/subscriptions'].list[0], { subscriptionUUID: 'x', policyId: 'Gold', applicationUUID: APP, subscriptionState: 'UNBLOCKED' }];
    const e = decodeError(() => restSubscriptions({ count: 2, list }));
    expect(e.reason).toBe('GET /subscriptions list[1].apiUUID: missing');
    expect(e.excerpt).toContain('"subscriptionUUID":"x"');
    expect(decodeError(() => restApplications({ list: [{ uuid: APP, id: 'three', name: 'a', subName: 'b', policy: 'c' }] })).reason).toBe('GET /applications list[0].id: expected an integer, got the string "three"');
    expect(decodeError(() => restKeyMappings({ list: [{ consumerKey: 'k', keyManager: 'm', keyType: 'STAGING', applicationUUID: APP }] })).reason).toMatch(/list\[0\]\.keyType: expected PRODUCTION or SANDBOX/);
    expect(decodeError(() => restApplications({ count: 0 })).reason).toBe('GET /applications.list: missing');
    expect(decodeError(() => restApplications([])).reason).toBe('GET /applications: expected an object, got an array');
    expect(decodeError(() => restKeyTemplates(['ok', 3])).reason).toBe('GET /keyTemplates[1]: expected a non-empty string');
    expect(decodeError(() => restApiMetadata('{"list": [')).reason).toMatch(/^\/apis is not valid JSON/);
  });
});

describe('hostile input: only DecodeError, always with an excerpt', () => {
  const deploy = sample('02-amqp-deploy-api-in-gateway.json');

  test('unknown routing key (including Choreo Connect\'s lower-case keymanager)', () => {
    for (const key of ['keymanager', 'apiEvents', '']) {
      const e = decodeError(() => decodeMessage(key, '{}', ctx));
      expect(e.reason).toMatch(/unknown routing key/);
      expect(e.excerpt).toBe('{}');
    }
  });

  test('bad base64, base64 of non-JSON, of non-UTF-8, of a non-object', () => {
    const withEvent = (event: string): string => JSON.stringify({ event: { payloadData: { eventType: 'DEPLOY_API_IN_GATEWAY', timestamp: 1, event } } });
    expect(decodeError(() => decodeMessage('notification', withEvent('eyJhcGlJZCI6Nn0*'), ctx)).reason).toBe('payloadData.event is not standard padded base64');
    expect(decodeError(() => decodeMessage('notification', withEvent('eyJhcGlJZCI6Nn0'), ctx)).reason).toMatch(/not standard padded base64/);
    expect(decodeError(() => decodeMessage('notification', withEvent(b64('{"uuid":')), ctx)).reason).toMatch(/^payloadData\.event is not valid JSON/);
    expect(decodeError(() => decodeMessage('notification', withEvent(Buffer.from([0xff, 0xfe, 0x7b]).toString('base64')), ctx)).reason).toBe('not valid UTF-8');
    expect(decodeError(() => decodeMessage('notification', withEvent(b64('[1,2]')), ctx)).reason).toBe('DEPLOY_API_IN_GATEWAY event: expected an object, got an array');
  });

  test('wrong types and missing fields name the field', () => {
    const ev = { uuid: API, gatewayLabels: 'Default' };
    expect(decodeError(() => decodeMessage('notification', notification('DEPLOY_API_IN_GATEWAY', ev), ctx)).reason).toBe('DEPLOY_API_IN_GATEWAY event.gatewayLabels: expected a list of strings, got the string "Default"');
    expect(decodeError(() => decodeMessage('notification', notification('DEPLOY_API_IN_GATEWAY', { gatewayLabels: ['Default'] }), ctx)).reason).toBe('DEPLOY_API_IN_GATEWAY event.uuid: missing');
    expect(decodeError(() => decodeMessage('notification', notification('SUBSCRIPTIONS_CREATE', { subscriptionUUID: 's', apiUUID: 5 }), ctx)).reason).toMatch(/apiUUID: expected a string, got number 5/);
    expect(decodeError(() => decodeMessage('notification', JSON.stringify({ event: { payloadData: { eventType: 'API_CREATE', timestamp: 'yesterday', event: '' } } }), ctx)).reason).toMatch(/timestamp: expected an integer/);
    expect(decodeError(() => decodeMessage('notification', '{"event":{}}', ctx)).reason).toBe('notification message.event.payloadData: missing');
    expect(decodeError(() => decodeMessage('tokenRevocation', payload({ revokedToken: 'x', expiryTime: 1.5 }), ctx)).reason).toMatch(/expiryTime: expected an integer/);
    expect(decodeError(() => decodeMessage('throttleData', payload({ throttleKey: 'k', isThrottled: 'maybe', expiryTimeStamp: 1 }), ctx)).reason).toMatch(/isThrottled: expected true or false/);
    expect(decodeError(() => decodeMessage('throttleData', payload({ id: 1, blockingCondition: 'IP', conditionValue: '{"startingIp":"1.1.1.1"}', state: 'true' }), ctx)).reason).toMatch(/fixedip: missing/);
    expect(decodeError(() => decodeMessage('notification', notification('POLICY_CREATE', { policyName: 'x', policyType: 'GLOBAL' }), ctx)).reason).toMatch(/policyType: expected API, APPLICATION or SUBSCRIPTION/);
  });

  test('non-JSON and non-object bodies', () => {
    for (const body of ['', 'null', '[]', '42', '"x"', '{"event":', Buffer.from([0xc3, 0x28])]) {
      const e = decodeError(() => decodeMessage('throttleData', body, ctx));
      expect(e.message).toContain(e.reason);
    }
    expect(decodeError(() => decodeMessage('notification', undefined as unknown as string, ctx)).reason).toMatch(/neither a Buffer nor a string/);
  });

  test('a 2 MiB payload is refused before parsing', () => {
    const big = JSON.stringify({ event: { payloadData: { eventType: 'API_CREATE', timestamp: 1, event: 'A'.repeat(2 * 1024 * 1024) } } });
    for (const body of [big, Buffer.from(big)]) {
      const e = decodeError(() => decodeMessage('notification', body, ctx));
      expect(e.reason).toMatch(/^message of 2097\d+ bytes is over the 1048576-byte limit$/);
      expect(e.excerpt.length).toBeLessThanOrEqual(121);
      expect(e.excerpt.endsWith('…')).toBe(true);
    }
  });

  test('a key manager that does not decode is reported without its secrets', () => {
    const config = { client_secret: 'cs-e51f0a', password: 'pw-88c1d2', username: 'u', issuer: 'https://kc' };
    // Its configuration, base64 in the event, not JSON; a REST entry with a field of the wrong type.
    const event = payload({ event_type: 'key_manager_configuration', action: 'add', name: 'k', type: 't', enabled: true, value: b64(`${JSON.stringify(config)},`) });
    const rest = [{ configuration: config, name: 'k', type: 't', enabled: 'perhaps' }];
    const base64 = b64(config).slice(0, 40);
    for (const e of [decodeError(() => decodeMessage('keyManager', event, ctx)), decodeError(() => restKeyManagers(rest))]) {
      expect(e.message).not.toMatch(/cs-e51f0a|pw-88c1d2/);
      expect(e.message).not.toContain(base64);
    }
    expect(decodeError(() => restKeyManagers(rest)).excerpt).toContain('"client_secret":"***"');
  });

  test('prototype-pollution keys are refused, wherever they hide', () => {
    const proto = '{"event":{"payloadData":{"__proto__":{"polluted":1},"throttleKey":"k","isThrottled":true,"expiryTimeStamp":1}}}';
    expect(decodeError(() => decodeMessage('throttleData', proto, ctx)).reason).toBe('throttleData message holds the forbidden key "__proto__"');
    const inner = notification('APPLICATION_CREATE', JSON.parse('{"uuid":"u","applicationName":"a","subscriber":"s","applicationPolicy":"p","attributes":{"__proto__":{"polluted":1}}}'));
    expect(decodeError(() => decodeMessage('notification', inner, ctx)).reason).toBe('payloadData.event holds the forbidden key "__proto__"');
    const km = payload({ event_type: 'key_manager_configuration', action: 'add', name: 'k', type: 't', enabled: true, value: b64('{"issuer":"i","constructor":{"prototype":{"polluted":1}}}') });
    expect(decodeError(() => decodeMessage('keyManager', km, ctx)).reason).toMatch(/payloadData\.value holds the forbidden key "(constructor|prototype)"/);
    const rest = JSON.parse('[{"name":"k","type":"t","enabled":true,"configuration":{"a":[{"__proto__":{"polluted":1}}]}}]');
    expect(decodeError(() => restKeyManagers(rest)).reason).toBe('GET /keymanagers[0].configuration: holds the forbidden key "__proto__"');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test('excerpts are short and have control characters escaped', () => {
    const e = decodeError(() => decodeMessage('notification', `{"a":\n\t"\u0001${'x'.repeat(300)}`, ctx));
    expect(e.excerpt.startsWith('{"a":\\n\\t"\\x01xxx')).toBe(true);
    expect(e.excerpt).not.toMatch(/[\u0000-\u001f]/);
    expect(e.excerpt.endsWith('…')).toBe(true);
    expect(e.message).toBe(`${e.reason} (input: ${e.excerpt})`);
  });

  test('mangled samples decode or fail with DecodeError, never anything else', () => {
    const bodies: [string, string][] = [
      ['notification', JSON.stringify(deploy.body)],
      ['notification', JSON.stringify(sample('05-amqp-application-events.json').APPLICATION_CREATE.body)],
      ['keyManager', JSON.stringify(sample('08-amqp-keymanager-event.json').body_newer_APIM_style)],
      ['tokenRevocation', JSON.stringify(sample('09-amqp-token-revocation.json').body_jwt_example)],
      ['throttleData', JSON.stringify(sample('10-amqp-throttle-data.json').blockingCondition_IPRANGE)],
    ];
    let seed = 12345;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    const junk = ['"', '{', '}', '[', ']', ',', ':', '0', 'null', 'true', '-', 'A', '=', '\\', '\u0000', '\u00ff', '"__proto__"'];
    let decoded = 0;
    let refused = 0;
    for (let i = 0; i < 3000; i++) {
      const [key, text] = bodies[rand(bodies.length)]!;
      const at = rand(text.length);
      const cut = rand(4);
      const mangled = text.slice(0, at) + junk[rand(junk.length)] + text.slice(at + cut);
      try {
        decodeMessage(key, rand(2) ? mangled : Buffer.from(mangled, 'latin1'), ctx);
        decoded++;
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
        expect(e.reason).not.toMatch(/internal decoder error/);
        expect(e.excerpt.length).toBeLessThanOrEqual(400);
        refused++;
      }
    }
    expect(decoded).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
  });

  test('mangled REST bodies decode or fail with DecodeError, never anything else', () => {
    const s11 = sample('11-rest-internal-data-startup.json');
    const s13 = sample('13-rest-revokedjwt-keytemplates-block.json');
    const cases: [(j: unknown) => unknown, string][] = [
      [restSubscriptions, JSON.stringify(s11['GET internal/data/v1/subscriptions'])],
      [restApplications, JSON.stringify(s11['GET internal/data/v1/applications'])],
      [restSubscriptionPolicies, JSON.stringify(s11['GET internal/data/v1/subscription-policies'])],
      [restKeyManagers, JSON.stringify(sample('12-rest-keymanagers.json').response_200)],
      [restBlockingConditions, JSON.stringify(s13['GET internal/data/v1/block'])],
      [restDeployments, JSON.stringify(sample('14-runtime-artifacts-root-and-acks.json')['deployments.json'])],
    ];
    let seed = 777;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    const junk = ['"', '{', '}', '[', ']', ',', ':', '0', 'null', 'true', '"constructor"', '"toString"', '-1.5'];
    for (let i = 0; i < 2000; i++) {
      const [decode, text] = cases[rand(cases.length)]!;
      const at = rand(text.length);
      const mangled = text.slice(0, at) + junk[rand(junk.length)] + text.slice(at + rand(4));
      try {
        decode(mangled);
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
        expect(e.reason).not.toMatch(/internal decoder error/);
      }
    }
  });

  test('names of Object.prototype members are not mistaken for known values', () => {
    for (const eventType of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(decodeMessage('notification', JSON.stringify({ event: { payloadData: { eventType, timestamp: 1, event: '' } } }), ctx).actions[0]!.kind).toBe('ignore');
    }
    expect(decodeError(() => decodeMessage('notification', notification('POLICY_CREATE', { policyName: 'x', policyType: 'constructor' }), ctx)).reason).toMatch(/policyType/);
    const limit = (timeUnit: string, quotaType = 'requestCount') => ({ list: [{ name: 'p', defaultLimit: { quotaType, requestCount: { timeUnit, unitTime: 1, requestCount: 1 } } }] });
    expect(decodeError(() => restApplicationPolicies(limit('constructor'))).reason).toMatch(/unknown time unit "constructor"/);
    expect(decodeError(() => restApplicationPolicies(limit('min', 'toString'))).reason).toMatch(/unknown quota type "toString"/);
  });
});

describe('deep nesting', () => {
  test('deeply nested JSON is refused as a DecodeError, not a stack overflow', () => {
    const deep = '['.repeat(500_000) + ']'.repeat(500_000);
    const body = `{"event":{"payloadData":{"throttleKey":"k","isThrottled":true,"expiryTimeStamp":1,"x":${deep}}}}`;
    const t0 = Date.now();
    const e = decodeError(() => decodeMessage('throttleData', body, ctx));
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(e.excerpt.length).toBeLessThanOrEqual(121);
    const km = payload({ event_type: 'key_manager_configuration', action: 'add', name: 'k', type: 't', enabled: true, value: b64(`{"a":${'['.repeat(100)}${']'.repeat(100)}}`) });
    expect(decodeError(() => decodeMessage('keyManager', km, ctx)).reason).toMatch(/nested too deeply/);
  });
});
