import { messageType } from '../../src/envoy/protos';
import { CLUSTER, ENDPOINT } from '../../src/envoy/typeUrls';
import { SnapshotCache, type CacheChange } from '../../src/xds/cache';
import { encodeDeltaBody, encodeSotwBody, withNonce } from '../../src/xds/wire';
import { cluster, endpoints } from '../helpers/resources';

function watched(): { cache: SnapshotCache; changes: CacheChange[] } {
  const cache = new SnapshotCache();
  const changes: CacheChange[] = [];
  cache.watch((c) => changes.push(c));
  return { cache, changes };
}

describe('SnapshotCache', () => {
  test('versions are content hashes: same content, same version, no notification', () => {
    const { cache, changes } = watched();
    cache.setType('Default', CLUSTER, [cluster('a'), cluster('b')]);
    const v1 = cache.typeSet('Default', CLUSTER)!.version;
    const va = cache.get('Default', CLUSTER, 'a')!.version;
    expect(changes).toHaveLength(1);
    expect(changes[0].types[0]).toEqual({ typeUrl: CLUSTER, version: v1, changed: ['a', 'b'], removed: [] });

    cache.setType('Default', CLUSTER, [cluster('b'), cluster('a')]); // order does not matter
    cache.upsert('Default', CLUSTER, [cluster('a')]);
    cache.setGroup('Default', { [CLUSTER]: [cluster('a'), cluster('b')] });
    expect(changes).toHaveLength(1);
    expect(cache.typeSet('Default', CLUSTER)!.version).toBe(v1);

    cache.upsert('Default', CLUSTER, [cluster('a', 5)]);
    expect(changes).toHaveLength(2);
    expect(changes[1].types[0].changed).toEqual(['a']);
    expect(cache.get('Default', CLUSTER, 'a')!.version).not.toBe(va);
    expect(cache.get('Default', CLUSTER, 'b')!.version).toBe(cache.get('Default', CLUSTER, 'b')!.version);
    expect(cache.typeSet('Default', CLUSTER)!.version).not.toBe(v1);

    // back to the old content: back to the old versions
    cache.upsert('Default', CLUSTER, [cluster('a')]);
    expect(cache.typeSet('Default', CLUSTER)!.version).toBe(v1);
    expect(cache.get('Default', CLUSTER, 'a')!.version).toBe(va);
  });

  test('two caches fed the same content in a different order agree on every version', () => {
    const one = new SnapshotCache();
    const two = new SnapshotCache();
    one.setType('g', CLUSTER, [cluster('a'), cluster('b'), cluster('c')]);
    two.upsert('g', CLUSTER, [cluster('c')]);
    two.upsert('g', CLUSTER, [cluster('x'), cluster('a')]);
    two.upsert('g', CLUSTER, [cluster('b')]);
    two.remove('g', CLUSTER, ['x']);
    expect(two.typeSet('g', CLUSTER)!.version).toBe(one.typeSet('g', CLUSTER)!.version);
  });

  test('the type version depends on names as well as content', () => {
    const one = new SnapshotCache();
    one.setType('g', ENDPOINT, [endpoints('a', 1)]);
    const two = new SnapshotCache();
    two.setType('g', ENDPOINT, [{ name: 'b', value: endpoints('a', 1).value }]);
    expect(one.typeSet('g', ENDPOINT)!.version).not.toBe(two.typeSet('g', ENDPOINT)!.version);
  });

  test('setGroup replaces every type and says exactly what changed', () => {
    const { cache, changes } = watched();
    cache.setGroup('g', { [CLUSTER]: [cluster('a'), cluster('b')], [ENDPOINT]: [endpoints('a', 1)] });
    cache.setGroup('g', { [CLUSTER]: [cluster('a'), cluster('c')] });
    const last = changes[changes.length - 1];
    expect(last.seq).toBe(2);
    const byType = Object.fromEntries(last.types.map((t) => [t.typeUrl, t]));
    expect(byType[CLUSTER].changed).toEqual(['c']);
    expect(byType[CLUSTER].removed).toEqual(['b']);
    expect(byType[ENDPOINT].removed).toEqual(['a']);
    expect(cache.typeSet('g', ENDPOINT)!.entries.size).toBe(0);
  });

  test('remove ignores unknown names; deleteGroup tells every removal and forgets the group', () => {
    const { cache, changes } = watched();
    cache.setType('g', CLUSTER, [cluster('a')]);
    cache.remove('g', CLUSTER, ['nope']);
    cache.remove('other', CLUSTER, ['a']);
    expect(changes).toHaveLength(1);
    cache.deleteGroup('g');
    expect(changes[1].types[0].removed).toEqual(['a']);
    expect(cache.hasGroup('g')).toBe(false);
  });

  test('ensureGroup makes an empty group known; duplicate names and empty names are refused', () => {
    const cache = new SnapshotCache();
    cache.ensureGroup('Default');
    expect(cache.groups()).toEqual(['Default']);
    cache.setType('g', CLUSTER, [cluster('x')]);
    const before = cache.typeSet('g', CLUSTER)!.version;
    expect(() => cache.setType('g', CLUSTER, [cluster('y'), cluster('a'), cluster('a')])).toThrow(/duplicate/);
    expect(() => cache.setGroup('g', { [ENDPOINT]: [endpoints('e', 1)], [CLUSTER]: [cluster('a'), cluster('a')] })).toThrow(/duplicate/);
    // refused updates change nothing, not even part of the group
    expect(cache.typeSet('g', CLUSTER)!.version).toBe(before);
    expect(cache.typeSet('g', ENDPOINT)).toBeUndefined();
    expect(() => cache.upsert('g', CLUSTER, [{ name: '', value: new Uint8Array() }])).toThrow(/without a name/);
  });
});

describe('wire encoding', () => {
  test('a resource handed in as chunks is served as the same message, and versioned as its bytes', () => {
    const whole = cluster('big').value as Uint8Array;
    const chunks = [whole.subarray(0, 3), whole.subarray(3, 10), whole.subarray(10)];
    const a = new SnapshotCache();
    const b = new SnapshotCache();
    a.setType('g', CLUSTER, [{ name: 'big', value: chunks }]);
    b.setType('g', CLUSTER, [{ name: 'big', value: whole }]);
    expect(a.get('g', CLUSTER, 'big')!.version).toBe(b.get('g', CLUSTER, 'big')!.version);
    const Response = messageType('envoy.service.discovery.v3.DiscoveryResponse');
    const sotw = Response.toObject(Response.decode(withNonce(encodeSotwBody('v', CLUSTER, [a.get('g', CLUSTER, 'big')!.any]), '1')));
    expect(Buffer.from(sotw.resources[0].value)).toEqual(Buffer.from(whole));
    const Delta = messageType('envoy.service.discovery.v3.DeltaDiscoveryResponse');
    const delta = Delta.toObject(Delta.decode(withNonce(encodeDeltaBody('v', CLUSTER, [a.get('g', CLUSTER, 'big')!.delta], []), '2')));
    expect(delta.resources[0].name).toBe('big');
    expect(Buffer.from(delta.resources[0].resource.value)).toEqual(Buffer.from(whole));
    expect(Buffer.from(a.get('g', CLUSTER, 'big')!.value)).toEqual(Buffer.from(whole));
  });

  test('hand-assembled responses decode with the real message types', () => {
    const cache = new SnapshotCache();
    cache.setType('g', CLUSTER, [cluster('a'), cluster('b')]);
    const entries = [...cache.typeSet('g', CLUSTER)!.entries.values()];
    const sotw = messageType('envoy.service.discovery.v3.DiscoveryResponse').toObject(
      messageType('envoy.service.discovery.v3.DiscoveryResponse').decode(withNonce(encodeSotwBody('v1', CLUSTER, entries.map((e) => e.any)), 'n1')),
    );
    expect(sotw.version_info).toBe('v1');
    expect(sotw.nonce).toBe('n1');
    expect(sotw.type_url).toBe(CLUSTER);
    expect(sotw.resources).toHaveLength(2);
    expect(sotw.resources[0].type_url).toBe(CLUSTER);
    expect(Buffer.from(sotw.resources[1].value)).toEqual(Buffer.from(entries[1].value));

    const Delta = messageType('envoy.service.discovery.v3.DeltaDiscoveryResponse');
    const delta = Delta.toObject(Delta.decode(withNonce(encodeDeltaBody('sv', CLUSTER, entries.map((e) => e.delta), ['gone']), '7')));
    expect(delta).toMatchObject({ system_version_info: 'sv', type_url: CLUSTER, nonce: '7', removed_resources: ['gone'] });
    expect(delta.resources.map((r: { name: string; version: string }) => [r.name, r.version])).toEqual(entries.map((e) => [e.name, e.version]));
  });
});
