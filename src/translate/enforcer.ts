import { X509Certificate } from 'crypto';
import { encodeMessage } from '../envoy/any';
import {
  ENFORCER_API,
  ENFORCER_APPLICATION,
  ENFORCER_BLOCKING_CONDITION,
  ENFORCER_KEY_MANAGER,
  ENFORCER_KEY_MAPPING,
  ENFORCER_KEY_TEMPLATE,
  ENFORCER_POLICY,
  ENFORCER_REVOKED_TOKEN,
  ENFORCER_SUBSCRIPTION,
  ENFORCER_THROTTLE_DECISION,
} from '../envoy/typeUrls';
import type { RateLimit } from '../model/access';
import type { Api, EndpointSet, Resource } from '../model/api';
import { keyOf, type CollectionName, type Entities, type GatewayState } from '../model/state';
import { keyManagerResource } from './keyManagers';
import { clusterName, resourceKey } from './names';
import type { EncodedResource } from './translate';

/**
 * GatewayState → the enforcer's resources (proto/apimconnect/enforcer/v1), one per entry and
 * named by the entry's key, so one change sends one resource. Each carries only the fields the
 * enforcer reads: what an enforcer receives is decided here, field by field. Pure; each entry is encoded once
 * and kept while the state holds the same object, so a state with 100,000 subscriptions costs
 * one encoding per changed subscription, not per push.
 */
export class EnforcerTranslator {
  private readonly encoded = new WeakMap<object, EncodedResource>();

  /** The resources for the enforcers of one label: its APIs (by default the state's), and everyone's access data. */
  translate(state: GatewayState, label: string, apis: readonly Api[] = state.apisFor(label)): Record<string, EncodedResource[]> {
    const out: Record<string, EncodedResource[]> = { [ENFORCER_API]: this.apis(apis) };
    for (const [collection, [typeUrl, shape]] of Object.entries(COLLECTIONS) as Array<[CollectionName, [string, (v: never) => object]]>) {
      const list: EncodedResource[] = [];
      for (const v of state.collection(collection).values() as Iterable<object | string>) {
        const build = (): EncodedResource => ({ name: keyOf(collection, v as never), value: encodeMessage(typeUrl, shape(v as never)) });
        // Key templates are bare strings, and few: encoded each time.
        list.push(typeof v === 'object' ? this.once(v, build) : build());
      }
      out[typeUrl] = list;
    }
    return out;
  }

  apis(apis: readonly Api[]): EncodedResource[] {
    return apis.map((api) => this.once(api, () => enforcerApi(api)));
  }

  /** An API's resource encoded elsewhere (enforcerApi on a worker). */
  adopt(api: Api, encoded: EncodedResource): void {
    this.encoded.set(api, encoded);
  }

  private once(key: object, build: () => EncodedResource): EncodedResource {
    let e = this.encoded.get(key);
    if (!e) this.encoded.set(key, (e = build()));
    return e;
  }
}

/** One API as its enforcers get it: a pure function of the API. */
export function enforcerApi(api: Api): EncodedResource {
  return { name: api.id, value: encodeMessage(ENFORCER_API, apiResource(api)) };
}

/** Which collections are served, as which type, in which shape. */
const COLLECTIONS: Partial<{ [C in CollectionName]: [string, (v: Entities[C]) => object] }> = {
  applications: [
    ENFORCER_APPLICATION,
    (a) => ({ uuid: a.uuid, name: a.name, owner: a.owner, policy: a.policy, attributes: a.attributes, organization: a.organization, id: a.id ?? 0 }),
  ],
  keyMappings: [
    ENFORCER_KEY_MAPPING,
    (m) => ({ consumer_key: m.consumerKey, key_manager: m.keyManager, key_type: m.keyType, application_uuid: m.appUuid, organization: m.organization }),
  ],
  subscriptions: [
    ENFORCER_SUBSCRIPTION,
    (s) => ({ uuid: s.uuid, api_id: s.apiUuid, application_uuid: s.appUuid, policy: s.policy, state: s.state, organization: s.organization }),
  ],
  policies: [
    ENFORCER_POLICY,
    (p) => ({
      kind: p.kind,
      name: p.name,
      organization: p.organization,
      ...(p.defaultLimit ? { default_limit: rateLimit(p.defaultLimit) } : {}),
      ...(p.burst ? { burst: { quota_type: 'requestCount', limit: p.burst.limit, unit_time_ms: p.burst.unitTimeMs } } : {}),
      stop_on_quota_reach: p.stopOnQuotaReach ?? true,
    }),
  ],
  keyManagers: [ENFORCER_KEY_MANAGER, keyManagerResource],
  revokedTokens: [
    ENFORCER_REVOKED_TOKEN,
    (t) => ({ id: t.id, expires_at_ms: t.expiresAt, token_type: t.tokenType, organization: t.organization }),
  ],
  throttleDecisions: [
    ENFORCER_THROTTLE_DECISION,
    (d) => ({
      key: d.key,
      until_ms: d.until,
      conditions: (d.conditions ?? []).map((c) => ({ ip: c.ip, header: c.header, query: c.query, jwt_claims: c.jwtClaims })),
    }),
  ],
  keyTemplates: [ENFORCER_KEY_TEMPLATE, (t) => ({ template: t })],
  blockingConditions: [
    ENFORCER_BLOCKING_CONDITION,
    (b) => ({
      type: b.type,
      value: b.value,
      fixed_ip: b.fixedIp,
      starting_ip: b.startingIp,
      ending_ip: b.endingIp,
      invert: b.invert ?? false,
      organization: b.organization,
    }),
  ],
};

function rateLimit(l: RateLimit): object {
  return { quota_type: l.quotaType, limit: l.limit, data_unit: l.dataUnit, unit_time_ms: l.unitTimeMs };
}

function apiResource(api: Api): object {
  // The clusters each resource reaches, as the router's translator names them (names.ts).
  const cluster = (r: Resource, env: 'production' | 'sandbox'): string | undefined =>
    r.endpoints?.[env] ? clusterName(api, env, resourceKey(api, r)) : api.endpoints[env] ? clusterName(api, env) : undefined;
  return {
    id: api.id,
    name: api.name,
    version: api.version,
    context: api.context,
    base_path: api.basePath,
    vhost: api.vhost,
    type: api.type,
    organization: api.organization,
    is_default_version: api.isDefaultVersion,
    lifecycle_status: api.lifecycleStatus,
    security_schemes: api.security.schemes,
    authorization_header: api.security.authorizationHeader,
    api_key_header: api.security.apiKeyHeader,
    throttling_tier: api.throttlingTier,
    revision: api.revision,
    resources: api.resources.map((r) => ({
      path: r.path,
      operations: r.operations.map((o) => ({ method: o.method, secured: o.secured, scopes: o.scopes, throttling_tier: o.throttlingTier })),
      production_cluster: cluster(r, 'production'),
      sandbox_cluster: cluster(r, 'sandbox'),
      production_authorization: basicAuthorization((r.endpoints ?? api.endpoints).production),
      sandbox_authorization: basicAuthorization((r.endpoints ?? api.endpoints).sandbox),
    })),
    client_certificates: (api.clientCertificates ?? []).map((c) => ({ alias: c.alias, sha256_fingerprint: new X509Certificate(c.pem).fingerprint256, tier: c.tier })),
  };
}

/** The backend's `Authorization` value when its endpoint security is HTTP Basic. */
function basicAuthorization(set: EndpointSet | undefined): string | undefined {
  const b = set?.basicAuth;
  return b ? `Basic ${Buffer.from(`${b.username}:${b.password}`, 'utf8').toString('base64')}` : undefined;
}
