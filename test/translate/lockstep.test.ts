import { bridgeApis } from '../../src/translate/lockstep';
import { api } from '../helpers/apis';

const shape = (apis: readonly ReturnType<typeof api>[]): string[] =>
  apis.flatMap((a) => a.resources.map((r) => `${a.id} ${r.path} ${r.operations.map((o) => o.method).join(',')}`));

describe('bridgeApis: what enforcers must know while routers move from one route table to the next', () => {
  const a = api();

  test('nothing lost: the next list itself, each API object kept (so its encoding is reused)', () => {
    const next = [a, api({ name: 'Orders' })];
    expect(bridgeApis([a], next)).toBe(next);
    const added = { ...a, resources: [...a.resources, { path: '/store', operations: [{ method: 'GET' as const, secured: true, scopes: [] }] }] };
    const list = [added];
    expect(bridgeApis([a], list)).toBe(list);
  });

  test('an undeployed API stays until its routes are gone', () => {
    const b = api({ name: 'Orders' });
    expect(bridgeApis([a, b], [b]).map((x) => x.id)).toEqual([b.id, a.id]);
  });

  test('a dropped resource and a dropped method are kept; the rest is the next version', () => {
    const next = { ...a, lifecycleStatus: 'BLOCKED', resources: [{ path: '/pet/{petId}', operations: [{ method: 'GET' as const, secured: false, scopes: [] }] }] };
    const [bridged] = bridgeApis([a], [next]);
    expect(bridged.lifecycleStatus).toBe('BLOCKED');
    expect(shape([bridged])).toEqual(['PetStore-1.0.0 /pet/{petId} GET,DELETE', 'PetStore-1.0.0 /pet/findByStatus GET', 'PetStore-1.0.0 /pet POST']);
    // Where both versions have an operation, the next one's settings hold.
    expect(bridged.resources[0].operations[0].secured).toBe(false);
    expect(a.resources[0].operations).toHaveLength(2); // inputs untouched
  });
});
