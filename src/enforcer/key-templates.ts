import type { Subject } from './check';
import { apiTenant, appId, resourceKey, userId } from './rate-limits';
import type { RequestFacts } from './request-facts';

type Part = string | ((s: Subject, req: RequestFacts) => string | undefined);

/** The variables of APIM's key templates (reference D.4 step 5). */
const VARIABLES: Record<string, (s: Subject, req: RequestFacts) => string | undefined> = {
  resourceKey: (s) => resourceKey(s),
  userId: (s) => userId(s),
  apiContext: (s) => s.api.base_path,
  apiVersion: (s) => s.api.version,
  appTenant: (s) => (s.application ? s.application.organization || apiTenant(s) : undefined),
  apiTenant: (s) => apiTenant(s),
  appId: (s) => (s.application ? appId(s.application) : undefined),
  clientIp: (_s, req) => req.ipNumber()?.toString(),
};

const VARIABLE = /\$(customProperty\.[\w-]+|resourceKey|userId|apiContext|apiVersion|appTenant|apiTenant|appId|clientIp)/g;

/**
 * Custom (global) policies' key templates, such as `$userId:$apiContext`: each request makes one
 * key per template, which a Traffic Manager decision may throttle (429 / 900806). A
 * `$customProperty.<name>` is the request's header of that name, else its query parameter,
 * else its token's claim; a template whose values the request lacks makes no key. Each template
 * is split into its parts once, so a request only joins strings.
 */
export class KeyTemplates {
  private readonly compiled: Part[][];

  constructor(templates: Iterable<string>) {
    this.compiled = [...templates].map(compile);
  }

  get size(): number {
    return this.compiled.length;
  }

  /** The keys this request makes, one per template it has every value for. */
  keys(s: Subject, req: RequestFacts): string[] {
    const out: string[] = [];
    next: for (const parts of this.compiled) {
      let key = '';
      for (const p of parts) {
        const v = typeof p === 'string' ? p : p(s, req);
        if (v === undefined) continue next;
        key += v;
      }
      out.push(key);
    }
    return out;
  }
}

function compile(template: string): Part[] {
  const parts: Part[] = [];
  let at = 0;
  for (const m of template.matchAll(VARIABLE)) {
    if (m.index > at) parts.push(template.slice(at, m.index));
    const name = m[1]!;
    parts.push(name.startsWith('customProperty.') ? customProperty(name.slice('customProperty.'.length)) : VARIABLES[name]!);
    at = m.index + m[0].length;
  }
  if (at < template.length) parts.push(template.slice(at));
  return parts;
}

function customProperty(name: string): Part {
  return (_s, req) => {
    const v = req.header(name) ?? req.query(name) ?? req.claim(name);
    return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
  };
}
