import { redactUrl } from '../config/config';
import type * as protobuf from 'protobufjs';
import { unpackAny, type PackedAny } from '../envoy/any';
import type { KeyManager } from '../model/access';
import type { Api, EndpointSets } from '../model/api';
import type { CollectionName } from '../model/state';

/**
 * What ops may see. Every answer of the admin service that could hold a secret passes through
 * here, and only here is it decided what is secret; a secret shows as SET (that it is there),
 * never its value:
 *  - xDS resources: every field its proto marks sensitive (`udpa.annotations.sensitive`: Envoy's
 *    private keys and passwords, our backend credentials), but for the few we fill with nothing secret;
 *  - gateway state: a backend's Basic password, and a key manager's configuration but for the
 *    keys known to be public.
 * What an enforcer receives is decided apart from this (translate/enforcer.ts): it needs a
 * backend's credentials to call it; ops never need them.
 */
export const SET = '<set>';

/**
 * Fields Envoy marks sensitive that we fill with nothing secret, shown as they are: the route's
 * ext_authz context (base path, method, path template) is what `ctl explain` shows the enforcer is asked.
 */
const NOT_SECRET_HERE = new Set(['.envoy.extensions.filters.http.ext_authz.v3.CheckSettings.context_extensions']);

const isSecret = (field: protobuf.Field): boolean => field.options?.['(udpa.annotations.sensitive)'] === true && !NOT_SECRET_HERE.has(field.fullName);

/** An xDS resource as proto3 JSON, its secret fields shown as SET. */
export function resourceForOps(any: PackedAny): Record<string, unknown> {
  return unpackAny(any, { mask: (field) => (isSecret(field) ? SET : undefined) });
}

/** A gateway state entry of `collection` as ops may see it. */
export function stateEntryForOps(collection: 'apis' | CollectionName, entry: unknown): unknown {
  if (collection === 'apis') return apiForOps(entry as Api);
  if (collection === 'keyManagers') return { ...(entry as KeyManager), configuration: configurationForOps((entry as KeyManager).configuration) };
  return entry;
}

function apiForOps(api: Api): Api {
  return {
    ...api,
    endpoints: endpointsForOps(api.endpoints),
    resources: api.resources.map((r) => (r.endpoints ? { ...r, endpoints: endpointsForOps(r.endpoints) } : r)),
  };
}

function endpointsForOps(sets: EndpointSets): EndpointSets {
  const out: EndpointSets = {};
  for (const env of ['production', 'sandbox'] as const) {
    const set = sets[env];
    if (set) out[env] = set.basicAuth ? { ...set, basicAuth: { username: set.basicAuth.username, password: SET } } : set;
  }
  return out;
}

/**
 * Keys of APIM's key manager configuration that hold nothing secret: the issuer and how its
 * tokens are validated, its endpoints, claims and grant types. Any other key (client_secret,
 * username, password, ... and whatever a key manager type adds) shows as SET; a true/false value
 * is shown whatever its key, since it cannot be a secret.
 */
const PUBLIC_KEY_MANAGER_KEYS = new Set([
  'issuer',
  'self_validate_jwt',
  'certificate_type',
  'certificate_value',
  'jwks_endpoint',
  'consumer_key_claim',
  'scopes_claim',
  'claim_mappings',
  'grant_types',
  'token_format_string',
  'token_endpoint',
  'revoke_endpoint',
  'introspection_endpoint',
  'userinfo_endpoint',
  'authorize_endpoint',
  'client_registration_endpoint',
  'display_token_endpoint',
  'display_revoke_endpoint',
  'scope_management_endpoint',
  'well_known_endpoint',
]);

function configurationForOps(configuration: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(configuration)) {
    if (key === 'additionalProperties' && isObject(value)) out[key] = configurationForOps(value);
    else if (typeof value === 'boolean' || value === null || value === '') out[key] = value;
    // An endpoint URL may still carry a password of its own.
    else if (PUBLIC_KEY_MANAGER_KEYS.has(key)) out[key] = typeof value === 'string' ? redactUrl(value) : value;
    else out[key] = SET;
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
