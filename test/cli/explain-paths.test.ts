import { parseConfig, type Config } from '../../src/config/config';
import { createLogger } from '../../src/config/log';
import { startAdapter, type Adapter } from '../../src/cli/adapter';
import { runExplain } from '../../src/cli/explain';
import { unpackAny } from '../../src/envoy/any';
import { wholeBytes } from '../../src/envoy/protoWire';
import { connectionManagerOf, explainRequest, type Explanation } from '../../src/envoy/routeMatch';
import { CLUSTER, LISTENER, ROUTE } from '../../src/envoy/typeUrls';
import { Translator } from '../../src/translate/translate';
import { api as modelApi } from '../helpers/apis';

/**
 * Issue 11, finding 5: the router and a backend must agree on the path. Escaped and crafted
 * paths go through the route table the translator produces, with the path handling of the HTTP
 * connection manager it produces (read back from the listener), and through `ctl explain`
 * against a running adapter: both must land where Envoy would, never on a resource that was
 * not the one authorized.
 */

const shop = modelApi({
  name: 'Shop',
  context: '/shop',
  resources: [
    { path: '/public/*', operations: [{ method: 'GET', secured: false, scopes: [] }] },
    { path: '/items/{id}', operations: [{ method: 'GET', secured: true, scopes: [] }] },
    { path: '/admin', operations: [{ method: 'GET', secured: true, scopes: ['admin'] }] },
  ],
});

const configWith = (router = ''): Config => parseConfig(`[router]\n${router}`, 'test.toml');

function routeTable(config: Config) {
  const out = new Translator(config).translate([shop]);
  const decode = (type: string) => out.resources[type]!.map((r) => unpackAny({ type_url: type, value: wholeBytes(r.value) }) as Record<string, any>);
  const listener = decode(LISTENER).find((l) => l.name === 'http-listener')!;
  const hcm = listener.filter_chains[0].filters[0].typed_config;
  return { routes: decode(ROUTE)[0]!, hcm, listener, clusters: decode(CLUSTER) };
}

/** Where a request ends: the route's resource (from its metadata), "not found", "rejected", with "redirect" when Envoy redirects first. */
function landing(e: Explanation): string {
  if (!e.matched) return e.reason;
  const resource = (e.enforcer.routeMetadata?.['apimconnect.route'] as { path?: string } | undefined)?.path ?? e.routeName;
  return `${resource}${e.normalized?.redirect ? ' (after a redirect)' : ''}`;
}

describe('crafted paths through the generated route table and connection manager', () => {
  const cases: Array<[path: string, reject: string, redirect: string]> = [
    ['/shop/1.0.0/items/7', '/items/{id}', '/items/{id}'],
    ['/shop/1.0.0/public/a/b', '/public/*', '/public/*'],
    // `;` never matches where a template is open: servlet containers read `..;` as `..`.
    ['/shop/1.0.0/public/..;/admin', 'not-found', 'not-found'],
    ['/shop/1.0.0/items/7;jsessionid=abc', 'not-found', 'not-found'],
    ['/shop/1.0.0/public/x;y/z', 'not-found', 'not-found'],
    // Dot segments and repeated slashes are resolved before routing, as the backend would.
    ['/shop/1.0.0/public/../admin', '/admin', '/admin'],
    ['/shop/1.0.0/public/%2e%2e/admin', '/admin', '/admin'],
    ['//shop//1.0.0///items//7', '/items/{id}', '/items/{id}'],
    ['/shop/1.0.0/%69tems/7', '/items/{id}', '/items/{id}'],
    // Escaped slashes: refused, or redirected to the decoded path (which is then matched as such).
    ['/shop/1.0.0/public%2F..%2Fadmin', 'rejected', '/admin (after a redirect)'],
    ['/shop/1.0.0/public/x%2F..%2F..%2Fadmin', 'rejected', '/admin (after a redirect)'],
    ['/shop/1.0.0/public%5C..%5Cadmin', 'rejected', '/admin (after a redirect)'],
    ['/shop/1.0.0/items/a%2Fb', 'rejected', 'not-found (after a redirect)'],
  ];

  test.each(cases)('%s: %s with REJECT_REQUEST, %s with UNESCAPE_AND_REDIRECT', (path, reject, redirect) => {
    for (const [action, expected] of [['REJECT_REQUEST', reject], ['UNESCAPE_AND_REDIRECT', redirect]] as const) {
      const { routes, hcm } = routeTable(configWith(`pathWithEscapedSlashesAction = "${action}"`));
      const e = explainRequest(routes, { method: 'GET', url: `http://localhost${path}`, connectionManager: connectionManagerOf(hcm) });
      expect([action, landing(e)]).toEqual([action, expected]);
    }
  });

  test('the connection manager follows the edge practices; headers with underscores are refused', () => {
    const { routes, hcm, listener, clusters } = routeTable(configWith());
    expect(hcm).toMatchObject({
      normalize_path: true,
      merge_slashes: true,
      path_with_escaped_slashes_action: 'REJECT_REQUEST',
      use_remote_address: true,
      common_http_protocol_options: { headers_with_underscores_action: 'REJECT_REQUEST' },
      http2_protocol_options: { max_concurrent_streams: 100, initial_stream_window_size: 65536, initial_connection_window_size: 1048576 },
    });
    expect(listener.per_connection_buffer_limit_bytes).toBe(32768);
    expect(clusters.map((c) => c.per_connection_buffer_limit_bytes)).toEqual([32768]);
    const e = explainRequest(routes, { method: 'GET', url: 'http://localhost/shop/1.0.0/items/7', headers: { x_user: 'admin' }, connectionManager: connectionManagerOf(hcm) });
    expect(landing(e)).toBe('rejected');
  });

  test('a wrong escaped-slash action is a config error naming the key', () => {
    expect(() => configWith('pathWithEscapedSlashesAction = "KEEP_UNCHANGED"')).toThrow(/router\.pathWithEscapedSlashesAction.*REJECT_REQUEST, UNESCAPE_AND_REDIRECT/);
  });
});

describe('ctl explain applies the router path handling', () => {
  let adapter: Adapter;
  beforeAll(async () => {
    const config = parseConfig('[adapter]\nhost = "127.0.0.1"\nxdsPort = 0\nhttpPort = 0\ndebounceMs = 0\napisDirectory = ""\n[router]\npathWithEscapedSlashesAction = "UNESCAPE_AND_REDIRECT"\n', 'test.toml');
    adapter = await startAdapter(config, createLogger('error', 'test'));
    adapter.pipeline.apply([{ kind: 'ApiDeployed', api: shop }]);
  });
  afterAll(() => adapter.stop());

  async function explain(...args: string[]): Promise<{ code: number; lines: string[] }> {
    const lines: string[] = [];
    const code = await runExplain(args, { address: `127.0.0.1:${adapter.port}`, label: 'Default', json: false }, (l) => lines.push(l));
    return { code, lines };
  }
  const row = (lines: string[], key: string): string | undefined => lines.find((l) => l.startsWith(`${key}  `))?.slice(key.length).trim();

  test('paths Envoy routes after normalizing are reported with the route they reach', async () => {
    let r = await explain('GET', 'http://localhost:9090//shop/1.0.0/public/../items/%37');
    expect(r.code).toBe(0);
    expect(row(r.lines, 'normalized')).toBe('//shop/1.0.0/public/../items/%37 → /shop/1.0.0/items/7');
    expect(row(r.lines, 'route')).toMatch(/_Shop_1-0-0_[0-9a-f]{8}:\/items\/\{id\}$/);
    r = await explain('GET', 'http://localhost:9090/shop/1.0.0/public%2F..%2Fadmin');
    expect(r.code).toBe(0);
    expect(row(r.lines, 'normalized')).toBe('/shop/1.0.0/public%2F..%2Fadmin → /shop/1.0.0/admin (Envoy answers 307 to it first)');
    expect(row(r.lines, 'route')).toMatch(/_Shop_1-0-0_[0-9a-f]{8}:\/admin$/);
  });

  test('refused paths and headers say so', async () => {
    let r = await explain('GET', 'http://localhost:9090/shop/1.0.0/items/7', '-H', 'x_user: admin');
    expect(r.code).toBe(1);
    expect(r.lines[r.lines.length - 1]).toBe('rejected (400) before routing');
    r = await explain('GET', 'http://localhost:9090/shop/1.0.0/public/..;/admin');
    expect(r.code).toBe(1);
  });
});
