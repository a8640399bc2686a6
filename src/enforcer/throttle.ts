import type { Log } from '../xds/log';
import type { BlockingConditions } from './blocking';
import { deny, ERRORS, headersOf, RATE_LIMIT_HEADERS, type AllowDecision, type CheckRequestLike, type Decision, type ErrorSpec, type RateLimitState, type Subject } from './check';
import type { ConditionGroups } from './condition-groups';
import type { KeyTemplates } from './key-templates';
import { RequestFacts } from './request-facts';
import { CountersUnavailable, type Count, type Counters } from './counters';
import { decisionKeys, levels, limitsFor, type Limit, type PolicyLookup } from './rate-limits';

interface Plan {
  generation: number;
  decisionKeys: ReturnType<typeof decisionKeys>;
  limits: Limit[];
  /** Some limit is a bandwidth quota: the request's size is needed. */
  bytes: boolean;
}

/** Stands in for a subject without an application or subscription in the plan cache. */
const NONE = {};
/** Distinct end users remembered per application and subscription before the cache starts over. */
const MAX_USERS_PER_PLAN = 10_000;

function cached<K extends object, V>(map: WeakMap<K, V>, key: K, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) map.set(key, (v = make()));
  return v;
}

export interface TrafficManagerDecisions {
  /** Until when (ms) a key is throttled, if it is. */
  until(key: string): number | undefined;
  /** The decisions on API and resource keys, by condition group. */
  groups(): ConditionGroups;
  /** Custom policies' key templates. */
  templates(): KeyTemplates;
}

export interface ThrottleDeps {
  /** The current blocking conditions (rebuilt by the caller when they change). */
  blocking: () => BlockingConditions;
  policy: PolicyLookup;
  /** Changes whenever any policy does (the view counts its policy updates). */
  policyGeneration?: () => number;
  /** The Traffic Manager's decisions, when an APIM sends them. */
  decisions?: TrafficManagerDecisions;
  counters: Counters;
  log: Log;
}

/**
 * The stage after authentication and subscription validation (reference D.4): blocking
 * conditions (403 / 900805), then the Traffic Manager's decisions for the request's keys (until
 * they lapse), then our own rate limits at API or resource, subscription and application level. Every applicable counter gets the request; the first level over its limit decides
 * (429, its code, `Retry-After`); a level whose policy does not stop on quota only logs.
 * `RateLimit-*` headers describe the tightest limit on every limited response. A key found over
 * its limit is remembered until its window ends, so a throttled client costs no counter call.
 */
export class Throttle {
  /** Over-quota keys already logged, until their window ends (one line per key and window). */
  private readonly logged = new Map<string, number>();
  /**
   * Keys over a limit that stops, until their window ends, with the refusal last sent: the same
   * object while its headers stay true (within one second), so its encoding is reused too. The
   * limit is kept with it: a policy changed since (a raised quota) asks the counter again.
   */
  private readonly over = new Map<string, { until: number; limit: number; windowMs: number; denied?: Decision; second?: number }>();

  /**
   * What a subject counts against, by the view objects it is made of (operation or resource,
   * application, subscription) and its user: the same objects request after request until the
   * view replaces them, so the keys are built once, not per check. Stale once a policy changes.
   */
  private readonly plans = new WeakMap<object, WeakMap<object, WeakMap<object, Map<string, Plan>>>>();

  constructor(private readonly deps: ThrottleDeps) {}

  private plan(s: Subject): Plan {
    const generation = this.deps.policyGeneration?.() ?? 0;
    const byOp = cached(this.plans, s.operation ?? s.resource, () => new WeakMap<object, WeakMap<object, Map<string, Plan>>>());
    const byApp = cached(byOp, s.application ?? NONE, () => new WeakMap<object, Map<string, Plan>>());
    const byUser = cached(byApp, s.subscription ?? NONE, () => new Map<string, Plan>());
    let plan = byUser.get(s.user);
    if (!plan || plan.generation !== generation) {
      const counted = levels(s);
      const limits = limitsFor(counted, this.deps.policy);
      plan = { generation, decisionKeys: decisionKeys(counted), limits, bytes: limits.some((l) => l.bytes) };
      if (byUser.size >= MAX_USERS_PER_PLAN) byUser.clear();
      byUser.set(s.user, plan);
    }
    return plan;
  }

  /** `req` is what condition groups and key templates read (headers, query); `clientIp` its source address. */
  apply(d: AllowDecision, clientIp: string, now = Date.now(), req: CheckRequestLike = {}): Decision | Promise<Decision> {
    const s = d.subject;
    const blocked = this.deps.blocking().blocked(s, clientIp);
    if (blocked) return deny(ERRORS.requestBlocked, 'You have been blocked from accessing the resource', blocked, false);
    const plan = this.plan(s);
    if (this.deps.decisions) {
      const denied = this.decided(this.deps.decisions, plan, s, req, clientIp, now);
      if (denied) return denied;
    }
    const limits = plan.limits;
    if (limits.length === 0) return d;
    for (const l of limits) {
      const o = l.stop ? this.over.get(l.key) : undefined;
      if (o === undefined) continue;
      if (o.until <= now || o.limit !== l.limit || o.windowMs !== l.windowMs) {
        this.over.delete(l.key);
        continue;
      }
      const second = Math.floor(now / 1000);
      if (o.second !== second) {
        o.denied = throttled(l, { count: l.limit + 1, resetAt: o.until }, now, 'still over');
        o.second = second;
      }
      return o.denied!;
    }
    const counts = this.deps.counters.add(limits, now, plan.bytes ? requestBytes(req) : 0);
    if (!(counts instanceof Promise)) return this.decide(d, limits, counts, now);
    return counts.then(
      (c) => this.decide(d, limits, c, now),
      (err: unknown) => {
        if (!(err instanceof CountersUnavailable)) throw err;
        // The `deny` policy: limited requests are refused while the counters cannot answer.
        const first = limits.find((l) => l.stop) ?? limits[0]!;
        return throttled(first, { count: first.limit + 1, resetAt: now + 1000 }, now, err.message);
      },
    );
  }

  /**
   * The Traffic Manager's word (reference D.4 steps 2-5): the request's API or resource key in
   * the condition group it falls in, its subscription and application keys, then the keys its
   * custom policies' templates make.
   */
  private decided(tm: TrafficManagerDecisions, plan: Plan, s: Subject, req: CheckRequestLike, clientIp: string, now: number): Decision | undefined {
    const groups = tm.groups();
    // What conditions and templates read of the request, made only when one of them is there.
    // (No closure for this: it would be made on every check.)
    let facts: RequestFacts | undefined;
    for (const { key, grouped, error } of plan.decisionKeys) {
      const until = grouped ? (groups.has(key) ? groups.throttledUntil(key, (facts ??= new RequestFacts(req, clientIp, s.claims))) : undefined) : tm.until(key);
      if (until !== undefined && until > now) return tmThrottled(error, key, until);
    }
    const templates = tm.templates();
    if (templates.size === 0) return undefined;
    for (const key of templates.keys(s, (facts ??= new RequestFacts(req, clientIp, s.claims)))) {
      const until = tm.until(key);
      if (until !== undefined && until > now) return tmThrottled(ERRORS.customThrottled, key, until);
    }
    return undefined;
  }

  private decide(d: AllowDecision, limits: readonly Limit[], counts: readonly Count[], now: number): Decision {
    let tightest = 0;
    for (let i = 0; i < limits.length; i++) {
      const l = limits[i]!;
      const c = counts[i]!;
      if (c.count > l.limit) {
        if (l.stop) {
          if (this.over.size >= 100_000) for (const [k, o] of this.over) if (o.until <= now) this.over.delete(k);
          this.over.set(l.key, { until: c.resetAt, limit: l.limit, windowMs: l.windowMs });
          return throttled(l, c, now, 'reached');
        }
        this.logOnce(l, c, now);
      }
      if (tighter(l, c, limits[tightest]!, counts[tightest]!)) tightest = i;
    }
    // The decision is this request's own: filled in, not copied.
    d.rateLimit = rateLimitState(limits[tightest]!, counts[tightest]!, now);
    return d;
  }

  private logOnce(l: Limit, c: Count, now: number): void {
    if ((this.logged.get(l.key) ?? 0) > now) return;
    if (this.logged.size > 10_000) for (const [k, until] of this.logged) if (until <= now) this.logged.delete(k);
    this.logged.set(l.key, c.resetAt);
    this.deps.log.warn('over quota; let through (the policy does not stop on quota reach)', { key: l.key, policy: l.policy, limit: l.limit, windowMs: l.windowMs });
  }
}

/** For the `RateLimit-*` headers, which count in one unit: requests before bytes, then the least left. */
function tighter(a: Limit, ac: Count, b: Limit, bc: Count): boolean {
  if (!a.bytes !== !b.bytes) return !a.bytes;
  return a.limit - ac.count < b.limit - bc.count;
}

/**
 * What a bandwidth quota counts: the request's size as the router reports it (Envoy's
 * `size`, -1 when unknown), else its Content-Length, else nothing (a bodiless request).
 */
function requestBytes(req: CheckRequestLike): number {
  const http = req.attributes?.request?.http;
  const size = Number(http?.size ?? -1);
  if (size >= 0) return size;
  const length = Number(headersOf(http)['content-length']);
  return Number.isSafeInteger(length) && length > 0 ? length : 0;
}

function tmThrottled(error: ErrorSpec, key: string, until: number): Decision {
  const denied = deny(error, 'You have exceeded your quota', `the Traffic Manager throttles ${key} until ${new Date(until).toISOString()}`, false);
  denied.headers['retry-after'] = new Date(until).toUTCString();
  return denied;
}

function throttled(l: Limit, c: Count, now: number, why: string): Decision {
  const denied = deny(l.error, 'You have exceeded your quota', `${l.level} limit ${l.policy} (${l.limit} per ${l.windowMs} ms) ${why} for ${l.key}`, false);
  denied.headers['retry-after'] = new Date(c.resetAt).toUTCString();
  const { limit, remaining, resetSeconds } = rateLimitState(l, c, now);
  [limit, remaining, resetSeconds].forEach((v, i) => (denied.headers[RATE_LIMIT_HEADERS[i]!] = String(v)));
  return denied;
}

function rateLimitState(l: Limit, c: Count, now: number): RateLimitState {
  return { limit: l.limit, remaining: Math.max(0, l.limit - c.count), resetSeconds: Math.max(0, Math.ceil((c.resetAt - now) / 1000)) };
}
