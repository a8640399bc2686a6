/**
 * buf curl (a real, strict reflection client written in Go) against the adapter's gRPC port as
 * the adapter serves it: XdsServer (ADS) + admin service + reflection + health, with resources in
 * the cache. No schema file anywhere: everything buf needs comes from reflection.
 */
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { ADMIN_SERVICE, addAdminService } from '../../src/admin/adminService';
import { addReflection } from '../../src/admin/reflection';
import { CLUSTER, ENDPOINT, LISTENER, ROUTE } from '../../src/envoy/typeUrls';
import { SnapshotCache } from '../../src/xds/cache';
import { ADS_SERVICE, XdsServer, xdsChannelOptions } from '../../src/xds/server';
import { AdsStream, bindLoopback, node, shutdown, waitFor } from '../helpers/ads';
import { bufCurl, bufCurlOk } from '../helpers/buf';
import { cluster, endpoints, listener, routeConfig } from '../helpers/resources';

const HEALTH = 'grpc.health.v1.Health';
const GROUP = 'Default';

jest.setTimeout(20_000);

const curl = bufCurl;
const ok = bufCurlOk;

describe('buf curl against ADS + admin + reflection on one port', () => {
  let cache: SnapshotCache;
  let xds: XdsServer;
  let server: grpc.Server;
  let address: string;
  let url: string;

  beforeAll(async () => {
    cache = new SnapshotCache();
    xds = new XdsServer(cache, { debounceMs: 0 });
    server = new grpc.Server(xdsChannelOptions({ sendBytes: 16 * 1024 * 1024, receiveBytes: 4 * 1024 * 1024 }));
    xds.addTo(server);
    addAdminService(server, xds);
    // Health as src/cli/adapter.ts serves it.
    new HealthImplementation({ '': 'SERVING' }).addToServer(server);
    addReflection(server, [ADS_SERVICE, ADMIN_SERVICE, HEALTH]);
    const port = await bindLoopback(server);
    address = `127.0.0.1:${port}`;
    url = `http://${address}`;

    cache.setGroup(GROUP, {
      [CLUSTER]: [cluster('c1'), cluster('c2', 2)],
      [ENDPOINT]: [endpoints('c1', 8081)],
      [LISTENER]: [listener('api.test', 'r1', true)],
      [ROUTE]: [routeConfig('r1', 'c1')],
    });
    cache.ensureGroup('Empty');
  });

  afterAll(async () => {
    xds?.close();
    if (server) await shutdown(server);
  });

  it('lists the services and their methods', async () => {
    const services = (await ok(['--list-services', url])).trim().split('\n');
    expect(services).toEqual(
      expect.arrayContaining([ADS_SERVICE, ADMIN_SERVICE, HEALTH, 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection']),
    );
    const methods = (await ok(['--list-methods', url])).trim().split('\n');
    expect(methods).toEqual(
      expect.arrayContaining([
        `${ADS_SERVICE}/StreamAggregatedResources`,
        `${ADS_SERVICE}/DeltaAggregatedResources`,
        `${ADMIN_SERVICE}/ListSnapshots`,
        `${ADMIN_SERVICE}/WatchSnapshots`,
        `${ADMIN_SERVICE}/ListNodes`,
        `${ADMIN_SERVICE}/GetConfigDump`,
        `${HEALTH}/Check`,
      ]),
    );
    // The admin service has exactly its methods (--list-methods takes only a base URL).
    const admin = methods.filter((m) => m.startsWith(`${ADMIN_SERVICE}/`)).sort();
    expect(admin).toEqual(['ListNodes', 'ListSnapshots', 'WatchSnapshots', 'GetConfigDump', 'ListProblems', 'GetState', 'Explain'].map((m) => `${ADMIN_SERVICE}/${m}`).sort());
  });

  it('ListSnapshots with no request body and with {} prints every group, type URL, version and count', async () => {
    const bare = JSON.parse(await ok([`${url}/${ADMIN_SERVICE}/ListSnapshots`]));
    const empty = JSON.parse(await ok([`${url}/${ADMIN_SERVICE}/ListSnapshots`, '-d', '{}']));
    expect(bare).toEqual(empty);
    const groups = (bare.snapshots as Array<{ group: string }>).map((s) => s.group);
    expect(groups).toEqual(['Default', 'Empty']);
    const def = bare.snapshots[0];
    const expected = [CLUSTER, ENDPOINT, LISTENER, ROUTE].sort().map((t) => ({
      typeUrl: t,
      version: cache.typeSet(GROUP, t)?.version,
      resourceCount: t === CLUSTER ? 2 : 1,
    }));
    expect(def.types).toEqual(expected);
    expect(Date.parse(def.updatedAt)).toBeGreaterThan(Date.now() - 60_000);
    // A known group with nothing in it prints no types (proto3 JSON leaves empty lists out).
    expect(bare.snapshots[1]).toEqual({ group: 'Empty' });

    const one = JSON.parse(await ok([`${url}/${ADMIN_SERVICE}/ListSnapshots`, '-d', '{"group":"Default"}']));
    expect(one.snapshots).toHaveLength(1);
    expect(one.snapshots[0].types).toEqual(expected);
  });

  it('GetConfigDump prints the resources as JSON with nested Anys expanded (@type)', async () => {
    const dump = JSON.parse(await ok([`${url}/${ADMIN_SERVICE}/GetConfigDump`, '-d', JSON.stringify({ group: GROUP })]));
    expect(dump.group).toBe(GROUP);
    const byType = new Map((dump.types as Array<{ typeUrl: string; version: string; resources: Array<{ name: string; version: string; resource: Record<string, unknown> }> }>).map((t) => [t.typeUrl, t]));
    expect([...byType.keys()].sort()).toEqual([CLUSTER, ENDPOINT, LISTENER, ROUTE].sort());
    for (const [t, entry] of byType) expect(entry.version).toBe(cache.typeSet(GROUP, t)?.version);

    const clusters = byType.get(CLUSTER)?.resources ?? [];
    expect(clusters.map((r) => r.name)).toEqual(['c1', 'c2']);
    expect(clusters[0].version).toBe(cache.get(GROUP, CLUSTER, 'c1')?.version);
    expect(clusters[0].resource).toMatchObject({ name: 'c1', type: 'EDS', lb_policy: 'ROUND_ROBIN', connect_timeout: '1s' });
    expect(clusters[1].resource).toMatchObject({ name: 'c2', connect_timeout: '2s' });

    const [lis] = byType.get(LISTENER)?.resources ?? [];
    const hcm = (lis.resource as { api_listener: { api_listener: Record<string, unknown> } }).api_listener.api_listener;
    expect(hcm['@type']).toBe('type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager');
    expect(hcm).toMatchObject({ stat_prefix: 'api.test', rds: { route_config_name: 'r1' } });
    const filters = hcm.http_filters as Array<{ name: string; typed_config: Record<string, unknown> }>;
    expect(filters[filters.length - 1].typed_config['@type']).toBe('type.googleapis.com/envoy.extensions.filters.http.router.v3.Router');

    const [cla] = byType.get(ENDPOINT)?.resources ?? [];
    expect(JSON.stringify(cla.resource)).toContain('"port_value":8081');

    // Only some types; an unknown group is NOT_FOUND.
    const routes = JSON.parse(await ok([`${url}/${ADMIN_SERVICE}/GetConfigDump`, '-d', JSON.stringify({ group: GROUP, type_urls: [ROUTE] })]));
    expect(routes.types.map((t: { typeUrl: string }) => t.typeUrl)).toEqual([ROUTE]);
    const missing = await curl([`${url}/${ADMIN_SERVICE}/GetConfigDump`, '-d', '{"group":"nope"}']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('not_found');
    expect(missing.stderr).toContain('nope');
  });

  it('ListNodes shows a connected raw ADS stream with its node id and what it was sent and ACKed', async () => {
    const ads = new AdsStream(address, 'sotw');
    try {
      ads.send({ node: node('raw-node-1', GROUP), type_url: CLUSTER, resource_names: [] });
      const res = await ads.next();
      expect(res.resources.map((r) => r.name)).toEqual(['c1', 'c2']);
      ads.send({ type_url: CLUSTER, resource_names: [], version_info: res.version, response_nonce: res.nonce });
      await waitFor(() => xds.streams().some((s) => s.node?.id === 'raw-node-1' && s.types.get(CLUSTER)?.lastAckedVersion === res.version));

      const out = JSON.parse(await ok([`${url}/${ADMIN_SERVICE}/ListNodes`, '-d', '{}']));
      const mine = (out.nodes as Array<Record<string, unknown>>).filter((n) => n.nodeId === 'raw-node-1');
      expect(mine).toHaveLength(1);
      expect(mine[0]).toMatchObject({ nodeId: 'raw-node-1', cluster: GROUP, group: GROUP, protocol: 'sotw' });
      expect(String(mine[0].peer)).toContain('127.0.0.1');
      expect(mine[0].types).toEqual([
        expect.objectContaining({ typeUrl: CLUSTER, wildcard: true, lastSentVersion: res.version, lastSentNonce: res.nonce, lastAckedVersion: res.version }),
      ]);
      // Filtering by another group leaves it out.
      const other = JSON.parse(await ok([`${url}/${ADMIN_SERVICE}/ListNodes`, '-d', '{"group":"Empty"}']));
      expect(other.nodes ?? []).toEqual([]);
    } finally {
      ads.close();
    }
    await waitFor(() => !xds.streams().some((s) => s.node?.id === 'raw-node-1'));
    const after = JSON.parse(await ok([`${url}/${ADMIN_SERVICE}/ListNodes`, '-d', '{}']));
    expect((after.nodes ?? []).some((n: { nodeId: string }) => n.nodeId === 'raw-node-1')).toBe(false);
  });

  it('opens an ADS stream itself: the response carries the resources with @type', async () => {
    const req = { node: { id: 'buf-node', cluster: GROUP }, type_url: CLUSTER, resource_names: ['c2'] };
    const out = await ok([`${url}/${ADS_SERVICE}/StreamAggregatedResources`, '-d', '@-'], JSON.stringify(req));
    const res = JSON.parse(out);
    expect(res.typeUrl).toBe(CLUSTER);
    expect(res.nonce).toBeTruthy();
    // proto3 JSON: lb_policy ROUND_ROBIN is the default (0), so buf leaves it out.
    expect(res.resources).toEqual([
      { '@type': CLUSTER, name: 'c2', type: 'EDS', connectTimeout: '2s', edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: 'V3' } } },
    ]);
  });

  it('calls grpc.health.v1.Health/Check', async () => {
    expect(JSON.parse(await ok([`${url}/${HEALTH}/Check`, '-d', '{}']))).toEqual({ status: 'SERVING' });
  });

  // protobufjs sets a type's file name only for files it loads; descriptor.proto is parsed by
  // hand (see protos.ts), and proto-loader's own copy must not be what makes this work.
  test('reflection descriptors build in a process that never loaded @grpc/proto-loader', () => {
    jest.isolateModules(() => {
      const { protoRoot } = require('../../src/envoy/protos') as typeof import('../../src/envoy/protos');
      const { buildFileDescriptors } = require('../../src/admin/fileDescriptors') as typeof import('../../src/admin/fileDescriptors');
      const pool = buildFileDescriptors(protoRoot());
      expect(pool.symbols.get(ADMIN_SERVICE)).toBe('apimconnect/admin/v1/admin.proto');
    });
  });
});
