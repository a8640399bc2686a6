import type { Application } from '../../src/model/access';
import { GatewayState } from '../../src/model/state';
import { api } from '../helpers/apis';

const app = (uuid: string, name = 'App', policy = 'Unlimited'): Application => ({ uuid, name, owner: 'admin', policy, attributes: {}, organization: 'carbon.super' });

describe('GatewayState', () => {
  test('APIs: deploy, redeploy of the same content is no change, undeploy per label', () => {
    const s0 = GatewayState.empty();
    const a = api({ labels: ['Default', 'Prod'] });
    const s1 = s0.apply({ kind: 'ApiDeployed', api: a });
    expect(s1.revision).toBe(1);
    expect(s1.apply({ kind: 'ApiDeployed', api: { ...a } })).toBe(s1);
    const s2 = s1.apply({ kind: 'ApiUndeployed', apiId: a.id, labels: ['Prod'] });
    expect(s2.apisFor('Prod')).toEqual([]);
    expect(s2.apisFor('Default').map((x) => x.id)).toEqual([a.id]);
    expect(s2.apply({ kind: 'ApiUndeployed', apiId: 'nope' })).toBe(s2);
    expect(s2.apply({ kind: 'ApiUndeployed', apiId: a.id }).apis.size).toBe(0);
  });

  test('ApisReplaced makes a label hold exactly the given APIs; other labels keep theirs', () => {
    const a = api({ id: 'a', labels: ['Default'] });
    const b = api({ id: 'b', context: '/b', labels: ['Default', 'Prod'] });
    const c = api({ id: 'c', context: '/c', labels: ['Default'] });
    const s = GatewayState.empty().applyAll([{ kind: 'ApiDeployed', api: a }, { kind: 'ApiDeployed', api: b }]);
    const r = s.apply({ kind: 'ApisReplaced', labels: ['Default'], apis: [c] });
    expect(r.apisFor('Default').map((x) => x.id)).toEqual(['c']);
    expect(r.apisFor('Prod').map((x) => x.id)).toEqual(['b']);
    expect(r.apis.has('a')).toBe(false);
    expect(r.apply({ kind: 'ApisReplaced', labels: ['Default'], apis: [c] })).toBe(r);
  });

  test('ApiStatusChanged updates a deployed API only', () => {
    const s = GatewayState.empty().apply({ kind: 'ApiDeployed', api: api() });
    const blocked = s.apply({ kind: 'ApiStatusChanged', apiId: 'PetStore-1.0.0', status: 'BLOCKED' });
    expect(blocked.apis.get('PetStore-1.0.0')!.lifecycleStatus).toBe('BLOCKED');
    expect(s.apply({ kind: 'ApiStatusChanged', apiId: 'other', status: 'BLOCKED' })).toBe(s);
  });

  test('collections apply news in source order: older updates and resurrections are ignored', () => {
    const s1 = GatewayState.empty().apply({ kind: 'Upserted', collection: 'applications', value: app('u1', 'v2'), at: 200 });
    expect(s1.collection('applications').get('u1')!.name).toBe('v2');
    // an older update arriving late changes nothing
    expect(s1.apply({ kind: 'Upserted', collection: 'applications', value: app('u1', 'v1'), at: 100 })).toBe(s1);
    // the same content again changes nothing
    expect(s1.apply({ kind: 'Upserted', collection: 'applications', value: app('u1', 'v2'), at: 300 })).toBe(s1);
    // a delete older than the held entry is ignored; a newer one removes it
    expect(s1.apply({ kind: 'Deleted', collection: 'applications', key: 'u1', at: 150 })).toBe(s1);
    const s2 = s1.apply({ kind: 'Deleted', collection: 'applications', key: 'u1', at: 400 });
    expect(s2.collection('applications').size).toBe(0);
    // a create that happened before the delete, arriving after it, does not bring it back
    expect(s2.apply({ kind: 'Upserted', collection: 'applications', value: app('u1', 'v3'), at: 350 }).collection('applications').size).toBe(0);
    expect(s2.apply({ kind: 'Upserted', collection: 'applications', value: app('u1', 'v4'), at: 500 }).collection('applications').get('u1')!.name).toBe('v4');
  });

  test('Replaced sets a collection to a full pull: adds, updates, removals; identical pull is no change', () => {
    const s = GatewayState.empty().applyAll([
      { kind: 'Upserted', collection: 'applications', value: app('a'), at: 1 },
      { kind: 'Upserted', collection: 'applications', value: app('b'), at: 1 },
    ]);
    const r = s.apply({ kind: 'Replaced', collection: 'applications', values: [app('b', 'B2'), app('c')] });
    expect([...r.collection('applications').values()].map((x) => `${x.uuid}:${x.name}`).sort()).toEqual(['b:B2', 'c:App']);
    expect(r.apply({ kind: 'Replaced', collection: 'applications', values: [app('c'), app('b', 'B2')] })).toBe(r);
    // untouched collections are shared between revisions
    expect(r.collection('subscriptions')).toBe(s.collection('subscriptions'));
  });

  test('key mappings and key managers are keyed as the enforcer looks them up', () => {
    const s = GatewayState.empty().applyAll([
      { kind: 'Upserted', collection: 'keyMappings', value: { consumerKey: 'ck', keyManager: 'Resident Key Manager', keyType: 'PRODUCTION', appUuid: 'a', organization: 'carbon.super' } },
      // the same consumer key of a same-named key manager in another organization is another mapping
      { kind: 'Upserted', collection: 'keyMappings', value: { consumerKey: 'ck', keyManager: 'Resident Key Manager', keyType: 'PRODUCTION', appUuid: 'b', organization: 'beta.com' } },
      { kind: 'Upserted', collection: 'keyManagers', value: { name: 'Keycloak', type: 'KeyCloak', enabled: true, organization: 'carbon.super', configuration: {} } },
    ]);
    expect(s.collection('keyMappings').get('carbon.super:ck:Resident Key Manager')!.appUuid).toBe('a');
    expect(s.collection('keyMappings').get('beta.com:ck:Resident Key Manager')!.appUuid).toBe('b');
    expect(s.collection('keyManagers').get('carbon.super:keycloak')!.type).toBe('KeyCloak');
    expect(s.apply({ kind: 'Deleted', collection: 'keyManagers', key: 'carbon.super:keycloak' }).collection('keyManagers').size).toBe(0);
  });
});
