import type { Config } from '../config/config';
import { seconds } from './clusters';
import {
  ENFORCER_REPLY_KEY,
  FILTER_CORS,
  FILTER_EXT_AUTHZ,
  FILTER_HCM,
  FILTER_ROUTER,
  HTTP_LISTENER,
  HTTPS_LISTENER,
  ROUTE_CONFIG_NAME,
  ROUTE_METADATA_NAMESPACE,
} from './names';

/**
 * The router's listeners: HTTP and (when a certificate is configured) HTTPS, both with one
 * HTTP connection manager whose routes come from RDS. Filters run CORS (answers preflight),
 * ext_authz (the enforcer decides; fail closed), then the router.
 */
export function listeners(config: Config): Array<{ name: string; body: object }> {
  const { router } = config;
  const out: Array<{ name: string; body: object }> = [];
  if (router.listenerPort > 0) out.push({ name: HTTP_LISTENER, body: listener(HTTP_LISTENER, router.listenerPort, config) });
  if (router.securedListenerPort > 0) {
    if (!router.tlsSdsSecret && !(router.tlsCertFile && router.tlsKeyFile)) {
      throw new Error('router.securedListenerPort needs router.tlsCertFile and router.tlsKeyFile, or router.tlsSdsSecret');
    }
    out.push({ name: HTTPS_LISTENER, body: listener(HTTPS_LISTENER, router.securedListenerPort, config, downstreamTls(config)) });
  }
  return out;
}

function listener(name: string, port: number, config: Config, transportSocket?: object): object {
  return {
    name,
    address: { socket_address: { address: '0.0.0.0', port_value: port } },
    // Envoy's edge practice: a slow client holds 32 KiB per connection, not 1 MiB.
    per_connection_buffer_limit_bytes: { value: 32768 },
    filter_chains: [
      {
        filters: [{ name: FILTER_HCM, typed_config: connectionManager(config) }],
        ...(transportSocket ? { transport_socket: transportSocket } : {}),
      },
    ],
  };
}

function connectionManager(config: Config): object {
  return {
    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    stat_prefix: 'ingress_http',
    codec_type: 'AUTO',
    rds: { route_config_name: ROUTE_CONFIG_NAME, config_source: { ads: {}, resource_api_version: 'V3' } },
    http_filters: [
      { name: FILTER_CORS, typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors' } },
      { name: FILTER_EXT_AUTHZ, typed_config: extAuthz(config) },
      {
        name: FILTER_ROUTER,
        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router', suppress_envoy_headers: true },
      },
    ],
    local_reply_config: { mappers: localReplyMappers() },
    strip_matching_host_port: true,
    // Routing sees the path a backend will resolve (Envoy's edge best practices): `/a/../b` is
    // `/b`, `//` is `/`, and an escaped slash (`%2F`, `%5C`) is refused or redirected to its
    // decoded form, so no resource can be used to reach another resource's backend path.
    normalize_path: true,
    merge_slashes: true,
    path_with_escaped_slashes_action: config.router.pathWithEscapedSlashesAction,
    // The gateway is the edge: the client address is the connection's, not a header's.
    use_remote_address: config.router.useRemoteAddress,
    stream_idle_timeout: '300s',
    // A backend that reads `x_user` as `x-user` must not see a header the enforcer never checked.
    common_http_protocol_options: { idle_timeout: '3600s', headers_with_underscores_action: 'REJECT_REQUEST' },
    // Envoy's edge practice for HTTP/2 clients: bounded streams and flow-control windows.
    http2_protocol_options: { max_concurrent_streams: { value: 100 }, initial_stream_window_size: { value: 65536 }, initial_connection_window_size: { value: 1048576 } },
    // WebSocket upgrades only where a route allows them (WS APIs).
    upgrade_configs: [{ upgrade_type: 'websocket', enabled: false }],
  };
}

function extAuthz(config: Config): object {
  return {
    '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
    grpc_service: { envoy_grpc: { cluster_name: config.router.enforcerCluster }, timeout: seconds(config.router.enforcerTimeoutMs) },
    transport_api_version: 'V3',
    // Fail closed: no answer from the enforcer is a denial, never a pass.
    failure_mode_allow: false,
    // The enforcer may set the sandbox header; routes are matched again after it answers.
    clear_route_cache: true,
    include_peer_certificate: true,
    // Each route's API id and resource template (see routes.ts).
    route_metadata_context_namespaces: [ROUTE_METADATA_NAMESPACE],
  };
}

function downstreamTls(config: Config): object {
  const { router } = config;
  const certs = router.tlsSdsSecret
    ? { tls_certificate_sds_secret_configs: [{ name: router.tlsSdsSecret, sds_config: { ads: {}, resource_api_version: 'V3' } }] }
    : { tls_certificates: [{ certificate_chain: { filename: router.tlsCertFile }, private_key: { filename: router.tlsKeyFile } }] };
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
      common_tls_context: {
        ...certs,
        alpn_protocols: ['h2', 'http/1.1'],
        // Mutual-TLS APIs: any client certificate is taken (the handshake proves its key is held)
        // and passed on; the enforcer accepts only the certificates of the API called.
        ...(router.mtlsApisEnabled ? { validation_context: { trust_chain_verification: 'ACCEPT_UNTRUSTED' } } : {}),
      },
      ...(router.mtlsApisEnabled ? { require_client_certificate: false } : {}),
    },
  };
}

/**
 * Errors the router makes itself, as Choreo Connect's JSON bodies and codes
 * (`{"code", "message", "description"}`), keyed by Envoy's response flags.
 */
const ROUTER_ERRORS: ReadonlyArray<[flag: string, status: number, code: string, message: string]> = [
  ['NR', 404, '404', 'Not Found'],
  ['UF', 503, '102503', 'Upstream connection failed'],
  ['UT', 504, '102504', 'Upstream connection timeout'],
  ['UO', 503, '102505', 'Upstream overflow'],
  ['URX', 500, '102506', 'Upstream maximum connect attempts reached'],
  ['NC', 500, '102507', 'Upstream not configured for the resource'],
  ['UH', 503, '102508', 'No healthy upstream'],
  ['UR', 503, '102509', 'Upstream connection reset by the remote'],
  ['UC', 503, '102510', 'Upstream connection termination'],
  ['LR', 503, '102511', 'Connection reset by the gateway'],
  ['IH', 400, '102512', 'Strictly checked header validation failure'],
  ['SI', 500, '102513', 'Stream idle timeout'],
  ['DPE', 500, '102514', 'HTTP protocol error in downstream request'],
  ['UPE', 500, '102515', 'HTTP protocol error in upstream request'],
  ['UMSDR', 500, '102516', 'Upstream request reached max stream duration'],
];

function localReplyMappers(): object[] {
  const json = (code: string, message: string, description: string): object => ({ json_format: { code, message, description } });
  return [
    // An ext_authz failure without the enforcer's reply metadata: the enforcer could not be
    // asked (down, timed out). Its own denials carry the metadata and keep their answer.
    {
      filter: {
        and_filter: {
          filters: [
            { response_flag_filter: { flags: ['UAEX'] } },
            {
              metadata_filter: {
                // True only when the key is absent: a present key fails the inverted match.
                matcher: { filter: FILTER_EXT_AUTHZ, path: [{ key: ENFORCER_REPLY_KEY }], value: { present_match: true }, invert: true },
                match_if_key_not_found: { value: true },
              },
            },
          ],
        },
      },
      status_code: { value: 500 },
      body_format_override: json('102500', 'Unclassified Validation Failure', 'Error during validating the request'),
    },
    ...ROUTER_ERRORS.map(([flag, status, code, message]) => ({
      filter: { response_flag_filter: { flags: [flag] } },
      status_code: { value: status },
      body_format_override: json(code, message, flag === 'NR' ? 'The requested resource is not available.' : '%LOCAL_REPLY_BODY%'),
    })),
  ];
}
