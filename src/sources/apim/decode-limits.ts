import type { RateLimit, ThrottlePolicy } from '../../model/access';
import { Fields, lookup } from './decode-json';

/**
 * APIM's throttle limits (`defaultLimit` of the policy DTOs, the spike-arrest fields of
 * subscription policies) as our RateLimit. APIM names time units loosely across versions and
 * screens (`min`, `minute`, `hours`, `days`...), so every spelling seen is accepted.
 */

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** A month is 30 days and a year 365 (APIM's counters use fixed windows, not calendar months). */
const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: SECOND, sec: SECOND, secs: SECOND, second: SECOND, seconds: SECOND,
  m: MINUTE, min: MINUTE, mins: MINUTE, minute: MINUTE, minutes: MINUTE,
  h: HOUR, hr: HOUR, hour: HOUR, hours: HOUR,
  d: DAY, day: DAY, days: DAY,
  w: 7 * DAY, week: 7 * DAY, weeks: 7 * DAY,
  month: 30 * DAY, months: 30 * DAY,
  y: 365 * DAY, year: 365 * DAY, years: 365 * DAY,
};

/** Milliseconds in one `unit`, or undefined for a unit nobody uses. */
export function unitMs(unit: string): number | undefined {
  return lookup(UNIT_MS, unit.toLowerCase());
}

/** APIM's quota types, keyed by their lower-cased spelling, with the defaultLimit member that holds each. */
const QUOTA_TYPES: Record<string, { name: string; member: string; count: string }> = {
  requestcount: { name: 'requestCount', member: 'requestCount', count: 'requestCount' },
  bandwidthvolume: { name: 'bandwidthVolume', member: 'bandwidth', count: 'dataAmount' },
  bandwidth: { name: 'bandwidthVolume', member: 'bandwidth', count: 'dataAmount' },
  eventcount: { name: 'eventCount', member: 'eventCount', count: 'eventCount' },
};

/**
 * `defaultLimit: {quotaType, requestCount: {timeUnit, unitTime, requestCount}, bandwidth: {...,
 * dataAmount, dataUnit}, eventCount: {...}}` as a RateLimit. The quota type is the limit's own,
 * else the policy's; without either, the one member that is set decides.
 */
export function rateLimit(limit: Fields, policyQuotaType: string | undefined): RateLimit {
  const named = limit.optStr('quotaType') ?? policyQuotaType;
  let quota = named === undefined ? undefined : lookup(QUOTA_TYPES, named.toLowerCase());
  if (named !== undefined && !quota) return limit.fail('quotaType', `unknown quota type ${JSON.stringify(named)} (known: requestCount, bandwidthVolume, eventCount)`);
  quota ??= Object.values(QUOTA_TYPES).find((q) => limit.has(q.member));
  if (!quota) return limit.fail('', 'has no requestCount, bandwidth or eventCount limit');
  const member = limit.nested(limit.raw(quota.member)?.[1] ?? limit.fail(quota.member, `missing for quota type ${quota.name}`), quota.member);
  const timeUnit = member.str('timeUnit');
  const perUnit = unitMs(timeUnit) ?? member.fail('timeUnit', `unknown time unit ${JSON.stringify(timeUnit)}`);
  const unitTime = member.int('unitTime');
  if (unitTime <= 0) member.fail('unitTime', 'must be positive');
  const count = member.int(quota.count);
  if (count < 0) member.fail(quota.count, 'must not be negative');
  return {
    quotaType: quota.name,
    limit: count,
    ...(quota.member === 'bandwidth' ? { dataUnit: member.str('dataUnit') } : {}),
    unitTimeMs: unitTime * perUnit,
  };
}

/**
 * Spike arrest of a subscription policy: `rateLimitCount` per `rateLimitTimeUnit`. APIM writes
 * count 0 and unit `NA` when there is none, which is what leaves it undefined.
 */
export function burst(f: Fields): ThrottlePolicy['burst'] {
  const count = f.optInt('rateLimitCount');
  const unit = f.optStr('rateLimitTimeUnit');
  if (count === undefined || count <= 0 || unit === undefined || unit === '' || unit.toUpperCase() === 'NA') return undefined;
  const ms = unitMs(unit) ?? f.fail('rateLimitTimeUnit', `unknown time unit ${JSON.stringify(unit)}`);
  return { limit: count, unitTimeMs: ms };
}
