import { wholeBytes } from '../../src/envoy/protoWire';
import * as fs from 'fs';
import * as path from 'path';
import { parseConfig } from '../../src/config/config';
import { createLogger } from '../../src/config/log';
import { unpackAny } from '../../src/envoy/any';
import { explainRequest, type Explanation, type RouteChosen } from '../../src/envoy/routeMatch';
import { ROUTE } from '../../src/envoy/typeUrls';
import type { Api, HttpMethod, Resource } from '../../src/model/api';
import { LocalFolderSource, loadProject, projectOptions } from '../../src/sources/local';
import { clusterName, NOT_FOUND_ROUTE, routeName as nameOf } from '../../src/translate/names';
import { Translator } from '../../src/translate/translate';

/**
 * The sample APIs in apis/ (what `npm start` serves), scanned as the adapter scans them and
 * translated into one label's route table; then, for every operation, where Envoy sends a
 * concrete request and where it sends the requests that look almost like it.
 */

const REPO = path.resolve(__dirname, '../..');
const APIS_DIR = path.join(REPO, 'apis');
const config = parseConfig('', 'test.toml');
const LABEL = 'Default';
const ORIGIN = 'http://localhost:9090';

// Enumerated synchronously (test.each needs its cases up front); beforeAll checks that the
// folder scan finds exactly these APIs.
const loaded: Api[] = fs
  .readdirSync(APIS_DIR)
  .filter((f) => !f.startsWith('.'))
  .sort()
  .map((f) => loadProject(path.join(APIS_DIR, f), projectOptions(config), `apis/${f}`));

interface Case {
  api: Api;
  resource: Resource;
  method: HttpMethod;
  /** `${api.name} ${method} ${template}`. */
  key: string;
}

const cases: Case[] = loaded.flatMap((api) =>
  api.resources.flatMap((resource) => resource.operations.map((op) => ({ api, resource, method: op.method, key: `${api.name} ${op.method} ${resource.path}` }))),
);

/** Sample values for path parameters, by name; anything else gets 42. */
const SAMPLE: Record<string, string> = { petId: '42', format: 'png', orderId: '7' };

/** A concrete path for a template: parameters substituted, a trailing `/*` given two segments. */
function concrete(template: string, value = (name: string): string => SAMPLE[name] ?? '42'): string {
  const wild = template.endsWith('/*');
  const t = wild ? template.slice(0, -2) : template;
  return t.replace(/\{([^}]+)\}/g, (_, name: string) => value(name)) + (wild ? '/img/cat.png' : '');
}

const routeName = (c: Case, ...kinds: string[]): string => nameOf(c.api, c.resource.path, ...kinds);
/** The name of an API's route for a path, by the API's name. */
const routeOf = (apiName: string, path: string): string => nameOf(loaded.find((a) => a.name === apiName)!, path);
const productionSet = (c: Case) => (c.resource.endpoints?.production ?? c.api.endpoints.production)!;
const sandboxSet = (c: Case) => c.resource.endpoints?.sandbox ?? c.api.endpoints.sandbox;

/**
 * Near misses whose answer depends on the template and method, spelled out: where an extra
 * trailing segment and a missing last segment go. An API route here is the more fitting route
 * of the same path family, never the operation's own.
 */
const EXTRA_SEGMENT: Record<string, string> = {
  'PetStore GET /pets': routeOf('PetStore', '/pets/{petId}'), // /pets/extra is a pet id
  'PetStore POST /pets': NOT_FOUND_ROUTE, // /pets/{petId} takes no POST
  'PetStore GET /pets/{petId}': NOT_FOUND_ROUTE,
  'PetStore PUT /pets/{petId}': NOT_FOUND_ROUTE,
  'PetStore DELETE /pets/{petId}': NOT_FOUND_ROUTE,
  'PetStore GET /pets/{petId}/photo.{format}': NOT_FOUND_ROUTE,
  'PetStore GET /store/inventory/': NOT_FOUND_ROUTE,
  'PetStore GET /media/*': routeOf('PetStore', '/media/*'), // anything below /media is media
  'PetStore GET /health': NOT_FOUND_ROUTE,
  'Orders GET /orders': routeOf('Orders', '/orders/{orderId}'), // /orders/extra is an order id
  'Orders POST /orders': NOT_FOUND_ROUTE,
  'Orders GET /orders/{orderId}': NOT_FOUND_ROUTE,
  'Orders DELETE /orders/{orderId}': NOT_FOUND_ROUTE,
  'Orders GET /orders/{orderId}/tracking': NOT_FOUND_ROUTE,
};

const MISSING_SEGMENT: Record<string, string> = {
  'PetStore GET /pets': NOT_FOUND_ROUTE, // the bare base path
  'PetStore POST /pets': NOT_FOUND_ROUTE,
  'PetStore GET /pets/{petId}': routeOf('PetStore', '/pets'),
  'PetStore PUT /pets/{petId}': NOT_FOUND_ROUTE, // /pets takes no PUT
  'PetStore DELETE /pets/{petId}': NOT_FOUND_ROUTE,
  'PetStore GET /pets/{petId}/photo.{format}': routeOf('PetStore', '/pets/{petId}'),
  'PetStore GET /store/inventory/': NOT_FOUND_ROUTE,
  'PetStore GET /media/*': routeOf('PetStore', '/media/*'), // still below /media
  'PetStore GET /health': NOT_FOUND_ROUTE,
  'Orders GET /orders': NOT_FOUND_ROUTE,
  'Orders POST /orders': NOT_FOUND_ROUTE,
  'Orders GET /orders/{orderId}': routeOf('Orders', '/orders'),
  'Orders DELETE /orders/{orderId}': NOT_FOUND_ROUTE, // /orders takes no DELETE
  'Orders GET /orders/{orderId}/tracking': routeOf('Orders', '/orders/{orderId}'),
};


let routeConfig: Record<string, any>;
let scanned: Api[];

beforeAll(async () => {
  const source = new LocalFolderSource({ ...projectOptions(config), dir: APIS_DIR, rescanMs: 0, logger: createLogger('error', 'test') });
  const result = await source.scan();
  await source.close();
  expect(result.errors).toEqual([]);
  scanned = source.apis().filter((a) => a.labels.includes(LABEL));
  const out = new Translator(config).translate(scanned);
  expect(out.quarantined).toEqual([]);
  routeConfig = unpackAny({ type_url: ROUTE, value: wholeBytes(out.resources[ROUTE][0].value) });
});

function explain(method: string, urlPath: string, headers: Record<string, string> = {}): Explanation {
  return explainRequest(routeConfig, { method, url: `${ORIGIN}${urlPath}`, headers });
}

/** The route a request reaches, as a name ('not-found' for the catch-all), with the explanation. */
function reached(method: string, urlPath: string, headers: Record<string, string> = {}): string {
  const e = explain(method, urlPath, headers);
  if (!e.matched) throw new Error(`${method} ${urlPath}: no route at all (${e.reason}); every vhost should end with ${NOT_FOUND_ROUTE}`);
  return e.routeName ?? '(unnamed)';
}

function chosen(method: string, urlPath: string, headers: Record<string, string> = {}): RouteChosen {
  const e = explain(method, urlPath, headers);
  if (!e.matched) throw new Error(`${method} ${urlPath}: no route (${e.reason})`);
  return e;
}

/** The first of these methods that no resource with the same template declares. */
function undeclaredMethod(c: Case): HttpMethod {
  const declared = new Set(c.api.resources.filter((r) => r.path === c.resource.path).flatMap((r) => r.operations.map((o) => o.method)));
  return (['GET', 'POST', 'PUT', 'DELETE', 'PATCH'] as const).find((m) => !declared.has(m))!;
}

/** The concrete path without its last segment (a trailing slash does not count as one). */
function withoutLastSegment(p: string): string {
  return p.replace(/\/+$/, '').replace(/\/[^/]*$/, '');
}

test('the apis/ folder scan finds the sample APIs, both on one label', () => {
  expect(scanned.map((a) => `${a.name} ${a.version}`).sort()).toEqual(loaded.map((a) => `${a.name} ${a.version}`).sort());
  expect(scanned.map((a) => a.name).sort()).toEqual(['Orders', 'PetStore']);
  for (const api of loaded) expect(scanned.find((a) => a.id === api.id)?.resources).toEqual(api.resources);
  expect(Object.keys(EXTRA_SEGMENT).sort()).toEqual(cases.map((c) => c.key).sort());
  expect(Object.keys(MISSING_SEGMENT).sort()).toEqual(cases.map((c) => c.key).sort());
});

describe.each(cases.map((c) => [c.key, c] as const))('%s', (_key, c) => {
  const { api, resource, method } = c;
  const suffix = concrete(resource.path);
  const own = routeName(c);

  test('resolves to its own route, with its route metadata, rewritten to the backend base path', () => {
    const e = chosen(method, `${api.basePath}${suffix}?trace=1`);
    expect(e.routeName).toBe(own);
    expect(e.virtualHost).toBe(api.vhost);
    expect(e.action).toBe('route');
    expect(e.enforcer.disabled).toBe(false);
    expect(e.enforcer.routeMetadata).toEqual({ 'apimconnect.route': { apiId: api.id, path: resource.path } });
    const prod = productionSet(c);
    expect(e.cluster).toBe(resource.endpoints?.production ? clusterName(api, 'production', resource.path) : clusterName(api, 'production'));
    expect(prod.urls[0].basePath).not.toBe('');
    expect(e.path).toBe(`${prod.urls[0].basePath}${suffix}?trace=1`);
  });

  if (resource.path.endsWith('/') && resource.path.length > 1) {
    test('the trailing-slash template also takes the path without the slash', () => {
      expect(reached(method, `${api.basePath}${suffix.slice(0, -1)}`)).toBe(own);
    });
  }

  if (api.isDefaultVersion) {
    test('default version: also at the unversioned context', () => {
      const e = chosen(method, `${api.context}${suffix}`);
      expect(e.routeName).toBe(routeName(c, 'default'));
      expect(e.enforcer.routeMetadata).toEqual({ 'apimconnect.route': { apiId: api.id, path: resource.path } });
      expect(e.path).toBe(`${productionSet(c).urls[0].basePath}${suffix}`);
    });
  } else {
    test('not default version: nothing at the unversioned context', () => {
      expect(reached(method, `${api.context}${suffix}`)).toBe(NOT_FOUND_ROUTE);
    });
  }

  test('OPTIONS preflight matches the route, so the API CORS policy answers', () => {
    const e = chosen('OPTIONS', `${api.basePath}${suffix}`, { origin: 'https://app.example.com', 'access-control-request-method': method });
    expect(e.routeName).toBe(own);
    expect(api.cors?.enabled).toBe(true);
    expect(e.cors?.from).toBe('route');
    expect(e.cors?.policy.allow_origin_string_match).toEqual(api.cors!.allowOrigins.map((o) => ({ exact: o })));
  });

  test(`wrong method (${undeclaredMethod(c)}) → ${NOT_FOUND_ROUTE}`, () => {
    expect(reached(undeclaredMethod(c), `${api.basePath}${suffix}`)).toBe(NOT_FOUND_ROUTE);
  });

  test(`extra trailing segment → ${EXTRA_SEGMENT[c.key]}`, () => {
    expect(reached(method, `${api.basePath}${suffix.replace(/\/$/, '')}/extra`)).toBe(EXTRA_SEGMENT[c.key]);
  });

  test(`missing last segment → ${MISSING_SEGMENT[c.key]}`, () => {
    const p = resource.path.endsWith('/*') ? concrete(resource.path).replace(/\/img\/cat\.png$/, '') : withoutLastSegment(suffix);
    expect(reached(method, `${api.basePath}${p}`)).toBe(MISSING_SEGMENT[c.key]);
  });

  test('wrong version in the base path → not-found', () => {
    const wrong = api.version === '1.0.0' ? '1.0.1' : `${api.version}1`;
    const base = api.basePath.replace(api.version, wrong);
    expect(base).not.toBe(api.basePath);
    expect(reached(method, `${base}${suffix}`)).toBe(NOT_FOUND_ROUTE);
  });

  if (api.basePath.includes('.')) {
    test('any character in place of a literal dot of the version → not-found', () => {
      expect(reached(method, `${api.basePath.replace(/\./g, 'x')}${suffix}`)).toBe(NOT_FOUND_ROUTE);
    });
  }

  if (/\.[^/]*\{/.test(resource.path) || /\}[^/]*\./.test(resource.path)) {
    test('any character in place of a literal dot of the template → not-found', () => {
      const undotted = concrete(resource.path.replace(/\./g, 'X'));
      expect(reached(method, `${api.basePath}${undotted}`)).toBe(NOT_FOUND_ROUTE);
    });
  }

  if (resource.path.includes('{')) {
    test('a parameter holding a slash → not-found', () => {
      let first = true;
      const p = concrete(resource.path, (name) => {
        const v = first ? '4/2' : SAMPLE[name] ?? '42';
        first = false;
        return v;
      });
      expect(reached(method, `${api.basePath}${p}`)).toBe(NOT_FOUND_ROUTE);
    });
  }

  if (resource.path.endsWith('/*')) {
    test('the wildcard prefix is whole segments: a longer segment → not-found', () => {
      const p = concrete(resource.path).replace(/\/img\/cat\.png$/, 'x/cat.png');
      expect(reached(method, `${api.basePath}${p}`)).toBe(NOT_FOUND_ROUTE);
    });
  }

  test('unknown Host → the catch-all virtual host', () => {
    const e = chosen(method, `${api.basePath}${suffix}`, { host: 'unknown.example.com' });
    expect(e.virtualHost).toBe('unknown-host');
    expect(e.routeName).toBe(NOT_FOUND_ROUTE);
  });

  test('a cluster header naming some other cluster changes nothing', () => {
    const other = loaded.find((a) => a !== api)!;
    expect(reached(method, `${api.basePath}${suffix}`, { 'x-wso2-cluster-header': clusterName(other, 'sandbox') })).toBe(own);
    expect(reached(method, `${api.basePath}${suffix}`, { 'x-wso2-cluster-header': clusterName(api, 'production') })).toBe(own);
  });

  const sandbox = sandboxSet(c);
  if (sandbox) {
    test('with the sandbox cluster header (set by the enforcer) → the sandbox route and cluster', () => {
      const sandboxCluster = resource.endpoints?.sandbox ? clusterName(api, 'sandbox', resource.path) : clusterName(api, 'sandbox');
      const e = chosen(method, `${api.basePath}${suffix}`, { 'x-wso2-cluster-header': sandboxCluster });
      expect(e.routeName).toBe(routeName(c, 'sandbox'));
      expect(e.cluster).toBe(sandboxCluster);
      expect(e.enforcer.routeMetadata).toEqual({ 'apimconnect.route': { apiId: api.id, path: resource.path } });
      expect(e.path).toBe(`${sandbox.urls[0].basePath}${suffix}`);
      if (api.isDefaultVersion) {
        expect(reached(method, `${api.context}${suffix}`, { 'x-wso2-cluster-header': sandboxCluster })).toBe(routeName(c, 'default', 'sandbox'));
      }
    });
  }
});

test('every sample operation has its own route, and no two operations share a path and method', () => {
  const seen = new Set<string>();
  for (const c of cases) {
    const k = `${c.api.basePath}${concrete(c.resource.path)} ${c.method}`;
    expect(seen.has(k)).toBe(false);
    seen.add(k);
  }
  expect(cases.length).toBe(14);
});
