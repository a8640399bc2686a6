import { CLUSTER, ENDPOINT, LISTENER, ROUTE } from '../../src/envoy/typeUrls';
import { node, protocolFixture, waitFor, type AdsStream, type Response } from '../helpers/ads';
import { cluster, endpoints, listener, routeConfig } from '../helpers/resources';

const fx = protocolFixture('delta');
const open = fx.open;

const names = (r: Response): string[] => r.resources.map((x) => x.name).sort();
const ack = (s: AdsStream, r: Response): void => s.send({ type_url: r.typeUrl, response_nonce: r.nonce });
const state = (typeUrl: string, i = 0) => fx.srv.xds.streams()[i].types.get(typeUrl)!;

describe('Delta ADS', () => {
  test('wildcard: everything first, then only what changed, and removals by name', async () => {
    fx.srv.cache.setType('Default', CLUSTER, [cluster('a'), cluster('b')]);
    const s = open();
    s.send({ node: node('r', 'Default'), type_url: CLUSTER });
    const r1 = await s.next();
    expect(names(r1)).toEqual(['a', 'b']);
    expect(r1.resources[0].version).toBe(fx.srv.cache.get('Default', CLUSTER, 'a')!.version);
    expect(r1.version).toBe(fx.srv.cache.typeSet('Default', CLUSTER)!.version);
    ack(s, r1);
    await waitFor(() => state(CLUSTER).lastAckedVersion === r1.version);

    fx.srv.cache.upsert('Default', CLUSTER, [cluster('a', 9)]);
    const r2 = await s.next();
    expect(names(r2)).toEqual(['a']);
    expect(r2.removed).toEqual([]);
    ack(s, r2);
    fx.srv.cache.remove('Default', CLUSTER, ['b']);
    const r3 = await s.next();
    expect(r3.resources).toEqual([]);
    expect(r3.removed).toEqual(['b']);
    ack(s, r3);
    fx.srv.cache.setType('Default', CLUSTER, [cluster('a', 9)]); // same content
    await s.none();
  });

  test('an empty type is answered at once so the client can finish initialising', async () => {
    const s = open();
    s.send({ node: node('r', 'Default'), type_url: LISTENER });
    const r = await s.next();
    expect(r.resources).toEqual([]);
    expect(r.removed).toEqual([]);
  });

  test('reconnect with initial_resource_versions: nothing unchanged is resent, removals are told', async () => {
    fx.srv.cache.setType('Default', CLUSTER, [cluster('a'), cluster('b'), cluster('c')]);
    const first = open();
    first.send({ node: node('r', 'Default'), type_url: CLUSTER });
    const r1 = await first.next();
    const held = Object.fromEntries(r1.resources.map((x) => [x.name, x.version!]));
    first.close();

    fx.srv.cache.setType('Default', CLUSTER, [cluster('a'), cluster('b', 7), cluster('d')]);
    const again = open();
    again.send({ node: node('r', 'Default'), type_url: CLUSTER, initial_resource_versions: held });
    const r2 = await again.next();
    expect(names(r2)).toEqual(['b', 'd']);
    expect(r2.removed).toEqual(['c']);

    // nothing changed at all: an empty answer, nothing resent
    const third = open();
    const now = Object.fromEntries([...fx.srv.cache.typeSet('Default', CLUSTER)!.entries.values()].map((e) => [e.name, e.version]));
    third.send({ node: node('r', 'Default'), type_url: CLUSTER, initial_resource_versions: now });
    const r3 = await third.next();
    expect(r3.resources).toEqual([]);
    expect(r3.removed).toEqual([]);
  });

  test('subscribe and unsubscribe on one stream; re-subscribing sends again; unknown names are removed', async () => {
    fx.srv.cache.setType('Default', ROUTE, [routeConfig('r1', 'c'), routeConfig('r2', 'c')]);
    const s = open();
    s.send({ node: node('r', 'Default'), type_url: ROUTE, resource_names_subscribe: ['r1'] });
    const a = await s.next();
    expect(names(a)).toEqual(['r1']);
    s.send({ type_url: ROUTE, response_nonce: a.nonce, resource_names_subscribe: ['r2', 'nope'] });
    const b = await s.next();
    expect(names(b)).toEqual(['r2']);
    expect(b.removed).toEqual(['nope']); // tells the client it does not exist
    s.send({ type_url: ROUTE, response_nonce: b.nonce, resource_names_unsubscribe: ['r1'] });
    await s.none();
    fx.srv.cache.setType('Default', ROUTE, [routeConfig('r1', 'c', '/x'), routeConfig('r2', 'c', '/y')]);
    const c = await s.next();
    expect(names(c)).toEqual(['r2']);
    ack(s, c);
    s.send({ type_url: ROUTE, resource_names_subscribe: ['r2'] });
    const d = await s.next();
    expect(names(d)).toEqual(['r2']);
    fx.srv.cache.upsert('Default', ROUTE, [routeConfig('nope', 'c')]);
    expect(names(await s.next())).toEqual(['nope']);
  });

  test('EDS names that do not exist get an empty assignment', async () => {
    const s = open();
    s.send({ node: node('r', 'Default'), type_url: ENDPOINT, resource_names_subscribe: ['ghost'] });
    const r = await s.next();
    expect(r.resources.map((x) => x.body)).toEqual([{ cluster_name: 'ghost' }]);
    expect(r.removed).toEqual([]);
  });

  test('wildcard "*" can be added to and removed from named subscriptions', async () => {
    fx.srv.cache.setType('Default', CLUSTER, [cluster('a'), cluster('b')]);
    const s = open();
    s.send({ node: node('r', 'Default'), type_url: CLUSTER, resource_names_subscribe: ['a'] });
    expect(names(await s.next())).toEqual(['a']);
    s.send({ type_url: CLUSTER, resource_names_subscribe: ['*'] });
    expect(names(await s.next())).toEqual(['a', 'b']);
    fx.srv.cache.upsert('Default', CLUSTER, [cluster('c')]);
    expect(names(await s.next())).toEqual(['c']);
    s.send({ type_url: CLUSTER, resource_names_unsubscribe: ['*'] });
    await s.none(100);
    fx.srv.cache.upsert('Default', CLUSTER, [cluster('c', 5), cluster('a', 5)]);
    expect(names(await s.next())).toEqual(['a']); // still subscribed to a by name
    await s.none();
  });

  test('NACK recorded, no resend loop, next good change pushed; unknown nonces are not ACKs', async () => {
    fx.srv.cache.setType('Default', CLUSTER, [cluster('a')]);
    const s = open();
    s.send({ node: node('r', 'Default'), type_url: CLUSTER });
    const r1 = await s.next();
    ack(s, r1);
    await waitFor(() => state(CLUSTER).lastAckedVersion === r1.version);
    fx.srv.cache.upsert('Default', CLUSTER, [cluster('bad')]);
    const r2 = await s.next();
    s.send({ type_url: CLUSTER, response_nonce: r2.nonce, error_detail: { code: 3, message: 'bad cluster' } });
    await s.none(300);
    expect(state(CLUSTER).lastNack).toMatchObject({ version: r2.version, nonce: r2.nonce, error: 'bad cluster' });
    expect(state(CLUSTER).lastAckedVersion).toBe(r1.version);
    s.send({ type_url: CLUSTER, response_nonce: 'never-sent' });
    await s.none(100);
    expect(state(CLUSTER).lastAckedVersion).toBe(r1.version);
    // a stale nonce that also subscribes: not an ACK, but the subscription is honoured
    s.send({ type_url: CLUSTER, response_nonce: r1.nonce, resource_names_subscribe: ['late'] });
    const late = await s.next();
    expect(late.removed).toEqual(['late']);
    expect(state(CLUSTER).lastAckedVersion).toBe(r1.version);
    expect(state(CLUSTER).names.has('late')).toBe(true);

    fx.srv.cache.upsert('Default', CLUSTER, [cluster('a', 2)]);
    const r3 = await s.next();
    expect(names(r3)).toEqual(['a']);
    ack(s, r3);
    await waitFor(() => state(CLUSTER).lastAckedVersion === r3.version);
  });

  test('push order CDS, EDS, LDS, RDS; a changed cluster gets its endpoints again', async () => {
    fx.srv.cache.setGroup('Default', {
      [ROUTE]: [routeConfig('r', 'c1')],
      [LISTENER]: [listener('l', 'r')],
      [ENDPOINT]: [endpoints('c1', 1)],
      [CLUSTER]: [cluster('c1')],
    });
    const s = open();
    s.send({ node: node('r', 'Default'), type_url: ROUTE, resource_names_subscribe: ['r'] });
    s.send({ type_url: LISTENER });
    s.send({ type_url: ENDPOINT, resource_names_subscribe: ['c1'] });
    s.send({ type_url: CLUSTER });
    for (let i = 0; i < 4; i++) ack(s, await s.next());
    await s.none();
    fx.srv.cache.setGroup('Default', {
      [ROUTE]: [routeConfig('r', 'c1', '/v2')],
      [LISTENER]: [listener('l', 'r', true)],
      [ENDPOINT]: [endpoints('c1', 2)],
      [CLUSTER]: [cluster('c1', 3)],
    });
    const push = [await s.next(), await s.next(), await s.next(), await s.next()];
    expect(push.map((r) => r.typeUrl)).toEqual([CLUSTER, ENDPOINT, LISTENER, ROUTE]);
    push.forEach((r) => ack(s, r));
    fx.srv.cache.setType('Default', CLUSTER, [cluster('c1', 4)]);
    const [c, e] = [await s.next(), await s.next()];
    expect([c.typeUrl, e.typeUrl]).toEqual([CLUSTER, ENDPOINT]);
    expect(names(e)).toEqual(['c1']);
    expect(e.resources[0].version).toBe(push[1].resources[0].version);
  });

  test('a subscription answered while a push is pending is not sent twice', async () => {
    await fx.restart({ debounceMs: 100, maxDelayMs: 1000 });
    fx.srv.cache.setType('Default', CLUSTER, [cluster('a')]);
    const s = open();
    s.send({ node: node('r', 'Default'), type_url: CLUSTER, resource_names_subscribe: ['x'] });
    ack(s, await s.next());
    await new Promise((r) => setTimeout(r, 150)); // let the setType push go by
    fx.srv.cache.upsert('Default', CLUSTER, [cluster('a', 2), cluster('x')]);
    s.send({ type_url: CLUSTER, resource_names_subscribe: ['a'] }); // before the push fires
    const r = await s.next();
    expect(names(r)).toEqual(['a']);
    const push = await s.next();
    expect(names(push)).toEqual(['x']); // a already went out at its new version
    await s.none(200);
  });
});
