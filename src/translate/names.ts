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
 * Choreo Connect's cluster names (`carbon.super_clusterProd_localhost_PetStore1.0.0`), so
 * dashboards built on router stats keep working. A resource-level endpoint set adds a short
 * hash of the resource's key.
 */
export function clusterName(api: Api, env: 'production' | 'sandbox', resource?: string): string {
  const prefix = env === 'production' ? 'clusterProd' : 'clusterSand';
  const base = `${api.organization}_${prefix}_${api.vhost}_${api.name.replace(/\s+/g, '')}${api.version}`;
  return resource === undefined ? base : `${base}_${createHash('sha1').update(resource).digest('hex').slice(0, 8)}`;
}

/**
 * What tells a resource apart within its API: the path, and the methods when operations of one
 * path were split into resources (they have different endpoints).
 */
export function resourceKey(api: Api, r: Resource): string {
  const shared = api.resources.some((o) => o !== r && o.path === r.path);
  return shared ? `${r.path} ${[...new Set(r.operations.map((o) => o.method))].sort().join(',')}` : r.path;
}
