import type { ErrorSpec, Subject } from './check';
import { ERRORS } from './check';
import type { Hit } from './counters';

/** A throttling policy as the enforcer's view holds it (proto ThrottlePolicy, defaults filled in). */
export interface EnforcerPolicy {
  kind: string;
  name: string;
  organization: string;
  default_limit: { quota_type: string; limit: number; unit_time_ms: number } | null;
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

/**
 * The limits a request counts against, in the order they decide (reference D.4): the API's tier,
 * or else the operation's; the subscription's (and its burst); the application's. Keys are
 * Choreo Connect's, so a Traffic Manager decision for a key and our own counter for it agree.
 * Unlimited, unknown and non-request-count policies limit nothing. Pure.
 */
export function limitsFor(s: Subject, policy: PolicyLookup): Limit[] {
  const out: Limit[] = [];
  const { api } = s;
  const org = api.organization || 'carbon.super';
  const add = (level: Limit['level'], kind: 'api' | 'subscription' | 'application', organization: string, name: string | undefined, key: string, error: ErrorSpec): void => {
    if (!name || name === 'Unlimited') return;
    const p = policy(kind, organization, name);
    const l = p?.default_limit;
    if (!p || !l || l.quota_type !== 'requestCount' || !(l.limit > 0) || !(l.unit_time_ms > 0)) return;
    const stop = kind === 'subscription' ? p.stop_on_quota_reach : true;
    out.push({ level, policy: name, key, limit: l.limit, windowMs: l.unit_time_ms, error, stop });
    if (kind === 'subscription' && p.burst && p.burst.limit > 0 && p.burst.unit_time_ms > 0) {
      out.push({ level: 'burst', policy: name, key: `${key}:burst`, limit: p.burst.limit, windowMs: p.burst.unit_time_ms, error, stop: true });
    }
  };
  if (api.throttling_tier) add('api', 'api', org, api.throttling_tier, `${api.base_path}:${api.version}`, ERRORS.apiThrottled);
  else if (s.operation) {
    add('resource', 'api', org, s.operation.throttling_tier, `${api.base_path}/${api.version}${s.resource.path}:${s.operation.method.toUpperCase()}`, ERRORS.resourceThrottled);
  }
  const app = s.application;
  if (app && s.subscription) {
    add('subscription', 'subscription', s.subscription.organization || org, s.subscription.policy, `${app.uuid}:${api.base_path}:${api.version}`, ERRORS.subscriptionThrottled);
  }
  if (app) {
    const user = s.user.includes('@') ? s.user : `${s.user}@${org}`;
    add('application', 'application', app.organization || org, app.policy, `${app.uuid}:${user}`, ERRORS.applicationThrottled);
  }
  return out;
}
