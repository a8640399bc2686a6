import { CLUSTER, ROUTE } from '../../src/envoy/typeUrls';
import type { Straggler } from '../../src/xds/server';
import { node, protocolFixture, waitFor, type AdsStream, type Response } from '../helpers/ads';
import { cluster } from '../helpers/resources';

/** XdsServer.whenAnswered, the wait that lock-step is built on, for both protocols. */
describe.each(['sotw', 'delta'] as const)('whenAnswered (%s)', (protocol) => {
  const fx = protocolFixture(protocol);
  /** SotW requests repeat the subscription: the names a stream subscribed with. */
  const subscriptions = new Map<AdsStream, string[]>();
  const answer = (s: AdsStream, r: Response, error?: string): void =>
    s.send({
      type_url: r.typeUrl,
      response_nonce: r.nonce,
      ...(protocol === 'sotw' ? { version_info: r.version, resource_names: subscriptions.get(s) ?? [] } : {}),
      ...(error ? { error_detail: { code: 3, message: error } } : {}),
    });
  /** A client of CLUSTER that has ACKed the first view (optionally of named resources only). */
  const subscribed = async (names: string[] = []): Promise<AdsStream> => {
    const s = fx.open();
    subscriptions.set(s, names);
    const key = protocol === 'sotw' ? 'resource_names' : 'resource_names_subscribe';
    s.send({ node: node('router-1', 'Default'), type_url: CLUSTER, [key]: names });
    answer(s, await s.next());
    await waitFor(() => fx.srv.xds.streams()[0]?.types.get(CLUSTER)?.inflight.size === 0);
    return s;
  };
  const change = (...names: string[]): number => {
    fx.srv.cache.setType('Default', CLUSTER, names.map((n) => cluster(n, 2)));
    return fx.srv.cache.seq;
  };
  const watch = (p: Promise<Straggler[]>): { result?: Straggler[] } => {
    const box: { result?: Straggler[] } = {};
    void p.then((r) => (box.result = r));
    return box;
  };

  test('nobody to wait for: undefined, so the caller goes on synchronously', async () => {
    expect(fx.srv.xds.whenAnswered('Default', [CLUSTER], change('a'), 1000)).toBeUndefined();
    await subscribed();
    expect(fx.srv.xds.whenAnswered('Default', [CLUSTER], fx.srv.cache.seq, 1000)).toBeUndefined(); // already answered
    expect(fx.srv.xds.whenAnswered('Default', [ROUTE], change('b'), 1000)).toBeUndefined(); // nobody subscribes to routes
    expect(fx.srv.xds.whenAnswered('Other', [CLUSTER], fx.srv.cache.seq, 1000)).toBeUndefined(); // nobody in that group
  });

  test('resolves only once the client ACKs the change (pushed at once, not after the debounce)', async () => {
    const s = await subscribed();
    const seq = change('a', 'b');
    const box = watch(fx.srv.xds.whenAnswered('Default', [CLUSTER], seq, 5000)!);
    const r = await s.next();
    await new Promise((res) => setTimeout(res, 100));
    expect(box.result).toBeUndefined();
    answer(s, r);
    await waitFor(() => box.result !== undefined);
    expect(box.result).toEqual([]);
    expect(fx.srv.xds.streams()[0].types.get(CLUSTER)!.lastAckedVersion).toBe(r.version);
  });

  test('a NACK is an answer too (the refusal is recorded, the wait ends)', async () => {
    const s = await subscribed();
    const box = watch(fx.srv.xds.whenAnswered('Default', [CLUSTER], change('a'), 5000)!);
    answer(s, await s.next(), 'bad cluster');
    await waitFor(() => box.result !== undefined);
    expect(box.result).toEqual([]);
    expect(fx.srv.xds.streams()[0].types.get(CLUSTER)!.lastNack?.error).toBe('bad cluster');
  });

  test('bounded: after the timeout it resolves with the streams that did not answer', async () => {
    const s = await subscribed();
    const seq = change('a');
    const stragglers = await fx.srv.xds.whenAnswered('Default', [CLUSTER], seq, 200)!;
    expect(stragglers).toEqual([{ stream: expect.any(Number), node: 'router-1', types: [CLUSTER] }]);
    await s.next(); // the response was sent; the client just never answered
  });

  test('an answer to an earlier response is not an answer to the change', async () => {
    const s = await subscribed();
    change('a');
    const first = await s.next();
    const seq = change('a', 'b');
    const box = watch(fx.srv.xds.whenAnswered('Default', [CLUSTER], seq, 5000)!);
    const second = await s.next();
    answer(s, first);
    await new Promise((res) => setTimeout(res, 100));
    expect(box.result).toBeUndefined();
    answer(s, second);
    await waitFor(() => box.result !== undefined);
    expect(box.result).toEqual([]);
  });

  test('a client the change does not concern is up to date without a response', async () => {
    const s = await subscribed(['x']);
    const box = watch(fx.srv.xds.whenAnswered('Default', [CLUSTER], change('a'), 5000)!);
    await waitFor(() => box.result !== undefined);
    expect(box.result).toEqual([]);
    await s.none();
  });

  test('a client that goes away is no longer waited for', async () => {
    const s = await subscribed();
    const box = watch(fx.srv.xds.whenAnswered('Default', [CLUSTER], change('a'), 5000)!);
    await s.next();
    s.close();
    await waitFor(() => box.result !== undefined);
    expect(box.result).toEqual([]);
  });
});
