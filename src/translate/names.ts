import { createHash } from 'crypto';
import type { Api, Resource } from '../model/api';

/** Names shared by translators, the router bootstrap and the enforcer. */

/** The one RouteConfiguration per label, referenced by every listener (Choreo Connect's name). */
export const ROUTE_CONFIG_NAME = 'default';
export const HTTP_LISTENER = 'http-listener';
/** The last route of every virtual host (and the catch-all host): 404 without asking the enforcer. */
export const NOT_FOUND_ROUTE = 'not-found';
export const HTTPS_LISTENER = 'https-listener';

/** Set only by the enforcer to send a request to the sandbox cluster; stripped upstream. */
export const CLUSTER_HEADER = 'x-wso2-cluster-header';

export const FILTER_CORS = 'envoy.filters.http.cors';
export const FILTER_EXT_AUTHZ = 'envoy.filters.http.ext_authz';
export const FILTER_ROUTER = 'envoy.filters.http.router';
export const FILTER_HCM = 'envoy.filters.network.http_connection_manager';

/** Per-route filter config for routes the router answers itself, without asking the enforcer (404, 405). */
export const WITHOUT_ENFORCER = {
  [FILTER_EXT_AUTHZ]: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute', disabled: true },
};

/**
 * Route metadata namespace carrying what the enforcer needs to know about a route (API id and
 * resource template); ext_authz passes it along with each check.
 */
export const ROUTE_METADATA_NAMESPACE = 'apimconnect.route';

/** Router-made JSON bodies (direct responses) say what they are. */
export const JSON_CONTENT_TYPE = { header: { key: 'content-type', value: 'application/json' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' };

/** Dynamic metadata every enforcer reply carries: its absence means the enforcer did not answer. */
export const ENFORCER_REPLY_KEY = 'choreo-connect-enforcer-reply';

/**
 * An API's part of every cluster and route name made for it:
 * `<organization>_<vhost>_<name>_<version>_<hash>`, e.g.
 * `carbon-super_localhost_PetStore_1-0-0_1a2b3c4d`. Each part keeps its letters and digits and
 * turns every other run of characters into one `-`, so `_` separates parts unambiguously and the
 * name is safe in Envoy stats (a `.` would split the cluster name when stats tags are extracted;
 * `:` is rewritten in stat names) and in the admin output. Sanitizing loses information
 * (`1.0` and `1-0`), so the 8 hex digits of SHA-256 over the exact four values make the name
 * unique; a dotted organization or version (nearly every API) needs them, so every name has them.
 * A function of the API's own fields: stable across restarts and replicas.
 */
export function apiRef(api: Pick<Api, 'organization' | 'vhost' | 'name' | 'version'>): string {
  const exact = [api.organization, api.vhost, api.name, api.version];
  return [...exact.map(namePart), shortHash(JSON.stringify(exact))].join('_');
}

/**
 * A cluster's name: the API's part, the environment (`prod`, `sandbox`) and, for a resource's own
 * endpoints, a hash of the resource's key: `carbon-super_localhost_PetStore_1-0-0_1a2b3c4d_prod`.
 */
export function clusterName(api: Api, env: 'production' | 'sandbox', resource?: string): string {
  const base = `${apiRef(api)}_${env === 'production' ? 'prod' : 'sandbox'}`;
  return resource === undefined ? base : `${base}_${shortHash(resource)}`;
}

/**
 * A route's name: the API's part, what kind of route it is (`default` for the unversioned context,
 * `sandbox`, `405`), then the resource's key, which starts with `/`:
 * `carbon-super_localhost_PetStore_1-0-0_1a2b3c4d:default:sandbox:/pet/{petId}`.
 * Kinds come before the key, so a `:` in a path cannot make two names equal.
 */
export function routeName(api: Api, key: string, ...kinds: string[]): string {
  return [apiRef(api), ...kinds, key].join(':');
}

/** Letters and digits kept, every other run of characters one `-` (none at the ends). */
function namePart(s: string): string {
  return s.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

function shortHash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 8);
}

/**
 * What tells a resource apart within its API: the path, and the methods when operations of one
 * path were split into resources (they have different endpoints).
 */
export function resourceKey(api: Api, r: Resource): string {
  const shared = api.resources.some((o) => o !== r && o.path === r.path);
  return shared ? `${r.path} ${[...new Set(r.operations.map((o) => o.method))].sort().join(',')}` : r.path;
}
