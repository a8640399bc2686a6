import { wholeBytes } from '../../src/envoy/protoWire';
import { parseConfig } from '../../src/config/config';
import { unpackAny } from '../../src/envoy/any';
import { CLUSTER, LISTENER, ROUTE } from '../../src/envoy/typeUrls';
import { clusterName, routeName } from '../../src/translate/names';
import { Translator } from '../../src/translate/translate';
import { api, endpointSet } from '../helpers/apis';

const config = parseConfig('', 'test.toml');
const decode = (typeUrl: string, value: Uint8Array | readonly Uint8Array[]): any => unpackAny({ type_url: typeUrl, value: wholeBytes(value) });

function routeNames(out: ReturnType<Translator['translate']>): string[][] {
  const rc = decode(ROUTE, out.resources[ROUTE][0].value);
  return rc.virtual_hosts.map((vh: any) => vh.routes.map((r: any) => r.name));
}

describe('Translator', () => {
  test('one API: a listener, the route table and its clusters, routes most specific first', () => {
    const out = new Translator(config).translate([api({ endpoints: { production: endpointSet('https://petstore.example.com/v2'), sandbox: endpointSet('http://sandbox.local:8080/v2') } })]);
    expect(out.quarantined).toEqual([]);
    expect(out.resources[LISTENER].map((l) => l.name)).toEqual(['http-listener']);
    expect(out.resources[CLUSTER].map((c) => c.name)).toEqual([
      'carbon-super_localhost_PetStore_1-0-0_637a771f_prod',
      'carbon-super_localhost_PetStore_1-0-0_637a771f_sandbox',
    ]);
    expect(routeNames(out)).toEqual([
      [
        'carbon-super_localhost_PetStore_1-0-0_637a771f:sandbox:/pet',
        'carbon-super_localhost_PetStore_1-0-0_637a771f:/pet',
        'carbon-super_localhost_PetStore_1-0-0_637a771f:sandbox:/pet/findByStatus',
        'carbon-super_localhost_PetStore_1-0-0_637a771f:/pet/findByStatus',
        'carbon-super_localhost_PetStore_1-0-0_637a771f:sandbox:/pet/{petId}',
        'carbon-super_localhost_PetStore_1-0-0_637a771f:/pet/{petId}',
        'not-found',
      ],
      ['not-found'],
    ]);
    const rc = decode(ROUTE, out.resources[ROUTE][0].value);
    expect(rc.request_headers_to_remove).toEqual(['x-wso2-cluster-header']);
    expect(rc.virtual_hosts.map((v: any) => v.domains)).toEqual([['localhost', 'localhost:*'], ['*']]);
    const [sandbox, prod] = rc.virtual_hosts[0].routes.slice(4, 6);
    expect(sandbox.match.headers[1]).toEqual({ name: 'x-wso2-cluster-header', string_match: { exact: 'carbon-super_localhost_PetStore_1-0-0_637a771f_sandbox' } });
    expect(sandbox.route.cluster).toBe('carbon-super_localhost_PetStore_1-0-0_637a771f_sandbox');
    expect(prod.route).toMatchObject({
      cluster: 'carbon-super_localhost_PetStore_1-0-0_637a771f_prod',
      regex_rewrite: { pattern: { regex: '^/petstore/1\\.0\\.0' }, substitution: '/v2' },
      timeout: '60s',
      auto_host_rewrite: true,
    });
    expect(prod.match.headers[0]).toEqual({ name: ':method', string_match: { safe_regex: { regex: '^(?:DELETE|GET|OPTIONS)$' } } });
    // what the enforcer needs travels as route metadata; the default CORS policy sits on the vhost
    expect(prod.metadata).toEqual({ filter_metadata: { 'apimconnect.route': { apiId: 'PetStore-1.0.0', path: '/pet/{petId}' } } });
    expect(prod.typed_per_filter_config).toBeUndefined();
    expect(rc.virtual_hosts[0].typed_per_filter_config['envoy.filters.http.cors']).toMatchObject({ allow_origin_string_match: [{ exact: '*' }] });
  });

  test('an API with its own CORS policy gets it on its routes; a disabled one switches the filter off', () => {
    const cors = { enabled: true, allowOrigins: ['https://app.example.com'], allowMethods: ['GET'], allowHeaders: ['authorization'], exposeHeaders: [], allowCredentials: true };
    const out = new Translator(config).translate([api({ cors }), api({ name: 'NoCors', context: '/nocors', cors: { ...cors, enabled: false } })]);
    const routes = decode(ROUTE, out.resources[ROUTE][0].value).virtual_hosts[0].routes;
    const own = routes.find((r: any) => r.name === routeName(api(), '/pet')).typed_per_filter_config['envoy.filters.http.cors'];
    expect(own).toMatchObject({ allow_origin_string_match: [{ exact: 'https://app.example.com' }], allow_credentials: true, allow_methods: 'GET' });
    const off = routes.find((r: any) => r.name === routeName(api({ name: 'NoCors' }), '/pet')).typed_per_filter_config['envoy.filters.http.cors'];
    expect(off.filter_enabled.default_value).toEqual({ numerator: 0, denominator: 'HUNDRED' });
  });

  test('HCM filters: CORS, ext_authz (fail closed, explicit timeout), router last; local replies as JSON', () => {
    const [l] = new Translator(config).translate([]).resources[LISTENER];
    const hcm = decode(LISTENER, l.value).filter_chains[0].filters[0].typed_config;
    expect(hcm.http_filters.map((f: any) => f.name)).toEqual(['envoy.filters.http.cors', 'envoy.filters.http.ext_authz', 'envoy.filters.http.router']);
    expect(hcm.http_filters[1].typed_config).toMatchObject({
      failure_mode_allow: false,
      grpc_service: { envoy_grpc: { cluster_name: 'ext-authz' }, timeout: '20s' },
      route_metadata_context_namespaces: ['apimconnect.route'],
    });
    expect(hcm.rds.route_config_name).toBe('default');
    const nr = hcm.local_reply_config.mappers.find((m: any) => m.filter.response_flag_filter?.flags[0] === 'NR');
    expect(nr.body_format_override.json_format).toEqual({ code: '404', message: 'Not Found', description: 'The requested resource is not available.' });
  });

  test('HTTPS: the configured certificate; with mtlsApisEnabled a client certificate is asked for (optional, any issuer) and passed on', () => {
    const tls = (extra: string): any => {
      const cfg = parseConfig(`[router]\nlistenerPort = 0\nsecuredListenerPort = 9095\ntlsCertFile = "/certs/mg.pem"\ntlsKeyFile = "/certs/mg.key"\n${extra}`, 'test.toml');
      const [l] = new Translator(cfg).translate([]).resources[LISTENER]; // checked against Envoy's PGV rules on the way
      const chain = decode(LISTENER, l.value).filter_chains[0];
      expect(chain.filters[0].typed_config.http_filters[1].typed_config.include_peer_certificate).toBe(true);
      return chain.transport_socket.typed_config;
    };
    const plain = tls('');
    expect(plain.common_tls_context.tls_certificates).toEqual([{ certificate_chain: { filename: '/certs/mg.pem' }, private_key: { filename: '/certs/mg.key' } }]);
    expect(plain.common_tls_context.validation_context).toBeUndefined();
    const mtls = tls('mtlsApisEnabled = true\n');
    expect(mtls.common_tls_context.validation_context).toEqual({ trust_chain_verification: 'ACCEPT_UNTRUSTED' });
    expect(mtls.require_client_certificate ?? false).toBe(false);
  });

  test('default-version APIs are served at the unversioned context too, after every versioned route', () => {
    const out = new Translator(config).translate([api({ isDefaultVersion: true }), api({ name: 'Orders', context: '/orders' })]);
    const names = routeNames(out)[0];
    expect(names.indexOf(routeName(api(), '/pet', 'default'))).toBeGreaterThan(names.indexOf(routeName(api({ name: 'Orders' }), '/pet/{petId}')));
    const rc = decode(ROUTE, out.resources[ROUTE][0].value);
    const def = rc.virtual_hosts[0].routes.find((r: any) => r.name === routeName(api(), '/pet/{petId}', 'default'));
    expect(def.match.safe_regex.regex).toBe('^/petstore/pet/[^/;]+/?$');
    expect(def.route.regex_rewrite).toEqual({ pattern: { regex: '^/petstore' }, substitution: '/v2' });
  });

  test('an API with invalid config is quarantined with the reason; the others are served', () => {
    const bad = api({ name: 'Bad', context: '/bad', endpoints: { production: { ...endpointSet('http://x.local'), urls: [{ url: 'http://x.local:70000', scheme: 'http', host: 'x.local', port: 70000, basePath: '' }] } } });
    const out = new Translator(config).translate([bad, api()]);
    expect(out.quarantined.map((q) => q.name)).toEqual(['Bad']);
    expect(out.quarantined[0].reasons.join()).toMatch(/port_value/);
    expect(routeNames(out)[0]).toContain(routeName(api(), '/pet/{petId}'));
    expect(out.resources[CLUSTER].map((c) => c.name)).toEqual(['carbon-super_localhost_PetStore_1-0-0_637a771f_prod']);
  });

  test('a template whose regex is over the RE2 limit is served with a URI template, not quarantined', () => {
    const many = '/' + Array.from({ length: 12 }, (_, i) => `s${i}/{p${i}}`).join('/');
    const greedy = api({ name: 'Greedy', context: '/greedy', resources: [{ path: many, operations: [{ method: 'GET', secured: true, scopes: [] }] }] });
    const out = new Translator(config).translate([greedy]);
    expect(out.quarantined).toEqual([]);
    expect(out.partial).toEqual([]);
    const route = decode(ROUTE, out.resources[ROUTE][0].value).virtual_hosts[0].routes[0];
    expect(route.match.path_match_policy.typed_config.path_template).toBe(`/greedy/1.0.0/${Array.from({ length: 12 }, (_, i) => `s${i}/*`).join('/')}`);
  });

  test('two APIs on one vhost and base path: the second is quarantined', () => {
    const out = new Translator(config).translate([api(), api({ id: 'other', name: 'PetStore2' })]);
    expect(out.quarantined).toEqual([expect.objectContaining({ apiId: 'other', reasons: [expect.stringMatching(/localhost:\/petstore\/1\.0\.0 is already served by API PetStore 1\.0\.0/)] })]);
  });

  test('cluster and route names cannot collide: name and version are separated, sanitized parts carry a hash', () => {
    // Joined without a separator, `ab` 1.0 and `a` b1.0 both made `..._ab1.0`: the second was quarantined.
    const ab = api({ name: 'ab', version: '1.0', context: '/ab' });
    const a = api({ name: 'a', version: 'b1.0', context: '/a' });
    // Sanitizing alone would make `Pet Store (v2)` and `Pet-Store-v2` one name.
    const spaced = api({ name: 'Pet Store (v2)', context: '/spaced' });
    const dashed = api({ name: 'Pet-Store-v2', context: '/dashed' });
    const out = new Translator(config).translate([ab, a, spaced, dashed]);
    expect(out.quarantined).toEqual([]);
    const clusters = out.resources[CLUSTER].map((c) => c.name);
    expect(new Set(clusters).size).toBe(4);
    expect(clusters[0]).toMatch(/^carbon-super_localhost_ab_1-0_[0-9a-f]{8}_prod$/);
    expect(clusters[1]).toMatch(/^carbon-super_localhost_a_b1-0_[0-9a-f]{8}_prod$/);
    expect(clusters[2]).toMatch(/^carbon-super_localhost_Pet-Store-v2_1-0-0_[0-9a-f]{8}_prod$/);
    expect(clusters[3]).toMatch(/^carbon-super_localhost_Pet-Store-v2_1-0-0_[0-9a-f]{8}_prod$/);
    // Safe in Envoy stats: no `.` to split the name when tags are extracted, no `:`, space or parenthesis.
    for (const name of clusters) expect(name).toMatch(/^[A-Za-z0-9_-]+$/);
    const routes = routeNames(out)[0].filter((n) => n.endsWith(':/pet'));
    expect(new Set(routes).size).toBe(4);
    // Stable: a function of the API's fields alone (a restart or another replica names it the same).
    expect(clusterName(api({ name: 'ab', version: '1.0', context: '/elsewhere' }), 'production')).toBe(clusters[0]);
  });

  test('deterministic, and an unchanged API is not translated again', () => {
    const a = api();
    const b = api({ name: 'Orders', context: '/orders' });
    const t = new Translator(config);
    const first = t.translate([a, b]);
    const again = new Translator(config).translate([a, b]);
    expect(Buffer.from(wholeBytes(again.resources[ROUTE][0].value))).toEqual(Buffer.from(wholeBytes(first.resources[ROUTE][0].value)));
    const changed = t.translate([a, { ...b, version: '2.0.0', basePath: '/orders/2.0.0' }]);
    expect(changed.resources[CLUSTER][0].value).toBe(first.resources[CLUSTER][0].value); // same object: reused
    expect(changed.resources[CLUSTER][1].name).toBe('carbon-super_localhost_Orders_2-0-0_add82208_prod');
  });
});
