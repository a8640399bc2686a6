import type { ErrorSpec, Subject } from './check';
import { ERRORS } from './check';
import type { Hit } from './counters';
import type { EnforcerApplication } from './view';

/** A throttling policy as the enforcer's view holds it (proto ThrottlePolicy, defaults filled in). */
export interface EnforcerPolicy {
  kind: string;
  name: string;
  organization: string;
  default_limit: { quota_type: string; limit: number; data_unit?: string; unit_time_ms: number } | null;
  burst: { limit: number; unit_time_ms: number } | null;
  stop_on_quota_reach: boolean;
}

export type PolicyLookup = (kind: 'api' | 'subscription' | 'application', organization: string, name: string) => EnforcerPolicy | undefined;

/** One limit that applies to a request: its counter, and what going over it means. */
export interface Limit extends Hit {
  level: 'api' | 'resource' | 'subscription' | 'burst' | 'application';
  policy: string;
  error: ErrorSpec;
  /** False: over-quota requests pass (counted and logged), as APIM's stop-on-quota-reach off. */
  stop: boolean;
}

/** One level a request is counted at: which policy names it, and its counter's key. */
export interface Level {
  level: 'api' | 'resource' | 'subscription' | 'application';
  kind: 'api' | 'subscription' | 'application';
  organization: string;
  tier: string | undefined;
  key: string;
  error: ErrorSpec;
}

/**
 * The levels a request is counted at, in the order they decide (reference D.4): the API's tier,
 * or else the operation's; the subscription's; the application's. Keys are Choreo Connect's, so
 * a Traffic Manager decision for a key and our own counter for it agree.
 */
export function levels(s: Subject): Level[] {
  const { api } = s;
  const org = apiTenant(s);
  const out: Level[] = [];
  if (hasApiTier(s)) {
    out.push({ level: 'api', kind: 'api', organization: org, tier: api.throttling_tier, key: resourceKey(s)!, error: ERRORS.apiThrottled });
  } else if (s.operation) {
    out.push({ level: 'resource', kind: 'api', organization: org, tier: s.operation.throttling_tier, key: resourceKey(s)!, error: ERRORS.resourceThrottled });
  }
  const app = s.application;
  if (app && s.subscription) {
    const key = `${appId(app)}:${api.base_path}:${api.version}`;
    out.push({ level: 'subscription', kind: 'subscription', organization: s.subscription.organization || org, tier: s.subscription.policy, key, error: ERRORS.subscriptionThrottled });
  }
  if (app) {
    out.push({ level: 'application', kind: 'application', organization: app.organization || org, tier: app.policy, key: `${appId(app)}:${userId(s)}`, error: ERRORS.applicationThrottled });
  }
  return out;
}

// An API tier of Unlimited leaves its operations' tiers in force, as a blank one does.
const hasApiTier = (s: Subject): boolean => !!s.api.throttling_tier && s.api.throttling_tier !== 'Unlimited';

/** The API's tenant, the super tenant when it names none. */
export const apiTenant = (s: Subject): string => s.api.organization || 'carbon.super';

/**
 * CC's resource key: the API's `<basePath>:<version>` when it has a tier of its own, else the
 * operation's `<basePath>/<version><path>:<METHOD>`; none for a request without an operation.
 */
export function resourceKey(s: Subject): string | undefined {
  const { api } = s;
  if (hasApiTier(s)) return `${api.base_path}:${api.version}`;
  return s.operation ? `${api.base_path}/${api.version}${s.resource.path}:${s.operation.method.toUpperCase()}` : undefined;
}

/**
 * The application as Traffic Manager keys name it: APIM's numeric id (what Choreo Connect and
 * APIM's gateways publish), or its UUID when no numeric id is known.
 */
export const appId = (app: EnforcerApplication): string => (app.id ? String(app.id) : app.uuid);

/** The end user as `name@tenant`, the tenant being the application's (its subscriber's), else the API's. */
export const userId = (s: Subject): string => (s.user.includes('@') ? s.user : `${s.user}@${s.application?.organization || apiTenant(s)}`);

/** Bytes per unit of a bandwidth quota (APIM's dataUnit). */
const DATA_UNITS: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 };

/**
 * The limits a request counts against, in the order they decide, with a subscription's burst
 * after it. A bandwidth quota counts the request's bytes (`bytes`, its limit in bytes).
 * Unlimited and unknown policies, and event-count ones (not HTTP), limit nothing. Pure.
 */
export function limitsFor(s: Subject | readonly Level[], policy: PolicyLookup): Limit[] {
  const out: Limit[] = [];
  for (const { level, kind, organization, tier, key, error } of Array.isArray(s) ? s : levels(s as Subject)) {
    if (!tier || tier === 'Unlimited') continue;
    const p = policy(kind, organization, tier);
    const l = p?.default_limit;
    if (!p || !l || !(l.limit > 0) || !(l.unit_time_ms > 0)) continue;
    const unit = l.quota_type === 'bandwidthVolume' ? DATA_UNITS[(l.data_unit || 'KB').toUpperCase()] : undefined;
    if (l.quota_type !== 'requestCount' && unit === undefined) continue;
    const stop = kind === 'subscription' ? p.stop_on_quota_reach : true;
    out.push({ level, policy: tier, key, limit: l.limit * (unit ?? 1), windowMs: l.unit_time_ms, error, stop, ...(unit ? { bytes: true } : {}) });
    if (kind === 'subscription' && p.burst && p.burst.limit > 0 && p.burst.unit_time_ms > 0) {
      out.push({ level: 'burst', policy: tier, key: `${key}:burst`, limit: p.burst.limit, windowMs: p.burst.unit_time_ms, error, stop: true });
    }
  }
  return out;
}

/**
 * The keys a Traffic Manager decision may name for this request, in the same order. API and
 * resource keys are `grouped`: their decisions are per condition group (`<key>_default`,
 * `<key>_condition_N`). Subscription and application keys are used as they are. Pure.
 */
export function decisionKeys(s: Subject | readonly Level[]): Array<{ key: string; grouped: boolean; error: ErrorSpec }> {
  return (Array.isArray(s) ? s : levels(s as Subject)).map((l) => ({ key: l.key, grouped: l.kind === 'api', error: l.error }));
}
