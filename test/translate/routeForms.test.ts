import { parseConfig } from '../../src/config/config';
import { unpackAny } from '../../src/envoy/any';
import { wholeBytes } from '../../src/envoy/protoWire';
import { re2ProgramSize } from '../../src/envoy/re2';
import { explainRequest } from '../../src/envoy/routeMatch';
import { CLUSTER, ROUTE } from '../../src/envoy/typeUrls';
import type { Api, Operation, Resource } from '../../src/model/api';
import { clusterName, NOT_FOUND_ROUTE, routeName } from '../../src/translate/names';
import { pathMatchers, pathRegex } from '../../src/translate/paths';
import { Translator, type LabelResources } from '../../src/translate/translate';
import { api, endpointSet } from '../helpers/apis';

/**
 * Route forms (issue 12): a template whose regex is over the RE2 program-size limit is served
 * with Envoy's URI-template matcher and routes as the regex would; a template neither form can
 * express costs its route, not its API.
 */

const defaults = parseConfig('', 'test.toml');
/** A limit no template here reaches: every route stays a regex, the reference behaviour. */
const allRegex = parseConfig('[router]\nmaxRegexProgramSize = 100000\n', 'test.toml');

const GET: Operation = { method: 'GET', secured: true, scopes: [] };
const res = (path: string, ...methods: Array<Operation['method']>): Resource => ({ path, operations: (methods.length ? methods : [GET.method]).map((method) => ({ ...GET, method })) });

/** What Azure's definitions look like: long literal segments between parameters. */
const SERVICE = '/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.ApiManagement/service/{serviceName}';
const AZURE_RESOURCES: Resource[] = [
  res('/subscriptions/{subscriptionId}'),
  res('/subscriptions/{subscriptionId}/resourceGroups'),
  res(`${SERVICE}/apis/{apiId}/operations/{operationId}`, 'GET', 'PUT', 'DELETE'),
  // its sibling with a parameter where it has a literal: the literal wins
  res('/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/{resourceProviderNamespace}/service/{serviceName}/apis/{apiId}/operations/{operationId}'),
  res(`${SERVICE}/backups/*`),
  res(`${SERVICE}/exports/{exportName}.json`),
];

function azure(extra: Partial<Api> = {}): Api {
  return api({
    name: 'Azure',
    context: '/azure',
    version: '2021-08-01',
    isDefaultVersion: true,
    endpoints: { production: endpointSet('https://management.example.com/arm'), sandbox: endpointSet('https://sandbox.example.com/arm') },
    resources: AZURE_RESOURCES,
    ...extra,
  });
}

/** A route's name: `kinds` as the translator orders them (default, slash or bare, sandbox). */
const az = (path: string, ...kinds: string[]): string => routeName(azure(), path, ...kinds);
const routeTable = (out: LabelResources): Record<string, any> => unpackAny({ type_url: ROUTE, value: wholeBytes(out.resources[ROUTE][0].value) });
const routesOf = (out: LabelResources): any[] => routeTable(out).virtual_hosts[0].routes;

/** Where a request goes: the route (its companion counted as itself), the cluster, the upstream path. */
function outcome(rc: Record<string, any>, method: string, path: string, headers: Record<string, string> = {}): string {
  const e = explainRequest(rc, { method, url: `http://localhost${path}`, headers });
  if (!e.matched) return `no route (${e.reason})`;
  return `${String(e.routeName).replace(/:(slash|bare)(?=:)/, '')} → ${e.cluster ?? e.action} ${e.path}`;
}

describe('a template over the RE2 limit', () => {
  const served = new Translator(defaults).translate([azure()]);
  const reference = new Translator(allRegex).translate([azure()]);

  test('is served with the URI-template matcher; short ones stay regexes; nothing is left out', () => {
    expect(served.quarantined).toEqual([]);
    expect(served.partial).toEqual([]);
    const forms = Object.fromEntries(routesOf(served).filter((r) => r.name !== NOT_FOUND_ROUTE).map((r) => [r.name, r.match.safe_regex ? 'regex' : r.match.path_match_policy.typed_config.path_template]));
    expect(forms[az('/subscriptions/{subscriptionId}')]).toBe('regex');
    expect(forms[az(`${SERVICE}/apis/{apiId}/operations/{operationId}`)]).toBe(
      '/azure/2021-08-01/subscriptions/*/resourceGroups/*/providers/Microsoft.ApiManagement/service/*/apis/*/operations/*',
    );
    expect(forms[az(`${SERVICE}/apis/{apiId}/operations/{operationId}`, 'slash')]).toBe(
      '/azure/2021-08-01/subscriptions/*/resourceGroups/*/providers/Microsoft.ApiManagement/service/*/apis/*/operations/*/',
    );
    expect(forms[az(`${SERVICE}/backups/*`)]).toBe('/azure/2021-08-01/subscriptions/*/resourceGroups/*/providers/Microsoft.ApiManagement/service/*/backups/**');
    expect(forms[az(`${SERVICE}/backups/*`, 'bare')]).toBe('/azure/2021-08-01/subscriptions/*/resourceGroups/*/providers/Microsoft.ApiManagement/service/*/backups');
    expect(forms[az(`${SERVICE}/exports/{exportName}.json`)]).toBe('/azure/2021-08-01/subscriptions/*/resourceGroups/*/providers/Microsoft.ApiManagement/service/*/exports/*.json');
    expect(forms[az(`${SERVICE}/exports/{exportName}.json`, 'slash')]).toBe('/azure/2021-08-01/subscriptions/*/resourceGroups/*/providers/Microsoft.ApiManagement/service/*/exports/*/');
    expect(forms[az(`${SERVICE}/apis/{apiId}/operations/{operationId}`, 'default')]).toBe(
      '/azure/subscriptions/*/resourceGroups/*/providers/Microsoft.ApiManagement/service/*/apis/*/operations/*',
    );
    expect(Object.values(forms).filter((f) => f === 'regex').length).toBeGreaterThan(0);
    expect(routesOf(reference).every((r) => r.name === NOT_FOUND_ROUTE || r.match.safe_regex)).toBe(true);
  });

  test('a URI-template route: the extension typed as Envoy reads it, a `:path` guard within the limit, the sandbox route beside it, and the same rewrite', () => {
    const routes = routesOf(served);
    const name = az(`${SERVICE}/apis/{apiId}/operations/{operationId}`);
    const i = routes.findIndex((r) => r.name === az(`${SERVICE}/apis/{apiId}/operations/{operationId}`, 'sandbox'));
    expect(routes.slice(i, i + 4).map((r) => r.name)).toEqual([az(`${SERVICE}/apis/{apiId}/operations/{operationId}`, 'sandbox'), name, az(`${SERVICE}/apis/{apiId}/operations/{operationId}`, 'slash', 'sandbox'), az(`${SERVICE}/apis/{apiId}/operations/{operationId}`, 'slash')]);
    const prod = routes[i + 1];
    expect(prod.match.path_match_policy).toMatchObject({
      name: 'envoy.path.match.uri_template.uri_template_matcher',
      typed_config: { '@type': 'type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig' },
    });
    const guard = prod.match.headers.find((h: any) => h.name === ':path').string_match.safe_regex.regex;
    expect(re2ProgramSize(guard)).toBeLessThanOrEqual(100);
    expect(routes[i].match.headers.map((h: any) => h.name)).toEqual([':method', ':path', 'x-wso2-cluster-header']);
    expect(prod.route.regex_rewrite).toEqual({ pattern: { regex: '^/azure/2021-08-01' }, substitution: '/arm' });
  });

  const S = '/azure/2021-08-01/subscriptions/s1/resourceGroups/rg-1/providers';
  const requests: Array<[method: string, path: string]> = [
    ['GET', `${S}/Microsoft.ApiManagement/service/svc/apis/a1/operations/op1`],
    ['GET', `${S}/Microsoft.ApiManagement/service/svc/apis/a1/operations/op1/`],
    ['PUT', `${S}/Microsoft.ApiManagement/service/svc/apis/a1/operations/op1?api-version=2021-08-01&x=1;2`],
    ['POST', `${S}/Microsoft.ApiManagement/service/svc/apis/a1/operations/op1`],
    ['GET', `${S}/Microsoft.ApiManagement/service/svc/apis/a1/operations/op1/x`],
    ['GET', `${S}/Microsoft.ApiManagement/service/svc/apis/a1/operations/`],
    ['GET', `${S}/Microsoft.ApiManagement/service/svc/apis//operations/op1`],
    ['GET', `${S}/Microsoft.ApiManagement/service/svc/apis/a1;x/operations/op1`],
    ['GET', `${S}/Microsoft.ApiManagement/service/svc/apis/..;/operations/op1`],
    ['GET', `${S}/Microsoft.ApiManagement/service/svc/apis/a1/operations/op1;jsessionid=1`],
    ['GET', `${S}/microsoft.apimanagement/service/svc/apis/a1/operations/op1`],
    ['GET', `${S}/Microsoft.Web/service/svc/apis/a1/operations/op1`],
    ['PUT', `${S}/Microsoft.Web/service/svc/apis/a1/operations/op1`],
    ['GET', `${S}/Microsoft.ApiManagement/service/svc/backups`],
    ['GET', `${S}/Microsoft.ApiManagement/service/svc/backups/`],
    ['GET', `${S}/Microsoft.ApiManagement/service/svc/backups/2024/01/full`],
    ['GET', `${S}/Microsoft.ApiManagement/service/svc/backups;x`],
    ['GET', `${S}/Microsoft.ApiManagement/service/svc/backups/a;b/c`],
    ['GET', `${S}/Microsoft.ApiManagement/service/svc/backupsx`],
    ['GET', `${S}/Microsoft.ApiManagement/service/svc/exports/e1.json`],
    ['GET', `${S}/Microsoft.ApiManagement/service/svc/exports/e1.json/`],
    ['GET', `${S}/Microsoft.ApiManagement/service/svc/exports/e.1.json/?q=1`],
    ['GET', `${S}/Microsoft.ApiManagement/service/svc/exports/.json`],
    ['GET', `${S}/Microsoft.ApiManagement/service/svc/exports/.json/`],
    ['GET', `${S}/Microsoft.ApiManagement/service/svc/exports/e1.jsonx`],
    ['GET', `${S}/Microsoft.ApiManagement/service/svc/exports/e1;.json`],
    ['GET', `${S}/Microsoft.ApiManagement/service/svc/exports/e1;.json/`],
    ['GET', '/azure/2021-08-01/subscriptions/s1'],
    ['GET', '/azure/2021-08-01/subscriptions/s1/resourceGroups/'],
    ['GET', '/azure/subscriptions/s1/resourceGroups/rg/providers/Microsoft.ApiManagement/service/svc/apis/a1/operations/op1/'],
    ['GET', '/azure/subscriptions/s1/resourceGroups/rg/providers/Microsoft.ApiManagement/service/svc/backups'],
  ];

  test.each(requests)('%s %s goes where the regex form sends it', (method, path) => {
    expect(outcome(routeTable(served), method, path)).toBe(outcome(routeTable(reference), method, path));
  });

  test('and where OpenAPI says: parameters, trailing slash, wildcard, `;` refused, a literal before its sibling parameter', () => {
    const rc = routeTable(served);
    const to = (method: string, path: string): string => outcome(rc, method, path);
    const ops = az(`${SERVICE}/apis/{apiId}/operations/{operationId}`);
    expect(to('GET', `${S}/Microsoft.ApiManagement/service/svc/apis/a1/operations/op1?v=1`)).toBe(`${ops} → ${clusterName(azure(), 'production')} /arm/subscriptions/s1/resourceGroups/rg-1/providers/Microsoft.ApiManagement/service/svc/apis/a1/operations/op1?v=1`);
    expect(to('DELETE', `${S}/Microsoft.ApiManagement/service/svc/apis/a1/operations/op1/`)).toMatch(new RegExp(`^${ops.replace(/[{}.*+?^$()|[\]\\]/g, '\\$&')} → `));
    expect(to('GET', `${S}/Microsoft.Web/service/svc/apis/a1/operations/op1`)).toMatch(/\/providers\/\{resourceProviderNamespace\}\/service/);
    expect(to('GET', `${S}/Microsoft.ApiManagement/service/svc/apis/a1;x/operations/op1`)).toMatch(/^not-found/);
    expect(to('GET', `${S}/Microsoft.ApiManagement/service/svc/backups/2024/01`)).toMatch(/\/backups\/\* → /);
    expect(to('GET', `${S}/Microsoft.ApiManagement/service/svc/backups`)).toMatch(/\/backups\/\* → /);
    expect(to('GET', `${S}/Microsoft.ApiManagement/service/svc/backups/a;b`)).toMatch(/^not-found/);
    expect(to('GET', `${S}/Microsoft.ApiManagement/service/svc/exports/e1.json/`)).toMatch(/\{exportName\}\.json → /);
    expect(to('GET', `${S}/Microsoft.ApiManagement/service/svc/exports/.json/`)).toMatch(/^not-found/);
    // the sandbox route is taken only with the enforcer's header, as for a regex route
    const sandbox = outcome(rc, 'GET', `${S}/Microsoft.ApiManagement/service/svc/apis/a1/operations/op1/`, { 'x-wso2-cluster-header': clusterName(azure(), 'sandbox') });
    expect(sandbox).toBe(`${az(`${SERVICE}/apis/{apiId}/operations/{operationId}`, 'sandbox')} → ${clusterName(azure(), 'sandbox')} /arm/subscriptions/s1/resourceGroups/rg-1/providers/Microsoft.ApiManagement/service/svc/apis/a1/operations/op1/`);
  });

  test('where the forms differ: a URI-template glob takes only RFC 3986 path characters, so `|` in a parameter finds no route', () => {
    const path = `${S}/Microsoft.ApiManagement/service/svc/apis/a|1/operations/op1`;
    expect(outcome(routeTable(reference), 'GET', path)).toMatch(/operations\/\{operationId\} → /);
    expect(outcome(routeTable(served), 'GET', path)).toMatch(/^not-found/);
  });
});

describe('router.maxRegexProgramSize', () => {
  const template = `${SERVICE}/apis/{apiId}`;
  const size = re2ProgramSize(pathRegex('/azure/2021-08-01', template));
  const form = (limit: number): string => {
    const [first] = pathMatchers('/azure/2021-08-01', template, limit);
    return first.match.safe_regex ? 'regex' : 'uri_template';
  };

  test('moves the switch between the forms: a regex up to the limit, a URI template beyond', () => {
    expect(size).toBeGreaterThan(100);
    expect(form(100)).toBe('uri_template');
    expect(form(size - 1)).toBe('uri_template');
    expect(form(size)).toBe('regex');
    const raised = parseConfig(`[router]\nmaxRegexProgramSize = ${size}\n`, 'test.toml');
    const out = new Translator(raised).translate([azure({ resources: [res(template)] })]);
    expect(routesOf(out).filter((r) => r.name !== NOT_FOUND_ROUTE).every((r) => r.match.safe_regex)).toBe(true);
  });

  test('is validated: an integer, at least what the translator\'s own regexes need', () => {
    expect(defaults.router.maxRegexProgramSize).toBe(100);
    expect(() => parseConfig('[router]\nmaxRegexProgramSize = 10\n', 'test.toml')).toThrow(/router\.maxRegexProgramSize: must be at least 32, got 10/);
    expect(() => parseConfig('[router]\nmaxRegexProgramSize = "big"\n', 'test.toml')).toThrow(/router\.maxRegexProgramSize: expected an integer/);
  });

  test('also bounds the `:method` and guard regexes: a route whose own regexes do not fit is left out and reported', () => {
    const tight = parseConfig('[router]\nmaxRegexProgramSize = 32\n', 'test.toml');
    const out = new Translator(tight).translate([azure({ isDefaultVersion: false, resources: [res('/subscriptions/{subscriptionId}'), res(`${SERVICE}/apis/{apiId}`)] })]);
    // the guard (22) fits 32, the regex of the long template does not: a URI template serves it
    expect(out.partial).toEqual([]);
    expect(routesOf(out).some((r) => r.match.path_match_policy)).toBe(true);
  });
});

describe('a problem costs the route, not the API', () => {
  // Text before a parameter in a segment: no URI template can say it, and this long, no regex fits.
  const RANGE = "/users/{userId}/workbook/worksheets/{worksheetId}/range(address='{address}')/format/borders/{borderId}/microsoft.graph.clear";

  test('a template neither form can express is left out and reported with why; the API\'s other routes are served', () => {
    const graph = api({ name: 'Graph', context: '/graph', version: 'v1.0', resources: [res('/users'), res('/users/{userId}'), res(RANGE, 'POST')] });
    const out = new Translator(defaults).translate([graph, api()]);
    expect(out.quarantined).toEqual([]);
    expect(out.partial).toEqual([
      {
        apiId: 'Graph-v1.0',
        name: 'Graph',
        version: 'v1.0',
        source: 'test',
        skipped: [
          {
            path: RANGE,
            reason: expect.stringMatching(
              /^its regex compiles to an RE2 program of about \d+, over the limit of 100 \(router\.maxRegexProgramSize\), and Envoy's URI-template matcher cannot express it: segment "range\(address='\{address\}'\)": Envoy's URI templates take text beside a parameter only after it, in the last segment/,
            ),
          },
        ],
      },
    ]);
    const names = routesOf(out).map((r) => r.name);
    expect(names).toEqual(expect.arrayContaining([routeName(graph, '/users'), routeName(graph, '/users/{userId}'), routeName(api(), '/pet/{petId}')]));
    expect(names.some((n) => n.includes('range('))).toBe(false);
    expect(out.resources[CLUSTER].map((c) => c.name)).toContain(clusterName(graph, 'production'));
  });

  test('literal text outside what URI templates take, in a long template: left out, with the character named', () => {
    const long = `${SERVICE}/apis/{apiId}/operations/{operationId}/tags/{tagId}/a=b`;
    const out = new Translator(defaults).translate([azure({ isDefaultVersion: false, resources: [res('/subscriptions/{subscriptionId}'), res(long)] })]);
    expect(out.partial[0].skipped).toEqual([{ path: long, reason: expect.stringContaining('"a=b" holds a character Envoy\'s URI templates do not take as literal text') }]);
  });

  test('the source\'s left-out paths and the translator\'s are reported together, the source\'s first; a shared path names its methods', () => {
    const graph = api({
      name: 'Graph',
      context: '/graph',
      version: 'v1.0',
      resources: [res('/users'), res(RANGE, 'POST'), { ...res(RANGE, 'GET'), endpoints: { production: endpointSet('https://graph-read.example.com') } }],
      skipped: [{ path: '/users#list', at: 'graph.yaml:12', reason: 'what follows # is not part of a path' }],
    });
    const [report] = new Translator(defaults).translate([graph]).partial;
    expect(report.skipped.map((s) => [s.path, s.method])).toEqual([
      ['/users#list', undefined],
      [RANGE, 'POST'],
      [RANGE, 'GET'],
    ]);
  });

  test('a resource left out at the versioned base path is not served at the unversioned context either', () => {
    // 256 characters as a URI template at /azure/2021-08-01, 245 at /azure: too long only at the first.
    const long = `${SERVICE}/apis/{apiId}/${'x'.repeat(256 - '/azure/2021-08-01/subscriptions/*/resourceGroups/*/providers/Microsoft.ApiManagement/service/*/apis/*/'.length + 1)}`;
    const out = new Translator(defaults).translate([azure({ resources: [res('/subscriptions/{subscriptionId}'), res(long)] })]);
    expect(out.partial[0].skipped).toEqual([{ path: long, reason: expect.stringMatching(/the URI template is 257 characters, over Envoy's 256$/) }]);
    expect(routesOf(out).map((r) => r.name).filter((n) => n.includes('/apis/'))).toEqual([]);
    expect(routesOf(out).map((r) => r.name)).toContain(az('/subscriptions/{subscriptionId}', 'default'));
  });

  test('a resource whose own endpoints make no valid cluster costs that resource only', () => {
    const broken = { ...endpointSet('http://x.local'), urls: [{ url: 'http://x.local:70000', scheme: 'http' as const, host: 'x.local', port: 70000, basePath: '' }] };
    const out = new Translator(defaults).translate([api({ resources: [res('/pet'), { ...res('/pet/{petId}'), endpoints: { production: broken } }] })]);
    expect(out.quarantined).toEqual([]);
    expect(out.partial[0].skipped).toEqual([{ path: '/pet/{petId}', reason: expect.stringMatching(/^its production endpoints: .*port_value/) }]);
    expect(routesOf(out).map((r) => r.name)).toEqual([routeName(api(), '/pet'), NOT_FOUND_ROUTE]);
  });

  test('an API with nothing left to serve is quarantined, with every left-out route', () => {
    const onlyRange = api({ name: 'Graph', context: '/graph', version: 'v1.0', resources: [res(RANGE, 'POST')] });
    const allSkipped = api({ name: 'Aws', context: '/aws', resources: [], skipped: [{ path: '/#Action=Describe', reason: 'what follows # is not part of a path' }] });
    const empty = api({ name: 'Empty', context: '/empty', resources: [] });
    const out = new Translator(defaults).translate([onlyRange, allSkipped, empty, api()]);
    expect(out.quarantined.map((q) => [q.name, q.reasons, q.skipped.map((s) => s.path)])).toEqual([
      ['Graph', ['none of its routes can be served (1 path or operation left out)'], [RANGE]],
      ['Aws', ['none of its routes can be served (1 path or operation left out)'], ['/#Action=Describe']],
    ]);
    expect(out.partial).toEqual([]);
    expect(out.resources[CLUSTER].map((c) => c.name)).toEqual([clusterName(empty, 'production'), clusterName(api(), 'production')].sort());
  });

  test('kept per API: an unchanged API is not translated again, its report included', () => {
    const graph = api({ name: 'Graph', context: '/graph', version: 'v1.0', resources: [res('/users'), res(RANGE, 'POST')] });
    const t = new Translator(defaults);
    const first = t.translate([graph]);
    const again = t.translate([graph]);
    expect(again.partial[0].skipped).toBe(first.partial[0].skipped);
    expect(again.resources[CLUSTER][0].value).toBe(first.resources[CLUSTER][0].value);
  });
});
