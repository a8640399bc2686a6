import { compareTemplates, pathMatch, prefixRewrite } from '../../src/translate/paths';

/** The path matcher as a JS predicate (our regexes use syntax JS and RE2 read alike). */
function matcher(basePath: string, template: string): (path: string) => boolean {
  const m = pathMatch(basePath, template);
  if ('path_separated_prefix' in m) {
    const p = m.path_separated_prefix;
    return (path) => path === p || path.startsWith(`${p}/`);
  }
  const re = new RegExp(m.safe_regex.regex);
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

  test('query templates are matched on their path', () => {
    expect(matcher('/api', '/search?q={q}')('/api/search')).toBe(true);
  });

  test('literal-only wildcards use Envoy path_separated_prefix, other templates anchored regexes', () => {
    expect(pathMatch('/petstore/1.0.0', '/pet/*')).toEqual({ path_separated_prefix: '/petstore/1.0.0/pet' });
    expect(pathMatch('/petstore/1.0.0', '/pet/{petId}')).toEqual({ safe_regex: { regex: '^/petstore/1\\.0\\.0/pet/[^/]+/?$' } });
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
