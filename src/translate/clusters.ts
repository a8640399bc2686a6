import { isIP } from 'net';
import type { Config } from '../config/config';
import type { EndpointSet, EndpointUrl } from '../model/api';

/**
 * One Envoy Cluster per endpoint set. Backends are usually host names, so clusters resolve
 * them (STRICT_DNS) with the endpoints inline; IP-only sets are STATIC. Failover lists become
 * priorities, so Envoy moves to the next URL only when the ones before it are unhealthy.
 */
export function clusterFor(name: string, set: EndpointSet, config: Config): object {
  const schemes = new Set(set.urls.map((u) => u.scheme));
  if (set.urls.length === 0) throw new Error(`${name}: no endpoint URLs`);
  if (schemes.size > 1) throw new Error(`${name}: endpoints of one set must all be http or all be https`);
  const tls = schemes.has('https');
  const hosts = [...new Set(set.urls.map((u) => u.host))];
  const allIps = set.urls.every((u) => isIP(u.host) !== 0);

  const cluster: Record<string, unknown> = {
    name,
    type: allIps ? 'STATIC' : 'STRICT_DNS',
    connect_timeout: seconds(config.router.clusterConnectTimeoutMs),
    // Envoy's edge practice: a slow backend holds 32 KiB per connection, not Envoy's 1 MiB default.
    per_connection_buffer_limit_bytes: { value: 32768 },
    lb_policy: 'ROUND_ROBIN',
    load_assignment: {
      cluster_name: name,
      endpoints:
        set.type === 'failover'
          ? set.urls.map((u, priority) => ({ priority, lb_endpoints: [lbEndpoint(u)] }))
          : [{ lb_endpoints: set.urls.map(lbEndpoint) }],
    },
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        // Several TLS hosts behind one cluster: SNI and certificate checks follow each request's host.
        ...(tls && hosts.length > 1 ? { upstream_http_protocol_options: { auto_sni: true, auto_san_validation: !set.skipTlsVerify } } : {}),
        explicit_http_config: set.http2 ? { http2_protocol_options: {} } : { http_protocol_options: {} },
      },
    },
  };
  if (!allIps) cluster.dns_lookup_family = 'V4_PREFERRED';
  if (tls) cluster.transport_socket = upstreamTls(set, hosts, config);
  const breakers = set.circuitBreakers;
  if (breakers && Object.values(breakers).some((v) => (v ?? 0) > 0)) {
    const threshold: Record<string, unknown> = {};
    const put = (key: string, v?: number): void => {
      if (v && v > 0) threshold[key] = { value: v };
    };
    put('max_connections', breakers.maxConnections);
    put('max_pending_requests', breakers.maxPendingRequests);
    put('max_requests', breakers.maxRequests);
    put('max_retries', breakers.maxRetries);
    put('max_connection_pools', breakers.maxConnectionPools);
    cluster.circuit_breakers = { thresholds: [threshold] };
  }
  // With more than one URL, a dead one is taken out of rotation (Choreo Connect's defaults).
  if (set.urls.length > 1) {
    cluster.health_checks = [
      { timeout: '1s', interval: '10s', unhealthy_threshold: { value: 2 }, healthy_threshold: { value: 2 }, tcp_health_check: {} },
    ];
  }
  return cluster;
}

function lbEndpoint(u: EndpointUrl): object {
  return {
    endpoint: {
      address: { socket_address: { address: u.host, port_value: u.port } },
      // auto_host_rewrite sends this as the upstream Host: with the port unless it is the default.
      hostname: u.port === (u.scheme === 'https' ? 443 : 80) ? u.host : `${u.host}:${u.port}`,
    },
  };
}

function upstreamTls(set: EndpointSet, hosts: string[], config: Config): object {
  const single = hosts.length === 1 ? hosts[0] : undefined;
  const validation = set.skipTlsVerify
    ? undefined
    : {
        trusted_ca: set.caCertificates?.length ? { inline_string: set.caCertificates.join('\n') } : { filename: config.router.trustedCaFile },
        ...(single ? { match_typed_subject_alt_names: [{ san_type: isIP(single) ? 'IP_ADDRESS' : 'DNS', matcher: { exact: single } }] } : {}),
      };
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      ...(single && isIP(single) === 0 ? { sni: single } : {}),
      common_tls_context: {
        ...(validation ? { validation_context: validation } : {}),
        ...(set.http2 ? { alpn_protocols: ['h2', 'http/1.1'] } : {}),
      },
    },
  };
}

export function seconds(ms: number): string {
  return `${ms / 1000}s`;
}
