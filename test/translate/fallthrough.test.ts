import { parseConfig } from '../../src/config/config';
import { unpackAny } from '../../src/envoy/any';
import { wholeBytes } from '../../src/envoy/protoWire';
import { explainRequest, type Explanation, type RouteChosen } from '../../src/envoy/routeMatch';
import { ROUTE } from '../../src/envoy/typeUrls';
import { validateResource } from '../../src/envoy/validate';
import type { Api, HttpMethod, Resource } from '../../src/model/api';
import { fallThroughs } from '../../src/translate/fallthrough';
import { NOT_FOUND_ROUTE, routeName } from '../../src/translate/names';
import { sortBySpecificity } from '../../src/translate/paths';
import { Translator } from '../../src/translate/translate';
import { api } from '../helpers/apis';

/**
 * router.methodNotAllowed: a request whose path matches a template that lacks its method falls
 * through to a less specific template (Choreo Connect's way, the default), or is answered 405
 * with `Allow` by the router.
 */

const resource = (path: string, ...methods: HttpMethod[]): Resource => ({ path, operations: methods.map((method) => ({ method, secured: true, scopes: [] })) });

/** GitHub's gists, in part: `/gists/starred` has GET only, `/gists/{gist_id}` has DELETE. */
const gists = api({
  name: 'GitHub',
  context: '/github',
  isDefaultVersion: true,
  resources: [
    resource('/gists', 'GET', 'POST'),
    resource('/gists/starred', 'GET'),
    resource('/gists/{gist_id}', 'GET', 'PATCH', 'DELETE'),
    resource('/gists/{gist_id}/star', 'GET', 'PUT', 'DELETE'),
    resource('/files/{id}', 'GET'),
    resource('/files/*', 'GET', 'POST'),
    resource('/users/{user}', 'GET'),
  ],
});

function routeTable(a: Api, toml: string): Record<string, any> {
  const out = new Translator(parseConfig(toml, 'test.toml')).translate([a]);
  expect(out.quarantined).toEqual([]);
  const value = wholeBytes(out.resources[ROUTE][0].value);
  expect(validateResource(ROUTE, value)).toEqual([]);
  return unpackAny({ type_url: ROUTE, value });
}

const FALLTHROUGH = routeTable(gists, '');
const ANSWER_405 = routeTable(gists, '[router]\nmethodNotAllowed = "405"\n');

function chosen(rc: Record<string, any>, method: string, path: string, headers: Record<string, string> = {}): RouteChosen {
  const e: Explanation = explainRequest(rc, { method, url: `http://localhost${path}`, headers });
  if (!e.matched) throw new Error(`${method} ${path}: no route (${e.reason})`);
  return e;
}

test('by default a method falls through to a less specific template, as in Choreo Connect', () => {
  expect(parseConfig('', 'test.toml').router.methodNotAllowed).toBe('fallthrough');
  expect(chosen(FALLTHROUGH, 'DELETE', '/github/1.0.0/gists/starred').routeName).toBe(routeName(gists, '/gists/{gist_id}'));
  expect(FALLTHROUGH.virtual_hosts[0].routes.some((r: any) => r.direct_response?.status === 405)).toBe(false);
});

test('methodNotAllowed = "405": the router answers 405 with Allow, without asking the enforcer', () => {
  for (const [base, at] of [['/github/1.0.0', []], ['/github', ['default']]] as const) {
    const e = chosen(ANSWER_405, 'DELETE', `${base}/gists/starred`);
    expect(e.routeName).toBe(routeName(gists, '/gists/starred', ...at, '405'));
    expect(e.directResponse).toEqual({
      status: 405,
      body: JSON.stringify({ code: '405', message: 'Method Not Allowed', description: 'The method is not allowed for the requested resource.' }),
      headers: { 'content-type': 'application/json', allow: 'GET, OPTIONS' },
    });
    expect(e.enforcer.disabled).toBe(true);
    // What the template defines is routed as before.
    expect(chosen(ANSWER_405, 'GET', `${base}/gists/starred`).routeName).toBe(routeName(gists, '/gists/starred', ...at));
    expect(chosen(ANSWER_405, 'DELETE', `${base}/gists/42`).routeName).toBe(routeName(gists, '/gists/{gist_id}', ...at));
  }
  // A template ending in `/*` takes what falls through too.
  expect(chosen(FALLTHROUGH, 'POST', '/github/1.0.0/files/7').routeName).toBe(routeName(gists, '/files/*'));
  expect(chosen(ANSWER_405, 'POST', '/github/1.0.0/files/7').directResponse?.headers?.allow).toBe('GET, OPTIONS');
  expect(chosen(ANSWER_405, 'POST', '/github/1.0.0/files/7/8').routeName).toBe(routeName(gists, '/files/*'));
});

test('OPTIONS still reaches the template: CORS preflight and the enforcer\'s 204 with Allow keep working', () => {
  const preflight = chosen(ANSWER_405, 'OPTIONS', '/github/1.0.0/gists/starred', { origin: 'https://app.example.com', 'access-control-request-method': 'DELETE' });
  expect(preflight.routeName).toBe(routeName(gists, '/gists/starred'));
  expect(preflight.cors).toBeDefined();
  const plain = chosen(ANSWER_405, 'OPTIONS', '/github/1.0.0/gists/starred');
  expect(plain.routeName).toBe(routeName(gists, '/gists/starred'));
  expect(plain.enforcer.disabled).toBe(false);
});

test('405 routes only where a less specific template could take the request; elsewhere 404 as before', () => {
  const names = (rc: Record<string, any>): string[] => rc.virtual_hosts[0].routes.map((r: any) => r.name);
  const added = names(ANSWER_405).filter((n) => !names(FALLTHROUGH).includes(n));
  // Versioned and default-version base paths: /gists/starred (→ /gists/{gist_id}) and /files/{id} (→ /files/*).
  expect(added.sort()).toEqual(
    [
      routeName(gists, '/files/{id}', '405'),
      routeName(gists, '/gists/starred', '405'),
      routeName(gists, '/files/{id}', 'default', '405'),
      routeName(gists, '/gists/starred', 'default', '405'),
    ].sort(),
  );
  // No less specific template of /users/{user} or /gists/{gist_id}/star: nothing to fall through to.
  expect(chosen(ANSWER_405, 'DELETE', '/github/1.0.0/users/octocat').routeName).toBe(NOT_FOUND_ROUTE);
  expect(chosen(ANSWER_405, 'POST', '/github/1.0.0/gists/42/star').routeName).toBe(NOT_FOUND_ROUTE);
});

describe('fallThroughs', () => {
  const of = (...rs: Resource[]): Array<[string, string[]]> => {
    const sorted = sortBySpecificity(rs);
    return [...fallThroughs(sorted)].map(([i, methods]) => [sorted[i]!.path, methods]);
  };

  test('a later template overlapping the path with a method this one lacks', () => {
    expect(of(resource('/a/b', 'GET'), resource('/a/{x}', 'DELETE'))).toEqual([['/a/b', ['GET', 'OPTIONS']]]);
    // The later template has no method the earlier lacks: nothing falls through.
    expect(of(resource('/a/b', 'GET', 'DELETE'), resource('/a/{x}', 'DELETE'))).toEqual([]);
    // Paths that no request matches both of.
    expect(of(resource('/a/b', 'GET'), resource('/c/{x}', 'DELETE'), resource('/a/{x}/c', 'PUT'))).toEqual([]);
    // Mixed segments meet literal ones they can match.
    expect(of(resource('/files/report.json', 'GET'), resource('/files/{name}.json', 'PUT'))).toEqual([['/files/report.json', ['GET', 'OPTIONS']]]);
    expect(of(resource('/files/report.xml', 'GET'), resource('/files/{name}.json', 'PUT'))).toEqual([]);
  });

  test('wildcards: a shorter `/*` covers longer paths, a `/*` template meets everything below it', () => {
    expect(of(resource('/a/b/c', 'GET'), resource('/a/*', 'POST'))).toEqual([['/a/b/c', ['GET', 'OPTIONS']]]);
    expect(of(resource('/a/b/*', 'GET'), resource('/a/{x}/c/d', 'POST'))).toEqual([['/a/b/*', ['GET', 'OPTIONS']]]);
    expect(of(resource('/a/b/*', 'GET'), resource('/a/{x}', 'POST'))).toEqual([['/a/b/*', ['GET', 'OPTIONS']]]);
  });

  test('one path split into resources, and one shape under two parameter names, count as one template', () => {
    const split = of(resource('/a/b', 'GET'), resource('/a/b', 'POST'), resource('/a/{x}', 'POST', 'PUT'));
    expect(split).toEqual([['/a/b', ['GET', 'OPTIONS', 'POST']]]);
    expect(of(resource('/c/{id}', 'GET'), resource('/c/{filter}', 'DELETE'))).toEqual([]);
  });
});
