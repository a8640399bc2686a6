import { encodeMessage } from '../src/envoy/any';
import { CLUSTER, ENDPOINT, LISTENER, ROUTE } from '../src/envoy/typeUrls';
import type { NamedResource } from '../src/xds/cache';

/**
 * The benchmark's node group: 1,000 EDS clusters, their 1,000 ClusterLoadAssignments, one
 * listener (HCM with RDS) and one RouteConfiguration of 10,000 routes (10 per cluster), the way
 * Choreo Connect puts every API of a label into one route table. Real Envoy message shapes,
 * encoded with the project's checked encoder.
 */

export const GROUP = 'Default';
export const CLUSTERS = 1000;
export const ROUTES_PER_CLUSTER = 10;
export const ROUTE_CONFIG = 'default-routes';
export const LISTENER_NAME = 'default-listener';

export const clusterName = (i: number): string => `api-${String(i).padStart(4, '0')}-cluster`;
export const clusterNames = (): string[] => Array.from({ length: CLUSTERS }, (_, i) => clusterName(i));

export function cluster(i: number, connectTimeoutSeconds = 5): NamedResource {
  const name = clusterName(i);
  return {
    name,
    value: encodeMessage(CLUSTER, {
      name,
      type: 'EDS',
      eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
      connect_timeout: { seconds: connectTimeoutSeconds },
      lb_policy: 'ROUND_ROBIN',
      circuit_breakers: { thresholds: [{ priority: 'DEFAULT', max_connections: { value: 1024 }, max_requests: { value: 1024 } }] },
      common_lb_config: { healthy_panic_threshold: { value: 50 } },
    }),
  };
}

export function endpoints(i: number): NamedResource {
  const name = clusterName(i);
  const host = (k: number): string => `10.${(i >> 8) & 255}.${i & 255}.${k}`;
  return {
    name,
    value: encodeMessage(ENDPOINT, {
      cluster_name: name,
      endpoints: [
        {
          locality: { region: 'local', zone: 'a' },
          lb_endpoints: [1, 2].map((k) => ({ endpoint: { address: { socket_address: { address: host(k), port_value: 8080 } } } })),
        },
      ],
    }),
  };
}

export function routeConfig(): NamedResource {
  const routes: object[] = [];
  for (let c = 0; c < CLUSTERS; c++) {
    for (let k = 0; k < ROUTES_PER_CLUSTER; k++) {
      const api = String(c).padStart(4, '0');
      routes.push({
        name: `api-${api}-res-${k}-GET`,
        match: {
          safe_regex: { regex: `^/api-${api}/v1/res-${k}((?:/.*)*)` },
          headers: [{ name: ':method', string_match: { exact: 'GET' } }],
        },
        route: { cluster: clusterName(c), timeout: { seconds: 60 }, regex_rewrite: { pattern: { regex: `^/api-${api}/v1` }, substitution: '/v1' } },
      });
    }
  }
  return {
    name: ROUTE_CONFIG,
    value: encodeMessage(ROUTE, { name: ROUTE_CONFIG, virtual_hosts: [{ name: 'default', domains: ['*'], routes }] }),
  };
}

export function listener(): NamedResource {
  const hcm = {
    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    stat_prefix: 'ingress_http',
    rds: { route_config_name: ROUTE_CONFIG, config_source: { ads: {}, resource_api_version: 'V3' } },
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
  };
  return {
    name: LISTENER_NAME,
    value: encodeMessage(LISTENER, {
      name: LISTENER_NAME,
      address: { socket_address: { address: '0.0.0.0', port_value: 9090 } },
      filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }] }],
    }),
  };
}

export function buildGroup(): Record<string, NamedResource[]> {
  const idx = Array.from({ length: CLUSTERS }, (_, i) => i);
  return {
    [CLUSTER]: idx.map((i) => cluster(i)),
    [ENDPOINT]: idx.map((i) => endpoints(i)),
    [LISTENER]: [listener()],
    [ROUTE]: [routeConfig()],
  };
}

/** The one cluster the fan-out changes (its connect_timeout), and the change number `k`. */
export const CHANGED_CLUSTER = 500;
export const changedCluster = (k: number): NamedResource => cluster(CHANGED_CLUSTER, 5 + k);
