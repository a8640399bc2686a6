import type { RequestFacts } from './request-facts';

/** A Traffic Manager decision as the enforcer's view holds it (proto ThrottleDecision, defaults filled in). */
export interface DecisionEntry {
  key: string;
  until_ms: number;
  conditions: ConditionEntry[];
}

interface ValuesEntry {
  values: Record<string, string>;
  invert: boolean;
}

export interface ConditionEntry {
  ip: { start: string; end: string; invert: boolean } | null;
  header: ValuesEntry | null;
  query: ValuesEntry | null;
  jwt_claims: ValuesEntry | null;
}

interface Values {
  tests: Array<[name: string, re: RegExp]>;
  invert: boolean;
}

interface Condition {
  ip?: { start: bigint; end: bigint; invert: boolean };
  header?: Values;
  query?: Values;
  claims?: Values;
}

interface Group {
  /** `condition_N` or `default`. */
  name: string;
  /** N, to try the groups in order; the default group last. */
  order: number;
  until: number;
  conditions: Condition[];
}

/**
 * An API or resource key's condition group in a decision's name: `/ctx/1.0.0:1.0.0_default`,
 * `/ctx/1.0.0/1.0.0/pets:GET_condition_2`. Application and subscription keys start with an id.
 */
const GROUP_KEY = /^(\/.*)_(default|condition_(\d+))$/;

function conditionGroupOf(key: string): { base: string; group: string; order: number } | undefined {
  const m = GROUP_KEY.exec(key);
  return m ? { base: m[1]!, group: m[2]!, order: m[3] === undefined ? Number.MAX_SAFE_INTEGER : Number(m[3]) } : undefined;
}

/**
 * The Traffic Manager's decisions for API and resource keys by condition group (reference D.4
 * step 2), kept up to date one decision at a time. A request is in the first `condition_N`
 * group one of whose evaluated conditions holds for it; in none, it is in the default group
 * unless one of the default's conditions (the other groups', as the TM lists them) holds. A
 * `condition_N` decision that came without its conditions cannot be placed and throttles no one.
 */
export class ConditionGroups {
  private readonly byBase = new Map<string, Group[]>();

  /** Whether the Traffic Manager has decided on any group of `base`. */
  has(base: string): boolean {
    return this.byBase.has(base);
  }

  /**
   * Records a decision, or forgets one (`entry` undefined). Keys outside any group are ignored.
   * Returns what could not be used of its conditions (an expression or address that is not one):
   * such a condition is left out, so a request it was meant to place falls to the default group.
   */
  set(key: string, entry: DecisionEntry | undefined): string[] {
    const g = conditionGroupOf(key);
    if (!g) return [];
    const problems: string[] = [];
    const groups = (this.byBase.get(g.base) ?? []).filter((x) => x.name !== g.group);
    if (entry) {
      const conditions = entry.conditions.flatMap((c) => {
        try {
          return [compile(c)];
        } catch (e) {
          problems.push(`${key}: ${(e as Error).message}`);
          return [];
        }
      });
      groups.push({ name: g.group, order: g.order, until: Number(entry.until_ms), conditions });
      groups.sort((a, b) => a.order - b.order);
    }
    if (groups.length > 0) this.byBase.set(g.base, groups);
    else this.byBase.delete(g.base);
    return problems;
  }

  /** Until when (ms) the Traffic Manager throttles the group of `base` this request is in, if it does. */
  throttledUntil(base: string, req: RequestFacts): number | undefined {
    const groups = this.byBase.get(base);
    if (!groups) return undefined;
    for (const g of groups) {
      if (g.name === 'default') return g.conditions.some((c) => holds(c, req)) ? undefined : g.until;
      if (g.conditions.some((c) => holds(c, req))) return g.until;
    }
    return undefined;
  }
}

function compile(c: ConditionEntry): Condition {
  const out: Condition = {};
  if (c.ip) out.ip = { start: BigInt(c.ip.start), end: BigInt(c.ip.end), invert: c.ip.invert };
  if (c.header) out.header = values(c.header, true);
  if (c.query) out.query = values(c.query, false);
  if (c.jwt_claims) out.claims = values(c.jwt_claims, false);
  return out;
}

function values(v: ValuesEntry, lowerCaseNames: boolean): Values {
  return { tests: Object.entries(v.values).map(([name, re]) => [lowerCaseNames ? name.toLowerCase() : name, new RegExp(re)]), invert: v.invert };
}

/** Every part the condition has holds (each part after its own `invert`), as APIM evaluates them. */
function holds(c: Condition, req: RequestFacts): boolean {
  if (c.ip) {
    const ip = req.ipNumber();
    // An unknown client address is in no range, inverted or not.
    if (ip === undefined || (ip >= c.ip.start && ip <= c.ip.end) === c.ip.invert) return false;
  }
  if (c.header && !valuesHold(c.header, (n) => req.header(n))) return false;
  if (c.query && !valuesHold(c.query, (n) => req.query(n))) return false;
  if (c.claims && !valuesHold(c.claims, (n) => req.claim(n))) return false;
  return true;
}

/** Every named value is present, a string, and matches its expression somewhere; then `invert`. An empty list always holds. */
function valuesHold(v: Values, get: (name: string) => unknown): boolean {
  if (v.tests.length === 0) return true;
  let all = true;
  for (const [name, re] of v.tests) {
    const value = get(name);
    if (typeof value !== 'string' || value === '' || !re.test(value)) {
      all = false;
      break;
    }
  }
  return all !== v.invert;
}
