import type { Config } from '../config/config';
import type { Api, CorsPolicy, EndpointSet, Resource } from '../model/api';
import { seconds } from './clusters';
import { fallThroughs } from './fallthrough';
import { CLUSTER_HEADER, FILTER_CORS, JSON_CONTENT_TYPE, resourceKey, ROUTE_METADATA_NAMESPACE, routeName, WITHOUT_ENFORCER } from './names';
import { pathMatchers, prefixRewrite, sortBySpecificity } from './paths';

/**
 * Routes of one API. Each resource gets a route per environment it can reach:
 * - with a sandbox endpoint set, a sandbox route first that matches only when the enforcer put
 *   the sandbox cluster's name in `x-wso2-cluster-header` (it strips any header a client sends,
 *   and the route config strips it upstream), then the production route;
 * - the production route sends to the production cluster by name; with no production
 *   endpoints it answers 404 itself, after the enforcer had its say.
 * A client can therefore reach only this API's two clusters, and the sandbox one only with the
 * enforcer's consent. Default-version APIs get the same routes again at the unversioned context.
 */

export interface ClusterRef {
  name: string;
  set: EndpointSet;
}

export interface ResourceClusters {
  production?: ClusterRef;
  sandbox?: ClusterRef;
}

const CORS_POLICY = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy';

/** A resource's routes, or why it has none (its template or its endpoints cannot be served). */
export type ResourceRoutes = { resource: Resource; routes: object[] } | { resource: Resource; error: string };

/**
 * The routes of an API's resources, most specific first. `clustersOf` throws for a resource
 * whose own endpoints are unusable: that resource, like one whose path cannot be matched, is
 * returned with the reason instead of routes. `at` names the routes at the unversioned context
 * of a default version (`default`).
 */
export function apiRoutes(api: Api, basePath: string, clustersOf: (r: Resource) => ResourceClusters, config: Config, ...at: string[]): ResourceRoutes[] {
  const resources = sortBySpecificity(api.resources);
  const answer405 = config.router.methodNotAllowed === '405' ? fallThroughs(resources) : undefined;
  return resources.map((resource, i) => {
    try {
      const routes = resourceRoutes(api, resource, basePath, clustersOf(resource), config, at);
      const allow = answer405?.get(i);
      return { resource, routes: allow ? [...routes, ...methodNotAllowedRoutes(api, resource.path, allow, basePath, config, at)] : routes };
    } catch (err) {
      return { resource, error: (err as Error).message };
    }
  });
}

/**
 * After the routes of a template whose missing methods a less specific template would take
 * (router.methodNotAllowed = "405"): the same path, any method, answered 405 with `Allow` by the
 * router itself. OPTIONS never gets here: the template's own routes take it.
 */
function methodNotAllowedRoutes(api: Api, path: string, methods: string[], basePath: string, config: Config, at: string[]): object[] {
  return pathMatchers(basePath, path, config.router.maxRegexProgramSize).map((m) => ({
    name: routeName(api, path, ...at, '405', ...m.kinds),
    match: { ...m.match, headers: m.headers },
    direct_response: { status: 405, body: { inline_string: METHOD_NOT_ALLOWED_BODY } },
    response_headers_to_add: [JSON_CONTENT_TYPE, { header: { key: 'allow', value: methods.join(', ') }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
    // Answered without asking the enforcer, as the not-found route is; the API's CORS policy still applies.
    typed_per_filter_config: { ...(api.cors ? corsConfig(api.cors) : {}), ...WITHOUT_ENFORCER },
  }));
}

function resourceRoutes(api: Api, r: Resource, basePath: string, clusters: ResourceClusters, config: Config, at: string[]): object[] {
  const methods = [...new Set(r.operations.map((o) => o.method))].sort();
  // OPTIONS always reaches the route, so the CORS filter can answer preflight (CC #3242).
  const matchMethods = methods.includes('OPTIONS') ? methods : [...methods, 'OPTIONS'];
  const method = { name: ':method', string_match: { safe_regex: { regex: `^(?:${matchMethods.join('|')})$` } } };
  // What the enforcer needs to find the API and the resource travels as route metadata (it
  // knows the rest from its own copy of the API): a few dozen bytes on each of thousands of routes.
  const metadata = { filter_metadata: { [ROUTE_METADATA_NAMESPACE]: { apiId: api.id, path: r.path } } };
  // An API's own CORS policy; the router's default is set once on the virtual host.
  const perFilter = api.cors ? corsConfig(api.cors) : undefined;
  const extras = { metadata, ...(perFilter ? { typed_per_filter_config: perFilter } : {}) };
  const key = resourceKey(api, r);
  const routes: object[] = [];
  // One path matcher, or a URI template and its companion: each gets the sandbox and production route.
  for (const path of pathMatchers(basePath, r.path, config.router.maxRegexProgramSize)) {
    const match = { ...path.match, headers: [method, ...path.headers] };
    const name = routeName(api, key, ...at, ...path.kinds);
    if (clusters.sandbox) {
      routes.push({
        name: routeName(api, key, ...at, ...path.kinds, 'sandbox'),
        match: { ...match, headers: [...match.headers, { name: CLUSTER_HEADER, string_match: { exact: clusters.sandbox.name } }] },
        route: routeAction(api, clusters.sandbox, basePath, config),
        ...extras,
      });
    }
    routes.push(
      clusters.production
        ? { name, match, route: routeAction(api, clusters.production, basePath, config), ...extras }
        : {
            name,
            match,
            direct_response: { status: 404, body: { inline_string: noProductionBody() } },
            response_headers_to_add: [JSON_CONTENT_TYPE],
            ...extras,
          },
    );
  }
  return routes;
}

function routeAction(api: Api, cluster: ClusterRef, basePath: string, config: Config): object {
  const backendBase = cluster.set.urls[0].basePath;
  const action: Record<string, unknown> = {
    cluster: cluster.name,
    regex_rewrite: prefixRewrite(basePath, backendBase),
    auto_host_rewrite: true,
    timeout: seconds(cluster.set.timeoutMs ?? config.router.routeTimeoutMs),
    idle_timeout: seconds(config.router.routeIdleTimeoutMs),
    ...(api.type === 'WS' ? { upgrade_configs: [{ upgrade_type: 'websocket', enabled: true }] } : {}),
  };
  const retry = cluster.set.retry;
  if (retry && retry.count > 0) {
    action.retry_policy = {
      retry_on: 'retriable-status-codes,connect-failure,reset',
      num_retries: { value: retry.count },
      retriable_status_codes: retry.statusCodes.length ? retry.statusCodes : config.router.retryStatusCodes.map(Number),
      retry_back_off: { base_interval: '0.025s' },
    };
  }
  return action;
}

/**
 * Per-filter config for a CORS policy. A disabled policy switches the filter off explicitly, so
 * an API that turns CORS off is not covered by the virtual host's default policy.
 */
export function corsConfig(policy: CorsPolicy): Record<string, object> {
  if (!policy.enabled) {
    return { [FILTER_CORS]: { '@type': CORS_POLICY, filter_enabled: { default_value: { numerator: 0, denominator: 'HUNDRED' } } } };
  }
  return {
    [FILTER_CORS]: {
      '@type': CORS_POLICY,
      // Envoy's CORS filter treats an allowed origin that matches "*" as "any origin".
      allow_origin_string_match: policy.allowOrigins.map((o) => ({ exact: o })),
      allow_methods: policy.allowMethods.join(','),
      allow_headers: policy.allowHeaders.join(','),
      ...(policy.exposeHeaders.length ? { expose_headers: policy.exposeHeaders.join(',') } : {}),
      allow_credentials: policy.allowCredentials,
      ...(policy.maxAgeSeconds !== undefined ? { max_age: String(policy.maxAgeSeconds) } : {}),
    },
  };
}

const METHOD_NOT_ALLOWED_BODY = JSON.stringify({ code: '405', message: 'Method Not Allowed', description: 'The method is not allowed for the requested resource.' });

/** The body the router sends when a route has no production endpoints (the enforcer allowed a production key). */
function noProductionBody(): string {
  return JSON.stringify({ code: '404', message: 'Not Found', description: 'The API has no production endpoint.' });
}

/** APIs in a virtual host: longer (more specific) base paths first, then by id. */
export function basePathOrder(a: { basePath: string; id: string }, b: { basePath: string; id: string }): number {
  return b.basePath.length - a.basePath.length || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
