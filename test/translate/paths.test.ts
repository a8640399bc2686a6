import { compareTemplates, pathMatch, prefixRewrite } from '../../src/translate/paths';

/** The path matcher as a JS predicate (our regexes use syntax JS and RE2 read alike). */
function matcher(basePath: string, template: string): (path: string) => boolean {
  const re = new RegExp(pathMatch(basePath, template).safe_regex.regex);
  return (path) => re.test(path);
}

describe('OpenAPI templates as path matchers', () => {
  test.each([
    ['/petstore/1.0.0', '/pet/{petId}', ['/petstore/1.0.0/pet/5', '/petstore/1.0.0/pet/5/', '/petstore/1.0.0/pet/a-b_c.d~e%20'], ['/petstore/1.0.0/pet/', '/petstore/1.0.0/pet/5/x', '/petstore/1x0x0/pet/5', '/petstore/1.0.0/pet', '/petstore/1.0.0/pet//']],
    ['/petstore/1.0.0', '/pet', ['/petstore/1.0.0/pet', '/petstore/1.0.0/pet/'], ['/petstore/1.0.0/pets', '/petstore/1.0.0/pet/1', '/petstore/1.0.0']],
    ['/petstore/1.0.0', '/pet/', ['/petstore/1.0.0/pet', '/petstore/1.0.0/pet/'], ['/petstore/1.0.0/pet/x']],
    ['/petstore/1.0.0', '/', ['/petstore/1.0.0', '/petstore/1.0.0/'], ['/petstore/1.0.0/x', '/petstore/1.0.01']],
    ['/petstore/1.0.0', '/pet/*', ['/petstore/1.0.0/pet', '/petstore/1.0.0/pet/', '/petstore/1.0.0/pet/a/b/c'], ['/petstore/1.0.0/pet123', '/petstore/1.0.0/pe']],
    ['/petstore/1.0.0', '/*', ['/petstore/1.0.0', '/petstore/1.0.0/x/y'], ['/petstore/1.0.01', '/other']],
    ['/petstore/1.0.0', '/pet/{id}/*', ['/petstore/1.0.0/pet/1', '/petstore/1.0.0/pet/1/a/b'], ['/petstore/1.0.0/pet', '/petstore/1.0.0/pets/1', '/petstore/1.0.0/pet/']],
    ['/files/v1', '/docs/{name}.json', ['/files/v1/docs/a.json', '/files/v1/docs/a.b.json'], ['/files/v1/docs/.json', '/files/v1/docs/a.jsonx', '/files/v1/docs/ajson', '/files/v1/docs/a/b.json']],
    ['/geo', '/v{major}.{minor}/map', ['/geo/v1.2/map'], ['/geo/v1/map', '/geo/v1x2/map', '/geo/v1.2/map/x']],
    ['/a+b', '/(x)|[y]', ['/a+b/(x)|[y]'], ['/aab/(x)|[y]', '/a+b/x', '/a+b/(x)']],
  ])('%s + %s', (base, template, yes, no) => {
    const m = matcher(base, template);
    for (const p of yes) expect([p, m(p)]).toEqual([p, true]);
    for (const p of no) expect([p, m(p)]).toEqual([p, false]);
  });

  // Issue 11, finding 5: a backend that strips `;params` or reads `..;` as `..` would serve another
  // path than the one matched; what a template leaves open never takes a `;`.
  test.each([
    ['/pet/{petId}', ['/petstore/1.0.0/pet/5;jsessionid=x', '/petstore/1.0.0/pet/..;', '/petstore/1.0.0/pet/;']],
    ['/pet/*', ['/petstore/1.0.0/pet/..;/admin', '/petstore/1.0.0/pet/a;b', '/petstore/1.0.0/pet;x/y', '/petstore/1.0.0/pet/a/b;c/d']],
    ['/*', ['/petstore/1.0.0/..;/other/1.0.0/admin', '/petstore/1.0.0;x']],
    ['/pet/{name}.json', ['/petstore/1.0.0/pet/a;.json', '/petstore/1.0.0/pet/..;.json']],
    ['/pet', ['/petstore/1.0.0/pet;x', '/petstore/1.0.0/pet/;']],
  ])('no `;` where %s leaves the path open', (template, refused) => {
    const m = matcher('/petstore/1.0.0', template);
    for (const p of refused) expect([p, m(p)]).toEqual([p, false]);
  });

  test('query templates are matched on their path', () => {
    expect(matcher('/api', '/search?q={q}')('/api/search')).toBe(true);
  });

  test('anchored regexes, literal prefix first; wildcards too (a path prefix could not refuse `;` below it)', () => {
    expect(pathMatch('/petstore/1.0.0', '/pet/*')).toEqual({ safe_regex: { regex: '^/petstore/1\\.0\\.0/pet(?:/[^;]*)?$' } });
    expect(pathMatch('/petstore/1.0.0', '/pet/{petId}')).toEqual({ safe_regex: { regex: '^/petstore/1\\.0\\.0/pet/[^/;]+/?$' } });
  });

  test('rewrites replace the base path with the backend base path', () => {
    const apply = (base: string, backend: string, path: string): string => {
      const r = prefixRewrite(base, backend);
      return path.replace(new RegExp(r.pattern.regex), r.substitution);
    };
    expect(apply('/petstore/1.0.0', '/v2', '/petstore/1.0.0/pet/5')).toBe('/v2/pet/5');
    expect(apply('/petstore/1.0.0', '/v2/', '/petstore/1.0.0')).toBe('/v2');
    expect(apply('/petstore/1.0.0', '', '/petstore/1.0.0/pet/5')).toBe('/pet/5');
    expect(apply('/petstore/1.0.0', '', '/petstore/1.0.0')).toBe('/');
    expect(apply('/petstore/1.0.0', '/', '/petstore/1.0.0/')).toBe('/');
  });

  test('most specific first: literal, then mixed, then parameter, then wildcard; a path before what covers it', () => {
    const templates = ['/pet/*', '/pet/{id}', '/pet', '/pet/{id}/photos', '/pet/findByStatus', '/pet/{name}.json', '/*', '/'];
    expect([...templates].sort(compareTemplates)).toEqual(['/', '/pet', '/pet/findByStatus', '/pet/{name}.json', '/pet/{id}', '/pet/{id}/photos', '/pet/*', '/*']);
  });
});
