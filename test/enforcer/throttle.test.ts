import { BlockingConditions, type BlockingEntry } from '../../src/enforcer/blocking';
import type { CheckRequestLike, Decision, Subject } from '../../src/enforcer/check';
import { ConditionGroups, type ConditionEntry } from '../../src/enforcer/condition-groups';
import { KeyTemplates } from '../../src/enforcer/key-templates';
import { LocalCounters } from '../../src/enforcer/counters';
import { decisionKeys, limitsFor, type EnforcerPolicy } from '../../src/enforcer/rate-limits';
import { Throttle, type TrafficManagerDecisions } from '../../src/enforcer/throttle';
import { ORG, allowed, api, app, policy, sub, subject } from '../helpers/throttle';

const POLICIES = new Map<string, EnforcerPolicy>(
  [
    policy('api', 'Res3', 3, 60_000),
    policy('api', 'Api4', 4, 60_000),
    policy('subscription', 'Sub5', 5, 60_000),
    policy('subscription', 'Burst', 100, 60_000, { burst: { limit: 2, unit_time_ms: 1000 } }),
    policy('subscription', 'LogOnly', 2, 60_000, { stop_on_quota_reach: false }),
    policy('application', 'App10', 10, 60_000),
    policy('application', 'Bandwidth', 10, 60_000, { default_limit: { quota_type: 'bandwidthVolume', limit: 2, data_unit: 'KB', unit_time_ms: 60_000 } }),
    policy('application', 'Events', 10, 60_000, { default_limit: { quota_type: 'eventCount', limit: 10, unit_time_ms: 60_000 } }),
  ].map((p) => [`${p.kind}:${p.organization}:${p.name}`, p]),
);
const lookup = (kind: string, org: string, name: string): EnforcerPolicy | undefined => POLICIES.get(`${kind}:${org}:${name}`);


function throttle(blocking: BlockingEntry[] = []): { t: Throttle; warnings: string[] } {
  const warnings: string[] = [];
  const log = { debug() {}, info() {}, error() {}, warn: (m: string, meta?: object) => warnings.push(`${m} ${JSON.stringify(meta)}`) };
  const index = new BlockingConditions(blocking);
  return { t: new Throttle({ blocking: () => index, policy: lookup, counters: new LocalCounters(), log }), warnings };
}

const T0 = 1_800_000_000_000; // a window boundary for 1 s and 60 s windows
const outcome = (d: Decision | Promise<Decision>): string => {
  if (d instanceof Promise) throw new Error('local counters answer synchronously');
  return d.allow ? `allow ${d.rateLimit?.remaining ?? '-'}` : `${d.status} ${d.code}`;
};

describe('limitsFor: which limits a request counts against, with CC keys', () => {
  test('resource, subscription, application (in that order)', () => {
    expect(limitsFor(subject(), lookup).map((l) => [l.level, l.key, l.limit, l.error.code])).toEqual([
      ['resource', '/petstore/1.0.0/1.0.0/pets:GET', 3, '900802'],
      ['subscription', 'app-1:/petstore/1.0.0:1.0.0', 5, '900804'],
      ['application', 'app-1:alice@carbon.super', 10, '900803'],
    ]);
  });

  test('an application APIM numbered is keyed by its number, as the Traffic Manager names it; the user by the application\'s tenant', () => {
    const numbered = subject({ application: { ...app, id: 7, organization: 'wso2.com' }, subscription: { ...sub, organization: 'carbon.super' } });
    expect(decisionKeys(numbered).map((k) => k.key)).toEqual(['/petstore/1.0.0/1.0.0/pets:GET', '7:/petstore/1.0.0:1.0.0', '7:alice@wso2.com']);
  });

  test('an API-level tier replaces the resource tiers; Unlimited, unknown and event-count policies limit nothing', () => {
    expect(limitsFor(subject({ api: api({ throttling_tier: 'Api4' }) }), lookup).map((l) => [l.level, l.key])[0]).toEqual(['api', '/petstore/1.0.0:1.0.0']);
    const none = subject({
      operation: { method: 'GET', secured: true, scopes: [], throttling_tier: 'Unlimited' },
      subscription: { ...sub, policy: 'NoSuchTier' },
      application: { ...app, policy: 'Events' },
    });
    expect(limitsFor(none, lookup)).toEqual([]);
    // A bandwidth quota counts bytes: 2 KB.
    expect(limitsFor(subject({ application: { ...app, policy: 'Bandwidth' } }), lookup).map((l) => [l.level, l.limit, l.bytes ?? false])).toEqual([
      ['resource', 3, false],
      ['subscription', 5, false],
      ['application', 2048, true],
    ]);
    expect(limitsFor(subject({ application: undefined, subscription: undefined, user: 'anonymous' }), lookup).map((l) => l.level)).toEqual(['resource']);
  });
});

describe('Throttle (local counters)', () => {
  test('the first level over its limit decides: the resource after 3, with its code, Retry-After and RateLimit headers', () => {
    const { t } = throttle();
    const s = subject();
    expect([1, 2, 3, 4].map(() => outcome(t.apply(allowed(s), '10.0.0.1', T0 + 5000)))).toEqual(['allow 2', 'allow 1', 'allow 0', '429 900802']);
    const d = t.apply(allowed(s), '10.0.0.1', T0 + 5000) as Decision;
    expect(d.allow).toBe(false);
    if (d.allow) return;
    expect(d.headers).toMatchObject({ 'retry-after': new Date(T0 + 60_000).toUTCString(), 'ratelimit-limit': '3', 'ratelimit-remaining': '0', 'ratelimit-reset': '55' });
    expect(JSON.parse(d.body)).toEqual({ code: '900802', error_message: 'Message throttled out', error_description: 'You have exceeded your quota' });
  });

  test('every level counts each request: the subscription runs out on another resource', () => {
    const { t } = throttle();
    const a = subject();
    const b = subject({ operation: { method: 'POST', secured: true, scopes: [], throttling_tier: 'Unlimited' } });
    const seq = [a, a, a, b, b, b].map((s) => outcome(t.apply(allowed(s), '', T0)));
    expect(seq).toEqual(['allow 2', 'allow 1', 'allow 0', 'allow 1', 'allow 0', '429 900804']);
  });

  test('a new window starts afresh, aligned to the epoch', () => {
    const { t } = throttle();
    const s = subject({ operation: undefined });
    for (let i = 0; i < 5; i++) t.apply(allowed(s), '', T0 + 59_000);
    expect(outcome(t.apply(allowed(s), '', T0 + 59_999))).toBe('429 900804');
    expect(outcome(t.apply(allowed(s), '', T0 + 60_000))).toBe('allow 4');
  });

  test('burst: the spike limit of a subscription policy, per its own window', () => {
    const { t } = throttle();
    const s = subject({ operation: undefined, subscription: { ...sub, policy: 'Burst' } });
    expect([0, 1, 2].map(() => outcome(t.apply(allowed(s), '', T0 + 100)))).toEqual(['allow 1', 'allow 0', '429 900804']);
    expect(outcome(t.apply(allowed(s), '', T0 + 1000))).toBe('allow 1');
  });

  test('stop on quota reach off: over-quota requests pass, are counted, and are logged once per window', () => {
    const { t, warnings } = throttle();
    const s = subject({ operation: undefined, subscription: { ...sub, policy: 'LogOnly' } });
    expect([0, 1, 2, 3].map(() => outcome(t.apply(allowed(s), '', T0)))).toEqual(['allow 1', 'allow 0', 'allow 0', 'allow 0']);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('app-1:/petstore/1.0.0:1.0.0');
    // The application level still counts them: 10 in all.
    for (let i = 4; i < 10; i++) t.apply(allowed(s), '', T0);
    expect(outcome(t.apply(allowed(s), '', T0))).toBe('429 900803');
  });
});

describe('bandwidth quotas: the requests\' bytes', () => {
  test('counted from Envoy\'s size or Content-Length; over the quota, 429 with the level\'s code; request counts still head the RateLimit headers', () => {
    const { t } = throttle();
    const s = subject({ operation: { method: 'POST', secured: true, scopes: [], throttling_tier: '' }, subscription: { ...sub, policy: 'Unlimited' }, application: { ...app, policy: 'Bandwidth' } });
    const post = (bytes: number, how: 'size' | 'header'): CheckRequestLike => ({
      attributes: { request: { http: { method: 'POST', path: '/petstore/1.0.0/pets', ...(how === 'size' ? { size: bytes } : { size: -1, headers: { 'content-length': String(bytes) } }) } } },
    });
    const verdict = (req: CheckRequestLike, now = T0): Decision => t.apply(allowed(s), '', now, req) as Decision;
    expect(verdict(post(1000, 'size'))).toMatchObject({ allow: true, rateLimit: { limit: 2048, remaining: 1048 } });
    expect(verdict(post(1000, 'header'))).toMatchObject({ allow: true, rateLimit: { remaining: 48 } });
    expect(verdict({})).toMatchObject({ allow: true, rateLimit: { remaining: 48 } }); // no body: no bytes
    expect(verdict(post(49, 'size'))).toMatchObject({ allow: false, status: 429, code: '900803' });
    expect(verdict({})).toMatchObject({ allow: false, code: '900803' }); // over until the window ends
    expect(verdict(post(1000, 'size'), T0 + 60_000)).toMatchObject({ allow: true, rateLimit: { remaining: 1048 } });
    // With a request-count limit beside it, the headers count requests.
    const both = subject({ application: { ...app, policy: 'Bandwidth' }, subscription: { ...sub, policy: 'Unlimited' } });
    expect(t.apply(allowed(both), '', T0 + 120_000, post(10, 'size'))).toMatchObject({ allow: true, rateLimit: { limit: 3, remaining: 2 } });
  });
});

describe('what a subject counts against is kept between requests', () => {
  /** A throttle over one subscription tier, Sub5, that `raise` replaces (and counts as a policy update, as the view does). */
  const withTier = (limit: number) => {
    let tier = policy('subscription', 'Sub5', limit, 60_000);
    let generation = 0;
    const t = new Throttle({
      blocking: () => new BlockingConditions([]),
      policy: (k, o, n) => (`${k}:${o}:${n}` === 'subscription:carbon.super:Sub5' ? tier : undefined),
      policyGeneration: () => generation,
      counters: new LocalCounters(),
      log: { debug() {}, info() {}, warn() {}, error() {} },
    });
    const raise = (to: number, counted = true): void => {
      tier = policy('subscription', 'Sub5', to, 60_000);
      if (counted) generation++; // `false`: the lookup changed, but the view has not said so yet
    };
    return { t, raise };
  };

  test('until a policy changes: a raised tier applies from the next request', () => {
    const { t, raise } = withTier(2);
    const s = subject({ operation: undefined, application: undefined });
    const sOwn = { ...subject({ operation: undefined }), application: { ...app, policy: 'Unlimited' } };
    expect([0, 1, 2].map(() => outcome(t.apply(allowed(sOwn), '', T0)))).toEqual(['allow 1', 'allow 0', '429 900804']);
    raise(5, false);
    expect(outcome(t.apply(allowed(sOwn), '', T0 + 60_000))).toBe('allow 1'); // new window, old tier: still 2
    raise(5);
    expect(outcome(t.apply(allowed(sOwn), '', T0 + 60_000))).toBe('allow 3'); // the raised tier, same window
    expect(outcome(t.apply(allowed(s), '', T0))).toBe('allow -'); // no application: no subscription level either
  });

  test('a key remembered as over its limit is asked again once the limit is raised', () => {
    const { t, raise } = withTier(1);
    const s = { ...subject({ operation: undefined }), application: { ...app, policy: 'Unlimited' } };
    expect([0, 1, 2].map(() => outcome(t.apply(allowed(s), '', T0)))).toEqual(['allow 0', '429 900804', '429 900804']);
    raise(10);
    // Two were counted (the third was refused from memory); this is the third of 10.
    expect(outcome(t.apply(allowed(s), '', T0 + 1000))).toBe('allow 7');
  });
});

/** The Traffic Manager's decisions as the view keeps them: by key, by condition group, and key templates. */
function trafficManager(templates: string[] = []) {
  const until = new Map<string, number>();
  const groups = new ConditionGroups();
  const problems: string[] = [];
  const decisions: TrafficManagerDecisions = { until: (k) => until.get(k), groups: () => groups, templates: () => new KeyTemplates(templates) };
  return {
    decisions,
    problems,
    set(key: string, ms: number, conditions: Array<Partial<ConditionEntry>> = []): void {
      until.set(key, ms);
      problems.push(...groups.set(key, { key, until_ms: ms, conditions: conditions.map((c) => ({ ip: null, header: null, query: null, jwt_claims: null, ...c })) }));
    },
    remove(key: string): void {
      until.delete(key);
      groups.set(key, undefined);
    },
  };
}

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const request = (headers: Record<string, string> = {}, path = '/petstore/1.0.0/pets'): CheckRequestLike => ({ attributes: { request: { http: { path, headers } } } });

describe('Traffic Manager decisions', () => {
  test('honoured by their keys until they lapse, before any counting; Unlimited API tier leaves resource keys', () => {
    const tm = trafficManager();
    const t = new Throttle({ blocking: () => new BlockingConditions([]), policy: lookup, decisions: tm.decisions, counters: new LocalCounters(), log: quiet });
    const verdict = (s: Subject, now = T0): string => outcome(t.apply(allowed(s), '', now));
    tm.set('app-1:/petstore/1.0.0:1.0.0', T0 + 1000);
    expect(verdict(subject())).toBe('429 900804');
    expect(verdict(subject(), T0 + 1000)).toBe('allow 2'); // lapsed
    tm.set('/petstore/1.0.0/1.0.0/pets:GET_default', T0 + 5000);
    expect(verdict(subject(), T0 + 1000)).toBe('429 900802');
    expect(verdict(subject({ api: api({ throttling_tier: 'Unlimited' }) }), T0 + 1000)).toBe('429 900802');
    tm.set('/petstore/1.0.0:1.0.0_default', T0 + 5000);
    expect(verdict(subject({ api: api({ throttling_tier: 'Api4' }) }), T0 + 1000)).toBe('429 900800');
    tm.set('app-1:alice@carbon.super', T0 + 5000);
    tm.remove('/petstore/1.0.0/1.0.0/pets:GET_default');
    tm.remove('app-1:/petstore/1.0.0:1.0.0');
    expect(verdict(subject(), T0 + 1000)).toBe('429 900803');
  });

  describe('condition groups of an advanced policy (D.4 step 2)', () => {
    const KEY = '/petstore/1.0.0/1.0.0/pets:GET';
    const free = { header: { values: { 'X-Tier': '^free$' }, invert: false } };
    const setup = () => {
      const tm = trafficManager();
      const t = new Throttle({ blocking: () => new BlockingConditions([]), policy: () => undefined, decisions: tm.decisions, counters: new LocalCounters(), log: quiet });
      const verdict = (req: CheckRequestLike, ip = '10.0.0.7', s = subject()): string => outcome(t.apply(allowed(s), ip, T0, req));
      return { tm, verdict };
    };

    test('a throttled condition group holds back only the requests in it', () => {
      const { tm, verdict } = setup();
      tm.set(`${KEY}_condition_1`, T0 + 60_000, [free]);
      expect(verdict(request({ 'x-tier': 'free' }))).toBe('429 900802');
      expect(verdict(request({ 'x-tier': 'gold' }))).toBe('allow -');
      expect(verdict(request())).toBe('allow -');
      tm.remove(`${KEY}_condition_1`);
      expect(verdict(request({ 'x-tier': 'free' }))).toBe('allow -');
    });

    test('a throttled default group spares the requests another group takes (its listed conditions)', () => {
      const { tm, verdict } = setup();
      tm.set(`${KEY}_default`, T0 + 60_000, [free]);
      expect(verdict(request({ 'x-tier': 'free' }))).toBe('allow -');
      expect(verdict(request({ 'x-tier': 'gold' }))).toBe('429 900802');
      // A request in condition_1 is judged by condition_1's decision alone, even once it lapses.
      tm.set(`${KEY}_condition_1`, T0 - 1, [free]);
      expect(verdict(request({ 'x-tier': 'free' }))).toBe('allow -');
      expect(verdict(request())).toBe('429 900802');
    });

    test('groups are tried in order; IP, IPv6 range, inversion, query and claim conditions', () => {
      const { tm, verdict } = setup();
      const ip = (start: string, end = start, invert = false) => ({ ip: { start, end, invert } });
      tm.set(`${KEY}_condition_2`, T0 + 60_000, [ip('167772167')]); // 10.0.0.7
      expect(verdict(request(), '10.0.0.7')).toBe('429 900802');
      expect(verdict(request(), '::ffff:10.0.0.7')).toBe('429 900802');
      expect(verdict(request(), '10.0.0.8')).toBe('allow -');
      expect(verdict(request(), '')).toBe('allow -');
      // condition_1 takes 10.0.0.7 first, and is not throttled.
      tm.set(`${KEY}_condition_1`, T0 - 1, [ip('167772160', '167772415')]);
      expect(verdict(request(), '10.0.0.7')).toBe('allow -');
      tm.remove(`${KEY}_condition_1`);
      tm.remove(`${KEY}_condition_2`);
      // 2001:db8::/120, beyond 2^53: every digit counts.
      tm.set(`${KEY}_condition_3`, T0 + 60_000, [ip('42540766411282592856903984951653826560', '42540766411282592856903984951653826815')]);
      expect(verdict(request(), '2001:db8::ff')).toBe('429 900802');
      expect(verdict(request(), '2001:db8::100')).toBe('allow -');
      tm.set(`${KEY}_condition_3`, T0 + 60_000, [{ ...ip('167772160', '167772415', true) }]);
      expect(verdict(request(), '10.0.0.7')).toBe('allow -');
      expect(verdict(request(), '192.168.1.1')).toBe('429 900802');
      tm.set(`${KEY}_condition_3`, T0 + 60_000, [{ query: { values: { region: 'eu' }, invert: false } }, { jwt_claims: { values: { plan: '^trial' }, invert: false } }]);
      expect(verdict(request({}, '/petstore/1.0.0/pets?region=eu-west'))).toBe('429 900802');
      expect(verdict(request({}, '/petstore/1.0.0/pets?region=us'))).toBe('allow -');
      expect(verdict(request(), '10.0.0.7', subject({ claims: { plan: 'trial-30' } }))).toBe('429 900802');
      expect(verdict(request(), '10.0.0.7', subject({ claims: { plan: 'paid' } }))).toBe('allow -');
      // Every part of one condition must hold.
      tm.set(`${KEY}_condition_3`, T0 + 60_000, [{ ...free, query: { values: { region: 'eu' }, invert: true } }]);
      expect(verdict(request({ 'x-tier': 'free' }, '/petstore/1.0.0/pets?region=us'))).toBe('429 900802');
      expect(verdict(request({ 'x-tier': 'free' }, '/petstore/1.0.0/pets?region=eu'))).toBe('allow -');
    });

    test('a condition group without its conditions throttles no one; an unusable condition is reported and left out', () => {
      const { tm, verdict } = setup();
      tm.set(`${KEY}_condition_1`, T0 + 60_000);
      expect(verdict(request({ 'x-tier': 'free' }))).toBe('allow -');
      tm.set(`${KEY}_default`, T0 + 60_000, [{ header: { values: { 'x-tier': '([' }, invert: false } }]);
      expect(tm.problems.join()).toMatch(/pets:GET_default: .*regular expression/i);
      expect(verdict(request({ 'x-tier': '([' }))).toBe('429 900802');
    });
  });

  describe('custom policies: key templates (D.4 step 5)', () => {
    test('each template makes a key per request; a decision on it is 429 / 900806', () => {
      const tm = trafficManager(['$userId:$apiContext', '$appId-$customProperty.x-device', '$clientIp$apiTenant']);
      const t = new Throttle({ blocking: () => new BlockingConditions([]), policy: () => undefined, decisions: tm.decisions, counters: new LocalCounters(), log: quiet });
      const verdict = (s: Subject, req: CheckRequestLike = request(), ip = '10.0.0.7'): string => outcome(t.apply(allowed(s), ip, T0, req));
      tm.set('alice@carbon.super:/petstore/1.0.0', T0 + 60_000);
      const d = t.apply(allowed(subject()), '', T0, request()) as Decision;
      expect(d).toMatchObject({ allow: false, status: 429, code: '900806', headers: { 'retry-after': new Date(T0 + 60_000).toUTCString() } });
      expect(verdict(subject({ user: 'bob' }))).toBe('allow -');
      tm.set('app-1-phone', T0 + 60_000);
      expect(verdict(subject({ user: 'bob' }), request({ 'x-device': 'phone' }))).toBe('429 900806');
      expect(verdict(subject({ user: 'bob', claims: { 'x-device': 'phone' } }))).toBe('429 900806'); // from the token
      expect(verdict(subject({ user: 'bob' }), request({}, '/petstore/1.0.0/pets?x-device=phone'))).toBe('429 900806'); // from the query
      expect(verdict(subject({ user: 'bob' }), request({ 'x-device': 'tablet' }))).toBe('allow -');
      tm.set('167772167carbon.super', T0 + 60_000);
      expect(verdict(subject({ user: 'bob' }))).toBe('429 900806');
      expect(verdict(subject({ user: 'bob' }), request(), '10.0.0.8')).toBe('allow -');
    });
  });
});

describe('blocking conditions: 403 / 900805', () => {
  const entry = (type: string, value = '', ip: Partial<BlockingEntry> = {}): BlockingEntry => ({
    type,
    value,
    fixed_ip: '',
    starting_ip: '',
    ending_ip: '',
    invert: false,
    organization: ORG,
    ...ip,
  });
  const verdict = (conditions: BlockingEntry[], ip = '192.168.1.10', s: Subject = subject()): string => {
    const { t } = throttle(conditions);
    return outcome(t.apply(allowed(s), ip, T0));
  };

  test('by API, application, user and subscription', () => {
    expect(verdict([entry('API', '/petstore/1.0.0')])).toBe('403 900805');
    expect(verdict([entry('API', '/orders/1.0.0')])).toBe('allow 2');
    expect(verdict([entry('APPLICATION', 'alice:Shop')])).toBe('403 900805');
    expect(verdict([entry('USER', 'alice@carbon.super')])).toBe('403 900805');
    expect(verdict([entry('USER', 'bob@carbon.super')])).toBe('allow 2');
    expect(verdict([entry('SUBSCRIPTION', '/petstore/1.0.0:1.0.0:alice-Shop:PRODUCTION')])).toBe('403 900805');
    expect(verdict([entry('SUBSCRIPTION', '/petstore/1.0.0:1.0.0:alice-Shop:SANDBOX')])).toBe('allow 2');
  });

  test('by IP and by IP range, both ends included; inverted; other tenants\' conditions ignored', () => {
    const range = (start: string, end: string, invert = false) => entry('IPRANGE', '', { starting_ip: start, ending_ip: end, invert });
    expect(verdict([entry('IP', '', { fixed_ip: '192.168.1.10' })])).toBe('403 900805');
    expect(verdict([entry('IP', '', { fixed_ip: '192.168.1.11' })])).toBe('allow 2');
    expect(verdict([range('192.168.1.10', '192.168.1.20')], '192.168.1.10')).toBe('403 900805');
    expect(verdict([range('192.168.1.10', '192.168.1.20')], '192.168.1.20')).toBe('403 900805');
    expect(verdict([range('192.168.1.10', '192.168.1.20')], '192.168.1.21')).toBe('allow 2');
    expect(verdict([range('192.168.1.10', '192.168.1.20')], '192.168.1.9')).toBe('allow 2');
    expect(verdict([range('10.0.0.0', '10.255.255.255', true)], '192.168.1.10')).toBe('403 900805');
    expect(verdict([range('10.0.0.0', '10.255.255.255', true)], '10.1.2.3')).toBe('allow 2');
    expect(verdict([range('2001:db8::', '2001:db8::ffff')], '2001:db8::1')).toBe('403 900805');
    expect(verdict([{ ...entry('IP', '', { fixed_ip: '192.168.1.10' }), organization: 'other.tenant' }])).toBe('allow 2');
  });

  test('an IP condition that is not an IP is reported, not applied', () => {
    const index = new BlockingConditions([entry('IP', '', { fixed_ip: 'not-an-ip' }), entry('IPRANGE', '', { starting_ip: '10.0.0.1', ending_ip: '::1' })]);
    expect(index.unusable).toEqual(['IP not-an-ip: not an IP address or range', 'IPRANGE 10.0.0.1-::1: not an IP address or range']);
    expect(index.blocked(subject(), '10.0.0.1')).toBeUndefined();
  });
});
