import type { NamedResource } from '../../src/xds/cache';
import { encodeMessage } from '../../src/envoy/any';
import { CLUSTER, ENDPOINT, LISTENER, ROUTE } from '../../src/envoy/typeUrls';

/** Small, valid Envoy resources for protocol tests. */

export function cluster(name: string, timeoutSeconds = 1, lbPolicy = 'ROUND_ROBIN'): NamedResource {
  return {
    name,
    value: encodeMessage(CLUSTER, {
      name,
      type: 'EDS',
      eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
      connect_timeout: { seconds: timeoutSeconds },
      lb_policy: lbPolicy,
    }),
  };
}

export function endpoints(name: string, port: number, host = '127.0.0.1'): NamedResource {
  return {
    name,
    value: encodeMessage(ENDPOINT, {
      cluster_name: name,
      endpoints: [
        {
          locality: { region: 'local' },
          // proxyless gRPC drops a locality without a weight ("empty priority list")
          load_balancing_weight: { value: 1 },
          lb_endpoints: [{ endpoint: { address: { socket_address: { address: host, port_value: port } } } }],
        },
      ],
    }),
  };
}

export function routeConfig(name: string, clusterName: string, prefix = '/'): NamedResource {
  return {
    name,
    value: encodeMessage(ROUTE, {
      name,
      virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix }, route: { cluster: clusterName } }] }],
    }),
  };
}

/** A listener with an HCM that takes its routes from RDS (an api_listener when `api` is set). */
export function listener(name: string, routeName: string, api = false): NamedResource {
  const hcm = {
    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    stat_prefix: name,
    rds: { route_config_name: routeName, config_source: { ads: {}, resource_api_version: 'V3' } },
    http_filters: [{ name: 'router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
  };
  const body = api
    ? { name, api_listener: { api_listener: hcm } }
    : {
        name,
        address: { socket_address: { address: '0.0.0.0', port_value: 9090 } },
        filter_chains: [{ filters: [{ name: 'hcm', typed_config: hcm }] }],
      };
  return { name, value: encodeMessage(LISTENER, body) };
}
