import * as fs from 'fs';
import * as path from 'path';
import { derivedId, loadProject, parseProject, readProject } from '../../../src/sources/local/project';
import { readProjectZip } from '../../../src/sources/local/files';
import { FIXTURES, OPTIONS, apiYaml, errorOf, memProject, zipFolder } from './helpers';

const PEM = fs.readFileSync(path.join(FIXTURES, 'petstore-oas3/Endpoint-certificates/backend.crt'), 'utf8');

describe('API project folder: api.yaml + OpenAPI 3 + environments + endpoint certificates', () => {
  const api = loadProject(path.join(FIXTURES, 'petstore-oas3'), OPTIONS, 'fixtures/petstore-oas3');

  it('reads identity, status and deployment from api.yaml and deployment_environments.yaml', () => {
    expect(api).toMatchObject({
      id: '0d9a3c6e-1111-4b2b-8c3d-2e1f0a9b8c7d',
      name: 'PetStore',
      version: '1.0.0',
      context: '/petstore',
      basePath: '/petstore/1.0.0',
      type: 'HTTP',
      lifecycleStatus: 'PUBLISHED',
      isDefaultVersion: true,
      revision: '4',
      organization: 'carbon.super',
      labels: ['Default', 'Europe'],
      vhost: 'pets.example.com',
      throttlingTier: '10KPerMin',
      source: 'fixtures/petstore-oas3',
    });
    expect(api.security).toEqual({ schemes: ['oauth2', 'mutualssl', 'mutualssl_mandatory'], authorizationHeader: 'X-Pet-Auth', apiKeyHeader: 'apikey' });
    expect(api.cors?.enabled).toBe(false);
  });

  it('builds failover endpoints from endpointConfig and attaches the endpoint certificate', () => {
    expect(api.endpoints.production).toEqual({
      type: 'failover',
      urls: [
        { url: 'https://pets.internal.example:8443/api', scheme: 'https', host: 'pets.internal.example', port: 8443, basePath: '/api' },
        { url: 'https://pets-dr.internal.example:8443/api', scheme: 'https', host: 'pets-dr.internal.example', port: 8443, basePath: '/api' },
      ],
      timeoutMs: 20000,
      retry: { count: 3, statusCodes: [504] },
      caCertificates: [PEM.trim() + '\n'],
      basicAuth: { username: 'pets', password: 'pets-secret' },
    });
    // Servers in the definition are ignored: api.yaml names the backends. endpoint_type covers both sets.
    expect(api.endpoints.sandbox).toEqual({
      type: 'failover',
      urls: [{ url: 'http://pets-sandbox.internal.example/api', scheme: 'http', host: 'pets-sandbox.internal.example', port: 80, basePath: '/api' }],
    });
  });

  it('reads the client certificates allowed for mutual TLS, with their tiers', () => {
    const pem = fs.readFileSync(path.join(FIXTURES, 'petstore-oas3/Client-certificates/partner.crt'), 'utf8');
    expect(api.clientCertificates).toEqual([{ alias: 'partner', pem: pem.trim() + '\n', tier: 'Gold' }]);
  });

  it('takes resources from the definition, refined per operation by api.yaml', () => {
    const byPath = api.resources.map((r) => [r.path, r.operations.map((o) => `${o.method}:${o.secured ? 'secured' : 'open'}:${o.scopes.join('+')}:${o.throttlingTier ?? ''}`)]);
    expect(byPath).toEqual([
      ['/pets', ['GET:secured::Unlimited']],
      ['/pets/{petId}', ['GET:secured:pets:read:Silver', 'DELETE:secured:pets:admin:Gold']],
      ['/pets/{petId}/photo.{format}', ['GET:open::']],
      ['/vets', ['GET:secured::']],
      ['/vets', ['POST:open::']],
    ]);
  });

  it('gives resources their own x-wso2 endpoints (path level, and an operation-level reference)', () => {
    const [vetsGet, vetsPost] = api.resources.filter((r) => r.path === '/vets');
    expect(vetsGet.endpoints).toEqual({
      production: { type: 'failover', urls: [{ url: 'https://vets.internal.example:8443/api', scheme: 'https', host: 'vets.internal.example', port: 8443, basePath: '/api' }] },
    });
    expect(vetsPost.endpoints).toEqual({
      production: {
        type: 'load_balance',
        urls: [{ url: 'http://vets-write.internal.example:8080/api', scheme: 'http', host: 'vets-write.internal.example', port: 8080, basePath: '/api' }],
        timeoutMs: 5000,
        retry: { count: 1, statusCodes: [503] },
        circuitBreakers: { maxConnections: 100 },
      },
    });
    expect(api.resources.find((r) => r.path === '/pets')!.endpoints).toBeUndefined();
  });

  it('parses the same project from a zip, whatever its top folder is called', () => {
    const dir = path.join(FIXTURES, 'petstore-oas3');
    for (const top of ['PetStore-1.0.0', 'a/b', '']) {
      const zipped = parseProject(readProjectZip(zipFolder(dir, top), 'fixtures/petstore.zip'), OPTIONS);
      expect({ ...zipped, source: '' }).toEqual({ ...api, source: '' });
    }
  });
});

describe('api.json + Swagger 2.0 (JSON)', () => {
  const api = loadProject(path.join(FIXTURES, 'inventory-json'), OPTIONS, 'fixtures/inventory-json');

  it('puts the version where a {version} context says, derives an id, uses defaults', () => {
    expect(api).toMatchObject({
      id: derivedId('Inventory', 'v3'),
      context: '/inventory',
      basePath: '/v3/inventory',
      organization: 'warehouse.example',
      labels: ['Default'],
      vhost: 'localhost',
      isDefaultVersion: false,
      lifecycleStatus: 'PUBLISHED',
    });
    expect(api.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(api.cors).toBeUndefined();
    expect(api.security).toEqual({ schemes: ['api_key', 'oauth_basic_auth_api_key_mandatory'], authorizationHeader: 'Authorization', apiKeyHeader: 'X-Api-Key' });
  });

  it('uses host + basePath + schemes as the backend when api.yaml names none (https preferred)', () => {
    expect(api.endpoints).toEqual({
      production: { type: 'load_balance', urls: [{ url: 'https://stock.internal.example:9080/stock', scheme: 'https', host: 'stock.internal.example', port: 9080, basePath: '/stock' }] },
    });
  });

  it('reads x-auth-type None and x-wso2-throttling-tier per operation', () => {
    expect(api.resources).toEqual([
      { path: '/items', operations: [{ method: 'GET', secured: true, scopes: [] }] },
      {
        path: '/items/{sku}',
        operations: [
          { method: 'GET', secured: false, scopes: [] },
          { method: 'PATCH', secured: true, scopes: [], throttlingTier: 'Bronze' },
        ],
      },
    ]);
  });
});

describe('a bare OpenAPI 3.1 file with x-wso2 extensions', () => {
  const api = loadProject(path.join(FIXTURES, 'weather-oas3.yaml'), OPTIONS, 'fixtures/weather-oas3.yaml');

  it('takes name, version, base path, vhost and security from the definition', () => {
    expect(api).toMatchObject({
      id: derivedId('Weather', '2.1.0'),
      name: 'Weather',
      version: '2.1.0',
      context: '/weather',
      basePath: '/weather/2.1.0',
      vhost: 'weather.example.com',
      labels: ['Default'],
      throttlingTier: 'Gold',
    });
    expect(api.security).toEqual({ schemes: ['oauth2', 'api_key'], authorizationHeader: 'X-Weather-Token', apiKeyHeader: 'apikey' });
  });

  it('reads failover endpoints with timeout, retries (default status codes) and circuit breakers', () => {
    expect(api.endpoints.production).toEqual({
      type: 'failover',
      urls: [
        { url: 'https://weather-a.example.net/v2', scheme: 'https', host: 'weather-a.example.net', port: 443, basePath: '/v2' },
        { url: 'https://weather-b.example.net:8443/v2', scheme: 'https', host: 'weather-b.example.net', port: 8443, basePath: '/v2' },
      ],
      timeoutMs: 2500,
      retry: { count: 2, statusCodes: [504] },
      circuitBreakers: { maxConnections: 50, maxPendingRequests: 10 },
    });
    expect(api.endpoints.sandbox).toBeUndefined();
  });

  it('reads x-wso2-cors with APIM defaults for what it leaves out', () => {
    expect(api.cors).toEqual({
      enabled: true,
      allowOrigins: ['https://weather.example.com'],
      allowMethods: ['GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS'],
      allowHeaders: ['authorization', 'Access-Control-Allow-Origin', 'Content-Type', 'SOAPAction', 'apikey', 'Internal-Key'],
      exposeHeaders: [],
      allowCredentials: false,
    });
  });

  it('reads security: [] as unsecured and per-operation tiers', () => {
    expect(api.resources).toEqual([
      { path: '/forecast/{city}', operations: [{ method: 'GET', secured: true, scopes: [], throttlingTier: 'Silver' }] },
      { path: '/stations/{id}.json', operations: [{ method: 'GET', secured: false, scopes: [] }] },
    ]);
  });

  it('reads a bare JSON definition the same way', () => {
    const yamlText = fs.readFileSync(path.join(FIXTURES, 'weather-oas3.yaml'), 'utf8');
    const json = JSON.stringify(require('yaml').parse(yamlText), null, '\t');
    const fromJson = parseProject(memProject({ 'weather.json': json }, 'apis/weather.json'), OPTIONS);
    expect({ ...fromJson, source: '' }).toEqual({ ...api, source: '' });
  });
});

describe('base path rules', () => {
  const basePath = (context: string, version = '2.0', extraDef = ''): [string, string] => {
    const files: Record<string, string> = { 'api.yaml': apiYaml('', `name: Shop\n  version: ${version}\n  context: ${context}`) };
    if (extraDef) files['Definitions/swagger.yaml'] = `openapi: 3.0.0\ninfo: {title: Shop, version: '${version}'}\n${extraDef}\npaths:\n  /items:\n    get: {}\n`;
    const api = parseProject(memProject(files), OPTIONS);
    return [api.context, api.basePath];
  };

  it('appends the version to an unversioned context', () => {
    expect(basePath('/shop')).toEqual(['/shop', '/shop/2.0']);
    expect(basePath('shop/')).toEqual(['/shop', '/shop/2.0']);
    expect(basePath('/')).toEqual(['/', '/2.0']);
  });

  it('keeps a version-like YAML number as written (2.10 is not 2.1)', () => {
    expect(basePath('/shop', '2.10')).toEqual(['/shop', '/shop/2.10']);
  });

  it('does not append the version twice, and honours {version}', () => {
    expect(basePath('/shop/2.0')).toEqual(['/shop', '/shop/2.0']);
    expect(basePath('/{version}/shop')).toEqual(['/shop', '/2.0/shop']);
    expect(basePath('/shop/{version}')).toEqual(['/shop', '/shop/2.0']);
  });

  it('lets x-wso2-basePath override', () => {
    expect(basePath('/shop', '2.0', 'x-wso2-basePath: /store/v2/')).toEqual(['/shop', '/store/v2']);
  });

  it('rejects characters a route cannot carry', () => {
    const err = errorOf(() => basePath('/sh op'));
    expect(err.message).toMatch(/^apis\/p\/api\.yaml:6: context: invalid context "\/sh op"/);
  });
});

describe('security', () => {
  it('x-wso2-disable-security at the root leaves the API and every operation unsecured', () => {
    const api = parseProject(
      memProject({
        'open.yaml': 'openapi: 3.0.0\ninfo: {title: Open, version: v1}\nx-wso2-basePath: /open/v1\nx-wso2-disable-security: true\nx-wso2-production-endpoints: {urls: ["http://open.internal"]}\npaths:\n  /a:\n    get: {}\n    post: {}\n',
      }),
      OPTIONS,
    );
    expect(api.security.schemes).toEqual([]);
    expect(api.resources[0].operations.map((o) => o.secured)).toEqual([false, false]);
  });

  it('inherits root security scopes, and a path-level x-wso2-disable-security opens the path', () => {
    const api = parseProject(
      memProject({
        'def.yaml': [
          'openapi: 3.0.0',
          'info: {title: S, version: v1}',
          'x-wso2-basePath: /s/v1',
          'x-wso2-production-endpoints: {urls: ["http://s.internal"]}',
          'x-wso2-mutual-ssl: mandatory',
          'security: [{default: [read]}]',
          'paths:',
          '  /a:',
          '    get: {}',
          '  /b:',
          '    x-wso2-disable-security: true',
          '    get: {}',
        ].join('\n'),
      }),
      OPTIONS,
    );
    expect(api.security.schemes).toEqual(['oauth2', 'mutualssl', 'mutualssl_mandatory', 'oauth_basic_auth_api_key_mandatory']);
    expect(api.resources.map((r) => r.operations[0])).toEqual([
      { method: 'GET', secured: true, scopes: ['read'] },
      { method: 'GET', secured: false, scopes: ['read'] },
    ]);
  });

  it('uses api.yaml operations alone when there is no definition', () => {
    const api = parseProject(memProject({ 'api.yaml': apiYaml('      authType: None\n      scopes: [x]\n') }), OPTIONS);
    expect(api.resources).toEqual([{ path: '/items', operations: [{ method: 'GET', secured: false, scopes: ['x'] }] }]);
    expect(api.security.schemes).toEqual(['oauth2', 'oauth_basic_auth_api_key_mandatory']);
  });
});

describe('errors name the file and line', () => {
  const fail = (files: Record<string, string>, source = 'apis/petstore'): string => errorOf(() => parseProject(memProject(files, source), OPTIONS)).message;

  it('malformed YAML', () => {
    const err = errorOf(() => parseProject(memProject({ 'api.yaml': 'type: api\ndata:\n  name: [unclosed\n  version: 1\n' }, 'apis/petstore'), OPTIONS));
    expect(err.file).toBe('api.yaml');
    expect(err.line).toBeGreaterThanOrEqual(3);
    expect(err.message).toMatch(/^apis\/petstore\/api\.yaml:\d+: malformed YAML: /);
  });

  it('duplicate keys in JSON are an error, not "last one wins"', () => {
    const err = errorOf(() => parseProject(memProject({ 'api.json': '{\n  "data": {\n    "name": "a",\n    "name": "b"\n  }\n}' }), OPTIONS));
    expect([err.file, err.line]).toEqual(['api.json', 4]);
    expect(err.reason).toMatch(/Map keys must be unique/);
  });

  it('malformed JSON', () => {
    const err = errorOf(() => parseProject(memProject({ 'api.json': '{\n  "type": "api",\n  "data": {\n    "name": "x",,\n  }\n}' }), OPTIONS));
    expect(err.file).toBe('api.json');
    expect(err.line).toBe(4);
  });

  it('missing name, version or context', () => {
    expect(fail({ 'api.yaml': 'type: api\nversion: v4\ndata:\n  version: 1.0.0\n  context: /x\n' })).toBe('apis/petstore/api.yaml:3: missing name');
    expect(fail({ 'api.yaml': apiYaml('', 'name: Shop\n  context: /shop') })).toBe('apis/petstore/api.yaml:3: missing version');
  });

  it('an invalid endpoint URL, at the line of the url key', () => {
    const text = apiYaml().replace('http://shop.internal:8080/api', 'htp:/x');
    expect(fail({ 'api.yaml': text })).toBe('apis/petstore/api.yaml:10: endpointConfig.production_endpoints.url: not a URL: "htp:/x"');
    const bad = 'openapi: 3.0.0\ninfo: {title: T, version: v1}\nx-wso2-basePath: /t\nx-wso2-production-endpoints:\n  urls:\n    - http://ok.internal\n    - ftp://files.internal\npaths:\n  /a:\n    get: {}\n';
    expect(fail({ 't.yaml': bad }, 'apis/t.yaml')).toBe('apis/t.yaml:7: x-wso2-production-endpoints.urls[1]: not a URL: "ftp://files.internal"');
  });

  it('an endpoint URL with credentials or a query is refused without showing them', () => {
    const creds = fail({ 'api.yaml': apiYaml().replace('http://shop.internal:8080/api', 'http://svc:url-pass-4e1b@shop.internal:8080/api') });
    expect(creds).toBe('apis/petstore/api.yaml:10: endpointConfig.production_endpoints.url: endpoint URLs may not carry credentials: "http://svc:***@shop.internal:8080/api"');
    const query = fail({ 'api.yaml': apiYaml().replace('http://shop.internal:8080/api', 'http://shop.internal:8080/api?key=q-key-77c2') });
    expect(query).toBe('apis/petstore/api.yaml:10: endpointConfig.production_endpoints.url: endpoint URLs may not carry a query or fragment: "http://shop.internal:8080/api?…"');
  });

  it('no endpoint', () => {
    const text = apiYaml().replace(/  endpointConfig:[\s\S]*?operations:/, '  operations:');
    expect(fail({ 'api.yaml': text })).toMatch(/^apis\/petstore\/api\.yaml:3: no endpoint/);
  });

  const skipped = (files: Record<string, string>, source = 'apis/petstore'): unknown => parseProject(memProject(files, source), OPTIONS).skipped;

  it('a resource path not starting with "/", and a misplaced wildcard, cost their route; with no other, the API', () => {
    const def = (p: string): string => `openapi: 3.0.0\ninfo: {title: Shop, version: '2.0'}\npaths:\n  /ok:\n    get: {}\n  ${p}:\n    get: {}\n`;
    expect(skipped({ 'api.yaml': apiYaml().replace(/  operations:[\s\S]*/, ''), 'Definitions/swagger.yaml': def('items') })).toEqual([
      { path: 'items', at: 'apis/petstore/Definitions/swagger.yaml:6', reason: 'resource path must start with "/": "items"' },
    ]);
    expect(fail({ 'api.yaml': apiYaml().replace('target: /items', 'target: /a/*/b') })).toBe(
      'apis/petstore/api.yaml:3: no operation can be served: 1 left out, the first GET /a/*/b (apis/petstore/api.yaml:12: a wildcard is only allowed as the last segment ("/*"): "/a/*/b")',
    );
  });

  it('an unknown verb', () => {
    expect(fail({ 'api.yaml': apiYaml().replace('verb: GET', 'verb: FETCH') })).toMatch(/^apis\/petstore\/api\.yaml:3: no operation can be served: .*\(apis\/petstore\/api\.yaml:13: unknown HTTP method "FETCH"/);
    const def = 'openapi: 3.0.0\ninfo: {title: T, version: v1}\nx-wso2-basePath: /t\nservers: [{url: "http://t.internal"}]\npaths:\n  /a:\n    fetch: {}\n';
    expect(fail({ 't.yaml': def }, 'apis/t.yaml')).toMatch(/^apis\/t\.yaml:5: paths: no operation can be served: .*\(apis\/t\.yaml:7: unknown or unsupported HTTP method "fetch"/);
  });

  it('duplicate operations (same route, different parameter names or a trailing slash): the first is served', () => {
    const def = 'openapi: 3.0.0\ninfo: {title: T, version: v1}\nx-wso2-basePath: /t\nservers: [{url: "http://t.internal"}]\npaths:\n  /a/{id}:\n    get: {}\n  /a/{name}/:\n    get: {}\n';
    expect(skipped({ 't.yaml': def }, 'apis/t.yaml')).toEqual([
      { path: '/a/{name}/', method: 'GET', at: 'apis/t.yaml:9', reason: 'duplicate operation GET /a/{name}/ (same route as GET /a/{id}, which is served)' },
    ]);
    const twice = apiYaml('    - target: /items/\n      verb: get\n');
    expect(skipped({ 'api.yaml': twice })).toEqual([
      { path: '/items/', method: 'GET', at: 'apis/petstore/api.yaml:14', reason: 'duplicate operation GET /items/ (same route as operations[0], which is served)' },
    ]);
    expect(fail({ 't.yaml': def.replace('/a/{name}/', '/a/{id}') }, 'apis/t.yaml')).toMatch(/^apis\/t\.yaml:8: malformed YAML: Map keys must be unique/);
  });

  it('an api.yaml operation missing from the definition', () => {
    const def = "openapi: 3.0.0\ninfo: {title: Shop, version: '2.0'}\npaths:\n  /other:\n    get: {}\n";
    expect(skipped({ 'api.yaml': apiYaml(), 'Definitions/swagger.yaml': def })).toEqual([
      { path: '/items', method: 'GET', at: 'apis/petstore/api.yaml:12', reason: 'GET /items is not in Definitions/swagger.yaml' },
    ]);
  });

  it('an unknown security scheme (never silently dropped)', () => {
    expect(fail({ 'api.yaml': apiYaml('  securityScheme: [oauth2, oauth]\n') })).toMatch(/^apis\/petstore\/api\.yaml:14: securityScheme\[1\]: unknown security scheme "oauth"/);
  });

  it('a missing endpoint certificate file', () => {
    const certs = 'type: endpoint_certificates\ndata:\n  - alias: a\n    endpoint: http://shop.internal:8080/api\n    certificate: missing.crt\n';
    expect(fail({ 'api.yaml': apiYaml(), 'Endpoint-certificates/endpoint_certificates.yaml': certs })).toBe(
      'apis/petstore/Endpoint-certificates/endpoint_certificates.yaml:5: data[0].certificate: certificate file Endpoint-certificates/missing.crt not found',
    );
  });

  it('endpoint security other than BASIC, or BASIC without a username (the backend would refuse every call)', () => {
    const security = (body: string): string => apiYaml().replace('      url: http://shop.internal:8080/api\n', `      url: http://shop.internal:8080/api\n    endpoint_security:\n      production:\n${body}`);
    expect(fail({ 'api.yaml': security('        enabled: true\n        type: DIGEST\n        username: u\n') })).toBe(
      'apis/petstore/api.yaml:14: endpointConfig.endpoint_security.production.type: endpoint security type "DIGEST" is not supported (BASIC only)',
    );
    expect(fail({ 'api.yaml': security('        enabled: true\n        type: BASIC\n') })).toBe('apis/petstore/api.yaml:12: endpointConfig.endpoint_security.production: BASIC endpoint security needs a username');
    // Disabled security is no security, whatever else it says.
    expect(parseProject(memProject({ 'api.yaml': security('        enabled: false\n        type: DIGEST\n') }), OPTIONS).endpoints.production?.basicAuth).toBeUndefined();
  });

  it('a client certificate that is not one', () => {
    const list = 'type: client_certificates\ndata:\n  - alias: a\n    certificate: a.crt\n    tierName: Gold\n';
    const bad = '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n';
    expect(fail({ 'api.yaml': apiYaml(), 'Client-certificates/client_certificates.yaml': list, 'Client-certificates/a.crt': bad })).toMatch(
      /^apis\/petstore\/Client-certificates\/client_certificates\.yaml:4: data\[0\]\.certificate: Client-certificates\/a\.crt does not parse as an X\.509 certificate/,
    );
  });

  it('a bare definition without x-wso2-basePath, a folder that is no project, a broken zip', () => {
    expect(fail({ 'd.yaml': 'openapi: 3.0.0\ninfo: {title: T, version: v1}\npaths: {}\n' }, 'apis/d.yaml')).toMatch(/^apis\/d\.yaml:1: a definition without api.yaml needs x-wso2-basePath/);
    expect(fail({ 'README.md': '# hi', 'notes.txt': '' })).toBe('apis/petstore: not an API project: no api.yaml, api.json or Definitions/swagger.yaml');
    expect(errorOf(() => readProjectZip(Buffer.from('not a zip'), 'apis/x.zip')).message).toMatch(/^apis\/x\.zip: not a readable zip/);
  });

  it('environments with different vhosts', () => {
    const envs = 'type: deployment_environments\ndata:\n  - {deploymentEnvironment: A, deploymentVhost: a.example}\n  - {deploymentEnvironment: B, deploymentVhost: b.example}\n';
    expect(fail({ 'api.yaml': apiYaml(), 'deployment_environments.yaml': envs })).toMatch(/^apis\/petstore\/deployment_environments\.yaml:4: data\[1\]\.deploymentVhost: all environments/);
  });
});

describe('the embedded apis/ folder', () => {
  const root = path.join(__dirname, '../../../apis');
  it('parses every project without errors', () => {
    const names = fs.readdirSync(root).filter((n) => !n.startsWith('.'));
    expect(names.length).toBeGreaterThanOrEqual(2);
    const apis = names.map((n) => parseProject(readProject(path.join(root, n), `apis/${n}`), OPTIONS));
    const swagger2 = apis.find((a) => a.name === 'Orders')!;
    expect(swagger2.resources.some((r) => r.endpoints?.production)).toBe(true);
    const petstore = apis.find((a) => a.name === 'PetStore')!;
    const paths = petstore.resources.map((r) => r.path);
    expect(paths).toEqual(expect.arrayContaining(['/pets/{petId}/photo.{format}', '/store/inventory/', '/media/*']));
    expect(petstore.resources.flatMap((r) => r.operations).filter((o) => !o.secured)).toHaveLength(1);
    expect(petstore.resources.flatMap((r) => r.operations).length).toBeGreaterThanOrEqual(8);
  });
});
