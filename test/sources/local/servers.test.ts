import type { Api } from '../../../src/model/api';
import { ProjectError } from '../../../src/sources/local/errors';
import { parseProject } from '../../../src/sources/local/project';
import { OPTIONS, apiYaml, errorOf, memProject } from './helpers';

/**
 * `servers` (OAS 3) and `host` + `basePath` (Swagger 2): ignored when x-wso2-*-endpoints or
 * api.yaml name the backend, else read as OpenAPI defines them.
 */

const X_WSO2 = "x-wso2-production-endpoints: {urls: ['https://backend.internal/v3']}\n";
const oas3 = (servers: string, extra = ''): string =>
  `openapi: 3.0.3\ninfo: {title: GitHub, version: '3.8'}\nx-wso2-basePath: /github\n${extra}servers:\n${servers}paths:\n  /repos:\n    get: {}\n`;
const parse = (text: string, notes: ProjectError[] = []): Api => parseProject(memProject({ 'gh.yaml': text }, 'apis/gh.yaml'), OPTIONS, notes);
const urls = (api: Api): string[] | undefined => api.endpoints.production?.urls.map((u) => u.url);

const GHES = `  - url: https://github.com/
  - url: '{protocol}://{hostname}/api/v3'
    variables:
      hostname: {default: HOSTNAME}
      protocol: {default: http}
`;

describe('servers when x-wso2 endpoints or api.yaml name the backend', () => {
  it('are ignored entirely, however odd (GitHub Enterprise Server, a variable without default, a relative URL)', () => {
    const notes: ProjectError[] = [];
    expect(urls(parse(oas3(GHES, X_WSO2), notes))).toEqual(['https://backend.internal/v3']);
    expect(urls(parse(oas3("  - url: '{scheme}://{host}/api'\n  - url: /relative\n  - url: ftp://files\n", X_WSO2), notes))).toEqual(['https://backend.internal/v3']);
    expect(notes).toEqual([]);
  });

  it('are ignored beside api.yaml endpointConfig, and so is a Swagger 2.0 host that is no host', () => {
    const def = "swagger: '2.0'\ninfo: {title: Shop, version: '2.0'}\nhost: 'not a host:99999'\nbasePath: /v2\npaths:\n  /items:\n    get: {}\n";
    const api = parseProject(memProject({ 'api.yaml': apiYaml(), 'Definitions/swagger.yaml': def }), OPTIONS);
    expect(urls(api)).toEqual(['http://shop.internal:8080/api']);
  });
});

describe('servers as the backend', () => {
  it('replace server variables by their defaults (Linode-style {apiVersion})', () => {
    const linode = "  - url: 'https://api.linode.com/{apiVersion}'\n    variables:\n      apiVersion: {default: v4, enum: [v4, v4beta]}\n";
    const notes: ProjectError[] = [];
    expect(urls(parse(oas3(linode), notes))).toEqual(['https://api.linode.com/v4']);
    expect(notes).toEqual([]);
  });

  it('take the first of several servers with different base paths, with a note naming the others (Linode v4, v4beta)', () => {
    const notes: ProjectError[] = [];
    const api = parse(oas3('  - url: https://api.linode.com/v4\n  - url: https://api.linode.com/v4beta\n'), notes);
    expect(api.endpoints.production).toEqual({ type: 'load_balance', urls: [{ url: 'https://api.linode.com/v4', scheme: 'https', host: 'api.linode.com', port: 443, basePath: '/v4' }] });
    expect(notes.map((n) => n.message)).toEqual(['apis/gh.yaml:4: servers: the backend is https://api.linode.com/v4 (the first server); not used: https://api.linode.com/v4beta']);
  });

  it('pass over relative and unusable server URLs to the first usable one, noting each', () => {
    const notes: ProjectError[] = [];
    expect(urls(parse(oas3("  - url: /api/v3\n  - url: '{scheme}://x/api'\n" + GHES), notes))).toEqual(['https://github.com']);
    expect(notes.map((n) => n.message)).toEqual([
      'apis/gh.yaml:5: servers[0].url: not used: "/api/v3" is relative, so it names no backend host',
      'apis/gh.yaml:6: servers[1].url: not used: server variable {scheme} has no default',
      'apis/gh.yaml:4: servers: the backend is https://github.com (the first server); not used: http://hostname/api/v3',
    ]);
  });

  it('take the first server over TLS when it is offered both ways (AWS lists http:// first)', () => {
    const notes: ProjectError[] = [];
    const aws = "  - url: 'http://mgh.{region}.amazonaws.com'\n    variables: {region: {default: us-east-1}}\n  - url: 'https://mgh.{region}.amazonaws.com'\n    variables: {region: {default: us-east-1}}\n";
    expect(urls(parse(oas3(aws), notes))).toEqual(['https://mgh.us-east-1.amazonaws.com']);
    expect(notes.map((n) => n.reason)).toEqual(['servers: the backend is https://mgh.us-east-1.amazonaws.com (the first server, over TLS); not used: http://mgh.us-east-1.amazonaws.com']);
  });

  it('refuse the API when no server names a backend, saying why', () => {
    expect(errorOf(() => parse(oas3('  - url: /api/v3\n'))).message).toBe(
      'apis/gh.yaml:5: servers[0].url: no endpoint: "/api/v3" is relative, so it names no backend host (give x-wso2-production-endpoints, or a server URL with a host)',
    );
    expect(errorOf(() => parse(oas3('  []\n'))).message).toMatch(/^apis\/gh\.yaml:1: no endpoint: give production or sandbox endpoints/);
  });

  it('read Swagger 2.0 host, basePath and schemes', () => {
    const def = "swagger: '2.0'\ninfo: {title: Shop, version: '2.0'}\nx-wso2-basePath: /shop\nhost: shop.example.com:8443\nbasePath: /v2\nschemes: [http, https]\npaths:\n  /items:\n    get: {}\n";
    expect(urls(parse(def))).toEqual(['https://shop.example.com:8443/v2']);
    expect(errorOf(() => parse(def.replace('shop.example.com:8443', 'shop.example.com:99999'))).message).toMatch(/^apis\/gh\.yaml:4: host: no endpoint: not a URL/);
  });
});
