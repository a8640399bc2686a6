import * as path from 'path';
import { parseConfig } from '../../src/config/config';
import { createLogger } from '../../src/config/log';
import { startAdapter, type Adapter } from '../../src/cli/adapter';
import { EnforcerView } from '../../src/enforcer/view';
import { ENFORCER_POLICY } from '../../src/envoy/typeUrls';
import { keys } from '../../src/model/access';
import { waitFor } from '../helpers/ads';

const APIS = path.join(__dirname, '..', '..', 'apis');
let adapter: Adapter;
let view: EnforcerView | undefined;

beforeAll(async () => {
  const config = parseConfig(`[adapter]\nhost = "127.0.0.1"\nxdsPort = 0\nhttpPort = 0\ndebounceMs = 0\napisDirectory = ${JSON.stringify(APIS)}\n`, 'test.toml');
  adapter = await startAdapter(config, createLogger('error', 'test'));
});
afterAll(async () => {
  view?.close();
  await adapter.stop();
});

test('the enforcer view: ready after its first full view, lookups by what a check asks, changes applied', async () => {
  view = new EnforcerView({ address: `127.0.0.1:${adapter.port}`, label: 'Default', nodeId: 'enforcer-1', backoff: { initialMs: 50, maxMs: 200 } });
  expect(view.ready).toBe(false);
  await view.whenReady();

  const petstore = [...adapter.pipeline.current.apis.values()].find((a) => a.name === 'PetStore')!;
  const api = view.api(petstore.id)!;
  expect(api).toMatchObject({ name: 'PetStore', base_path: '/petstore/1.0.0', lifecycle_status: 'PUBLISHED' });
  const pet = api.resources.find((r) => r.path === '/pets/{petId}')!;
  expect(pet.operations.map((o) => o.method).sort()).toEqual(['DELETE', 'GET', 'PUT']);
  expect(pet.production_cluster).toBe('carbon-super_localhost_PetStore_1-0-0_637a771f_prod');

  const org = 'carbon.super';
  adapter.pipeline.apply([
    { kind: 'Upserted', collection: 'applications', value: { uuid: 'app-1', name: 'Shop', owner: 'alice', policy: 'Unlimited', attributes: {}, organization: org } },
    { kind: 'Upserted', collection: 'keyMappings', value: { consumerKey: 'ck-1', keyManager: 'Resident Key Manager', keyType: 'PRODUCTION', appUuid: 'app-1', organization: org } },
    { kind: 'Upserted', collection: 'subscriptions', value: { uuid: 'sub-1', apiUuid: petstore.id, appUuid: 'app-1', policy: 'Gold', state: 'UNBLOCKED', organization: org } },
    { kind: 'Upserted', collection: 'policies', value: { kind: 'subscription', name: 'Gold', organization: org, defaultLimit: { quotaType: 'requestCount', limit: 5000, unitTimeMs: 60_000 } } },
  ]);
  await waitFor(() => view!.subscription(petstore.id, 'app-1', org) !== undefined);
  expect(view.keyMapping('ck-1', 'Resident Key Manager', org)).toMatchObject({ application_uuid: 'app-1', key_type: 'PRODUCTION' });
  expect(view.application('app-1', org)).toMatchObject({ name: 'Shop', policy: 'Unlimited' });
  // Without APIM the adapter serves APIM's default tiers (Gold among them) beside what arrives.
  expect(view.all(ENFORCER_POLICY)).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'Gold', default_limit: expect.objectContaining({ limit: 5000, unit_time_ms: 60000 }) })]));
  expect(view.policy('application', org, '10PerMin')).toMatchObject({ default_limit: { limit: 10, unit_time_ms: 60000 } });

  // a subscription that moves to another application is re-indexed; a deleted one is gone
  adapter.pipeline.apply([{ kind: 'Upserted', collection: 'subscriptions', value: { uuid: 'sub-1', apiUuid: petstore.id, appUuid: 'app-2', policy: 'Gold', state: 'BLOCKED', organization: org } }]);
  await waitFor(() => view!.subscription(petstore.id, 'app-2', org)?.state === 'BLOCKED');
  expect(view.subscription(petstore.id, 'app-1', org)).toBeUndefined();
  adapter.pipeline.apply([{ kind: 'Deleted', collection: 'subscriptions', key: 'sub-1' }]);
  await waitFor(() => view!.subscription(petstore.id, 'app-2', org) === undefined);

  // the adapter goes away: the view keeps answering
  await adapter.stop();
  expect(view.api(petstore.id)?.name).toBe('PetStore');
  expect(view.ready).toBe(true);
  adapter = await startAdapter(parseConfig(`[adapter]\nhost = "127.0.0.1"\nxdsPort = 0\nhttpPort = 0\napisDirectory = ""\n`, 'test.toml'), createLogger('error', 'test'));
}, 30_000);

test('lookups are scoped by organization: one consumer key in two organizations is two mappings; another organization\'s application or subscription is not there', async () => {
  const orgView = new EnforcerView({ address: `127.0.0.1:${adapter.port}`, label: 'Default', nodeId: 'enforcer-orgs', backoff: { initialMs: 50, maxMs: 200 } });
  try {
    const alpha = { consumerKey: 'ck-shared', keyManager: 'Corp IdP', keyType: 'PRODUCTION' as const, appUuid: 'app-a', organization: 'alpha.com' };
    const beta = { ...alpha, appUuid: 'app-b', organization: 'beta.com' };
    adapter.pipeline.apply([
      { kind: 'Upserted', collection: 'applications', value: { uuid: 'app-a', name: 'Alpha', owner: 'ann', policy: 'Unlimited', attributes: {}, organization: 'alpha.com' } },
      { kind: 'Upserted', collection: 'applications', value: { uuid: 'app-b', name: 'Beta', owner: 'ben', policy: 'Unlimited', attributes: {}, organization: 'beta.com' } },
      { kind: 'Upserted', collection: 'keyMappings', value: alpha },
      { kind: 'Upserted', collection: 'keyMappings', value: beta },
      { kind: 'Upserted', collection: 'subscriptions', value: { uuid: 'sub-a', apiUuid: 'api-1', appUuid: 'app-a', policy: 'Gold', state: 'UNBLOCKED', organization: 'alpha.com' } },
      { kind: 'Upserted', collection: 'subscriptions', value: { uuid: 'sub-b', apiUuid: 'api-1', appUuid: 'app-b', policy: 'Gold', state: 'UNBLOCKED', organization: 'beta.com' } },
    ]);
    await orgView.whenReady();
    await waitFor(() => orgView.subscription('api-1', 'app-b', 'beta.com') !== undefined && orgView.keyMapping('ck-shared', 'Corp IdP', 'beta.com') !== undefined);
    expect(orgView.keyMapping('ck-shared', 'Corp IdP', 'alpha.com')?.application_uuid).toBe('app-a');
    expect(orgView.keyMapping('ck-shared', 'Corp IdP', 'beta.com')?.application_uuid).toBe('app-b');
    expect(orgView.keyMapping('ck-shared', 'Corp IdP', 'carbon.super')).toBeUndefined();
    expect(orgView.application('app-a', 'alpha.com')?.name).toBe('Alpha');
    expect(orgView.application('app-a', 'beta.com')).toBeUndefined();
    expect(orgView.subscription('api-1', 'app-a', 'alpha.com')?.uuid).toBe('sub-a');
    expect(orgView.subscription('api-1', 'app-a', 'beta.com')).toBeUndefined();

    // one organization's mapping removed: the other's stays
    adapter.pipeline.apply([{ kind: 'Deleted', collection: 'keyMappings', key: keys.keyMapping(beta) }]);
    await waitFor(() => orgView.keyMapping('ck-shared', 'Corp IdP', 'beta.com') === undefined);
    expect(orgView.keyMapping('ck-shared', 'Corp IdP', 'alpha.com')?.application_uuid).toBe('app-a');
  } finally {
    orgView.close();
  }
}, 30_000);
