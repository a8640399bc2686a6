import { packAny, unpackAny } from '../../src/envoy/any';
import { re2ToJs as translateRe2 } from '../../src/envoy/re2';
import { explainRequest, type Explanation, type RouteChosen, type RouteConfigurationJson } from '../../src/envoy/routeMatch';
import { ROUTE } from '../../src/envoy/typeUrls';

/**
 * Route configs are written as Envoy YAML would be and, where our protos know every type in them,
 * sent through encode + unpackAny first, so the matcher sees exactly what a config dump shows
 * (wrapper types as `{ value }`, defaults omitted).
 */
const viaWire = (rc: object): RouteConfigurationJson => unpackAny(packAny(ROUTE, rc));

const EXT_AUTHZ = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute';
const CORS = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy';
const FILTER_CONFIG = 'type.googleapis.com/envoy.config.route.v3.FilterConfig';

const GET = (url: string, headers?: Record<string, string>) => ({ method: 'GET', url, headers });

function chosen(e: Explanation): RouteChosen {
  if (!e.matched) throw new Error(`expected a route, got ${e.reason}`);
  return e;
}
const routeName = (e: Explanation): string | undefined => (e.matched ? e.routeName : undefined);

/** A Choreo Connect style route (reference A.6/A.9): anchored regex, :method regex, regex_rewrite, cluster_header. */
function ccRoute(name: string, regex: string, methods: string, substitution: string, resourcePath: string): object {
  return {
    name,
    match: { safe_regex: { regex }, headers: [{ name: ':method', string_match: { safe_regex: { regex: `^${methods}$` } } }] },
    route: {
      cluster_header: 'x-wso2-cluster-header',
      auto_host_rewrite: { value: true },
      regex_rewrite: { pattern: { regex }, substitution },
      timeout: '60s',
      idle_timeout: '300s',
    },
    typed_per_filter_config: {
      'envoy.filters.http.ext_authz': {
        '@type': EXT_AUTHZ,
        check_settings: {
          context_extensions: {
            path: resourcePath,
            method: methods.split('|').filter((m) => m !== 'OPTIONS').join(' '),
            basePath: '/petstore/1.0.0',
            vHost: 'localhost',
            prodClusterName: 'carbon.super_clusterProd_localhost_PetStore1.0.0',
            sandClusterName: 'carbon.super_clusterSand_localhost_PetStore1.0.0',
          },
          disable_request_body_buffering: true,
        },
      },
    },
  };
}

const petstore = viaWire({
  name: 'default',
  request_headers_to_remove: ['x-wso2-cluster-header'],
  virtual_hosts: [
    {
      name: 'localhost',
      domains: ['localhost', 'localhost:*'],
      routes: [
        ccRoute('pet-by-id', '^/petstore/1.0.0/pet/([^/]+)[/]{0,1}', 'GET|OPTIONS', '/v2/pet/\\1', '/pet/{petId}'),
        ccRoute('pet-price', '^/petstore/1.0.0/pet/([^/]+)/price[/]{0,1}', 'PUT|OPTIONS', '/v2/pet/\\1/price', '/pet/{petId}/price'),
        ccRoute('pet', '^/petstore/1.0.0/pet[/]{0,1}', 'POST|PUT|OPTIONS', '/v2/pet', '/pet'),
        ccRoute('store', '^/petstore/1.0.0/store(/.*)*', 'GET|OPTIONS', '/v2/store\\1', '/store/*'),
        ccRoute('default-version', '^(?:/petstore/1.0.0|/petstore)/pet/([^/]+)[/]{0,1}', 'GET|OPTIONS', '/v2/pet/\\1', '/pet/{petId}'),
        {
          name: 'health',
          match: { path: '/health' },
          direct_response: { status: 200, body: { inline_string: '{"status": "healthy"}' } },
          typed_per_filter_config: { 'envoy.filters.http.ext_authz': { '@type': EXT_AUTHZ, disabled: true } },
        },
      ],
    },
  ],
});

describe('a Choreo Connect style route table', () => {
  test('every operation resolves to its own route, rewritten as the backend expects, query string kept', () => {
    const e = chosen(explainRequest(petstore, GET('http://localhost:9090/petstore/1.0.0/pet/5?x=1&y=a/b')));
    expect(e).toMatchObject({
      routeConfig: 'default',
      virtualHost: 'localhost',
      domain: 'localhost:*',
      routeIndex: 0,
      routeName: 'pet-by-id',
      action: 'route',
      path: '/v2/pet/5?x=1&y=a/b',
      clusterHeader: { name: 'x-wso2-cluster-header', setByEnforcer: true },
      hostRewrite: expect.stringMatching(/^auto/),
      timeout: '60s',
      idleTimeout: '300s',
      enforcer: { disabled: false, disableRequestBodyBuffering: true, from: ['route'] },
    });
    expect(e.match.safe_regex.regex).toBe('^/petstore/1.0.0/pet/([^/]+)[/]{0,1}');
    expect(e.enforcer.contextExtensions).toMatchObject({ path: '/pet/{petId}', method: 'GET', basePath: '/petstore/1.0.0' });
    expect(e.notes.join('\n')).toMatch(/sets x-wso2-cluster-header to prodClusterName "carbon.super_clusterProd_localhost_PetStore1.0.0"/);

    expect(routeName(explainRequest(petstore, GET('http://localhost/petstore/1.0.0/pet/5/')))).toBe('pet-by-id');
    expect(routeName(explainRequest(petstore, { method: 'PUT', url: 'http://localhost/petstore/1.0.0/pet/5/price' }))).toBe('pet-price');
    expect(routeName(explainRequest(petstore, { method: 'POST', url: 'http://localhost/petstore/1.0.0/pet' }))).toBe('pet');
    expect(routeName(explainRequest(petstore, { method: 'OPTIONS', url: 'http://localhost/petstore/1.0.0/pet' }))).toBe('pet');
    const store = chosen(explainRequest(petstore, GET('http://localhost/petstore/1.0.0/store/order/7?q')));
    expect([store.routeName, store.path]).toEqual(['store', '/v2/store/order/7?q']);
    expect(chosen(explainRequest(petstore, GET('http://localhost/petstore/1.0.0/store'))).path).toBe('/v2/store');
    const dv = chosen(explainRequest(petstore, GET('http://localhost/petstore/pet/9')));
    expect([dv.routeName, dv.path]).toEqual(['default-version', '/v2/pet/9']);
  });

  test('near misses find no route: wrong method, extra segment, wrong version, wrong case, unknown host', () => {
    const wrongMethod = explainRequest(petstore, { method: 'DELETE', url: 'http://localhost/petstore/1.0.0/pet/5' });
    expect(wrongMethod).toMatchObject({ matched: false, reason: 'no route', virtualHost: 'localhost' });
    expect(!wrongMethod.matched && wrongMethod.nearMisses.map((m) => [m.routeName, m.failed])).toEqual([
      ['pet-by-id', 'header :method (safe_regex "^GET|OPTIONS$")'],
      ['default-version', 'header :method (safe_regex "^GET|OPTIONS$")'],
    ]);
    expect(explainRequest(petstore, GET('http://localhost/petstore/1.0.0/pet/5/extra'))).toMatchObject({ matched: false, reason: 'no route', nearMisses: [] });
    expect(explainRequest(petstore, GET('http://localhost/petstore/2.0.0/pet/5')).matched).toBe(false);
    expect(explainRequest(petstore, GET('http://localhost/petstore/1.0.0/pets')).matched).toBe(false);
    // HTTP methods are case-sensitive, and regexes ignore case_sensitive anyway
    expect(explainRequest(petstore, { method: 'get', url: 'http://localhost/petstore/1.0.0/pet/5' }).matched).toBe(false);
    expect(explainRequest(petstore, GET('http://localhost/PETSTORE/1.0.0/pet/5')).matched).toBe(false);
    expect(explainRequest(petstore, GET('http://example.com/petstore/1.0.0/pet/5'))).toMatchObject({ matched: false, reason: 'no virtual host' });
    // a Host header wins over the URL's authority, as with curl -H
    expect(explainRequest(petstore, GET('http://127.0.0.1:9090/petstore/1.0.0/pet/5', { Host: 'localhost:9090' })).matched).toBe(true);
  });

  test('system routes answer directly and have the enforcer switched off', () => {
    const e = chosen(explainRequest(petstore, GET('http://localhost/health?probe=1')));
    expect(e).toMatchObject({ action: 'direct_response', directResponse: { status: 200, body: '{"status": "healthy"}' }, enforcer: { disabled: true, from: ['route'] } });
    expect(e.enforcer.contextExtensions).toBeUndefined();
    expect(e.timeout).toBeUndefined();
  });
});

describe('virtual host selection', () => {
  const vh = (name: string, ...domains: string[]) => ({ name, domains, routes: [{ match: { prefix: '/' }, route: { cluster: name } }] });
  const rc = viaWire({
    name: 'hosts',
    virtual_hosts: [
      vh('catch-all', '*'),
      vh('prefix-short', 'api.*'),
      vh('prefix-long', 'api.example.*'),
      vh('suffix-short', '*.example.com'),
      vh('suffix-long', '*.b.example.com'),
      vh('exact', 'api.example.com', 'localhost:9090'),
    ],
  });
  const host = (authority: string, config: RouteConfigurationJson = rc): string | undefined => {
    const e = explainRequest(config, GET(`http://${authority}/x`));
    return e.matched ? e.virtualHost : undefined;
  };

  test('exact, then the longest suffix wildcard, then the longest prefix wildcard, then *', () => {
    expect(host('api.example.com')).toBe('exact');
    expect(host('API.Example.COM')).toBe('exact');
    expect(host('x.b.example.com')).toBe('suffix-long');
    expect(host('api.b.example.com')).toBe('suffix-long'); // a suffix wildcard beats a prefix wildcard of any length
    expect(host('x.example.com')).toBe('suffix-short');
    expect(host('api.example.org')).toBe('prefix-long');
    expect(host('api.other.org')).toBe('prefix-short');
    expect(host('elsewhere.net')).toBe('catch-all');
    expect(host('.example.com')).toBe('catch-all'); // a wildcard never matches an empty label
  });

  test('the port is part of the authority unless ignore_port_in_host_matching is set', () => {
    expect(host('localhost:9090')).toBe('exact');
    expect(host('localhost')).toBe('catch-all');
    expect(host('api.example.com:8443')).toBe('prefix-long'); // "api.example.*" still covers it; the exact name does not
    expect(host('x.example.com:80')).toBe('catch-all');
    const ignorePort = viaWire({ name: 'p', ignore_port_in_host_matching: true, virtual_hosts: [vh('exact', 'api.example.com')] });
    expect(host('api.example.com:8443', ignorePort)).toBe('exact');
    expect(host('[::1]:8443', viaWire({ name: 'v6', ignore_port_in_host_matching: true, virtual_hosts: [vh('v6', '[::1]')] }))).toBe('v6');
  });
});

describe('path matchers', () => {
  const rc = (match: object, action: object = { route: { cluster: 'c' } }): RouteConfigurationJson => ({
    name: 'r',
    virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ name: 'only', match, ...action }] }],
  });
  const matches = (config: RouteConfigurationJson, path: string): boolean => explainRequest(config, GET(`http://h${path}`)).matched;

  test('prefix, path and path_separated_prefix look at the path without the query string', () => {
    const prefix = viaWire(rc({ prefix: '/api' }));
    expect(['/api', '/api/v1', '/apix', '/api?x'].map((p) => matches(prefix, p))).toEqual([true, true, true, true]);
    expect(matches(prefix, '/ap')).toBe(false);
    const path = viaWire(rc({ path: '/api' }));
    expect(['/api', '/api?x=1', '/api/', '/apix'].map((p) => matches(path, p))).toEqual([true, true, false, false]);
    const sep = viaWire(rc({ path_separated_prefix: '/api' }));
    expect(['/api', '/api/', '/api/v1', '/api?x', '/apix'].map((p) => matches(sep, p))).toEqual([true, true, true, true, false]);
  });

  test('case_sensitive false applies to prefix and path, not to safe_regex', () => {
    const prefix = viaWire(rc({ prefix: '/API', case_sensitive: { value: false } }));
    expect(matches(prefix, '/api/x')).toBe(true);
    expect(matches(viaWire(rc({ prefix: '/API' })), '/api/x')).toBe(false);
    expect(matches(viaWire(rc({ path: '/Pets', case_sensitive: { value: false } })), '/pets')).toBe(true);
    expect(matches(viaWire(rc({ safe_regex: { regex: '/Pets' }, case_sensitive: { value: false } })), '/pets')).toBe(false);
    // the plain proto3 JSON form of the wrapper works too
    expect(matches(rc({ prefix: '/API', case_sensitive: false }), '/api')).toBe(true);
  });

  test('safe_regex must match the whole path', () => {
    const re = viaWire(rc({ safe_regex: { regex: '/v[0-9]+/items' } }));
    expect(['/v1/items', '/v12/items?x', '/v1/items/', '/x/v1/items'].map((p) => matches(re, p))).toEqual([true, true, false, false]);
  });

  test('uri_template: *, **, {name}, {name=*}, {name=**}, and the rewrite from its variables', () => {
    const tmpl = (pathTemplate: string, rewrite?: string) =>
      rc(
        { path_match_policy: { name: 'envoy.path.match.uri_template.uri_template_matcher', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig', path_template: pathTemplate } } },
        {
          route: {
            cluster: 'c',
            ...(rewrite && {
              path_rewrite_policy: { name: 'envoy.path.rewrite.uri_template.uri_template_rewriter', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.path.rewrite.uri_template.v3.UriTemplateRewriteConfig', path_template_rewrite: rewrite } },
            }),
          },
        },
      );
    const star = tmpl('/pets/*/toys');
    expect(['/pets/1/toys', '/pets/1/2/toys', '/pets//toys'].map((p) => matches(star, p))).toEqual([true, false, false]);
    const globstar = tmpl('/files/**');
    expect(['/files/a', '/files/a/b/c.txt', '/files/', '/other/a'].map((p) => matches(globstar, p))).toEqual([true, true, true, false]);
    expect(matches(tmpl('/**.mpd'), '/content/123/manifest.mpd')).toBe(true);
    expect(matches(tmpl('/a/**'), '/a')).toBe(false); // `**` follows a `/` of its own
    // A glob takes Envoy's kLiteral (RFC 3986 pchar), with "=" and, since the asterisk change, "*"; nothing else.
    const seg = tmpl('/p/*');
    const taken = ['a=b', 'a*b', 'a;b', 'a:b@c', "!$&'()+,", '~._-', '%7C'];
    const refused = ['a|b', 'a"b', 'a{b}', 'a[b]', 'a^b', 'a`b', 'a\\b', 'a<b>', 'é'];
    expect(taken.map((v) => matches(seg, `/p/${v}`))).toEqual(taken.map(() => true));
    expect(refused.map((v) => matches(seg, `/p/${v}`))).toEqual(refused.map(() => false));

    const named = chosen(explainRequest(tmpl('/pets/{id}/toys/{toy=*}', '/v2/toys/{toy}/of/{id}'), GET('http://h/pets/7/toys/ball?color=red')));
    expect(named.path).toBe('/v2/toys/ball/of/7?color=red');
    expect(explainRequest(tmpl('/pets/{id}'), GET('http://h/pets/7/x')).matched).toBe(false);
    const rest = chosen(explainRequest(tmpl('/static/{rest=**}', '/assets/{rest}'), GET('http://h/static/css/site.css')));
    expect(rest.path).toBe('/assets/css/site.css');
    const multi = chosen(explainRequest(tmpl('/v/{name=videos/*}/play', '/{name}'), GET('http://h/v/videos/42/play')));
    expect(multi.path).toBe('/videos/42');
  });
});

describe('header, query and metadata matchers', () => {
  const route = (name: string, match: object) => ({ name, match: { prefix: '/', ...match }, route: { cluster: name } });
  const rc = (...routes: object[]): RouteConfigurationJson => viaWire({ name: 'm', virtual_hosts: [{ name: 'all', domains: ['*'], routes }] });
  const pick = (config: RouteConfigurationJson, req: Partial<{ method: string; url: string; headers: Record<string, string>; metadata: Record<string, unknown> }>) =>
    routeName(explainRequest(config, { method: 'GET', url: 'http://h/', ...req }));

  test('string_match kinds, ignore_case, legacy exact_match, present and absent', () => {
    const sm = (name: string, string_match: object) => route(name, { headers: [{ name: 'x-v', string_match }] });
    const config = rc(
      sm('exact', { exact: 'One' }),
      sm('exact-ci', { exact: 'two', ignore_case: true }),
      sm('prefix', { prefix: 'pre-' }),
      sm('suffix', { suffix: '-suf' }),
      sm('contains', { contains: 'mid' }),
      sm('regex', { safe_regex: { regex: '[0-9]+' } }),
      route('legacy', { headers: [{ name: 'x-legacy', exact_match: 'yes' }] }),
      route('present', { headers: [{ name: 'X-Present', present_match: true }] }),
      route('fallback', {}),
    );
    const v = (value: string) => pick(config, { headers: { 'X-V': value } });
    expect(v('One')).toBe('exact');
    expect(v('one')).toBe('fallback');
    expect(v('TWO')).toBe('exact-ci');
    expect(v('pre-x')).toBe('prefix');
    expect(v('x-suf')).toBe('suffix');
    expect(v('amidst')).toBe('contains');
    expect(v('123')).toBe('regex');
    expect(v('123a')).toBe('fallback'); // a regex must match the whole value
    expect(pick(config, { headers: { 'x-legacy': 'yes' } })).toBe('legacy');
    expect(pick(config, { headers: { 'x-present': '' } })).toBe('present');
    expect(pick(config, {})).toBe('fallback');
  });

  test('invert_match never matches an absent header unless it is a present_match or missing headers count as empty', () => {
    const config = rc(
      route('not-json', { headers: [{ name: 'content-type', string_match: { exact: 'application/json' }, invert_match: true }] }),
      route('absent', { headers: [{ name: 'x-internal', present_match: true, invert_match: true }] }),
    );
    expect(pick(config, { headers: { 'content-type': 'text/plain' } })).toBe('not-json');
    expect(pick(config, { headers: { 'content-type': 'application/json', 'x-internal': '1' } })).toBeUndefined();
    expect(pick(config, {})).toBe('absent');
    const empty = rc(route('missing-is-empty', { headers: [{ name: 'x-a', string_match: { exact: 'a' }, invert_match: true, treat_missing_header_as_empty: true }] }));
    expect(pick(empty, {})).toBe('missing-is-empty');
  });

  test('pseudo-headers :method (regex), :path (with query), :authority and :scheme', () => {
    const config = rc(
      route('method', { headers: [{ name: ':method', string_match: { safe_regex: { regex: '^GET|HEAD$' } } }] }),
      route('path', { headers: [{ name: ':path', string_match: { suffix: '?debug' } }] }),
      route('authority', { headers: [{ name: ':authority', string_match: { exact: 'api.local:8080' } }] }),
      route('scheme', { headers: [{ name: ':scheme', string_match: { exact: 'https' } }] }),
    );
    expect(pick(config, { method: 'HEAD' })).toBe('method');
    expect(pick(config, { method: 'POST', url: 'http://h/x?debug' })).toBe('path');
    expect(pick(config, { method: 'POST', url: 'http://api.local:8080/' })).toBe('authority');
    expect(pick(config, { method: 'POST', url: 'https://h/' })).toBe('scheme');
    expect(pick(config, { method: 'POST' })).toBeUndefined();
  });

  test('query parameters: present and string_match on the raw first value', () => {
    const config = rc(
      route('v2', { query_parameters: [{ name: 'version', string_match: { exact: '2' } }] }),
      route('debug', { query_parameters: [{ name: 'debug', present_match: true }] }),
      route('fallback', {}),
    );
    expect(pick(config, { url: 'http://h/?version=2' })).toBe('v2');
    expect(pick(config, { url: 'http://h/?version=3&version=2' })).toBe('fallback');
    expect(pick(config, { url: 'http://h/?debug' })).toBe('debug');
    expect(pick(config, { url: 'http://h/?debugging=1' })).toBe('fallback');
  });

  test('dynamic metadata: a method-rewrite pair picks the external route first, the internal one once the metadata is set', () => {
    const md = { filter: 'envoy.filters.http.ext_authz', path: [{ key: 'method-rewrite' }] };
    const config = rc(
      route('external', { dynamic_metadata: [{ ...md, value: { present_match: true }, invert: true }] }),
      route('internal', { dynamic_metadata: [{ ...md, value: { string_match: { exact: 'GET_to_POST' } } }] }),
    );
    expect(pick(config, {})).toBe('external');
    expect(pick(config, { metadata: { 'envoy.filters.http.ext_authz': { 'method-rewrite': 'GET_to_POST' } } })).toBe('internal');
    expect(pick(config, { metadata: { 'envoy.filters.http.ext_authz': { 'method-rewrite': 'GET_to_PUT' } } })).toBeUndefined();
  });
});

describe('actions, rewrites and per-filter configs', () => {
  const authz = (ext: Record<string, string>) => ({ 'envoy.filters.http.ext_authz': { '@type': EXT_AUTHZ, check_settings: { context_extensions: ext } } });
  const rc = viaWire({
    name: 'actions',
    typed_per_filter_config: authz({ a: 'route config', b: 'route config' }),
    virtual_hosts: [
      {
        name: 'vh',
        domains: ['*'],
        typed_per_filter_config: { ...authz({ b: 'vhost', c: 'vhost' }), 'envoy.filters.http.cors': { '@type': CORS, allow_origin_string_match: [{ exact: 'https://vhost' }] } },
        retry_policy: { retry_on: '5xx', num_retries: { value: 2 } },
        routes: [
          {
            name: 'merged',
            match: { prefix: '/merged' },
            route: { cluster: 'c1' },
            typed_per_filter_config: { ...authz({ c: 'route' }), 'envoy.filters.http.cors': { '@type': CORS, allow_origin_string_match: [{ exact: 'https://route' }] } },
          },
          { name: 'off', match: { prefix: '/off' }, route: { cluster: 'c1' }, typed_per_filter_config: { 'envoy.filters.http.ext_authz': { '@type': EXT_AUTHZ, disabled: true } } },
          { name: 'off-wrapper', match: { prefix: '/wrapped-off' }, route: { cluster: 'c1' }, typed_per_filter_config: { 'envoy.filters.http.ext_authz': { '@type': FILTER_CONFIG, disabled: true } } },
          {
            name: 'prefix-rewrite',
            match: { prefix: '/old/' },
            route: { cluster: 'c2', prefix_rewrite: '/new/', host_rewrite_literal: 'backend.internal', timeout: '1.5s', retry_policy: { retry_on: 'reset' } },
          },
          {
            name: 'captures',
            match: { safe_regex: { regex: '^/service/([^/]+)(/.*)$' } },
            route: { cluster: 'c3', regex_rewrite: { pattern: { regex: '^/service/([^/]+)(/.*)$' }, substitution: '\\2/instance/\\1' } },
          },
          {
            name: 'global-rewrite',
            match: { prefix: '/g/' },
            route: { cluster: 'c3', regex_rewrite: { pattern: { regex: 'one' }, substitution: 'two' } },
          },
          {
            name: 'split',
            match: { prefix: '/split' },
            route: { weighted_clusters: { clusters: [{ name: 'blue', weight: { value: 90 } }, { name: 'green', weight: { value: 10 } }] } },
          },
          { name: 'to-https', match: { prefix: '/login' }, redirect: { https_redirect: true, strip_query: true, response_code: 'PERMANENT_REDIRECT' } },
          { name: 'moved', match: { prefix: '/docs/' }, redirect: { host_redirect: 'docs.example.com', prefix_rewrite: '/latest/' } },
          { name: 'teapot', match: { path: '/teapot' }, direct_response: { status: 418, body: { inline_bytes: Buffer.from('short and stout').toString('base64') } } },
        ],
      },
    ],
  });
  const go = (path: string) => chosen(explainRequest(rc, GET(`http://h${path}`)));

  test('ext_authz context_extensions merge from route config to vhost to route; CORS and retries take the most specific level', () => {
    const e = go('/merged');
    expect(e.enforcer).toEqual({ disabled: false, contextExtensions: { a: 'route config', b: 'vhost', c: 'route' }, disableRequestBodyBuffering: false, from: ['route config', 'virtual host', 'route'] });
    expect(e.cors).toEqual({ from: 'route', policy: expect.objectContaining({ allow_origin_string_match: [{ exact: 'https://route' }] }) });
    expect(e.retryPolicy).toEqual({ from: 'virtual host', policy: { retry_on: '5xx', num_retries: 2 } });
    expect(e.timeout).toBe('15s'); // Envoy's default route timeout

    expect(go('/off').enforcer).toEqual({ disabled: true, from: ['route config', 'virtual host', 'route'] });
    expect(go('/wrapped-off').enforcer.disabled).toBe(true);
    const other = go('/old/x');
    expect(other.enforcer.contextExtensions).toEqual({ a: 'route config', b: 'vhost', c: 'vhost' });
    expect(other.cors?.from).toBe('virtual host');
  });

  test('prefix_rewrite, regex_rewrite with captures (every match, path only) and host rewrite', () => {
    const p = go('/old/a/b?q=1');
    expect(p).toMatchObject({ cluster: 'c2', path: '/new/a/b?q=1', hostRewrite: 'literal backend.internal', timeout: '1.5s', retryPolicy: { from: 'route' } });
    expect(go('/service/foo/v1/api?x=/service/bar/').path).toBe('/v1/api/instance/foo?x=/service/bar/');
    expect(go('/g/one/x/one?one=1').path).toBe('/g/two/x/two?one=1');
  });

  test('weighted clusters, redirects and direct responses', () => {
    expect(go('/split').weightedClusters).toEqual([{ name: 'blue', weight: 90 }, { name: 'green', weight: 10 }]);
    expect(go('/login?next=/home').redirect).toEqual({ status: 308, location: 'https://h/login' });
    expect(go('/docs/intro?v=1').redirect).toEqual({ status: 301, location: 'http://docs.example.com/latest/intro?v=1' });
    expect(go('/teapot')).toMatchObject({ action: 'direct_response', directResponse: { status: 418, body: 'short and stout' } });
  });
});

describe('RE2 to JavaScript', () => {
  test('translates what differs and rejects what RE2 or JavaScript would read differently', () => {
    expect(translateRe2('(?P<id>[^/]+)')).toEqual({ source: '(?<id>[^/]+)', flags: '' });
    expect(translateRe2('\\A/a\\z')).toEqual({ source: '^/a$', flags: '' });
    expect(translateRe2('(?i)/pets')).toEqual({ source: '/pets', flags: 'i' });
    expect(translateRe2('[]a]')).toEqual({ source: '[\\]a]', flags: '' });
    expect(translateRe2('[[:digit:]]+')).toEqual({ source: '[0-9]+', flags: '' });
    expect(translateRe2('\\Q1.0.0\\E')).toEqual({ source: '1\\.0\\.0', flags: '' });
    expect(() => translateRe2('(?=x)')).toThrow(/not supported/);
    expect(() => translateRe2('(a)\\1')).toThrow(/backreferences/);
    expect(() => translateRe2('\\pL')).toThrow(/not supported/);
  });
});
