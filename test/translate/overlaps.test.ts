import { parseConfig } from '../../src/config/config';
import { createLogger } from '../../src/config/log';
import { startAdapter, type Adapter } from '../../src/cli/adapter';
import { runExplain } from '../../src/cli/explain';
import type { Api, Resource } from '../../src/model/api';
import { routeName } from '../../src/translate/names';
import { Translator } from '../../src/translate/translate';
import { api as modelApi } from '../helpers/apis';

/**
 * Issue 11, finding 7: an API mounted inside another's base path, where the outer API's own
 * templates claim the same requests, used to take them silently (longer base paths route first).
 * It is a conflict: reported as a problem, the outer API keeps serving, the inner one is left out.
 */

const get = (path: string): Resource => ({ path, operations: [{ method: 'GET', secured: true, scopes: [] }] });
const mounted = (name: string, basePath: string, resources: Resource[], extra: Partial<Api> = {}): Api =>
  modelApi({ name, id: `${name}-id`, context: basePath, basePath, resources, ...extra });

const config = parseConfig('', 'test.toml');
const quarantined = (apis: Api[]) => new Translator(config).translate(apis).quarantined.map((q) => `${q.name}: ${q.reasons.join('; ')}`);

describe('nested base paths', () => {
  test('an API inside another whose {param} or /* takes its paths is a conflict; the outer API keeps serving, whatever the order', () => {
    const secret = mounted('Secret', '/secret/1.0.0', [get('/{name}'), get('/docs')]);
    // Its id sorts first: the order of deployment or of ids does not decide.
    const admin = mounted('Admin', '/secret/1.0.0/admin', [get('/')], { id: 'a-first' });
    for (const apis of [[secret, admin], [admin, secret]]) {
      expect(quarantined(apis)).toEqual([
        'Admin: conflict: base path /secret/1.0.0/admin lies inside API Secret 1.0.0 (Secret-id) at /secret/1.0.0, whose resource /{name} takes the requests of this API\'s /; Secret 1.0.0 keeps serving them',
      ]);
    }
    const below = mounted('Below', '/files/v1/admin/tools', [get('/run')]);
    expect(quarantined([mounted('Files', '/files/v1', [get('/{a}/*')]), below])).toEqual([expect.stringMatching(/^Below: conflict: .* Files 1\.0\.0 .* resource \/\{a\}\/\* takes the requests of this API's \/run/)]);
    expect(quarantined([mounted('Root', '/', [get('/*')]), below])).toEqual([expect.stringMatching(/^Below: conflict: .* at \/, whose resource \/\* /)]);
  });

  test('nesting without a request both would take is no conflict', () => {
    const shop = mounted('Shop', '/shop/1.0.0', [get('/orders'), get('/orders/{id}'), get('/{name}.json')]);
    const admin = mounted('ShopAdmin', '/shop/1.0.0/admin', [get('/*')]);
    const reports = mounted('Reports', '/shop/1.0.0/orders/reports', [get('/daily')]);
    expect(quarantined([shop, admin, reports])).toEqual([]);
    // Another vhost is another namespace.
    expect(quarantined([mounted('Wide', '/shop/1.0.0', [get('/*')], { vhost: 'other.example.com' }), admin])).toEqual([]);
  });

  test('versions of one API are not in conflict: the default version routes after every versioned route', () => {
    const v1 = modelApi({ name: 'Pets', version: '1.0.0', context: '/pets', isDefaultVersion: true, resources: [get('/*')] });
    const v2 = modelApi({ name: 'Pets', version: '2.0.0', context: '/pets', resources: [get('/items')] });
    expect(quarantined([v1, v2])).toEqual([]);
    // An unrelated API inside a default version's context is one.
    const intruder = mounted('Intruder', '/pets/admin', [get('/users')]);
    expect(quarantined([v1, v2, intruder])).toEqual([expect.stringMatching(/^Intruder: conflict: base path \/pets\/admin lies inside API Pets 1\.0\.0 .* at \/pets, whose resource \/\*/)]);
  });
});

describe('through the adapter', () => {
  let adapter: Adapter;
  const secret = mounted('Secret', '/secret/1.0.0', [get('/{name}/*')]);
  const admin = mounted('Admin', '/secret/1.0.0/admin', [get('/*')]);

  beforeAll(async () => {
    adapter = await startAdapter(parseConfig('[adapter]\nhost = "127.0.0.1"\nxdsPort = 0\nhttpPort = 0\ndebounceMs = 0\napisDirectory = ""\n', 'test.toml'), createLogger('error', 'test'));
  });
  afterAll(() => adapter.stop());

  const routeFor = async (path: string): Promise<string> => {
    const lines: string[] = [];
    await runExplain(['GET', `http://localhost:9090${path}`], { address: `127.0.0.1:${adapter.port}`, label: 'Default', json: true }, (l) => lines.push(l));
    return JSON.parse(lines.join('\n')).routeName;
  };

  test('the conflict is a problem; the outer API serves the contested paths; undeploying it lets the inner one serve', async () => {
    adapter.pipeline.apply([{ kind: 'ApiDeployed', api: secret }, { kind: 'ApiDeployed', api: admin }]);
    expect(adapter.pipeline.problems()).toEqual([
      expect.objectContaining({ kind: 'quarantined', group: 'Default', apiId: admin.id, reasons: [expect.stringMatching(/^conflict: base path \/secret\/1\.0\.0\/admin lies inside API Secret/)] }),
    ]);
    expect(await routeFor('/secret/1.0.0/admin/users')).toBe(routeName(secret, '/{name}/*'));
    adapter.pipeline.apply([{ kind: 'ApiUndeployed', apiId: secret.id }]);
    expect(adapter.pipeline.problems()).toEqual([]);
    expect(await routeFor('/secret/1.0.0/admin/users')).toBe(routeName(admin, '/*'));
  });
});
