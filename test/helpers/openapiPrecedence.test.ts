import { concretePath, fallThroughChoice, openApiChoice, pathPart, shadowedMethods, type Template } from './openapiPrecedence';

/** The reference rule the public-definitions test holds the route table to, checked on its own. */

const t = (path: string, ...methods: string[]): Template => ({ path, methods });

describe('OpenAPI precedence (reference)', () => {
  const gists = [t('/gists/{gist_id}', 'DELETE', 'GET', 'PATCH'), t('/gists/starred', 'GET'), t('/gists', 'GET', 'POST')];

  test('a concrete segment beats a templated one', () => {
    expect(openApiChoice(gists, '/gists/starred', 'GET')).toEqual({ templates: ['/gists/starred'] });
    expect(openApiChoice(gists, '/gists/42', 'GET')).toEqual({ templates: ['/gists/{gist_id}'] });
  });

  test('a method only the less specific template has: OpenAPI says 405, fall-through goes to that template', () => {
    expect(openApiChoice(gists, '/gists/starred', 'DELETE')).toEqual({ templates: [], methodNotAllowed: ['GET'] });
    expect(fallThroughChoice(gists, '/gists/starred', 'DELETE')).toEqual(['/gists/{gist_id}']);
    expect(fallThroughChoice(gists, '/gists/starred', 'PUT')).toEqual([]);
    expect(shadowedMethods(gists, '/gists/starred')).toEqual([
      { method: 'DELETE', allowed: ['GET'], fallsTo: ['/gists/{gist_id}'] },
      { method: 'PATCH', allowed: ['GET'], fallsTo: ['/gists/{gist_id}'] },
    ]);
    expect(shadowedMethods(gists, '/gists/42')).toEqual([]);
  });

  test('segments compare left to right: the first concrete one decides', () => {
    const ts = [t('/a/{x}/c', 'GET'), t('/a/b/{y}', 'GET')];
    expect(openApiChoice(ts, '/a/b/c', 'GET').templates).toEqual(['/a/b/{y}']);
  });

  test('literal text around a parameter ranks between a literal and a bare parameter', () => {
    const ts = [t('/files/{name}', 'GET'), t('/files/{name}.json', 'GET'), t('/files/index.json', 'GET')];
    expect(openApiChoice(ts, '/files/index.json', 'GET').templates).toEqual(['/files/index.json']);
    expect(openApiChoice(ts, '/files/x.json', 'GET').templates).toEqual(['/files/{name}.json']);
    expect(openApiChoice(ts, '/files/x.xml', 'GET').templates).toEqual(['/files/{name}']);
  });

  test('equally specific templates: the method decides; both having it is ambiguous', () => {
    const ts = [t('/cards/{idCard}', 'GET'), t('/cards/{filter}', 'DELETE')];
    expect(openApiChoice(ts, '/cards/7', 'DELETE').templates).toEqual(['/cards/{filter}']);
    const both = [t('/v/{a}.{b}', 'GET'), t('/v/{c}.json', 'GET')];
    expect(openApiChoice(both, '/v/x.json', 'GET').templates.sort()).toEqual(['/v/{a}.{b}', '/v/{c}.json']);
  });

  test('a trailing /* covers its path and everything below, least specifically', () => {
    const ts = [t('/media/*', 'GET'), t('/media', 'GET'), t('/media/{id}/thumb', 'GET')];
    expect(openApiChoice(ts, '/media', 'GET').templates).toEqual(['/media']);
    expect(openApiChoice(ts, '/media/1/thumb', 'GET').templates).toEqual(['/media/{id}/thumb']);
    expect(openApiChoice(ts, '/media/1/full', 'GET').templates).toEqual(['/media/*']);
  });

  test('what follows # or ? is not part of the path; a space is %20', () => {
    expect(pathPart('/files/{file_id}#add_shared_link')).toBe('/files/{file_id}');
    expect(pathPart('/rest?method=flickr.photos.search')).toBe('/rest');
    expect(pathPart('/Your Pull DOC')).toBe('/Your%20Pull%20DOC');
  });

  test('a concrete path for a template avoids its siblings literals', () => {
    const ts = [t('/x/{id}', 'GET'), t('/x/zq0', 'GET'), t('/x/{id}/*', 'GET')];
    const p = concretePath(ts[0], ts);
    expect(p).not.toBe('/x/zq0');
    expect(openApiChoice(ts, p, 'GET').templates).toEqual(['/x/{id}']);
    expect(openApiChoice(ts, concretePath(ts[2], ts), 'GET').templates).toEqual(['/x/{id}/*']);
  });
});
