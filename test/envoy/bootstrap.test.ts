import * as fs from 'fs';
import * as path from 'path';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/config';
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

describe.each([
  ['envoy.yaml', 'adapter'],
  ['envoy-local.yaml', '127.0.0.1'],
])('envoy/%s', (file, host) => {
  const b = bootstrap(file);

  test('Delta ADS to the adapter, LDS and CDS over ADS, admin on 9000', () => {
    expect(b.dynamic_resources.ads_config).toMatchObject({ api_type: 'DELTA_GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'xds_cluster' } }] });
    expect(b.dynamic_resources.lds_config).toEqual({ ads: {}, resource_api_version: 'V3' });
    expect(b.dynamic_resources.cds_config).toEqual({ ads: {}, resource_api_version: 'V3' });
    expect(b.admin.address.socket_address.port_value).toBe(9000);
  });

  test('names and ports agree with the defaults in code', () => {
    expect(endpointOf(b, 'xds_cluster')).toEqual({ address: host, port: defaults.adapter.xdsPort });
    expect(endpointOf(b, defaults.router.enforcerCluster)).toEqual({ address: host, port: defaults.enforcer.port });
    // node.cluster names the label: a configured one, so the adapter serves this router from it
    expect(defaults.controlPlane.environmentLabels).toContain(b.node.cluster);
    expect(b.layered_runtime.layers[0].static_layer['re2.max_program_size.error_level']).toBe(100);
  });
});

test('docker-compose.yaml runs the router from envoy/envoy.yaml beside the adapter, on the default ports', () => {
  const compose = parse(fs.readFileSync(path.join(root, 'docker-compose.yaml'), 'utf8'));
  const { adapter, router } = compose.services;
  expect(adapter.build).toBe('.');
  expect(router.image).toMatch(/^envoyproxy\/envoy:/);
  expect(router.volumes).toContain('./envoy/envoy.yaml:/etc/envoy/envoy.yaml:ro');
  expect(router.command).toEqual(expect.arrayContaining(['-c', '/etc/envoy/envoy.yaml']));
  const ports = (list: string[]): number[] => list.map((p) => Number(p.split(':').pop()));
  expect(ports(router.ports)).toEqual(expect.arrayContaining([defaults.router.listenerPort, 9095, 9000]));
  expect(ports(adapter.ports)).toEqual(expect.arrayContaining([defaults.adapter.xdsPort, defaults.adapter.httpPort]));
  // the bootstrap reaches the adapter and the enforcer by the adapter's service name
  expect(endpointOf(bootstrap('envoy.yaml'), 'xds_cluster').address).toBe('adapter');
  expect(fs.existsSync(path.join(root, 'Dockerfile'))).toBe(true);
});
