import type { Api } from '../../../src/model/api';
import { parseProject } from '../../../src/sources/local/project';
import { OPTIONS, apiYaml, memProject } from './helpers';

/** Path items written as `$ref`: followed within the definition and the project, or reported. */

const routes = (api: Api): string[] => api.resources.flatMap((r) => r.operations.map((o) => `${o.method} ${r.path}${o.secured ? '' : ' (open)'}`));
const HEAD = "x-wso2-basePath: /shop\nx-wso2-production-endpoints: {urls: ['https://shop.internal']}\n";

describe('$ref path items', () => {
  it('follows local references, with JSON-pointer escapes, chained (OpenAPI 3.1 components.pathItems)', () => {
    const def = `openapi: 3.1.0
info: {title: Shop, version: '1'}
${HEAD}paths:
  /ip-address:
    get: {}
  /ip-addresses:
    $ref: '#/paths/~1ip-address'
  /a~b/{id}:
    delete: {}
  /alias/{id}:
    $ref: '#/paths/~1a~0b~1%7Bid%7D'
  /chained:
    $ref: '#/components/pathItems/first'
  /beside:
    $ref: '#/components/pathItems/open'
    post: {security: []}
components:
  pathItems:
    first:
      $ref: '#/components/pathItems/open'
    open:
      get: {security: []}
      post: {}
`;
    const api = parseProject(memProject({ 'shop.yaml': def }, 'apis/shop.yaml'), OPTIONS);
    expect(routes(api)).toEqual([
      'GET /ip-address',
      'GET /ip-addresses',
      'DELETE /a~b/{id}',
      'DELETE /alias/{id}',
      'GET /chained (open)',
      'POST /chained',
      // A field written beside the $ref wins over the referenced one.
      'POST /beside (open)',
      'GET /beside (open)',
    ]);
    expect(api.skipped).toBeUndefined();
  });

  it('follows references to other files of the project (Swagger 2.0), and reports their problems where they are', () => {
    const def = `swagger: '2.0'
info: {title: Shop, version: '2.0'}
paths:
  /items:
    $ref: paths/items.yaml
  /owners/{id}:
    $ref: 'paths/all.yaml#/~1owners~1{id}'
  /pets:
    $ref: ./paths/../paths/pets.yaml
`;
    const files = {
      'api.yaml': apiYaml(),
      'Definitions/swagger.yaml': def,
      'Definitions/paths/items.yaml': 'get: {}\npost: {}\n',
      'Definitions/paths/all.yaml': '/owners/{id}:\n  get: {}\n  trace: {}\n',
      'Definitions/paths/pets.yaml': 'get: [not, a, map]\n',
    };
    const api = parseProject(memProject(files, 'apis/shop'), OPTIONS);
    expect(routes(api)).toEqual(['GET /items', 'POST /items', 'GET /owners/{id}']);
    expect(api.skipped).toEqual([
      { path: '/owners/{id}', method: 'TRACE', at: 'apis/shop/Definitions/paths/all.yaml:3', reason: expect.stringMatching(/^unknown or unsupported HTTP method "trace"/) },
      { path: '/pets', method: 'GET', at: 'apis/shop/Definitions/paths/pets.yaml:1', reason: 'get: expected an operation (a map)' },
    ]);
  });

  it('reports what cannot be followed: missing targets and files, remote URLs, cycles, files that do not parse', () => {
    const def = `openapi: 3.0.3
info: {title: Shop, version: '1'}
${HEAD}paths:
  /ok:
    get: {}
  /missing:
    $ref: '#/components/pathItems/nope'
  /no-file:
    $ref: other.yaml#/paths/~1a
  /outside:
    $ref: ../../etc/passwd
  /remote:
    $ref: https://example.com/paths.yaml
  /cycle:
    $ref: '#/x-items/a'
  /broken:
    $ref: broken.yaml
  /not-a-map:
    $ref: '#/info/title'
x-items:
  a: {$ref: '#/x-items/b'}
  b: {$ref: '#/x-items/a'}
`;
    const api = parseProject(memProject({ 'Definitions/openapi.yaml': def, 'Definitions/broken.yaml': 'get: [unclosed\n' }, 'apis/shop'), OPTIONS);
    expect(routes(api)).toEqual(['GET /ok']);
    expect(api.skipped).toEqual([
      { path: '/missing', at: 'apis/shop/Definitions/openapi.yaml:9', reason: 'paths["/missing"].$ref: "#/components/pathItems/nope" leads nowhere: the definition has nothing at "/components/pathItems/nope"' },
      { path: '/no-file', at: 'apis/shop/Definitions/openapi.yaml:11', reason: 'paths["/no-file"].$ref: "other.yaml" is not a file of this project' },
      { path: '/outside', at: 'apis/shop/Definitions/openapi.yaml:13', reason: 'paths["/outside"].$ref: "../../etc/passwd" is not a file of this project' },
      { path: '/remote', at: 'apis/shop/Definitions/openapi.yaml:15', reason: 'paths["/remote"].$ref: remote reference "https://example.com/paths.yaml" is not followed: only references within the project are' },
      { path: '/cycle', at: 'apis/shop/Definitions/openapi.yaml:24', reason: 'x-items.b.$ref: reference cycle: "#/x-items/a" leads back to a path item already followed' },
      { path: '/broken', at: expect.stringMatching(/^apis\/shop\/Definitions\/broken\.yaml:\d+$/), reason: expect.stringMatching(/^malformed YAML: /) },
      { path: '/not-a-map', at: 'apis/shop/Definitions/openapi.yaml:21', reason: 'paths["/not-a-map"].$ref: "#/info/title" leads to no path item (a map)' },
    ]);
  });
});
