import * as grpc from '@grpc/grpc-js';
import { CLUSTER, ENDPOINT, LISTENER, ROUTE } from '../../src/envoy/typeUrls';
import { node, protocolFixture, waitFor } from '../helpers/ads';
import { cluster, endpoints, listener, routeConfig } from '../helpers/resources';

const fx = protocolFixture('sotw');
const open = fx.open;

const names = (r: { resources: { name: string }[] }): string[] => r.resources.map((x) => x.name).sort();

describe('SotW ADS', () => {
  test('wildcard CDS gets every cluster; an ACK gets nothing; a change is pushed with a new version', async () => {
    fx.srv.cache.setType('Default', CLUSTER, [cluster('a'), cluster('b')]);
    const s = open();
    s.send({ node: node('router-1', 'Default'), type_url: CLUSTER });
    const r1 = await s.next();
    expect(names(r1)).toEqual(['a', 'b']);
    expect(r1.version).toBe(fx.srv.cache.typeSet('Default', CLUSTER)!.version);
    s.send({ type_url: CLUSTER, version_info: r1.version, response_nonce: r1.nonce });
    await s.none();

    fx.srv.cache.upsert('Default', CLUSTER, [cluster('c')]);
    const r2 = await s.next();
    expect(names(r2)).toEqual(['a', 'b', 'c']); // LDS/CDS carry all resources of the type
    expect(r2.version).not.toBe(r1.version);
    expect(r2.nonce).not.toBe(r1.nonce);
    const st = fx.srv.xds.streams()[0].types.get(CLUSTER)!;
    expect(st.lastAckedVersion).toBe(r1.version);
    expect(st.lastSentVersion).toBe(r2.version);
  });

  test('a wildcard request for a type with no resources is answered with an empty list', async () => {
    const s = open();
    s.send({ node: node('r', 'Default'), type_url: LISTENER });
    const r = await s.next();
    expect(r.resources).toEqual([]);
    expect(r.typeUrl).toBe(LISTENER);
    // a custom type nobody has produced yet, too
    s.send({ type_url: 'type.googleapis.com/apimconnect.enforcer.v1.Api' });
    expect((await s.next()).resources).toEqual([]);
  });

  test('re-setting identical content pushes nothing', async () => {
    fx.srv.cache.setType('Default', CLUSTER, [cluster('a')]);
    const s = open();
    s.send({ node: node('r', 'Default'), type_url: CLUSTER });
    const r = await s.next();
    s.send({ type_url: CLUSTER, version_info: r.version, response_nonce: r.nonce });
    fx.srv.cache.setType('Default', CLUSTER, [cluster('a')]);
    fx.srv.cache.setGroup('Default', { [CLUSTER]: [cluster('a')] });
    await s.none();
  });

  test('NACK is recorded with the error, causes no resend, and the next good change is pushed', async () => {
    fx.srv.cache.setType('Default', CLUSTER, [cluster('a')]);
    const s = open();
    s.send({ node: node('r', 'Default'), type_url: CLUSTER });
    const r1 = await s.next();
    s.send({ type_url: CLUSTER, version_info: r1.version, response_nonce: r1.nonce });
    await waitFor(() => fx.srv.xds.streams()[0].types.get(CLUSTER)!.lastAckedVersion === r1.version);
    fx.srv.cache.upsert('Default', CLUSTER, [cluster('bad')]);
    const r2 = await s.next();
    s.send({ type_url: CLUSTER, version_info: r1.version, response_nonce: r2.nonce, error_detail: { code: 3, message: 'cluster bad: invalid' } });
    await s.none(300);
    const st = fx.srv.xds.streams()[0].types.get(CLUSTER)!;
    expect(st.lastNack).toMatchObject({ version: r2.version, nonce: r2.nonce, error: 'cluster bad: invalid' });
    expect(st.lastAckedVersion).toBe(r1.version);
    expect(st.lastNack!.at).toBeInstanceOf(Date);

    fx.srv.cache.remove('Default', CLUSTER, ['bad']);
    const r3 = await s.next();
    expect(names(r3)).toEqual(['a']);
    s.send({ type_url: CLUSTER, version_info: r3.version, response_nonce: r3.nonce });
    await s.none();
    expect(st.lastAckedVersion).toBe(r3.version);
  });

  test('a stale nonce is not an ACK, but its subscription change is honoured', async () => {
    fx.srv.cache.setType('Default', ENDPOINT, [endpoints('a', 1), endpoints('b', 2)]);
    const s = open();
    s.send({ node: node('r', 'Default'), type_url: ENDPOINT, resource_names: ['a'] });
    const r1 = await s.next();
    expect(names(r1)).toEqual(['a']); // EDS: only the requested names
    fx.srv.cache.upsert('Default', ENDPOINT, [endpoints('a', 10)]);
    const r2 = await s.next();
    // the client still answers r1's nonce (stale) while asking for b too
    s.send({ type_url: ENDPOINT, version_info: r1.version, response_nonce: r1.nonce, resource_names: ['a', 'b'] });
    const r3 = await s.next();
    expect(names(r3)).toEqual(['a', 'b']);
    const st = fx.srv.xds.streams()[0].types.get(ENDPOINT)!;
    expect(st.lastAckedVersion).toBe(''); // neither r1 (stale) nor r2 was acknowledged
    expect(r3.nonce).not.toBe(r2.nonce);
    // stale nonce with an error is not a NACK either
    s.send({ type_url: ENDPOINT, response_nonce: r2.nonce, resource_names: ['a', 'b'], error_detail: { code: 3, message: 'x' } });
    await s.none();
    expect(st.lastNack).toBeUndefined();
  });

  test('EDS requests are answered also for names that do not exist (empty assignment)', async () => {
    const s = open();
    s.send({ node: node('r', 'Default'), type_url: ENDPOINT, resource_names: ['ghost'] });
    const r = await s.next();
    expect(r.resources).toHaveLength(1);
    expect(r.resources[0].body).toEqual({ cluster_name: 'ghost' });
    // RDS only carries the requested names that exist
    fx.srv.cache.setType('Default', ROUTE, [routeConfig('r1', 'a'), routeConfig('r2', 'a')]);
    s.send({ type_url: ROUTE, resource_names: ['r2', 'nope'] });
    expect(names(await s.next())).toEqual(['r2']);
  });

  test('unsubscribing from all names after named requests is not a wildcard', async () => {
    fx.srv.cache.setType('Default', ENDPOINT, [endpoints('a', 1), endpoints('b', 2)]);
    const s = open();
    s.send({ node: node('r', 'Default'), type_url: ENDPOINT, resource_names: ['a'] });
    const r1 = await s.next();
    s.send({ type_url: ENDPOINT, version_info: r1.version, response_nonce: r1.nonce, resource_names: [] });
    const r2 = await s.next();
    expect(r2.resources).toEqual([]);
    fx.srv.cache.upsert('Default', ENDPOINT, [endpoints('b', 3)]);
    await s.none();
    // an explicit "*" subscribes to everything
    s.send({ type_url: ENDPOINT, version_info: r2.version, response_nonce: r2.nonce, resource_names: ['*'] });
    expect(names(await s.next())).toEqual(['a', 'b']);
  });

  test('changes to names a client did not subscribe to are not pushed to it', async () => {
    fx.srv.cache.setType('Default', ENDPOINT, [endpoints('a', 1), endpoints('b', 2)]);
    const s = open();
    s.send({ node: node('r', 'Default'), type_url: ENDPOINT, resource_names: ['a'] });
    const r1 = await s.next();
    s.send({ type_url: ENDPOINT, version_info: r1.version, response_nonce: r1.nonce, resource_names: ['a'] });
    fx.srv.cache.upsert('Default', ENDPOINT, [endpoints('b', 9)]);
    await s.none();
  });

  test('one push orders CDS, EDS, LDS, RDS, and a changed cluster gets its endpoints again', async () => {
    fx.srv.cache.setGroup('Default', {
      [ROUTE]: [routeConfig('r', 'c1')],
      [LISTENER]: [listener('l', 'r')],
      [ENDPOINT]: [endpoints('c1', 1)],
      [CLUSTER]: [cluster('c1')],
    });
    const s = open();
    // subscribe in the "wrong" order on purpose
    s.send({ node: node('r', 'Default'), type_url: ROUTE, resource_names: ['r'] });
    s.send({ type_url: LISTENER });
    s.send({ type_url: ENDPOINT, resource_names: ['c1'] });
    s.send({ type_url: CLUSTER });
    const first = [await s.next(), await s.next(), await s.next(), await s.next()];
    for (const r of first) s.send({ type_url: r.typeUrl, version_info: r.version, response_nonce: r.nonce, resource_names: r.typeUrl === ROUTE ? ['r'] : r.typeUrl === ENDPOINT ? ['c1'] : [] });
    await s.none();

    fx.srv.cache.setGroup('Default', {
      [ROUTE]: [routeConfig('r', 'c1', '/v2')],
      [LISTENER]: [listener('l', 'r', false), listener('l2', 'r')],
      [ENDPOINT]: [endpoints('c1', 2)],
      [CLUSTER]: [cluster('c1', 3)],
    });
    const push = [await s.next(), await s.next(), await s.next(), await s.next()];
    expect(push.map((r) => r.typeUrl)).toEqual([CLUSTER, ENDPOINT, LISTENER, ROUTE]);

    // only the cluster changes: its (unchanged) endpoints follow it
    for (const r of push) s.send({ type_url: r.typeUrl, version_info: r.version, response_nonce: r.nonce, resource_names: r.typeUrl === ROUTE ? ['r'] : r.typeUrl === ENDPOINT ? ['c1'] : [] });
    fx.srv.cache.setType('Default', CLUSTER, [cluster('c1', 4)]);
    const [c, e] = [await s.next(), await s.next()];
    expect([c.typeUrl, e.typeUrl]).toEqual([CLUSTER, ENDPOINT]);
    expect(e.version).toBe(push[1].version);
    expect(names(e)).toEqual(['c1']);
  });

  test('many types on one stream and many streams per node; a closed stream frees its state', async () => {
    fx.srv.cache.setGroup('Default', { [CLUSTER]: [cluster('a')], [LISTENER]: [listener('l', 'r')] });
    const s1 = open();
    const s2 = open();
    for (const s of [s1, s2]) {
      s.send({ node: node('same-node', 'Default'), type_url: CLUSTER });
      s.send({ type_url: LISTENER });
      expect((await s.next()).typeUrl).toBe(CLUSTER);
      expect((await s.next()).typeUrl).toBe(LISTENER);
    }
    expect(fx.srv.xds.streams().filter((x) => x.node?.id === 'same-node')).toHaveLength(2);
    s1.close();
    await waitFor(() => fx.srv.xds.streams().length === 1);
    fx.srv.cache.upsert('Default', CLUSTER, [cluster('b')]);
    expect(names(await s2.next())).toEqual(['a', 'b']);
  });

  test('streams subscribed to the same names share one name set and one computed view', async () => {
    fx.srv.cache.setType('Default', ENDPOINT, [endpoints('a', 1), endpoints('b', 2)]);
    const [s1, s2, s3] = [open(), open(), open()];
    s1.send({ node: node('r1', 'Default'), type_url: ENDPOINT, resource_names: ['a', 'b'] });
    s2.send({ node: node('r2', 'Default'), type_url: ENDPOINT, resource_names: ['b', 'a'] });
    s3.send({ node: node('r3', 'Default'), type_url: ENDPOINT, resource_names: ['a'] });
    const [r1, r2] = [await s1.next(), await s2.next(), await s3.next()];
    expect(r1.version).toBe(r2.version);
    const sets = fx.srv.xds.streams().map((x) => x.types.get(ENDPOINT)!.names);
    expect(new Set(sets).size).toBe(2);
    expect(fx.srv.xds.nameSets.size).toBe(2);
    s3.send({ type_url: ENDPOINT, response_nonce: 'x', resource_names: ['b', 'a'] });
    expect(names(await s3.next())).toEqual(['a', 'b']);
    expect(fx.srv.xds.nameSets.size).toBe(1);
    [s1, s2, s3].forEach((x) => x.close());
    await waitFor(() => fx.srv.xds.nameSets.size === 0);
  });

  test('bursts are coalesced into one push', async () => {
    await fx.restart({ debounceMs: 50, maxDelayMs: 1000 });
    const s = open();
    s.send({ node: node('r', 'Default'), type_url: CLUSTER });
    const r0 = await s.next();
    s.send({ type_url: CLUSTER, version_info: r0.version, response_nonce: r0.nonce });
    for (let i = 0; i < 20; i++) fx.srv.cache.upsert('Default', CLUSTER, [cluster(`c${i}`)]);
    const r = await s.next();
    expect(r.resources).toHaveLength(20);
    await s.none(150);
  });

  test('the max delay bounds how long a steady stream of changes can hold a push back', async () => {
    await fx.restart({ debounceMs: 40, maxDelayMs: 150 });
    const s = open();
    s.send({ node: node('r', 'Default'), type_url: CLUSTER });
    const r0 = await s.next();
    s.send({ type_url: CLUSTER, version_info: r0.version, response_nonce: r0.nonce });
    const started = Date.now();
    let i = 0;
    const timer = setInterval(() => fx.srv.cache.upsert('Default', CLUSTER, [cluster(`c${i++}`)]), 10);
    try {
      await s.next(1000);
      expect(Date.now() - started).toBeLessThan(600);
    } finally {
      clearInterval(timer);
    }
  });

  test('node group: node.cluster when known, else node.id (Choreo Connect bootstraps)', async () => {
    fx.srv.cache.setType('Default', CLUSTER, [cluster('default-one')]);
    fx.srv.cache.setType('Prod', CLUSTER, [cluster('prod-one')]);
    const cc = open();
    cc.send({ node: node('Prod', 'default_cluster'), type_url: CLUSTER });
    expect(names(await cc.next())).toEqual(['prod-one']);
    const eg = open();
    eg.send({ node: node('router-7', 'Default'), type_url: CLUSTER });
    expect(names(await eg.next())).toEqual(['default-one']);
  });

  test('bad input: a first request without a node, or without a type, ends only that stream', async () => {
    const bad = open();
    bad.send({ type_url: CLUSTER });
    expect((await bad.ended).code).toBe(3);
    const noType = open();
    noType.send({ node: node('r', 'Default') });
    expect((await noType.ended).code).toBe(3);
    const good = open();
    good.send({ node: node('r', 'Default'), type_url: CLUSTER, resource_names: ['\u0000weird', 'x'.repeat(10_000)] });
    expect((await good.next()).resources).toEqual([]);
    const greedy = open();
    greedy.send({ node: node('r', 'Default'), type_url: 'type.googleapis.com/t0' });
    for (let i = 1; i <= 64; i++) greedy.send({ type_url: `type.googleapis.com/t${i}` });
    expect((await greedy.ended).code).toBe(8);
    expect(fx.srv.xds.streams()).toHaveLength(1);
  });

  test('bytes that are not a DiscoveryRequest end that stream with an error; others go on', async () => {
    const good = open();
    good.send({ node: node('r', 'Default'), type_url: CLUSTER });
    await good.next();
    const raw = new grpc.Client(fx.srv.address, grpc.credentials.createInsecure());
    const call = raw.makeBidiStreamRequest(
      '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
      (b: Buffer) => b,
      (b: Buffer) => b,
    );
    const ended = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.on('error', () => undefined);
    call.write(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01])); // a length far past the end
    expect((await ended).code).not.toBe(grpc.status.OK);
    raw.close();
    fx.srv.cache.upsert('Default', CLUSTER, [cluster('after')]);
    expect(names(await good.next())).toEqual(['after']);
  });

  test('a request over the receive limit is refused with RESOURCE_EXHAUSTED; others go on', async () => {
    await fx.restart({}, 64 * 1024);
    const good = open();
    good.send({ node: node('r', 'Default'), type_url: CLUSTER });
    await good.next();
    const huge = open();
    huge.send({ node: node('r', 'Default'), type_url: ENDPOINT, resource_names: Array.from({ length: 5000 }, (_, i) => `cluster-${i}`) });
    expect((await huge.ended).code).toBe(8);
    fx.srv.cache.upsert('Default', CLUSTER, [cluster('z')]);
    expect(names(await good.next())).toEqual(['z']);
  });
});
