import { parseConfig } from '../../src/config/config';
import { createLogger } from '../../src/config/log';
import { encodeMessage } from '../../src/envoy/any';
import { LISTENER, ROUTE } from '../../src/envoy/typeUrls';
import { startAdapter, type Adapter } from '../../src/cli/adapter';
import { runExplain, type ExplainOptions } from '../../src/cli/explain';

/** ctl explain against a real adapter: GetConfigDump over gRPC, listener → RDS name → route match. */

let adapter: Adapter;

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const EXT_AUTHZ = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute';

function listener(name: string, port: number, routeName: string, hcmExtra: object = {}) {
  const hcm = {
    '@type': HCM,
    stat_prefix: name,
    rds: { route_config_name: routeName, config_source: { ads: {}, resource_api_version: 'V3' } },
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
    ...hcmExtra,
  };
  const body = { name, address: { socket_address: { address: '0.0.0.0', port_value: port } }, filter_chains: [{ filters: [{ name: 'hcm', typed_config: hcm }] }] };
  return { name, value: encodeMessage(LISTENER, body) };
}

function routes(name: string, cluster: string) {
  const regex = '^/petstore/1.0.0/pet/([^/]+)[/]{0,1}';
  const body = {
    name,
    virtual_hosts: [
      {
        name: 'localhost',
        domains: ['localhost', 'localhost:*'],
        routes: [
          {
            name: '/petstore/1.0.0',
            match: { safe_regex: { regex }, headers: [{ name: ':method', string_match: { safe_regex: { regex: '^GET|OPTIONS$' } } }] },
            route: { cluster, regex_rewrite: { pattern: { regex }, substitution: '/v2/pet/\\1' }, timeout: '60s' },
            typed_per_filter_config: {
              'envoy.filters.http.ext_authz': { '@type': EXT_AUTHZ, check_settings: { context_extensions: { path: '/pet/{petId}', method: 'GET', basePath: '/petstore/1.0.0' } } },
            },
          },
        ],
      },
    ],
  };
  return { name, value: encodeMessage(ROUTE, body) };
}

beforeAll(async () => {
  const config = parseConfig('[adapter]\nhost = "127.0.0.1"\nxdsPort = 0\nhttpPort = 0\ndebounceMs = 0\napisDirectory = ""\n[router]\nlistenerPort = 0\n[controlPlane]\nenvironmentLabels = ["Default", "Solo"]\n', 'test.toml');
  adapter = await startAdapter(config, createLogger('error', 'test'));
  // Two listeners, two route tables: plain HTTP reaches "default", HTTPS "secure" (with the port stripped).
  adapter.cache.setType('Default', LISTENER, [listener('http', 9090, 'default'), listener('https', 9095, 'secure', { strip_any_host_port: true })]);
  adapter.cache.setType('Default', ROUTE, [routes('default', 'plain-backend'), routes('secure', 'tls-backend')]);
  adapter.cache.setType('Solo', ROUTE, [routes('only', 'solo-backend')]);
});
afterAll(() => adapter.stop());

async function explain(args: string[], opts: Partial<ExplainOptions> = {}): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await runExplain(args, { address: `127.0.0.1:${adapter.port}`, label: 'Default', json: false, ...opts }, (l) => lines.push(l));
  return { code, lines };
}
/** The value of a "key   value" line; keys are padded with at least two spaces. */
const row = (lines: string[], key: string): string | undefined => lines.find((l) => l.startsWith(`${key}  `))?.slice(key.length).trim();

describe('ctl explain', () => {
  test('prints the chosen route, cluster, rewritten path and what the enforcer is asked', async () => {
    const { code, lines } = await explain(['GET', 'http://localhost:9090/petstore/1.0.0/pet/5?x=1']);
    expect(code).toBe(0);
    expect(row(lines, 'listener')).toBe('http :9090');
    expect(row(lines, 'route config')).toBe('default');
    expect(row(lines, 'virtual host')).toBe('localhost (domain localhost:*)');
    expect(row(lines, 'route')).toBe('#0 /petstore/1.0.0');
    expect(row(lines, 'cluster')).toBe('plain-backend');
    expect(row(lines, 'path')).toMatch(/^\/v2\/pet\/5\?x=1 {2}\(regex_rewrite /);
    expect(row(lines, 'timeout')).toBe('60s');
    expect(row(lines, 'enforcer')).toBe('asked');
    expect(lines.filter((l) => l.startsWith('  context')).map((l) => l.replace(/^ {2}context\s+/, ''))).toEqual(['basePath=/petstore/1.0.0', 'method=GET', 'path=/pet/{petId}']);
  });

  test('the listener for the scheme picks the route table; its strip_any_host_port applies; --route overrides', async () => {
    const tls = await explain(['GET', 'https://localhost/petstore/1.0.0/pet/5']);
    expect([row(tls.lines, 'listener'), row(tls.lines, 'route config'), row(tls.lines, 'cluster')]).toEqual(['https :9095', 'secure', 'tls-backend']);
    const stripped = await explain(['GET', 'https://localhost:9095/petstore/1.0.0/pet/5']);
    expect(row(stripped.lines, 'virtual host')).toBe('localhost (domain localhost)');
    const forced = await explain(['--route', 'secure', 'GET', 'http://localhost/petstore/1.0.0/pet/5']);
    expect(row(forced.lines, 'cluster')).toBe('tls-backend');
    // a label with a single route table and no listener uses that table
    const solo = await explain(['GET', 'http://localhost/petstore/1.0.0/pet/5'], { label: 'Solo' });
    expect(row(solo.lines, 'cluster')).toBe('solo-backend');
  });

  test('near misses print "no route" and exit 1', async () => {
    const wrongMethod = await explain(['POST', 'http://localhost:9090/petstore/1.0.0/pet/5']);
    expect(wrongMethod.code).toBe(1);
    expect(wrongMethod.lines[wrongMethod.lines.length - 1]).toBe('no route');
    expect(row(wrongMethod.lines, 'near miss')).toBe('#0 /petstore/1.0.0: the path matched, header :method (safe_regex "^GET|OPTIONS$") did not');
    for (const url of ['http://localhost/petstore/1.0.0/pet/5/extra', 'http://localhost/petstore/1.0.1/pet/5']) {
      const r = await explain(['GET', url]);
      expect([r.code, r.lines[r.lines.length - 1]]).toEqual([1, 'no route']);
    }
    const otherHost = await explain(['GET', 'http://127.0.0.1:9090/petstore/1.0.0/pet/5']);
    expect([otherHost.code, otherHost.lines[otherHost.lines.length - 1]]).toEqual([1, 'no route (no virtual host for 127.0.0.1:9090)']);
    const withHost = await explain(['GET', 'http://127.0.0.1:9090/petstore/1.0.0/pet/5', '-H', 'Host: localhost:9090']);
    expect(withHost.code).toBe(0);
  });

  test('what a request or a definition put in the output is escaped: no control character reaches the terminal', async () => {
    const host = 'evil\x1b[2J\u009bhost';
    const plain = await explain(['GET', 'http://localhost:9090/petstore/1.0.0/pet/5', '-H', `Host: ${host}`]);
    expect(plain.lines.join('\n')).toContain('evil\\e[2J\\x9bhost');
    const json = await explain(['GET', 'http://localhost:9090/petstore/1.0.0/pet/5', '-H', `Host: ${host}`], { json: true });
    for (const out of [plain, json]) expect(out.lines.join('\n')).not.toMatch(/[\u001b\u009b]/);
    expect(JSON.parse(json.lines.join('\n')).request.headers.host).toBe(host); // still the same value
  });

  test('--json prints the explanation; bad input is an error', async () => {
    const { code, lines } = await explain(['GET', 'http://localhost/petstore/1.0.0/pet/7', '-H', 'X-Trace: 1'], { json: true });
    expect(code).toBe(0);
    const json = JSON.parse(lines.join('\n'));
    expect(json).toMatchObject({ label: 'Default', listener: 'http :9090', matched: true, routeConfig: 'default', cluster: 'plain-backend', path: '/v2/pet/7', request: { headers: { 'x-trace': '1' } } });
    expect(json.enforcer.contextExtensions.path).toBe('/pet/{petId}');

    await expect(explain(['GET'])).rejects.toThrow(/usage: apim-connect ctl explain/);
    await expect(explain(['GET', '/no/scheme'])).rejects.toThrow(/not an http:\/\/ or https:\/\/ URL/);
    await expect(explain(['GET', 'http://localhost/', '-H', 'nocolon'])).rejects.toThrow(/not "Name: value"/);
    await expect(explain(['--route', 'nope', 'GET', 'http://localhost/'])).rejects.toThrow(/no RouteConfiguration "nope"/);
    await expect(explain(['GET', 'http://localhost/'], { label: 'Nope' })).rejects.toThrow(/no node group "Nope"/);
  });
});
