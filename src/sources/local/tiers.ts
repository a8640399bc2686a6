import type { Config, PolicyConfig } from '../../config/config';
import type { ThrottlePolicy } from '../../model/access';

/**
 * The throttling tiers served when API Manager is not the control plane: `[[throttling.policies]]`
 * from config.toml, or, when it lists none, APIM's default tiers, so an API project naming
 * `Gold` or `10KPerMin` is limited as it would be behind APIM. The entries were checked as the
 * config was read (parseConfig), where the file's name is known.
 */
export function localTiers(config: Config): ThrottlePolicy[] {
  const given = config.throttling.policies;
  return given.length === 0 ? APIM_DEFAULT_TIERS : given.map(tier);
}

const UNIT_MS = { sec: 1000, min: 60_000, hour: 3_600_000, day: 86_400_000 } as const;

function tier(p: PolicyConfig): ThrottlePolicy {
  return {
    kind: p.kind,
    name: p.name,
    organization: p.organization,
    defaultLimit: { quotaType: 'requestCount', limit: p.requests, unitTimeMs: p.unitTime * UNIT_MS[p.timeUnit] },
    ...(p.kind === 'subscription' && p.burstRequests > 0 ? { burst: { limit: p.burstRequests, unitTimeMs: UNIT_MS[p.burstTimeUnit] } } : {}),
    stopOnQuotaReach: p.stopOnQuotaReach,
  };
}

const perMinute = (kind: ThrottlePolicy['kind'], name: string, requests: number): ThrottlePolicy =>
  tier({ kind, name, organization: 'carbon.super', requests, unitTime: 1, timeUnit: 'min', burstRequests: 0, burstTimeUnit: 'sec', stopOnQuotaReach: true });

/** APIM 4.x's default tiers (Unlimited needs no entry: it limits nothing). */
const APIM_DEFAULT_TIERS: ThrottlePolicy[] = [
  perMinute('api', '10KPerMin', 10_000),
  perMinute('api', '20KPerMin', 20_000),
  perMinute('api', '50KPerMin', 50_000),
  perMinute('subscription', 'Gold', 5000),
  perMinute('subscription', 'Silver', 2000),
  perMinute('subscription', 'Bronze', 1000),
  perMinute('subscription', 'Unauthenticated', 500),
  perMinute('application', '10PerMin', 10),
  perMinute('application', '20PerMin', 20),
  perMinute('application', '50PerMin', 50),
];
