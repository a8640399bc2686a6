import * as fs from 'fs';
import * as path from 'path';
import { parse } from 'yaml';
import { loadConfig, parseConfig } from '../../src/config/config';
import { checkListen } from '../../src/config/listen';
import { encodeMessage, unpackAny } from '../../src/envoy/any';
import { validateResource } from '../../src/envoy/validate';

const BOOTSTRAP = 'type.googleapis.com/envoy.config.bootstrap.v3.Bootstrap';
const root = path.join(__dirname, '..', '..');
const defaults = parseConfig('', 'defaults');

/** A bootstrap file as Envoy would read it: every field known, PGV rules satisfied. */
function bootstrap(file: string): Record<string, any> {
  const bytes = encodeMessage(BOOTSTRAP, parse(fs.readFileSync(path.join(root, 'envoy', file), 'utf8')));
  expect(validateResource(BOOTSTRAP, bytes)).toEqual([]);
  return unpackAny({ type_url: BOOTSTRAP, value: bytes }) as Record<string, any>;
}

function endpointOf(b: Record<string, any>, cluster: string): { address: string; port: number } {
  const c = b.static_resources.clusters.find((x: { name: string }) => x.name === cluster);
  expect(c).toBeDefined();
  const sa = c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
  return { address: sa.address, port: sa.port_value };
}

/** A cluster's UpstreamTlsContext, or undefined when it connects in plain text. */
function upstreamTls(b: Record<string, any>, cluster: string): Record<string, any> | undefined {
  const ts = b.static_resources.clusters.find((x: { name: string }) => x.name === cluster).transport_socket;
  if (!ts) return undefined;
  expect(ts.name).toBe('envoy.transport_sockets.tls');
  return ts.typed_config as Record<string, any>;
}

describe.each([
  ['envoy.yaml', 'adapter', 'enforcer'],
  ['envoy-local.yaml', '127.0.0.1', '127.0.0.1'],
  ['envoy-local-tls.yaml', '127.0.0.1', '127.0.0.1'],
])('envoy/%s', (file, adapterHost, enforcerHost) => {
  const b = bootstrap(file);

  test('Delta ADS to the adapter, LDS and CDS over ADS, admin on 9000 on loopback only', () => {
    expect(b.dynamic_resources.ads_config).toMatchObject({ api_type: 'DELTA_GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'xds_cluster' } }] });
    expect(b.dynamic_resources.lds_config).toEqual({ ads: {}, resource_api_version: 'V3' });
    expect(b.dynamic_resources.cds_config).toEqual({ ads: {}, resource_api_version: 'V3' });
    expect(b.admin.address.socket_address).toEqual({ address: '127.0.0.1', port_value: 9000 });
  });

  test('names and ports agree with the defaults in code', () => {
    expect(endpointOf(b, 'xds_cluster')).toEqual({ address: adapterHost, port: defaults.adapter.xdsPort });
    expect(endpointOf(b, defaults.router.enforcerCluster)).toEqual({ address: enforcerHost, port: defaults.enforcer.port });
    // node.cluster names the label: a configured one, so the adapter serves this router from it
    expect(defaults.controlPlane.environmentLabels).toContain(b.node.cluster);
    // the RE2 limit the routers enforce is the one the translator keeps route regexes within
    const runtime = b.layered_runtime.layers[0].static_layer;
    expect(defaults.router.maxRegexProgramSize).toBe(100);
    expect(runtime['re2.max_program_size.error_level']).toBe(defaults.router.maxRegexProgramSize);
    expect(runtime['re2.max_program_size.warn_level']).toBe(defaults.router.maxRegexProgramSize);
  });
});

test('envoy-local.yaml talks plain text, to loopback only, as `npm start` with no [tls] listens', () => {
  const b = bootstrap('envoy-local.yaml');
  expect(upstreamTls(b, 'xds_cluster')).toBeUndefined();
  expect(upstreamTls(b, 'ext-authz')).toBeUndefined();
  expect(defaults.tls.certFile).toBe('');
});

describe.each([
  // docker compose: each server checked by its service name; certificates where compose mounts them
  ['envoy.yaml', '/etc/apim-connect/certs/', { adapter: ['adapter', 'DNS', 'adapter'], enforcer: ['enforcer', 'DNS', 'enforcer'] }],
  // this host: both servers name 127.0.0.1, so `all` with one certificate passes too; ./certs from the project folder
  ['envoy-local-tls.yaml', 'certs/', { adapter: ['localhost', 'IP_ADDRESS', '127.0.0.1'], enforcer: ['localhost', 'IP_ADDRESS', '127.0.0.1'] }],
])('envoy/%s: mutual TLS to the adapter and the enforcer', (file, dir, expected) => {
  const b = bootstrap(file);
  test.each([
    ['xds_cluster', 'adapter'],
    ['ext-authz', 'enforcer'],
  ] as const)('%s: the router presents its certificate, trusts only our CA, checks the name', (cluster, role) => {
    const [sni, sanType, san] = expected[role];
    const t = upstreamTls(b, cluster)!;
    expect(t['@type']).toBe('type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
    expect(t.sni).toBe(sni);
    expect(t.common_tls_context.alpn_protocols).toEqual(['h2']);
    expect(t.common_tls_context.tls_certificates).toEqual([{ certificate_chain: { filename: `${dir}router.crt` }, private_key: { filename: `${dir}router.key` } }]);
    expect(t.common_tls_context.validation_context.trusted_ca).toEqual({ filename: `${dir}ca.crt` });
    expect(t.common_tls_context.validation_context.match_typed_subject_alt_names).toEqual([{ san_type: sanType, matcher: { exact: san } }]);
  });
});

test('docker-compose.yaml: router, adapter and enforcer on mutual TLS; only the router\'s listeners published', () => {
  const compose = parse(fs.readFileSync(path.join(root, 'docker-compose.yaml'), 'utf8'));
  const { adapter, enforcer, router } = compose.services;
  expect(Object.keys(compose.services).sort()).toEqual(['adapter', 'enforcer', 'router']);
  expect(router.image).toMatch(/^envoyproxy\/envoy:/);
  expect(router.volumes).toContain('./envoy/envoy.yaml:/etc/envoy/envoy.yaml:ro');
  expect(router.command).toEqual(expect.arrayContaining(['-c', '/etc/envoy/envoy.yaml']));
  const ports = (list: string[]): number[] => list.map((p) => Number(p.split(':').pop()));
  expect(ports(router.ports).sort()).toEqual([defaults.router.listenerPort, 9095]);
  expect(adapter.ports).toBeUndefined();
  expect(enforcer.ports).toBeUndefined();
  for (const s of [adapter, enforcer, router]) expect(s.volumes).toContain('./certs:/etc/apim-connect/certs:ro');
  expect(fs.existsSync(path.join(root, 'Dockerfile'))).toBe(true);

  // adapter and enforcer run from config/compose.toml, each with its own certificate, beyond loopback with mutual TLS
  for (const [name, service] of [['adapter', adapter], ['enforcer', enforcer]] as const) {
    expect(service.build).toBe('.');
    expect(service.command).toEqual([name, '--config', 'config/compose.toml']);
    const config = loadConfig(path.join(root, 'config', 'compose.toml'), service.environment);
    expect(config.tls).toEqual({ certFile: `/etc/apim-connect/certs/${name}.crt`, keyFile: `/etc/apim-connect/certs/${name}.key`, caFile: '/etc/apim-connect/certs/ca.crt', enforcerIdentities: ['spiffe://apim-connect/enforcer'], allowInsecureNonLoopback: false });
    expect(checkListen(`${name}.host`, config[name].host, config.tls)).toBeUndefined();
    expect(config.enforcer.adapterAddress).toBe(`adapter:${config.adapter.xdsPort}`);
  }
  // the router reaches each by its service name, which its certificate names
  expect(endpointOf(bootstrap('envoy.yaml'), 'xds_cluster').address).toBe('adapter');
  expect(endpointOf(bootstrap('envoy.yaml'), 'ext-authz').address).toBe('enforcer');
});
