import { BlockList, isIP } from 'node:net';
import type { Subject } from './check';
import { apiTenant, userId } from './rate-limits';

/** A blocking condition as the enforcer's view holds it (proto BlockingCondition). */
export interface BlockingEntry {
  type: string;
  value: string;
  fixed_ip: string;
  starting_ip: string;
  ending_ip: string;
  invert: boolean;
  organization: string;
}

interface IpRule {
  list: BlockList;
  invert: boolean;
  organization: string;
  what: string;
}

/**
 * APIM's blocking conditions (reference D.4 step 1), indexed for one lookup per request: API
 * (its base path), application (`owner:name`), user (`name@tenant`), subscription
 * (`basePath:version:owner-app:keyType`), and client IP or inclusive IP range, optionally
 * inverted (everyone but). Pure over the entries it is built from.
 */
export class BlockingConditions {
  private readonly values = new Map<string, Set<string>>();
  private readonly ips: IpRule[] = [];
  /** Entries that could not be used (an IP that is not one), for the log. */
  readonly unusable: string[] = [];

  constructor(entries: Iterable<BlockingEntry>) {
    for (const e of entries) {
      const type = e.type.toUpperCase();
      if (type === 'IP' || type === 'IPRANGE') {
        const rule = ipRule(e, type);
        if (rule) this.ips.push(rule);
        else this.unusable.push(`${type} ${e.fixed_ip || `${e.starting_ip}-${e.ending_ip}`}: not an IP address or range`);
      } else if (e.value) {
        let set = this.values.get(type);
        if (!set) this.values.set(type, (set = new Set()));
        set.add(type === 'API' ? e.value : e.value.toLowerCase());
      }
    }
  }

  get size(): number {
    return [...this.values.values()].reduce((n, s) => n + s.size, 0) + this.ips.length;
  }

  /** Why the request is blocked, or undefined. */
  blocked(s: Subject, clientIp: string): string | undefined {
    if (this.size === 0) return undefined;
    const has = (type: string, value: string): boolean => this.values.get(type)?.has(type === 'API' ? value : value.toLowerCase()) ?? false;
    if (has('API', s.api.base_path) || has('API', s.api.context)) return `API ${s.api.base_path} is blocked`;
    const app = s.application;
    if (app && has('APPLICATION', `${app.owner}:${app.name}`)) return `application ${app.owner}:${app.name} is blocked`;
    const tenant = apiTenant(s);
    const user = userId(s);
    if (s.user !== 'anonymous' && (has('USER', user) || has('USER', s.user))) return `user ${user} is blocked`;
    if (app && has('SUBSCRIPTION', `${s.api.base_path}:${s.api.version}:${app.owner}-${app.name}:${s.keyType}`)) return `subscription of ${app.owner}-${app.name} to ${s.api.base_path} is blocked`;
    const family = isIP(clientIp);
    for (const r of this.ips) {
      if (r.organization && r.organization !== tenant) continue;
      const inside = family !== 0 && r.list.check(clientIp, family === 6 ? 'ipv6' : 'ipv4');
      if (inside !== r.invert) return `client ${clientIp || '(unknown)'} is ${r.invert ? 'outside' : 'inside'} blocked ${r.what}`;
    }
    return undefined;
  }
}

function ipRule(e: BlockingEntry, type: string): IpRule | undefined {
  const list = new BlockList();
  const family = (ip: string): 'ipv4' | 'ipv6' => (isIP(ip) === 6 ? 'ipv6' : 'ipv4');
  if (type === 'IP') {
    if (!isIP(e.fixed_ip)) return undefined;
    list.addAddress(e.fixed_ip, family(e.fixed_ip));
    return { list, invert: e.invert, organization: e.organization, what: `IP ${e.fixed_ip}` };
  }
  if (!isIP(e.starting_ip) || isIP(e.starting_ip) !== isIP(e.ending_ip)) return undefined;
  // Both ends included, as APIM defines the range.
  list.addRange(e.starting_ip, e.ending_ip, family(e.starting_ip));
  return { list, invert: e.invert, organization: e.organization, what: `range ${e.starting_ip}-${e.ending_ip}` };
}
