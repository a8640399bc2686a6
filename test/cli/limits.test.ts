import * as grpc from '@grpc/grpc-js';
import { parseConfig } from '../../src/config/config';
import { createLogger } from '../../src/config/log';
import { startAdapter, type Adapter } from '../../src/cli/adapter';
import { startEnforcer, type Enforcer } from '../../src/cli/enforcer';
import { serviceDefinition } from '../../src/envoy/grpcService';
import { CLUSTER, ENFORCER_SUBSCRIPTION } from '../../src/envoy/typeUrls';
import type { Subscription } from '../../src/model/access';
import { AdsStream, node, waitFor } from '../helpers/ads';
import { cluster } from '../helpers/resources';

/**
 * gRPC receive limits with the defaults config.toml ships: the adapter and the enforcer decode
 * at most 4 MiB per message, so a 40 MB request is refused before it costs them anything, and
 * nobody else notices. Only the adapter's responses may be large, and its enforcer takes them.
 */

const MB40 = 40 * 1000 * 1000;
let adapter: Adapter;
let enforcer: Enforcer;
let authz: grpc.Client & { Check: Function };

beforeAll(async () => {
  const config = parseConfig('[adapter]\nhost = "127.0.0.1"\nxdsPort = 0\nhttpPort = 0\ndebounceMs = 0\napisDirectory = ""\n[enforcer]\nhost = "127.0.0.1"\nport = 0\nhttpPort = 0\n', 'test.toml');
  expect(config.adapter.maxReceiveMessageSize).toBe(4 * 1024 * 1024);
  const log = createLogger('error', 'test');
  adapter = await startAdapter(config, log);
  enforcer = await startEnforcer({ ...config, enforcer: { ...config.enforcer, adapterAddress: `127.0.0.1:${adapter.port}` } }, log);
  await enforcer.view.whenReady();
  const Ctor = grpc.makeGenericClientConstructor(serviceDefinition('envoy.service.auth.v3.Authorization'), 'Authorization');
  authz = new Ctor(`127.0.0.1:${enforcer.port}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': -1 }) as unknown as typeof authz;
});

afterAll(async () => {
  authz.close();
  await enforcer.stop();
  await adapter.stop();
});

function check(headers: Record<string, string>): Promise<grpc.ServiceError | null> {
  const req = {
    attributes: {
      request: { http: { method: 'GET', path: '/nowhere', host: 'localhost', headers: { ':method': 'GET', ...headers } } },
      route_metadata_context: { filter_metadata: { 'apimconnect.route': { fields: { apiId: { stringValue: 'no-such-api' }, path: { stringValue: '/nowhere' } } } } },
    },
  };
  return new Promise((resolve) => authz.Check(req, (err: grpc.ServiceError | null) => resolve(err)));
}

test.each(['delta', 'sotw'] as const)('a 40 MB %s request to the adapter is refused with RESOURCE_EXHAUSTED; other streams go on', async (protocol) => {
  const good = new AdsStream(`127.0.0.1:${adapter.port}`, protocol);
  const huge = new AdsStream(`127.0.0.1:${adapter.port}`, protocol);
  try {
    good.send({ node: node(`router-${protocol}`, 'Default'), type_url: CLUSTER });
    const first = await good.next();
    if (protocol === 'delta') good.send({ type_url: CLUSTER, response_nonce: first.nonce });
    else good.send({ type_url: CLUSTER, version_info: first.version, response_nonce: first.nonce });

    const names = ['x'.repeat(MB40)];
    huge.send({ node: node('big', 'Default'), type_url: CLUSTER, ...(protocol === 'delta' ? { resource_names_subscribe: names } : { resource_names: names }) });
    const status = await huge.ended;
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status.details).toMatch(/larger than max/);

    adapter.cache.setType('Default', CLUSTER, [cluster(`after-${protocol}`)]);
    expect((await good.next(10_000)).resources.map((r) => r.name)).toContain(`after-${protocol}`);
  } finally {
    good.close();
    huge.close();
  }
});

test('a request within the limit (3 MB of resource names) is served', async () => {
  const s = new AdsStream(`127.0.0.1:${adapter.port}`, 'delta');
  try {
    adapter.cache.setType('Default', CLUSTER, [cluster('wanted')]);
    const names = ['wanted', ...Array.from({ length: 60_000 }, (_, i) => `cluster-${String(i).padStart(40, '0')}`)];
    s.send({ node: node('many-names', 'Default'), type_url: CLUSTER, resource_names_subscribe: names });
    expect((await s.next(10_000)).resources.map((r) => r.name)).toEqual(['wanted']);
  } finally {
    s.close();
  }
});

test('a 40 MB Check request is refused with RESOURCE_EXHAUSTED; the next Check is answered', async () => {
  const err = await check({ 'x-filler': 'x'.repeat(MB40) });
  expect(err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  expect(await check({})).toBeNull();
});

test('the enforcer takes an xDS response larger than the receive limit from its adapter', async () => {
  // About 8 MB of subscriptions in one Delta response: twice the 4 MiB a client may send.
  const subs: Subscription[] = Array.from({ length: 50_000 }, (_, i) => ({
    uuid: `sub-${String(i).padStart(32, '0')}`,
    apiUuid: `api-${String(i % 100).padStart(32, '0')}`,
    appUuid: `app-${String(i).padStart(32, '0')}`,
    policy: 'Unlimited',
    state: 'UNBLOCKED',
    organization: 'carbon.super',
  }));
  adapter.pipeline.apply([{ kind: 'Replaced', collection: 'subscriptions', values: subs }]);
  const last = subs[subs.length - 1]!.uuid;
  await waitFor(() => enforcer.view.entry(ENFORCER_SUBSCRIPTION, last) !== undefined, 20_000);
  const bytes = [...adapter.cache.typeSet('Default', ENFORCER_SUBSCRIPTION)!.entries.values()].reduce((n, e) => n + e.value.length, 0);
  expect(bytes).toBeGreaterThan(6 * 1024 * 1024);
  const sent = adapter.xds.streams().find((s) => s.node?.id.startsWith('enforcer-'))!.types.get(ENFORCER_SUBSCRIPTION)!;
  await waitFor(() => sent.lastAckedVersion === sent.lastSentVersion);
  expect(sent.lastNack).toBeUndefined();
});
