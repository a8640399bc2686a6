import { normalizeRequestPath, type EscapedSlashesAction } from '../../src/envoy/pathNormalize';

/** The HCM's path handling before routing, case by case as Envoy documents and implements it. */

const edge = (action: EscapedSlashesAction = 'UNESCAPE_AND_REDIRECT') => ({ normalizePath: true, mergeSlashes: true, escapedSlashes: action });
const result = (path: string, action?: EscapedSlashesAction): string => {
  const n = normalizeRequestPath(path, edge(action));
  return n.ok ? `${n.path}${n.redirect ? ' (redirect)' : ''}` : 'rejected';
};

describe('normalize_path, merge_slashes, path_with_escaped_slashes_action', () => {
  test.each([
    ['/a/../b', '/b'],
    ['/a/./b/', '/a/b/'],
    ['/a/.', '/a/'],
    ['/a/..', '/'],
    ['/../../x', '/x'],
    ['/a/%2e%2E/b', '/b'],
    ['/a/.%2e/b', '/b'],
    ['//a///b//', '/a/b/'],
    ['/a/b/../../..//c?q=/../%2F', '/c?q=/../%2F'],
    ['/a\\b\\..\\c', '/a/c'],
    // `..;` and `;params` are not dot segments for Envoy: kept (and refused by the routes' regexes).
    ['/a/..;/b', '/a/..;/b'],
    ['/a/b;jsessionid=1', '/a/b;jsessionid=1'],
    ['/a/.b/..c/...', '/a/.b/..c/...'],
    // Escapes of unreserved characters are decoded; others kept as typed; unsafe characters escaped.
    ['/%41%62%7e%2D%5f', '/Ab~-_'],
    ['/a%20b%3Bc%25', '/a%20b%3Bc%25'],
    ['/é x"^', '/%C3%A9%20x%22%5E'],
    ['/a%zz%', '/a%zz%'],
    // A stray `%` never becomes an escape by decoding what follows it.
    ['/%%32%65', '/%252e'],
    ['/%%32e', '/%252e'],
    ['/%%41', '/%A'],
    // Escaped slashes: unescaped, then normalized, then a redirect there.
    ['/a%2Fb', '/a/b (redirect)'],
    ['/a/b%2F..%2F..%2Fc', '/c (redirect)'],
    ['/a%5C..%5cb', '/b (redirect)'],
    ['/a%00', 'rejected'],
  ])('%s → %s', (path, expected) => {
    expect(result(path)).toBe(expected);
  });

  test('REJECT_REQUEST refuses escaped slashes in the path, not in the query; KEEP_UNCHANGED leaves them', () => {
    expect(result('/a%2fb', 'REJECT_REQUEST')).toBe('rejected');
    expect(result('/a%5Cb', 'REJECT_REQUEST')).toBe('rejected');
    expect(result('/a/b?next=%2Fhome', 'REJECT_REQUEST')).toBe('/a/b?next=%2Fhome');
    expect(result('/a%2Fb', 'KEEP_UNCHANGED')).toBe('/a%2Fb');
    expect(result('/a%2Fb', 'IMPLEMENTATION_SPECIFIC_DEFAULT')).toBe('/a%2Fb');
    expect(result('/a%2F..%2Fb', 'UNESCAPE_AND_FORWARD')).toBe('/b');
  });

  test('each option alone', () => {
    const only = (o: Partial<ReturnType<typeof edge>>, p: string) => normalizeRequestPath(p, { normalizePath: false, mergeSlashes: false, escapedSlashes: 'KEEP_UNCHANGED', ...o });
    expect(only({}, '//a/../b')).toEqual({ ok: true, path: '//a/../b', redirect: false });
    expect(only({ mergeSlashes: true }, '//a/../b')).toEqual({ ok: true, path: '/a/../b', redirect: false });
    expect(only({ normalizePath: true }, '//a/../b')).toEqual({ ok: true, path: '//b', redirect: false });
  });
});
