import * as fs from 'fs';
import * as path from 'path';
import * as protobuf from 'protobufjs';
import { encodeMessage } from '../../src/envoy/any';
import { INCLUDE_ROOTS, messageType } from '../../src/envoy/protos';
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, TYPE_PREFIX } from '../../src/envoy/typeUrls';
import { re2ToJs } from '../../src/envoy/re2';
import { validateMessage, validateResource } from '../../src/envoy/validate';

const re2ToRegExp = (p: string): RegExp => {
  const { source, flags } = re2ToJs(p);
  return new RegExp(source, flags);
};

const HCM = `${TYPE_PREFIX}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`;
const ROUTER = `${TYPE_PREFIX}envoy.extensions.filters.http.router.v3.Router`;
const EXT_AUTHZ_PER_ROUTE = `${TYPE_PREFIX}envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute`;

type Obj = Record<string, any>;

function cluster(overrides: Obj = {}): Obj {
  return {
    name: 'api_petstore_v1',
    type: 'STRICT_DNS',
    connect_timeout: '5s',
    lb_policy: 'ROUND_ROBIN',
    load_assignment: {
      cluster_name: 'api_petstore_v1',
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'petstore.example.com', port_value: 443 } } } }] }],
    },
    ...overrides,
  };
}

function hcm(overrides: Obj = {}): Obj {
  return {
    stat_prefix: 'ingress_http',
    rds: { route_config_name: 'default', config_source: { ads: {}, resource_api_version: 'V3' } },
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } }],
    ...overrides,
  };
}

function listener(hcmConfig: Obj = hcm()): Obj {
  return {
    name: 'listener_http',
    address: { socket_address: { address: '0.0.0.0', port_value: 9090 } },
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: { '@type': HCM, ...hcmConfig } }] }],
  };
}

function route(i: number, overrides: Obj = {}): Obj {
  return {
    name: `r${i}`,
    match: {
      safe_regex: { regex: `^/petstore/v1/pets/${i}/([^/]+)$` },
      headers: [{ name: ':method', string_match: { exact: 'GET' } }],
    },
    route: {
      cluster: 'api_petstore_v1',
      timeout: '60s',
      idle_timeout: '300s',
      regex_rewrite: { pattern: { regex: '^/petstore/v1(.*)$' }, substitution: '/api\\1' },
    },
    request_headers_to_add: [{ header: { key: 'x-api-name', value: 'petstore' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
    request_headers_to_remove: ['x-internal'],
    typed_per_filter_config: { 'envoy.filters.http.ext_authz': { '@type': EXT_AUTHZ_PER_ROUTE, check_settings: { context_extensions: { api: 'petstore' } } } },
    ...overrides,
  };
}

function routeConfig(routes: Obj[], vhost: Obj = {}): Obj {
  return { name: 'default', virtual_hosts: [{ name: 'all', domains: ['*'], routes, ...vhost }] };
}

/** Encodes with encodeMessage (which refuses unknown fields and enum names), then validates. */
function check(typeUrl: string, resource: Obj): string[] {
  return validateResource(typeUrl, encodeMessage(typeUrl, resource));
}

describe('validateResource: valid resources', () => {
  test('Cluster, ClusterLoadAssignment, Listener with HCM + router, RouteConfiguration pass', () => {
    expect(check(CLUSTER, cluster())).toEqual([]);
    expect(check(ENDPOINT, cluster().load_assignment)).toEqual([]);
    expect(check(LISTENER, listener())).toEqual([]);
    expect(check(ROUTE, routeConfig([route(1), route(2, { match: { prefix: '/' }, route: { cluster: 'c', timeout: '0s' } })]))).toEqual([]);
  });

  test('proto3 defaults count: a cluster with no lb_policy (ROUND_ROBIN = 0) is fine, its unset message fields are not checked', () => {
    expect(check(CLUSTER, { name: 'c', connect_timeout: '1s' })).toEqual([]);
  });
});

describe('validateResource: violations', () => {
  test('empty Cluster.name (string min_len)', () => {
    expect(check(CLUSTER, cluster({ name: '' }))).toEqual(['Cluster.name: must be at least 1 characters long']);
  });

  test('port_value 70000 (uint32 lte), deep inside a cluster', () => {
    const c = cluster();
    c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value = 70000;
    expect(check(CLUSTER, c)).toEqual([
      'Cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value: must be <= 65535',
    ]);
  });

  test('connect_timeout "0s" (duration gt 0)', () => {
    expect(check(CLUSTER, cluster({ connect_timeout: '0s' }))).toEqual(['Cluster.connect_timeout: must be > 0s']);
  });

  test('lb_policy given as an undefined number (enum defined_only)', () => {
    expect(check(CLUSTER, cluster({ lb_policy: 4 }))).toEqual([
      'Cluster.lb_policy: must be a defined value of envoy.config.cluster.v3.Cluster.LbPolicy (got 4)',
    ]);
  });

  test('a route without match (message required)', () => {
    const r = route(0);
    delete r.match;
    expect(check(ROUTE, routeConfig([r]))).toEqual(['RouteConfiguration.virtual_hosts[0].routes[0].match: is required']);
  });

  test('a route with no action (oneof required)', () => {
    const r = route(0);
    delete r.route;
    expect(check(ROUTE, routeConfig([r]))).toEqual([
      'RouteConfiguration.virtual_hosts[0].routes[0].action: one of route, redirect, direct_response, filter_action, non_forwarding_action is required',
    ]);
  });

  test('an HttpConnectionManager without stat_prefix inside a listener (rule inside an Any)', () => {
    const l = listener(hcm({ stat_prefix: undefined }));
    expect(check(LISTENER, l)).toEqual([
      'Listener.filter_chains[0].filters[0].typed_config(HttpConnectionManager).stat_prefix: must be at least 1 characters long',
    ]);
  });

  test('the router filter inside the HCM inside the listener is reached too', () => {
    // Router.strict_check_headers only allows a fixed list of x-envoy-* headers.
    const l = listener(hcm({ http_filters: [{ name: 'router', typed_config: { '@type': ROUTER, strict_check_headers: ['x-foo'] } }] }));
    const [v] = check(LISTENER, l);
    expect(v).toMatch(/^Listener\.filter_chains\[0\]\.filters\[0\]\.typed_config\(HttpConnectionManager\)\.http_filters\[0\]\.typed_config\(Router\)\.strict_check_headers\[0\]: must be one of \["x-envoy-upstream-rq-timeout-ms"/);
  });

  test('header names in request_headers_to_add: Envoy marks them strict: false, so PGV only refuses NUL, CR and LF', () => {
    // HeaderValue.key is {min_len: 1, max_bytes: 16384, well_known_regex: HTTP_HEADER_NAME, strict: false}:
    // "bad header" passes PGV (a stricter name check would have to be our own rule); CR/LF and "" do not.
    const withKey = (key: string): Obj => route(0, { request_headers_to_add: [{ header: { key, value: 'v' } }] });
    expect(check(ROUTE, routeConfig([withKey('bad header')]))).toEqual([]);
    expect(check(ROUTE, routeConfig([withKey('x-bad\r\nx-injected')]))).toEqual([
      'RouteConfiguration.virtual_hosts[0].routes[0].request_headers_to_add[0].header.key: must not contain NUL, CR or LF',
    ]);
    expect(check(ROUTE, routeConfig([withKey('')]))).toEqual([
      'RouteConfiguration.virtual_hosts[0].routes[0].request_headers_to_add[0].header.key: must be at least 1 characters long',
    ]);
  });

  test('an empty string in request_headers_to_remove (items min_len 1; Choreo Connect #1806)', () => {
    expect(check(ROUTE, routeConfig([route(0, { request_headers_to_remove: ['x-ok', ''] })]))).toEqual([
      'RouteConfiguration.virtual_hosts[0].routes[0].request_headers_to_remove[1]: must be at least 1 characters long',
    ]);
  });

  test('a virtual host with no domains (repeated min_items)', () => {
    expect(check(ROUTE, routeConfig([route(0)], { domains: [] }))).toEqual(['RouteConfiguration.virtual_hosts[0].domains: must have at least 1 items']);
  });

  test('an empty safe_regex and an out-of-range direct response status', () => {
    const bad = route(0, { match: { safe_regex: { regex: '' } }, route: undefined, direct_response: { status: 700 } });
    expect(check(ROUTE, routeConfig([bad]))).toEqual([
      'RouteConfiguration.virtual_hosts[0].routes[0].match.safe_regex.regex: must be at least 1 characters long',
      'RouteConfiguration.virtual_hosts[0].routes[0].direct_response.status: must be inside range [200, 600)',
    ]);
  });

  test('a URI-template path matcher: its config is loaded, encoded and held to its rules (path_template 1 to 256 characters)', () => {
    const uri = (path_template: string): Obj =>
      route(0, {
        match: {
          path_match_policy: { name: 'envoy.path.match.uri_template.uri_template_matcher', typed_config: { '@type': `${TYPE_PREFIX}envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig`, path_template } },
        },
      });
    expect(check(ROUTE, routeConfig([uri('/petstore/v1/pets/*/photos/**')]))).toEqual([]);
    expect(check(ROUTE, routeConfig([uri(''), uri(`/${'x'.repeat(256)}`)]))).toEqual([
      'RouteConfiguration.virtual_hosts[0].routes[0].match.path_match_policy.typed_config(UriTemplateMatchConfig).path_template: must be at least 1 characters long',
      'RouteConfiguration.virtual_hosts[0].routes[1].match.path_match_policy.typed_config(UriTemplateMatchConfig).path_template: must be at most 256 characters long',
    ]);
  });

  test('a typed_config Any whose type is not loaded is itself a violation', () => {
    // encodeMessage refuses unloaded types, so build the Listener bytes by hand around a raw Any.
    const L = messageType('envoy.config.listener.v3.Listener');
    const bytes = L.encode(
      L.fromObject({
        name: 'l',
        filter_chains: [{ filters: [{ name: 'x', typed_config: { type_url: `${TYPE_PREFIX}not.loaded.Filter`, value: new Uint8Array([8, 1]) } }] }],
      }),
    ).finish();
    expect(validateResource(LISTENER, bytes)).toEqual([
      'Listener.filter_chains[0].filters[0].typed_config: type "type.googleapis.com/not.loaded.Filter" is not loaded, so it cannot be validated',
    ]);
  });

  test('several violations in one resource are all reported', () => {
    expect(check(CLUSTER, cluster({ name: '', connect_timeout: '0s' }))).toEqual([
      'Cluster.name: must be at least 1 characters long',
      'Cluster.connect_timeout: must be > 0s',
    ]);
  });

  test('unknown types and undecodable bytes', () => {
    expect(validateResource(`${TYPE_PREFIX}no.such.Type`, new Uint8Array())).toEqual([`${TYPE_PREFIX}no.such.Type: message type not loaded`]);
    expect(validateResource(CLUSTER, new Uint8Array([0x0a, 0x05, 0x61]))[0]).toMatch(/^Cluster: cannot decode/);
  });
});

describe('rule semantics, on synthetic types', () => {
  /** Parses a proto (importing validate.proto from the same include roots the project uses) into its own root. */
  function synthetic(source: string): protobuf.Root {
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => INCLUDE_ROOTS.map((r) => path.join(r, target)).find((f) => fs.existsSync(f)) ?? target;
    const parsed = protobuf.parse(source, root, { keepCase: true });
    root.loadSync(parsed.imports ?? [], { keepCase: true });
    root.resolveAll();
    return root;
  }
  const root = synthetic(`
    syntax = "proto3";
    package t;
    import "validate/validate.proto";
    import "google/protobuf/wrappers.proto";
    import "google/protobuf/duration.proto";
    import "google/protobuf/any.proto";
    message M {
      int32 outside = 1 [(validate.rules).int32 = {lt: 0, gt: 10}];
      uint64 big = 2 [(validate.rules).uint64 = {lte: 4294967296}];
      string s = 3 [(validate.rules).string = {prefix: "a", suffix: "z", pattern: "(?i)^[a-z]+$", not_in: ["abz"], ignore_empty: true}];
      google.protobuf.UInt32Value w = 4 [(validate.rules).uint32 = {gte: 1}];
      repeated string u = 5 [(validate.rules).repeated = {unique: true, max_items: 3}];
      map<string, N> m = 6 [(validate.rules).map = {max_pairs: 2, keys: {string: {min_len: 2}}}];
      google.protobuf.Duration d = 7 [(validate.rules).duration = {gte: {nanos: 500000000}, lte: {seconds: 2}}];
      google.protobuf.Any a = 8 [(validate.rules).any = {required: true, in: ["type.googleapis.com/t.N"]}];
      oneof o { string o1 = 9 [(validate.rules).string.min_len = 5]; int32 o2 = 10; }
      N skipped = 11 [(validate.rules).message.skip = true];
      string host = 12 [(validate.rules).string = {hostname: true, ignore_empty: true}];
      repeated N items = 13;
      string header = 14 [(validate.rules).string.well_known_regex = HTTP_HEADER_NAME];
    }
    message N { string name = 1 [(validate.rules).string.min_len = 1]; }
    message Off { option (validate.disabled) = true; string name = 1 [(validate.rules).string.min_len = 1]; }
  `);
  const M = root.lookupType('t.M');
  const N = root.lookupType('t.N');
  const anyN = (name: string): Obj => ({ type_url: 'type.googleapis.com/t.N', value: N.encode({ name }).finish() });
  const run = (obj: Obj): string[] => validateMessage(M, M.decode(M.encode(M.fromObject({ a: anyN('x'), header: 'x-ok', ...obj })).finish()));

  test('a valid message (defaults, unset oneof, ignore_empty, unset wrapper) passes', () => {
    expect(run({ outside: -1, header: 'x-a' })).toEqual([]);
    expect(run({ outside: 11, s: 'aQz', w: { value: 1 }, u: ['a', 'b'], d: { seconds: 1 }, o2: 0 })).toEqual([]);
  });

  test('lt < gt means "outside the range" (PGV exclusive range)', () => {
    expect(run({ outside: 5 })).toEqual(['M.outside: must be outside range [0, 10]']);
    expect(run({ outside: 0 })).toEqual(['M.outside: must be outside range [0, 10]']); // the proto3 default is checked too
  });

  test('64-bit values compare exactly, beyond 2^53', () => {
    expect(run({ outside: -1, big: '4294967296' })).toEqual([]);
    expect(run({ outside: -1, big: '18446744073709551615' })).toEqual(['M.big: must be <= 4294967296']);
  });

  test('string prefix/suffix/pattern/not_in, and ignore_empty', () => {
    expect(run({ outside: -1, s: 'abz' })).toEqual(['M.s: must not be one of ["abz"]']);
    expect(run({ outside: -1, s: 'aBCz' })).toEqual([]); // (?i)
    expect(run({ outside: -1, s: 'b1' })).toEqual(['M.s: must match pattern "(?i)^[a-z]+$"', 'M.s: must start with "a"', 'M.s: must end with "z"']);
    expect(run({ outside: -1, host: 'not a host' })).toEqual(['M.host: must be a valid hostname']);
  });

  test('well_known_regex is strict by default: then "bad header" is refused', () => {
    expect(run({ outside: -1, header: 'bad header' })).toEqual(['M.header: must be a valid HTTP header name']);
    expect(run({ outside: -1, header: ':authority' })).toEqual([]);
  });

  test('wrapper rules apply to the wrapped value when set', () => {
    expect(run({ outside: -1, w: {} })).toEqual(['M.w: must be >= 1']);
  });

  test('repeated unique/max_items, map max_pairs and keys, nested messages in maps and lists', () => {
    expect(run({ outside: -1, u: ['a', 'a', 'b', 'c'] })).toEqual(['M.u: must have at most 3 items', 'M.u: items must be unique']);
    expect(run({ outside: -1, m: { k: { name: '' }, kk: { name: 'x' }, kkk: { name: 'y' } } })).toEqual([
      'M.m: must have at most 2 entries',
      'M.m["k"]: must be at least 2 characters long',
      'M.m["k"].name: must be at least 1 characters long',
    ]);
    expect(run({ outside: -1, items: [{ name: 'a' }, {}] })).toEqual(['M.items[1].name: must be at least 1 characters long']);
  });

  test('duration ranges', () => {
    expect(run({ outside: -1, d: { seconds: 3 } })).toEqual(['M.d: must be inside range [0.5s, 2s]']);
  });

  test('any required/in, and payloads validated', () => {
    expect(validateMessage(M, M.decode(M.encode(M.fromObject({ outside: -1, header: 'x' })).finish()))).toEqual(['M.a: is required']);
    expect(run({ outside: -1, a: anyN('') })).toEqual(['M.a(N).name: must be at least 1 characters long']);
    const otherAny = { type_url: 'type.googleapis.com/google.protobuf.UInt32Value', value: new Uint8Array() };
    expect(run({ outside: -1, a: otherAny })).toEqual(['M.a: must be one of ["type.googleapis.com/t.N"]']);
  });

  test('a set oneof member is checked, an unset one is not; message.skip and validate.disabled stop the walk', () => {
    expect(run({ outside: -1, o1: 'abc' })).toEqual(['M.o1: must be at least 5 characters long']);
    expect(run({ outside: -1, skipped: { name: '' } })).toEqual([]);
    expect(validateMessage(root.lookupType('t.Off'), { name: '' })).toEqual([]);
  });

  test('plain objects work too (missing scalars are their defaults, enum names allowed)', () => {
    expect(validateMessage(M, { a: anyN('x'), outside: 3 })).toEqual(['M.outside: must be outside range [0, 10]', 'M.header: must be a valid HTTP header name']);
    expect(validateMessage(messageType('envoy.config.cluster.v3.Cluster'), { name: 'c', lb_policy: 'MAGLEV' })).toEqual([]);
  });
});

describe('every rule in the loaded protos', () => {
  const types: protobuf.Type[] = [];
  const walk = (ns: protobuf.NamespaceBase): void => {
    for (const n of ns.nestedArray) {
      if (n instanceof protobuf.Type) types.push(n);
      if (n instanceof protobuf.Namespace) walk(n);
    }
  };
  walk(messageType('envoy.config.route.v3.Route').root);

  test('compiles and runs on every message type (an empty message), with no rule it cannot evaluate', () => {
    const problems = types.flatMap((t) => validateMessage(t, {})).filter((v) => /cannot check/.test(v));
    expect(problems).toEqual([]);
  });

  test('uses only the PGV rules this module implements', () => {
    // What Envoy's protos use today; a new kind of rule in a protos update shows up here first.
    const implemented = new Set([
      ...['const', 'len', 'min_len', 'max_len', 'len_bytes', 'min_bytes', 'max_bytes', 'pattern', 'prefix', 'suffix', 'contains', 'not_contains', 'in', 'not_in']
        .map((k) => `string.${k}`),
      ...['well_known_regex', 'strict', 'ignore_empty', 'email', 'hostname', 'ip', 'ipv4', 'ipv6', 'address', 'uri', 'uri_ref', 'uuid'].map((k) => `string.${k}`),
      ...['const', 'len', 'min_len', 'max_len', 'pattern', 'prefix', 'suffix', 'contains', 'in', 'not_in', 'ip', 'ipv4', 'ipv6'].map((k) => `bytes.${k}`),
      ...['int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64', 'fixed32', 'fixed64', 'sfixed32', 'sfixed64', 'float', 'double'].flatMap((t) =>
        ['const', 'lt', 'lte', 'gt', 'gte', 'in', 'not_in', 'ignore_empty'].map((k) => `${t}.${k}`),
      ),
      'bool.const', 'enum.const', 'enum.defined_only', 'enum.in', 'enum.not_in', 'message.required', 'message.skip',
      ...['const', 'lt', 'lte', 'gt', 'gte', 'in', 'not_in', 'required'].map((k) => `duration.${k}`),
      ...['const', 'lt', 'lte', 'gt', 'gte', 'lt_now', 'gt_now', 'within', 'required'].map((k) => `timestamp.${k}`),
      'any.required', 'any.in', 'any.not_in',
      ...['min_items', 'max_items', 'unique', 'items', 'ignore_empty'].map((k) => `repeated.${k}`),
      ...['min_pairs', 'max_pairs', 'keys', 'values', 'no_sparse', 'ignore_empty'].map((k) => `map.${k}`),
    ]);
    const used = new Set<string>();
    const collect = (rules: Record<string, any>): void => {
      for (const [kind, r] of Object.entries(rules)) {
        for (const [key, v] of Object.entries(r as object)) {
          used.add(`${kind}.${key}`);
          if (['items', 'keys', 'values'].includes(key)) collect(v);
        }
      }
    };
    for (const t of types) {
      for (const f of t.fieldsArray) {
        for (const o of (f.parsedOptions ?? []) as Record<string, any>[]) if (o['(validate.rules)']) collect(o['(validate.rules)']);
      }
    }
    expect([...used].filter((k) => !implemented.has(k))).toEqual([]);
    console.log(`PGV rules used by the loaded protos: ${[...used].sort().join(', ')}`);
  });
});

test('regex translation', () => {
  expect(re2ToRegExp('(?i)^[a-z0-9]+$').test('ABC1')).toBe(true);
  expect(re2ToRegExp('^[0-9a-zA-Z_\\-\\.~:]+$').test('a-b.c~:')).toBe(true);
  expect(re2ToRegExp('\\Aab\\z').test('ab\n')).toBe(false);
});

test('validates a 10,000-route RouteConfiguration', () => {
  const bytes = encodeMessage(ROUTE, routeConfig(Array.from({ length: 10_000 }, (_, i) => route(i))));
  validateResource(ROUTE, bytes); // warm-up: compiles the checks
  const t0 = process.hrtime.bigint();
  const violations = validateResource(ROUTE, bytes);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(`validated 10,000 routes (${bytes.length} bytes) in ${ms.toFixed(1)} ms`);
  expect(violations).toEqual([]);
});
