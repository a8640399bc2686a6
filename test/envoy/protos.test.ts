// proto-loader first, on purpose: it registers a camelCase descriptor.proto in protobufjs's
// shared table, which must not change how our root reads descriptor.proto.
import '@grpc/proto-loader';
import * as protoLoader from '@grpc/proto-loader';
import { encodeMessage, packAny, unpackAny } from '../../src/envoy/any';
import { messageType, protoRoot } from '../../src/envoy/protos';
import { CLUSTER, LISTENER, messageName, shortTypeName } from '../../src/envoy/typeUrls';

describe('Envoy protos', () => {
  test('load the same whatever proto-loader registered before', () => {
    protoLoader.fromJSON({ nested: {} });
    const fdp = messageType('google.protobuf.FileDescriptorProto');
    expect(Object.keys(fdp.fields)).toEqual(expect.arrayContaining(['message_type', 'service', 'dependency']));
    expect(protoRoot().lookupService('envoy.service.discovery.v3.AggregatedDiscoveryService').methods.DeltaAggregatedResources).toBeDefined();
  });

  test('the resource, filter and service types translators need are loaded', () => {
    for (const t of [
      'envoy.config.listener.v3.Listener',
      'envoy.config.route.v3.RouteConfiguration',
      'envoy.config.cluster.v3.Cluster',
      'envoy.config.endpoint.v3.ClusterLoadAssignment',
      'envoy.extensions.transport_sockets.tls.v3.Secret',
      'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
      'envoy.extensions.filters.http.router.v3.Router',
      'envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
      'envoy.extensions.filters.http.cors.v3.Cors',
      'envoy.config.bootstrap.v3.Bootstrap',
      'envoy.service.auth.v3.CheckRequest',
      'apimconnect.admin.v1.ListNodesResponse',
    ]) {
      expect(messageType(t).fullName).toBe(`.${t}`);
    }
  });

  test('type URL helpers', () => {
    expect(messageName(CLUSTER)).toBe('envoy.config.cluster.v3.Cluster');
    expect(shortTypeName(LISTENER)).toBe('Listener');
    expect(shortTypeName('type.googleapis.com/apimconnect.enforcer.v1.Api')).toBe('enforcer.v1.Api');
  });
});

describe('Any packing', () => {
  test('round-trips, with nested Anys expanded', () => {
    const any = packAny(LISTENER, {
      name: 'l',
      api_listener: {
        api_listener: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
          stat_prefix: 'x',
        },
      },
    });
    expect(any.type_url).toBe(LISTENER);
    expect(unpackAny(any)).toEqual({
      name: 'l',
      api_listener: {
        api_listener: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
          stat_prefix: 'x',
        },
      },
    });
  });

  test('never encodes a silently empty or partial message', () => {
    expect(() => encodeMessage('type.googleapis.com/no.such.Type', {})).toThrow(/not loaded: no.such.Type/);
    expect(() => encodeMessage(CLUSTER, { nmae: 'x' })).toThrow(/unknown field "nmae"/);
    expect(() => encodeMessage(CLUSTER, { name: 'x', type: 'EDSS' })).toThrow(/"EDSS" is not a value of envoy.config.cluster.v3.Cluster.DiscoveryType/);
    expect(() => encodeMessage(CLUSTER, { name: 'x', typed_extension_protocol_options: { a: { '@type': 'type.googleapis.com/not.Loaded' } } })).toThrow(/not loaded: not.Loaded/);
    expect(() => encodeMessage(LISTENER, { name: 'x', filter_chains: { filters: [] } })).toThrow(/a list expected/);
    expect(() =>
      encodeMessage(LISTENER, { name: 'l', api_listener: { api_listener: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router', bogus: 1 } } }),
    ).toThrow(/unknown field "bogus"/);
  });

  test('takes proto3 JSON forms: Struct as plain JSON, Duration as "1.5s"', () => {
    const bytes = encodeMessage(CLUSTER, {
      name: 'c',
      connect_timeout: '1.25s',
      metadata: { filter_metadata: { 'apim': { api: 'pets', tags: ['a', 1, true, null], nested: { x: 1 } } } },
    });
    const back = unpackAny({ type_url: CLUSTER, value: bytes }) as Record<string, any>;
    expect(back.connect_timeout).toBe('1.25s');
    expect(back.metadata.filter_metadata.apim).toEqual({ api: 'pets', tags: ['a', 1, true, null], nested: { x: 1 } });
    expect(() => encodeMessage(CLUSTER, { name: 'c', connect_timeout: '5 seconds' })).toThrow(/Cluster.connect_timeout: "5 seconds" is not a duration/);
    expect(() => encodeMessage(CLUSTER, { name: 'c', metadata: { filter_metadata: { a: [1] } } })).toThrow(/a JSON object expected/);
  });

  test('encoding is deterministic', () => {
    const obj = { name: 'c', type: 'EDS', connect_timeout: { seconds: 2 } };
    expect(Buffer.from(encodeMessage(CLUSTER, obj))).toEqual(Buffer.from(encodeMessage(CLUSTER, { ...obj })));
  });
});
