import * as grpc from '@grpc/grpc-js';
import { parseConfig, type Config } from '../../src/config/config';
import { createLogger } from '../../src/config/log';
import { startAdapter, type Adapter } from '../../src/cli/adapter';
import { startEnforcer, type Enforcer } from '../../src/cli/enforcer';
import { messageJson } from '../../src/envoy/any';
import { serviceDefinition } from '../../src/envoy/grpcService';
import { messageType } from '../../src/envoy/protos';
import { ENFORCER_API, ROUTE } from '../../src/envoy/typeUrls';
import type { Api, Resource } from '../../src/model/api';
import { DeltaXdsClient } from '../../src/xds/client';
import { AdsStream, node, waitFor, type Response } from '../helpers/ads';
import { api } from '../helpers/apis';

/**
 * Lock-step (ARCHITECTURE.md rule 5) end to end: a route reaches the routers only after every
 * enforcer of its label has ACKed its API, and on undeploy (or when an update drops a resource
 * or method) the enforcers forget only after the routers have dropped the route.
 */

/** One route as a router holds it: which API and resource it belongs to, and its methods. */
interface HeldRoute {
  apiId: string;
  path: string;
  methods: string[];
}

const RouteConfiguration = messageType('envoy.config.route.v3.RouteConfiguration');

function routesOf(value: Uint8Array): HeldRoute[] {
  type Route = { match: { headers?: Array<{ name: string; string_match?: { safe_regex?: { regex: string } } }> }; metadata?: { filter_metadata?: Record<string, { apiId: string; path: string }> } };
  const rc = messageJson(RouteConfiguration, RouteConfiguration.decode(value)) as { virtual_hosts?: Array<{ routes?: Route[] }> };
  const out: HeldRoute[] = [];
  for (const vh of rc.virtual_hosts ?? []) {
    for (const r of vh.routes ?? []) {
      const id = r.metadata?.filter_metadata?.['apimconnect.route'];
      if (!id) continue;
      const regex = r.match.headers?.find((h) => h.name === ':method')?.string_match?.safe_regex?.regex ?? '';
      out.push({ apiId: id.apiId, path: id.path, methods: /^\^\(\?:(.*)\)\$$/.exec(regex)?.[1].split('|') ?? [] });
    }
  }
  return out;
}

/** A router: a Delta xDS client of the label's route configurations. */
function router(adapter: Adapter, id: string): DeltaXdsClient<HeldRoute[]> {
  return new DeltaXdsClient<HeldRoute[]>({
    address: `127.0.0.1:${adapter.port}`,
    node: { id, cluster: 'Default' },
    typeUrls: [ROUTE],
    decode: { [ROUTE]: routesOf },
    backoff: { initialMs: 50, maxMs: 200 },
  });
}

const heldRoutes = (r: DeltaXdsClient<HeldRoute[]>): HeldRoute[] => [...r.entries(ROUTE).values()].flatMap((h) => h.value);
const routesFor = (r: DeltaXdsClient<HeldRoute[]>, apiId: string): string[] =>
  heldRoutes(r)
    .filter((x) => x.apiId === apiId)
    .map((x) => `${x.path} ${x.methods.join(',')}`)
    .sort();

function config(lockStepTimeoutMs: number): Config {
  return parseConfig(
    `[adapter]\nhost = "127.0.0.1"\nxdsPort = 0\nhttpPort = 0\ndebounceMs = 0\nlockStepTimeoutMs = ${lockStepTimeoutMs}\napisDirectory = ""\n[enforcer]\nhost = "127.0.0.1"\nport = 0\nhttpPort = 0\n`,
    'lockstep.toml',
  );
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = createLogger('error', 'test');

describe('with an enforcer that holds back its ACK', () => {
  let adapter: Adapter;
  let enforcer: AdsStream;
  let routes: DeltaXdsClient<HeldRoute[]>;
  const apiNames = (r: Response): string[] => r.resources.map((x) => x.name);
  const ack = (r: Response): void => enforcer.send({ type_url: ENFORCER_API, response_nonce: r.nonce });

  beforeAll(async () => {
    adapter = await startAdapter(config(1500), log);
    enforcer = new AdsStream(`127.0.0.1:${adapter.port}`, 'delta');
    enforcer.send({ node: node('enforcer-held', 'Default'), type_url: ENFORCER_API, resource_names_subscribe: ['*'] });
    ack(await enforcer.next());
    routes = router(adapter, 'router-1');
    await routes.whenReady();
  });
  afterAll(async () => {
    routes.close();
    enforcer.close();
    await adapter.stop();
  });

  const a = api();

  test('deploy: the route waits for the enforcer ACK', async () => {
    adapter.pipeline.apply([{ kind: 'ApiDeployed', api: a }]);
    const r = await enforcer.next();
    expect(apiNames(r)).toEqual([a.id]);
    await sleep(300);
    expect(routesFor(routes, a.id)).toEqual([]);
    ack(r);
    await waitFor(() => routesFor(routes, a.id).length > 0);
    expect(routesFor(routes, a.id)).toEqual(['/pet POST,OPTIONS', '/pet/findByStatus GET,OPTIONS', '/pet/{petId} DELETE,GET,OPTIONS']);
    await adapter.pipeline.settled();
  });

  test('an update that drops a resource and a method: the enforcer keeps them until the router has dropped their routes', async () => {
    const next: Api = {
      ...a,
      resources: [
        { path: '/pet/{petId}', operations: [{ method: 'GET', secured: true, scopes: [] }] },
        { path: '/store', operations: [{ method: 'GET', secured: true, scopes: [] }] },
      ],
    };
    adapter.pipeline.apply([{ kind: 'ApiDeployed', api: next }]);
    // First the union of both versions, so the live routes and the coming ones are all known.
    const bridge = await enforcer.next();
    const held = bridge.resources[0].body as { resources: Array<{ path: string; operations: Array<{ method: string }> }> };
    const known = (x: typeof held): string[] => x.resources.map((res) => `${res.path} ${res.operations.map((o) => o.method).sort().join(',')}`).sort();
    expect(known(held)).toEqual(['/pet POST', '/pet/findByStatus GET', '/pet/{petId} DELETE,GET', '/store GET']);
    await sleep(200);
    expect(routesFor(routes, a.id)).toEqual(['/pet POST,OPTIONS', '/pet/findByStatus GET,OPTIONS', '/pet/{petId} DELETE,GET,OPTIONS']);
    ack(bridge);
    // Then the exact new version, sent only once the router has ACKed its new routes.
    const exact = await enforcer.next();
    expect(routesFor(routes, a.id)).toEqual(['/pet/{petId} GET,OPTIONS', '/store GET,OPTIONS']);
    expect(known(exact.resources[0].body as typeof held)).toEqual(['/pet/{petId} GET', '/store GET']);
    ack(exact);
    await adapter.pipeline.settled();
  });

  test('undeploy: the route goes first, the enforcer forgets the API after the router ACKed', async () => {
    adapter.pipeline.apply([{ kind: 'ApiUndeployed', apiId: a.id }]);
    const r = await enforcer.next();
    expect(r.removed).toEqual([a.id]);
    expect(routesFor(routes, a.id)).toEqual([]);
    ack(r);
    await adapter.pipeline.settled();
  });

  test('bounded: an enforcer that never answers delays the route by lockStepTimeoutMs, not forever', async () => {
    const b = api({ name: 'Orders', context: '/orders' });
    const started = Date.now();
    adapter.pipeline.apply([{ kind: 'ApiDeployed', api: b }]);
    expect(apiNames(await enforcer.next())).toEqual([b.id]);
    await sleep(1000);
    expect(routesFor(routes, b.id)).toEqual([]);
    await waitFor(() => routesFor(routes, b.id).length > 0, 5000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400); // timers may fire a millisecond early
    await adapter.pipeline.settled();
  });
});

describe('real enforcers and a router under a stream of deploys, updates and undeploys', () => {
  let adapter: Adapter;
  const enforcers: Enforcer[] = [];
  let routes: DeltaXdsClient<HeldRoute[]>;
  let client: grpc.Client & { Check: Function };
  const CheckResponse = messageType('envoy.service.auth.v3.CheckResponse');

  beforeAll(async () => {
    const cfg = config(10_000);
    adapter = await startAdapter(cfg, log);
    for (let i = 0; i < 2; i++) {
      const e = await startEnforcer({ ...cfg, enforcer: { ...cfg.enforcer, adapterAddress: `127.0.0.1:${adapter.port}` } }, log);
      await e.view.whenReady();
      enforcers.push(e);
    }
    routes = router(adapter, 'router-1');
    await routes.whenReady();
    const Ctor = grpc.makeGenericClientConstructor(serviceDefinition('envoy.service.auth.v3.Authorization'), 'Authorization');
    client = new Ctor(`127.0.0.1:${enforcers[0].port}`, grpc.credentials.createInsecure()) as unknown as typeof client;
  });
  afterAll(async () => {
    client.close();
    routes.close();
    for (const e of enforcers) await e.stop();
    await adapter.stop();
  });

  /** The enforcer decision for a route: 404 means it does not know the API, resource or method. */
  function check(r: HeldRoute, method: string): Promise<number> {
    const req = {
      attributes: {
        request: { http: { method, path: r.path, host: 'localhost', headers: { ':method': method } } },
        route_metadata_context: { filter_metadata: { 'apimconnect.route': { fields: { apiId: { stringValue: r.apiId }, path: { stringValue: r.path } } } } },
      },
    };
    return new Promise((resolve, reject) =>
      client.Check(req, (err: Error | null, res: unknown) => {
        if (err) return reject(err);
        const o = CheckResponse.toObject(res as never, { defaults: false }) as { denied_response?: { status: { code: number } } };
        resolve(o.denied_response?.status.code ?? 200);
      }),
    );
  }

  test('no route is ever held by the router while an enforcer does not know its API, resource and method', async () => {
    const violations: string[] = [];
    const unknownTo = (e: Enforcer, r: HeldRoute): string | undefined => {
      const known = e.view.api(r.apiId)?.resources.find((x) => x.path === r.path);
      const missing = r.methods.filter((m) => m !== 'OPTIONS' && !known?.operations.some((o) => o.method === m));
      return missing.length ? `${r.apiId} ${r.path} ${missing.join(',')}` : undefined;
    };
    const audit = (when: string): void => {
      for (const [i, e] of enforcers.entries()) {
        for (const r of heldRoutes(routes)) {
          const gap = unknownTo(e, r);
          if (gap) violations.push(`${when}: router holds ${gap} unknown to enforcer ${i}`);
        }
      }
    };
    // Listeners run as each response is applied, before its ACK: the moments the order matters.
    let routerUpdates = 0;
    routes.onChange(() => {
      routerUpdates++;
      audit('router update');
    });
    for (const e of enforcers) e.view.onChange((c) => c.typeUrl === ENFORCER_API && audit('enforcer update'));

    // Requests keep flowing: a route the router still holds must never be unknown to its enforcer.
    let checks = 0;
    let flowing = true;
    const traffic = (async () => {
      while (flowing) {
        const held = heldRoutes(routes);
        if (held.length === 0) {
          await sleep(2);
          continue;
        }
        const r = held[checks % held.length];
        const method = r.methods.find((m) => m !== 'OPTIONS')!;
        const status = await check(r, method);
        checks++;
        const still = heldRoutes(routes).some((x) => x.apiId === r.apiId && x.path === r.path && x.methods.includes(method));
        if (status === 404 && still) violations.push(`check ${method} ${r.apiId} ${r.path}: 404 while the router holds the route`);
      }
    })();

    // A seeded stream of changes over a few APIs: deploys, updates dropping and adding
    // resources and methods, undeploys; some in one batch, some a few ms apart.
    let seed = 42;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const PATHS = ['/a', '/b/{id}', '/c', '/d/*'];
    const METHODS = ['GET', 'POST', 'PUT', 'DELETE'] as const;
    const variant = (i: number): Api => {
      const resources: Resource[] = PATHS.filter(() => rand(3) > 0).map((path) => ({
        path,
        operations: METHODS.filter(() => rand(2) === 0).map((method) => ({ method, secured: false, scopes: [] })),
      }));
      const usable = resources.filter((r) => r.operations.length > 0);
      return api({ name: `Api${i}`, context: `/api${i}`, resources: usable.length ? usable : [{ path: '/a', operations: [{ method: 'GET', secured: false, scopes: [] }] }] });
    };
    const deployed = new Map<string, Api>();
    for (let step = 0; step < 60; step++) {
      const i = rand(5);
      const id = `Api${i}-1.0.0`;
      if (deployed.has(id) && rand(3) === 0) {
        adapter.pipeline.apply([{ kind: 'ApiUndeployed', apiId: id }]);
        deployed.delete(id);
      } else {
        const v = variant(i);
        adapter.pipeline.apply([{ kind: 'ApiDeployed', api: v }]);
        deployed.set(id, v);
      }
      if (rand(3) > 0) await sleep(rand(15));
    }
    const checksDuringChanges = checks;
    await adapter.pipeline.settled();
    // Everything arrives: the router holds exactly the last version of each deployed API.
    const expected = [...deployed.values()].flatMap((a) => a.resources.map((r) => `${a.id} ${r.path}`)).sort();
    await waitFor(() => JSON.stringify([...new Set(heldRoutes(routes).map((r) => `${r.apiId} ${r.path}`))].sort()) === JSON.stringify(expected), 5000);
    for (const e of enforcers) await waitFor(() => [...deployed.keys()].every((id) => e.view.api(id)?.resources.length === deployed.get(id)!.resources.length));
    await sleep(50);
    flowing = false;
    await traffic;

    expect(violations).toEqual([]);
    expect(routerUpdates).toBeGreaterThan(10);
    expect(checksDuringChanges).toBeGreaterThan(10);
  });
});
