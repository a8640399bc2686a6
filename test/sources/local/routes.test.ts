import type { Api } from '../../../src/model/api';
import { parseProject } from '../../../src/sources/local/project';
import { OPTIONS, apiYaml, errorOf, memProject } from './helpers';

/** A problem with a path or an operation costs that route; the API's other resources are served. */

const bare = (name: string, text: string): Api => parseProject(memProject({ [name]: text }, `apis/${name}`), OPTIONS);
const routes = (api: Api): string[] => api.resources.flatMap((r) => r.operations.map((o) => `${o.method} ${r.path}`));

describe('odd path keys', () => {
  it('serves the path part of AWS-style "#Action=" keys: the first of each method, the others reported', () => {
    const api = bare(
      'lambda.yaml',
      `openapi: 3.0.0
info: {title: AWS Lambda, version: '2015-03-31'}
x-wso2-basePath: /lambda
x-wso2-production-endpoints: {urls: [https://lambda.us-east-1.amazonaws.com]}
paths:
  /#Action=AddPermission:
    post: {}
  /#Action=ListFunctions:
    get: {}
  /#Action=RemovePermission:
    post: {}
`,
    );
    expect(routes(api)).toEqual(['POST /', 'GET /']);
    expect(api.skipped).toEqual([
      {
        path: '/#Action=RemovePermission',
        method: 'POST',
        at: 'apis/lambda.yaml:11',
        reason: 'POST /#Action=RemovePermission is routed as POST /, the same route as POST /#Action=AddPermission, which is served',
      },
    ]);
  });

  it('serves Box-style "#add_shared_link" and "?query" keys by their path; encodes spaces and merges slashes (Swagger 2.0)', () => {
    const api = bare(
      'box.json',
      JSON.stringify({
        swagger: '2.0',
        info: { title: 'Box', version: '2.0' },
        host: 'api.box.com',
        basePath: '/2.0',
        schemes: ['https'],
        'x-wso2-basePath': '/box',
        paths: {
          '/files/{file_id}': { get: {}, put: {} },
          '/files/{file_id}#add_shared_link': { put: {}, options: {} },
          '/files/{file_id}/content?version={v}': { get: {} },
          '/Your Pull DOC Request API Path': { get: {} },
          '/vendor//addons': { get: {} },
        },
      }, null, 2),
    );
    expect(routes(api)).toEqual([
      'GET /files/{file_id}',
      'PUT /files/{file_id}',
      'OPTIONS /files/{file_id}',
      'GET /files/{file_id}/content',
      'GET /Your%20Pull%20DOC%20Request%20API%20Path',
      'GET /vendor/addons',
    ]);
    expect(api.skipped).toEqual([
      {
        path: '/files/{file_id}#add_shared_link',
        method: 'PUT',
        at: 'apis/box.json:19',
        reason: 'PUT /files/{file_id}#add_shared_link is routed as PUT /files/{file_id}, the same route as PUT /files/{file_id}, which is served',
      },
    ]);
    expect(api.endpoints.production?.urls.map((u) => u.url)).toEqual(['https://api.box.com/2.0']);
  });

  it('matches an api.yaml target with "#" to the definition key it names', () => {
    const def = "openapi: 3.0.0\ninfo: {title: Shop, version: '2.0'}\npaths:\n  /items#list:\n    get: {}\n";
    const api = parseProject(memProject({ 'api.yaml': apiYaml().replace('target: /items', 'target: /items#list').replace('verb: GET', 'verb: GET\n      authType: None'), 'Definitions/swagger.yaml': def }), OPTIONS);
    expect(api.resources).toEqual([{ path: '/items', operations: [{ method: 'GET', secured: false, scopes: [] }] }]);
    expect(api.skipped).toBeUndefined();
  });
});

describe('duplicate shapes', () => {
  it('serves the first of two templates of one shape in document order (Trello /cards/{idCard}, /cards/{filter})', () => {
    const def = (first: string, second: string): string => `openapi: 3.0.0
info: {title: Trello, version: '1.0'}
x-wso2-basePath: /trello
x-wso2-production-endpoints: {urls: ['https://api.trello.com/1']}
paths:
  ${first}:
    get: {}
    put: {}
  ${second}:
    get: {}
  /cards/{idCard}/actions:
    get: {}
`;
    const api = bare('trello.yaml', def('/cards/{idCard}', '/cards/{filter}'));
    expect(routes(api)).toEqual(['GET /cards/{idCard}', 'PUT /cards/{idCard}', 'GET /cards/{idCard}/actions']);
    expect(api.skipped).toEqual([
      { path: '/cards/{filter}', method: 'GET', at: 'apis/trello.yaml:10', reason: 'duplicate operation GET /cards/{filter} (same route as GET /cards/{idCard}, which is served)' },
    ]);
    const swapped = bare('trello.yaml', def('/cards/{filter}', '/cards/{idCard}'));
    expect(routes(swapped)).toEqual(['GET /cards/{filter}', 'PUT /cards/{filter}', 'GET /cards/{idCard}/actions']);
    expect(swapped.skipped).toEqual([expect.objectContaining({ path: '/cards/{idCard}', method: 'GET' })]);
  });
});

describe('unsupported methods and malformed parameters', () => {
  const def = `openapi: 3.1.0
info: {title: Odd, version: '1'}
x-wso2-basePath: /odd
x-wso2-production-endpoints: {urls: ['https://odd.internal']}
paths:
  /anything:
    summary: all of them
    parameters: []
    get: {}
    trace: {}
    fetch: {}
  /data/insights/{insight_id:}:
    get: {}
  /data/insights/{insight_id}/query:
    get: {}
  /a/{b:
    get: {}
  /a/*/b:
    get: {}
  /secure:
    get: {security: oops}
    post: {x-wso2-disable-security: 'yes'}
`;

  it('leaves out the operation or path, says why and where, and serves the rest', () => {
    const api = bare('odd.yaml', def);
    expect(routes(api)).toEqual(['GET /anything', 'GET /data/insights/{insight_id}/query']);
    const supported = '(supported: get, put, post, delete, patch, head, options)';
    expect(api.skipped).toEqual([
      { path: '/anything', method: 'TRACE', at: 'apis/odd.yaml:10', reason: `unknown or unsupported HTTP method "trace" ${supported}` },
      { path: '/anything', method: 'FETCH', at: 'apis/odd.yaml:11', reason: `unknown or unsupported HTTP method "fetch" ${supported}` },
      { path: '/data/insights/{insight_id:}', at: 'apis/odd.yaml:12', reason: 'malformed path parameter in "/data/insights/{insight_id:}" (expected {name}: letters, digits and _.-)' },
      { path: '/a/{b', at: 'apis/odd.yaml:16', reason: 'malformed path parameter in "/a/{b" (expected {name}: letters, digits and _.-)' },
      { path: '/a/*/b', at: 'apis/odd.yaml:18', reason: 'a wildcard is only allowed as the last segment ("/*"): "/a/*/b"' },
      { path: '/secure', method: 'GET', at: 'apis/odd.yaml:21', reason: 'paths["/secure"].get.security: expected a list of security requirements' },
      { path: '/secure', method: 'POST', at: 'apis/odd.yaml:22', reason: 'paths["/secure"].post.x-wso2-disable-security: expected true or false, got "yes"' },
    ]);
  });

  it('refuses the API only when nothing of it can be served', () => {
    const none = def.replace(/  \/anything:[\s\S]*?\n  \/data\/insights\/\{insight_id:\}:/, '  /data/insights/{insight_id:}:').replace(/  \/data\/insights\/\{insight_id\}\/query:\n    get: \{\}\n/, '');
    expect(errorOf(() => bare('odd.yaml', none)).message).toBe(
      'apis/odd.yaml:5: paths: no operation can be served: 5 left out, the first /data/insights/{insight_id:} (apis/odd.yaml:6: malformed path parameter in "/data/insights/{insight_id:}" (expected {name}: letters, digits and _.-))',
    );
  });
});

describe('a bare definition called api.json (Twilio)', () => {
  it('is read as the definition it is, not as APIM\'s api.yaml', () => {
    const def = { openapi: '3.0.1', info: { title: 'Twilio - Api', version: '1.0' }, 'x-wso2-basePath': '/twilio', 'x-wso2-production-endpoints': { urls: ['https://api.twilio.com'] }, paths: { '/2010-04-01/Accounts.json': { get: {} } } };
    expect(routes(bare('api.json', JSON.stringify(def)))).toEqual(['GET /2010-04-01/Accounts.json']);
  });
});

describe('file names once', () => {
  it('names a bare definition once and a project file under its project', () => {
    const def = "openapi: 3.0.0\ninfo: {title: Shop, version: '2.0'}\nx-wso2-basePath: /shop\nx-wso2-production-endpoints: {urls: ['https://shop.internal']}\npaths:\n  /a:\n    get: {}\n    trace: {}\n";
    expect(bare('x.json', def).skipped?.[0].at).toBe('apis/x.json:8');
    const inProject = parseProject(memProject({ 'api.yaml': apiYaml(), 'Definitions/swagger.yaml': def.replace('/a:', '/items:') }, 'apis/shop'), OPTIONS);
    expect(inProject.skipped?.[0].at).toBe('apis/shop/Definitions/swagger.yaml:8');
    expect(errorOf(() => bare('x.json', def.replace('/shop', 'sh op'))).where).toBe('apis/x.json:3');
  });
});
