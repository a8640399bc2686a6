import { compareTemplates, pathMatchers, pathRegex, prefixRewrite } from '../../src/translate/paths';

/** The path matcher as a JS predicate (our regexes use syntax JS and RE2 read alike). */
function matcher(basePath: string, template: string): (path: string) => boolean {
  const re = new RegExp(pathRegex(basePath, template));
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
    expect(pathRegex('/petstore/1.0.0', '/pet/*')).toBe('^/petstore/1\\.0\\.0/pet(?:/[^;]*)?$');
    expect(pathRegex('/petstore/1.0.0', '/pet/{petId}')).toBe('^/petstore/1\\.0\\.0/pet/[^/;]+/?$');
  });

  test('past the RE2 limit: URI templates, each with its companion right after it, or why there is none', () => {
    const templates = (base: string, template: string, limit = 22): string[] =>
      pathMatchers(base, template, limit).map((m) => (m.match as any).path_match_policy?.typed_config.path_template ?? (m.match as any).safe_regex.regex);
    expect(templates('/api', '/pet/{id}/photos', 100)).toEqual(['^/api/pet/[^/;]+/photos/?$']);
    expect(templates('/api', '/pet/{id}/photos')).toEqual(['/api/pet/*/photos', '/api/pet/*/photos/']);
    expect(templates('/api', '/pet/{id}/*')).toEqual(['/api/pet/*/**', '/api/pet/*']);
    expect(templates('/api', '/pet/{id}/photos/{name}.json', 38)).toEqual(['/api/pet/*/photos/*.json', '/api/pet/*/photos/*/']);
    expect(pathMatchers('/api', '/pet/{id}/photos/{name}.json', 38)[1].headers).toEqual([{ name: ':path', string_match: { safe_regex: { regex: '^[^;?]*[^/;?]\\.json/(?:\\?.*)?$' } } }]);
    const why = (base: string, template: string, limit = 22): string => {
      try {
        pathMatchers(base, template, limit);
      } catch (err) {
        return (err as Error).message.replace(/^.*cannot express it: /, '');
      }
      return 'served';
    };
    expect(why('/api', '/pet/{id}/{name}.json/x')).toBe('segment "{name}.json": Envoy\'s URI templates take text beside a parameter only after it, in the last segment (as in {name}.json)');
    expect(why('/api', '/pet/{id}/v{major}')).toMatch(/^segment "v\{major\}"/);
    expect(why('/api', '/pet/{id}/{name}.json/*')).toMatch(/^segment "\{name\}\.json"/);
    expect(why('/api', '/pet/{id}/abc;def')).toMatch(/^"abc;def" holds a character/);
    expect(why('/api', '/pet/{id}/abc*def')).toMatch(/^"abc\*def" holds a character/);
    expect(why('/a//b', '/pet/{id}/xyzuvw')).toBe('the base path has an empty segment');
    expect(why('/api', `/pet/{id}/${'x'.repeat(250)}`)).toBe('the URI template is 261 characters, over Envoy\'s 256');
    // the suffix companion's guard grows with the suffix: a limit it does not fit leaves the route out
    expect(why('/api', '/pet/{id}/{name}.json', 31)).toMatch(/^its :path guard .* compiles to an RE2 program of about 38, over the limit of 31$/);
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
