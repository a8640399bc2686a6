import { generateKeyPairSync, randomUUID, type KeyObject } from 'crypto';
import * as grpc from '@grpc/grpc-js';
import { parseConfig, type Config } from '../../src/config/config';
import { createLogger } from '../../src/config/log';
import { CLUSTER, ENFORCER_API, ENFORCER_APPLICATION, ENFORCER_SUBSCRIPTION, ROUTE } from '../../src/envoy/typeUrls';
import { DeltaXdsClient } from '../../src/xds/client';
import { wholeBytes } from '../../src/envoy/protoWire';
import { unpackAny } from '../../src/envoy/any';
import { startAdapter, type Adapter } from '../../src/cli/adapter';
import { startEnforcer, type Enforcer } from '../../src/cli/enforcer';
import { serviceDefinition } from '../../src/envoy/grpcService';
import { messageType } from '../../src/envoy/protos';
import { ApimEmulator } from '../../tools/apim-emulator';
import { mintJwt } from '../helpers/jwt';
import { closeConnectionsNamed } from '../helpers/rabbit';

/**
 * apim-connect following an APIM (the emulator: APIM's REST API and its event envelopes on the
 * real RabbitMQ). Each test uses a label of its own, so events of other tests sharing the broker
 * are for labels this adapter does not serve.
 */

const AMQP = process.env.APIM_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const USER = 'admin';
const PASSWORD = 'admin-secret';

const openapi = (paths: string[]): Record<string, unknown> => ({
  openapi: '3.0.1',
  info: { title: 'x', version: '1' },
  paths: Object.fromEntries(paths.map((p) => [p, { get: { responses: { '200': { description: 'ok' } } } }])),
});

let emulator: ApimEmulator;
let adapter: Adapter | undefined;
let label: string;

beforeEach(async () => {
  label = `it-${randomUUID().slice(0, 8)}`;
  emulator = new ApimEmulator();
  await emulator.start({ username: USER, password: PASSWORD, amqpUrl: AMQP });
});

afterEach(async () => {
  await adapter?.stop();
  adapter = undefined;
  await emulator.stop();
});

function config(extra = ''): Config {
  return parseConfig(
    `[adapter]\nhost = "127.0.0.1"\nxdsPort = 0\nhttpPort = 0\ndebounceMs = 0\napisDirectory = ""\n` +
      `[controlPlane]\nenabled = true\nserviceURL = "${emulator.url}"\nusername = "${USER}"\npassword = "${PASSWORD}"\n` +
      `environmentLabels = ["${label}"]\nretryInterval = 1\nsyncInterval = 0\nsendRevisionUpdate = true\n` +
      `[controlPlane.brokerConnectionParameters]\neventListeningEndpoints = ["${AMQP}?retries='2'&connectdelay='1'"]\nreconnectInterval = 200\n${extra}`,
    'test.toml',
  );
}

async function start(cfg = config()): Promise<Adapter> {
  adapter = await startAdapter(cfg, createLogger('error', 'test'));
  return adapter;
}

async function deployApi(name: string, paths = ['/items', '/items/{id}']): Promise<string> {
  const uuid = await emulator.createApi({ name, version: '1.0.0', context: `/${name.toLowerCase()}`, openapi: openapi(paths), endpoints: { production: `http://${name.toLowerCase()}.internal:8080/api` } });
  await emulator.deploy(uuid, [label]);
  return uuid;
}

const clusters = (a: Adapter): string[] => [...(a.cache.typeSet(label, CLUSTER)?.entries.keys() ?? [])].sort();
function routeNames(a: Adapter): string[] {
  const e = a.cache.get(label, ROUTE, 'default');
  if (!e) return [];
  const rc = unpackAny({ type_url: ROUTE, value: wholeBytes(e.value) }) as { virtual_hosts: Array<{ routes: Array<{ name: string }> }> };
  return rc.virtual_hosts.flatMap((v) => v.routes.map((r) => r.name)).filter((n) => n !== 'not-found');
}

async function eventually(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`not in time: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('startup with APIs already deployed: every one is in the snapshot after one push, and acknowledged', async () => {
  for (let i = 0; i < 12; i++) await deployApi(`Api${i}`);
  const routeVersions: string[] = [];
  const a = await start();
  a.cache.watch((c) => c.group === label && c.types.forEach((t) => t.typeUrl === ROUTE && routeVersions.push(t.version)));
  expect(clusters(a)).toHaveLength(12);
  expect(routeNames(a)).toHaveLength(24);
  // the whole pull was one change of the route table (before the test could watch it): nothing more
  await new Promise((r) => setTimeout(r, 300));
  expect(routeVersions).toEqual([]);
  expect(a.pipeline.current.apisFor(label)).toHaveLength(12);
  await eventually(() => emulator.deployAcks.length === 12, 'deploy acknowledgements');
  expect(emulator.deployAcks.every((x) => x.revisionId >= 1 && x.envInfo.some((e) => e.name === label))).toBe(true);
}, 30_000);

test('each kind of event changes the state', async () => {
  const a = await start();
  const state = () => a.pipeline.current;

  const pets = await deployApi('Pets');
  await eventually(() => clusters(a).length === 1, 'deploy event → cluster');
  expect(routeNames(a)).toEqual(['carbon-super_localhost_Pets_1-0-0_7841f38d:/items', 'carbon-super_localhost_Pets_1-0-0_7841f38d:/items/{id}']);

  await emulator.changeLifecycle(pets, 'BLOCKED');
  await eventually(() => state().apis.get(pets)?.lifecycleStatus === 'BLOCKED', 'lifecycle');

  const app = await emulator.createApplication({ name: 'Shop', owner: 'alice', policy: 'Unlimited' });
  await eventually(() => state().collection('applications').get(app)?.name === 'Shop', 'application created');
  await emulator.updateApplication(app, { policy: '10PerMin' });
  await eventually(() => state().collection('applications').get(app)?.policy === '10PerMin', 'application updated');

  const key = await emulator.generateKeys(app, 'PRODUCTION');
  await eventually(() => state().collection('keyMappings').get(`carbon.super:${key}:Resident Key Manager`)?.appUuid === app, 'keys generated');

  const sub = await emulator.subscribe(app, pets, 'Gold');
  await eventually(() => state().collection('subscriptions').get(sub)?.policy === 'Gold', 'subscribed');
  await emulator.updateSubscription(sub, 'BLOCKED');
  await eventually(() => state().collection('subscriptions').get(sub)?.state === 'BLOCKED', 'subscription blocked');

  await emulator.addPolicy({ type: 'subscription', name: 'Platinum', limit: 500, timeUnit: 'min', unitTime: 1 });
  await eventually(() => [...state().collection('policies').values()].some((p) => p.name === 'Platinum' && p.defaultLimit?.limit === 500), 'policy added');
  await emulator.updatePolicy('subscription', 'Platinum', { limit: 800 });
  await eventually(() => [...state().collection('policies').values()].some((p) => p.name === 'Platinum' && p.defaultLimit?.limit === 800), 'policy updated');
  await emulator.deletePolicy('subscription', 'Platinum');
  await eventually(() => ![...state().collection('policies').values()].some((p) => p.name === 'Platinum'), 'policy deleted');

  await emulator.addKeyManager({ name: 'Keycloak', type: 'KeyCloak', configuration: { issuer: 'https://kc/realms/x', self_validate_jwt: true } });
  await eventually(() => [...state().collection('keyManagers').values()].some((k) => k.name === 'Keycloak'), 'key manager added');
  await emulator.deleteKeyManager('Keycloak');
  await eventually(() => ![...state().collection('keyManagers').values()].some((k) => k.name === 'Keycloak'), 'key manager deleted');

  await emulator.revokeToken('jti-1', Date.now() + 3_600_000);
  await eventually(() => state().collection('revokedTokens').get('jti-1') !== undefined, 'token revoked');

  const block = await emulator.addBlockingCondition('IP', { fixedIp: '10.1.2.3' });
  await eventually(() => [...state().collection('blockingConditions').values()].some((b) => b.fixedIp === '10.1.2.3'), 'blocking condition');
  await emulator.removeBlockingCondition(block);
  await eventually(() => ![...state().collection('blockingConditions').values()].some((b) => b.fixedIp === '10.1.2.3'), 'blocking condition removed');

  await emulator.addKeyTemplate('$userId:$apiContext');
  await eventually(() => state().collection('keyTemplates').get('$userId:$apiContext') !== undefined, 'key template');

  await emulator.throttle('/pets/1.0.0:1.0.0_default', Date.now() + 60_000);
  await eventually(() => state().collection('throttleDecisions').get('/pets/1.0.0:1.0.0_default')?.throttled === true, 'throttle decision');

  await emulator.unsubscribe(sub);
  await eventually(() => state().collection('subscriptions').get(sub) === undefined, 'unsubscribed');
  await emulator.deleteApplication(app);
  await eventually(() => state().collection('applications').get(app) === undefined && state().collection('keyMappings').size === 0, 'application deleted');

  await emulator.undeploy(pets, [label]);
  await eventually(() => clusters(a).length === 0 && routeNames(a).length === 0, 'undeploy event → routes gone');
}, 60_000);

test('enforcers get what changed over Delta xDS: one resource per changed entry', async () => {
  const a = await start();
  const client = new DeltaXdsClient({ address: `127.0.0.1:${a.port}`, node: { id: 'enforcer-1', cluster: label }, typeUrls: [ENFORCER_API, ENFORCER_APPLICATION, ENFORCER_SUBSCRIPTION] });
  const changes: Array<{ typeUrl: string; updated: string[]; removed: string[] }> = [];
  client.onChange((c) => changes.push(c));
  try {
    await client.whenReady();
    const pets = await deployApi('Pets');
    await eventually(() => client.entries(ENFORCER_API).has(pets), 'the API reaches the enforcer');
    const app = await emulator.createApplication({ name: 'Shop', owner: 'alice', policy: 'Unlimited' });
    const sub = await emulator.subscribe(app, pets, 'Gold');
    await eventually(() => client.entries(ENFORCER_SUBSCRIPTION).has(sub), 'the subscription reaches the enforcer');
    expect(changes.filter((c) => c.typeUrl === ENFORCER_APPLICATION).flatMap((c) => c.updated)).toEqual([app]);
    expect(changes.filter((c) => c.typeUrl === ENFORCER_SUBSCRIPTION).flatMap((c) => c.updated)).toEqual([sub]);
    await emulator.unsubscribe(sub);
    await eventually(() => !client.entries(ENFORCER_SUBSCRIPTION).has(sub), 'the removal reaches the enforcer');
  } finally {
    client.close();
  }
}, 30_000);

test('events missed while the broker connection was down are reconciled after the reconnect', async () => {
  const a = await start();
  const kept = await deployApi('Kept');
  const dropped = await deployApi('Dropped');
  await eventually(() => clusters(a).length === 2, 'both deployed');

  // the broker connection drops and the events of the outage are lost
  emulator.pauseEvents('drop');
  await closeConnectionsNamed(`apim-connect ${label}`, 'apim-connect test: simulated broker outage');
  await deployApi('Added');
  await emulator.undeploy(dropped, [label]);
  const app = await emulator.createApplication({ name: 'During', owner: 'bob', policy: 'Unlimited' });
  await emulator.revokeToken('jti-outage', Date.now() + 3_600_000);
  await emulator.changeLifecycle(kept, 'BLOCKED');
  await emulator.resumeEvents();

  await eventually(() => a.pipeline.current.apisFor(label).map((x) => x.name).sort().join() === 'Added,Kept', 'APIs reconciled', 20_000);
  expect(a.pipeline.current.apis.get(kept)?.lifecycleStatus).toBe('BLOCKED');
  expect(a.pipeline.current.collection('applications').get(app)?.name).toBe('During');
  expect(a.pipeline.current.collection('revokedTokens').get('jti-outage')).toBeDefined();
  // and events flow again
  await deployApi('After');
  await eventually(() => clusters(a).length === 3, 'events after the reconnect');
}, 60_000);

test('APIM REST down at startup: retried until it answers; a wrong password stops with a clear error', async () => {
  await deployApi('Slow');
  emulator.failRest(503, 3);
  const a = await start();
  expect(clusters(a)).toHaveLength(1);
  await a.stop();
  adapter = undefined;

  const wrong = config().controlPlane;
  await expect(startAdapter({ ...config(), controlPlane: { ...wrong, password: 'nope' } }, createLogger('error', 'test'))).rejects.toThrow(
    /401.*controlPlane.username\/password|controlPlane.username\/password.*401/s,
  );
}, 30_000);

test('malformed and hostile messages change nothing, and the listener keeps consuming', async () => {
  const a = await start();
  const before = a.pipeline.current.revision;
  const garbage: Array<[string, string]> = [
    ['notification', 'not json at all'],
    ['notification', JSON.stringify({ event: { payloadData: { eventType: 'APPLICATION_CREATE', timestamp: 1, event: '%%%not-base64%%%' } } })],
    ['notification', JSON.stringify({ event: { payloadData: { eventType: 'APPLICATION_CREATE', timestamp: 1, event: Buffer.from('{"uuid": 5}').toString('base64') } } })],
    ['notification', JSON.stringify({ event: { payloadData: { eventType: 'SOMETHING_NEW', timestamp: 1, event: '' } } })],
    ['keyManager', JSON.stringify({ event: { payloadData: { event_type: 'key_manager_configuration', action: 'add', value: '@@' } } })],
    ['tokenRevocation', JSON.stringify({ event: { payloadData: { revokedToken: 42 } } })],
    ['throttleData', JSON.stringify({ event: { payloadData: { __proto__: { polluted: true }, blockingCondition: 'IP' } } })],
    ['notification', 'x'.repeat(2 * 1024 * 1024)],
  ];
  for (const [key, body] of garbage) await emulator.publishRaw(key, body);
  const app = await emulator.createApplication({ name: 'AfterGarbage', owner: 'eve', policy: 'Unlimited' });
  await eventually(() => a.pipeline.current.collection('applications').get(app) !== undefined, 'a good event after the bad ones');
  // only the good event changed the state
  expect(a.pipeline.current.revision).toBe(before + 1);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
}, 30_000);

test('a key manager added, rotated and deleted in APIM governs which tokens the enforcer accepts, with no restart', async () => {
  const ISS = 'https://partner-idp.example.com/oauth2/token';
  const KM = 'Partner IdP';
  const first = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const second = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pemB64 = (k: KeyObject): string => Buffer.from(k.export({ type: 'spki', format: 'pem' }) as string).toString('base64');
  const mint = (key: KeyObject, jti: string): string => mintJwt({ iss: ISS, sub: 'alice', azp: 'ck-partner', jti, exp: Math.floor(Date.now() / 1000) + 600 }, key);
  const kmConfig = (k: KeyObject): Record<string, unknown> => ({ issuer: ISS, self_validate_jwt: true, certificate_type: 'PEM', certificate_value: pemB64(k) });

  const api = await deployApi('Partner');
  const app = await emulator.createApplication({ name: 'PartnerApp', owner: 'alice', policy: 'Unlimited' });
  await emulator.generateKeys(app, 'PRODUCTION', KM, 'ck-partner');
  await emulator.subscribe(app, api);
  const { status, becomes, enforcer, stop } = await enforcerFor(api, '/partner/1.0.0/items', '/items');
  try {
    await enforcer.view.whenReady();
    const t1 = mint(first.privateKey, 'jti-p1');
    expect(await status(t1)).toBe(401); // its issuer is not known yet

    await emulator.addKeyManager({ name: KM, type: 'custom', configuration: kmConfig(first.publicKey) });
    await becomes(200, t1, 'key manager added → its token accepted');

    await emulator.updateKeyManager(KM, { configuration: kmConfig(second.publicKey) });
    const t2 = mint(second.privateKey, 'jti-p2');
    await becomes(200, t2, 'key manager rotated → tokens signed with the new key accepted');
    expect(await status(mint(first.privateKey, 'jti-p3'))).toBe(401); // a token the old key signs, first seen after the rotation
    expect(await status(t1)).toBe(401); // accepted and cached before the rotation: verified again, and refused

    await emulator.revokeToken('jti-p2', Date.now() + 600_000);
    await becomes(401, t2, 'revocation event → token refused');

    await emulator.deleteKeyManager(KM);
    await becomes(401, mint(second.privateKey, 'jti-p4'), 'key manager deleted → its issuer unknown');
    expect(await status(t1)).toBe(401); // verified and cached earlier: the cache does not outlive its issuer
  } finally {
    await stop();
  }
}, 40_000);

test('Traffic Manager decisions and blocking conditions from APIM: 429 until lifted or lapsed, 403 while blocked', async () => {
  const ISS = 'https://traffic-idp.example.com/oauth2/token';
  const KM = 'Traffic IdP';
  const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = Buffer.from(keys.publicKey.export({ type: 'spki', format: 'pem' }) as string).toString('base64');
  const api = await deployApi('Traffic');
  const app = await emulator.createApplication({ name: 'TrafficApp', owner: 'bob', policy: 'Unlimited' });
  await emulator.generateKeys(app, 'PRODUCTION', KM, 'ck-traffic');
  await emulator.subscribe(app, api);
  await emulator.addKeyManager({ name: KM, type: 'custom', configuration: { issuer: ISS, self_validate_jwt: true, certificate_type: 'PEM', certificate_value: pem } });
  const { status, becomes, enforcer, stop } = await enforcerFor(api, '/traffic/1.0.0/items', '/items');
  try {
    await enforcer.view.whenReady();
    const t = mintJwt({ iss: ISS, sub: 'bob', azp: 'ck-traffic', jti: 'jti-t1', exp: Math.floor(Date.now() / 1000) + 600 }, keys.privateKey);
    await becomes(200, t, 'a subscribed token is accepted');

    // A resource-level decision (its default condition group), then its removal.
    const resourceKey = '/traffic/1.0.0/1.0.0/items:GET_default';
    await emulator.throttle(resourceKey, Date.now() + 60_000);
    await becomes(429, t, 'the Traffic Manager throttles the resource');
    await emulator.throttle(resourceKey, Date.now() + 60_000, { isThrottled: false });
    await becomes(200, t, 'the decision is lifted');

    // A subscription-level decision that lapses by itself.
    // Keyed by the application's numeric id, as APIM's gateways and Choreo Connect publish it.
    const appId = adapter!.pipeline.current.collection('applications').get(app)!.id;
    expect(appId).toEqual(expect.any(Number));
    await emulator.throttle(`${appId}:/traffic/1.0.0:1.0.0`, Date.now() + 1500);
    await becomes(429, t, 'the Traffic Manager throttles the subscription');
    await becomes(200, t, 'the decision lapses');
    // The adapter forgets lapsed decisions (swept every 10 s; here at once), not the live ones.
    await emulator.throttle('some:other:key', Date.now() + 60_000);
    await eventually(() => adapter!.pipeline.current.collection('throttleDecisions').get('some:other:key') !== undefined, 'a live decision arrives');
    adapter!.apim!.forgetLapsedDecisions(Date.now());
    expect([...adapter!.pipeline.current.collection('throttleDecisions').values()].map((d) => d.key)).toEqual(['some:other:key']);

    // A condition group of an advanced policy: only the client it names (10.1.1.1, as APIM's integer) is held back.
    const groupKey = '/traffic/1.0.0/1.0.0/items:GET_condition_1';
    await emulator.throttle(groupKey, Date.now() + 60_000, { evaluatedConditions: [{ ipspecific: { specificIp: 167837953, invert: false } }] });
    await becomes(429, t, 'the Traffic Manager throttles the condition group', '10.1.1.1');
    expect(await status(t, '10.1.1.2')).toBe(200);
    await emulator.throttle(groupKey, Date.now() + 60_000, { isThrottled: false });
    await becomes(200, t, 'the group decision is lifted', '10.1.1.1');

    // A custom policy: its key template arrives, then a decision on the key it makes for bob.
    await emulator.addKeyTemplate('$userId:$apiContext');
    await emulator.throttle('bob@carbon.super:/traffic/1.0.0', Date.now() + 60_000);
    await becomes(429, t, 'the Traffic Manager throttles the custom key');
    await emulator.removeKeyTemplate('$userId:$apiContext');
    await becomes(200, t, 'the key template is removed');

    // An IP range blocked (both ends included), then unblocked.
    const id = await emulator.addBlockingCondition('IPRANGE', { startingIp: '10.1.1.0', endingIp: '10.1.1.1' });
    await becomes(403, t, 'the client range is blocked', '10.1.1.1');
    expect(await status(t, '10.1.1.2')).toBe(200);
    await emulator.removeBlockingCondition(id);
    await becomes(200, t, 'the block is removed', '10.1.1.1');
  } finally {
    await stop();
  }
}, 40_000);

describe('organizations (APIM tenants) whose key managers share a name and an issuer', () => {
  const ISS = 'https://corp-idp.example.com/oauth2/token';
  const KM = 'Corp IdP';
  const ALPHA = 'alpha.com';
  const BETA = 'beta.com';
  const alphaKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const betaKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pemB64 = (k: KeyObject): string => Buffer.from(k.export({ type: 'spki', format: 'pem' }) as string).toString('base64');
  const kmConfig = (k: KeyObject): Record<string, unknown> => ({ issuer: ISS, self_validate_jwt: true, certificate_type: 'PEM', certificate_value: pemB64(k) });
  const mint = (key: KeyObject, azp: string, iss = ISS): string => mintJwt({ iss, sub: 'someone', azp, jti: randomUUID(), exp: Math.floor(Date.now() / 1000) + 600 }, key);

  /** A tenant's API deployed to the label, its application with keys of `consumerKey` from `keyManager`, subscribed. */
  async function tenantShop(tenant: string, name: string, consumerKey: string, keyManager = KM): Promise<{ api: string; app: string }> {
    const api = await emulator.createApi({ name, version: '1.0.0', context: `/${name.toLowerCase()}`, openapi: openapi(['/items']), endpoints: { production: `http://${name.toLowerCase()}.internal:8080` }, tenant });
    await emulator.deploy(api, [label]);
    const app = await emulator.createApplication({ name: `${name}App`, owner: 'owner', policy: 'Unlimited', tenant });
    await emulator.generateKeys(app, 'PRODUCTION', keyManager, consumerKey);
    await emulator.subscribe(app, api);
    return { api, app };
  }

  test("each tenant's key manager verifies only its own APIs' tokens: the other's are refused both ways, and its own keep working", async () => {
    emulator.addTenant(ALPHA);
    emulator.addTenant(BETA);
    const alphaShop = await tenantShop(ALPHA, 'AlphaShop', 'ck-alpha');
    const betaShop = await tenantShop(BETA, 'BetaShop', 'ck-beta');
    await emulator.addKeyManager({ name: KM, type: 'custom', configuration: kmConfig(alphaKeys.publicKey), tenant: ALPHA });
    const { enforcer, on, stop } = await enforcerFor(alphaShop.api, '/alphashop/1.0.0/items', '/items');
    const alpha = on(alphaShop.api, '/alphashop/1.0.0/items', '/items');
    const beta = on(betaShop.api, '/betashop/1.0.0/items', '/items');
    try {
      await enforcer.view.whenReady();
      await alpha.becomes(200, mint(alphaKeys.privateKey, 'ck-alpha'), "alpha's token on alpha's API");

      // beta registers a key manager of the same name, claiming the same issuer, after alpha's
      await emulator.addKeyManager({ name: KM, type: 'custom', configuration: kmConfig(betaKeys.publicKey), tenant: BETA });
      await beta.becomes(200, mint(betaKeys.privateKey, 'ck-beta'), "beta's key manager arrives: beta's token on beta's API");
      expect(await alpha.status(mint(alphaKeys.privateKey, 'ck-alpha'))).toBe(200); // alpha's tokens still accepted
      // beta's tokens on alpha's API, even naming alpha's consumer key, and the reverse
      expect(await alpha.status(mint(betaKeys.privateKey, 'ck-alpha'))).toBe(401);
      expect(await alpha.status(mint(betaKeys.privateKey, 'ck-beta'))).toBe(401);
      expect(await beta.status(mint(alphaKeys.privateKey, 'ck-beta'))).toBe(401);
      expect(await beta.status(mint(alphaKeys.privateKey, 'ck-alpha'))).toBe(401);

      // beta deletes its key manager: alpha's, of the same name, stays
      await emulator.deleteKeyManager(KM, BETA);
      await beta.becomes(401, mint(betaKeys.privateKey, 'ck-beta'), "beta's key manager deleted");
      expect(await alpha.status(mint(alphaKeys.privateKey, 'ck-alpha'))).toBe(200);
    } finally {
      await stop();
    }
  }, 60_000);

  test("one consumer key of same-named key managers in two tenants: each tenant's key mapping leads to its own application", async () => {
    emulator.addTenant(ALPHA);
    emulator.addTenant(BETA);
    const alphaShop = await tenantShop(ALPHA, 'AlphaShop', 'ck-shared');
    const betaShop = await tenantShop(BETA, 'BetaShop', 'ck-shared');
    // the other order than above: beta's key manager first
    await emulator.addKeyManager({ name: KM, type: 'custom', configuration: kmConfig(betaKeys.publicKey), tenant: BETA });
    await emulator.addKeyManager({ name: KM, type: 'custom', configuration: kmConfig(alphaKeys.publicKey), tenant: ALPHA });
    const { enforcer, on, stop } = await enforcerFor(alphaShop.api, '/alphashop/1.0.0/items', '/items');
    const alpha = on(alphaShop.api, '/alphashop/1.0.0/items', '/items');
    const beta = on(betaShop.api, '/betashop/1.0.0/items', '/items');
    try {
      await enforcer.view.whenReady();
      await alpha.becomes(200, mint(alphaKeys.privateKey, 'ck-shared'), "alpha's token on alpha's API");
      await beta.becomes(200, mint(betaKeys.privateKey, 'ck-shared'), "beta's token on beta's API");
      expect(enforcer.view.keyMapping('ck-shared', KM, ALPHA)?.application_uuid).toBe(alphaShop.app);
      expect(enforcer.view.keyMapping('ck-shared', KM, BETA)?.application_uuid).toBe(betaShop.app);
      expect(await alpha.status(mint(betaKeys.privateKey, 'ck-shared'))).toBe(401);
      expect(await beta.status(mint(alphaKeys.privateKey, 'ck-shared'))).toBe(401);
    } finally {
      await stop();
    }
  }, 60_000);

  test("tenants without a key manager of their own fall back to the super tenant's Resident Key Manager, each with its own applications only", async () => {
    const RESIDENT_ISS = 'https://localhost:9443/oauth2/token';
    const resident = generateKeyPairSync('rsa', { modulusLength: 2048 });
    emulator.addTenant(ALPHA);
    emulator.addTenant(BETA);
    await emulator.updateKeyManager('Resident Key Manager', { configuration: { ...kmConfig(resident.publicKey), issuer: RESIDENT_ISS } });
    const alphaShop = await tenantShop(ALPHA, 'AlphaShop', 'ck-ra', 'Resident Key Manager');
    const betaShop = await tenantShop(BETA, 'BetaShop', 'ck-rb', 'Resident Key Manager');
    // beta's own key manager named like APIM's resident one, claiming its issuer: for beta's APIs only
    await emulator.addKeyManager({ name: 'Resident Key Manager', type: 'default', configuration: { ...kmConfig(betaKeys.publicKey), issuer: RESIDENT_ISS }, tenant: BETA });
    const { enforcer, on, stop } = await enforcerFor(alphaShop.api, '/alphashop/1.0.0/items', '/items');
    const alpha = on(alphaShop.api, '/alphashop/1.0.0/items', '/items');
    const beta = on(betaShop.api, '/betashop/1.0.0/items', '/items');
    try {
      await enforcer.view.whenReady();
      await alpha.becomes(200, mint(resident.privateKey, 'ck-ra', RESIDENT_ISS), "the resident key manager's token of alpha's application on alpha's API");
      await beta.becomes(200, mint(betaKeys.privateKey, 'ck-rb', RESIDENT_ISS), "beta's own key manager's token on beta's API");
      expect(await beta.status(mint(resident.privateKey, 'ck-rb', RESIDENT_ISS))).toBe(401); // beta's own key manager decides for beta
      expect(await alpha.status(mint(betaKeys.privateKey, 'ck-ra', RESIDENT_ISS))).toBe(401); // beta's key manager is nothing to alpha
      expect(await alpha.status(mint(resident.privateKey, 'ck-rb', RESIDENT_ISS))).toBe(403); // a genuine token of beta's application
    } finally {
      await stop();
    }
  }, 60_000);
});

/** An enforcer fed by the adapter of `label`, and Check calls for one resource of one API (`on` names another). */
async function enforcerFor(apiId: string, requestPath: string, template: string) {
  const cfg = config(`[enforcer]\nhost = "127.0.0.1"\nport = 0\nhttpPort = 0\nlabel = "${label}"\n`);
  const a = await start(cfg);
  const enforcer: Enforcer = await startEnforcer({ ...cfg, enforcer: { ...cfg.enforcer, adapterAddress: `127.0.0.1:${a.port}` } }, createLogger('error', 'test'));
  const Ctor = grpc.makeGenericClientConstructor(serviceDefinition('envoy.service.auth.v3.Authorization'), 'Authorization');
  const client = new Ctor(`127.0.0.1:${enforcer.port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & { Check: Function };
  const CheckResponse = messageType('envoy.service.auth.v3.CheckResponse');
  const on = (apiId: string, requestPath: string, template: string) => {
    /** The HTTP status the enforcer answers (200: allowed), for a bearer token and a client address. */
    const status = (token: string, ip = '10.1.1.1'): Promise<number> =>
      new Promise((resolve, reject) =>
        client.Check(
          {
            attributes: {
              source: { address: { socket_address: { address: ip, port_value: 40000 } } },
              request: { http: { method: 'GET', path: requestPath, host: 'localhost', headers: { ':method': 'GET', authorization: `Bearer ${token}` } } },
              route_metadata_context: { filter_metadata: { 'apimconnect.route': { fields: { apiId: { stringValue: apiId }, path: { stringValue: template } } } } },
            },
          },
          (err: Error | null, res: unknown) => {
            if (err) return reject(err);
            const r = CheckResponse.toObject(res as never, { defaults: false }) as { denied_response?: { status: { code: number } } };
            resolve(r.denied_response?.status.code ?? 200);
          },
        ),
      );
    const becomes = async (want: number, token: string, what: string, ip?: string): Promise<void> => {
      const end = Date.now() + 10_000;
      let got = await status(token, ip);
      while (got !== want) {
        if (Date.now() > end) throw new Error(`not in time: ${what} (status ${got}, want ${want})`);
        await new Promise((r) => setTimeout(r, 25));
        got = await status(token, ip);
      }
    };
    return { status, becomes };
  };
  const stop = async (): Promise<void> => {
    client.close();
    await enforcer.stop();
  };
  return { ...on(apiId, requestPath, template), on, enforcer, stop };
}
