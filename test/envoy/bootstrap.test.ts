import * as fs from 'fs';
import * as path from 'path';
import { parse } from 'yaml';
import { encodeMessage, unpackAny } from '../../src/envoy/any';

const BOOTSTRAP = 'type.googleapis.com/envoy.config.bootstrap.v3.Bootstrap';

test('envoy/envoy.yaml is a Bootstrap Envoy would accept: every field known, ADS Delta over xds_cluster', () => {
  const doc = parse(fs.readFileSync(path.join(__dirname, '..', '..', 'envoy', 'envoy.yaml'), 'utf8'));
  const bytes = encodeMessage(BOOTSTRAP, doc);
  const back = unpackAny({ type_url: BOOTSTRAP, value: bytes }) as Record<string, any>;
  expect(back.dynamic_resources.ads_config.api_type).toBe('DELTA_GRPC');
  expect(back.node.cluster).toBe('Default');
  const clusters = back.static_resources.clusters.map((c: { name: string }) => c.name);
  expect(clusters).toEqual(['xds_cluster', 'ext-authz']);
  expect(back.dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name).toBe('xds_cluster');
  expect(back.static_resources.clusters[0].connect_timeout).toBe('5s');
  expect(back.layered_runtime.layers[0].static_layer).toEqual({ 're2.max_program_size.error_level': 100 });
});
