import { normalizeRequestPath } from '../../../src/envoy/pathNormalize';
import { routePath } from '../../../src/sources/local/pathKeys';

const NORMALIZE = { normalizePath: true, mergeSlashes: true, escapedSlashes: 'KEEP_UNCHANGED' as const };
const routed = (key: string): string => {
  const r = routePath(key);
  if ('problem' in r) throw new Error(r.problem);
  return r.path;
};
/** What the router matches when a client asks for `path` (an HTTP client percent-encodes what a URL cannot hold). */
const asRouterSees = (path: string): string => {
  const n = normalizeRequestPath(new URL(`http://h${path}`).pathname, NORMALIZE);
  if (!n.ok) throw new Error(n.why);
  return n.path;
};

describe('path keys as the router sees requests', () => {
  it('serves the path part of a key with "#" or "?" (AWS, Box)', () => {
    expect(routed('/#Action=AddPermission')).toBe('/');
    expect(routed('/files/{file_id}#add_shared_link')).toBe('/files/{file_id}');
    expect(routed('/files/{file_id}/content?version={v}')).toBe('/files/{file_id}/content');
  });

  it('writes literal text as normalize_path presents it: spaces as %20, merged slashes, decoded unreserved escapes', () => {
    expect(routed('/Your Pull DOC Request API Path')).toBe('/Your%20Pull%20DOC%20Request%20API%20Path');
    expect(routed('/employees/{id}/dossier"')).toBe('/employees/{id}/dossier%22');
    expect(routed('/vendor//addons')).toBe('/vendor/addons');
    expect(routed('//openapi.{type}')).toBe('/openapi.{type}');
    expect(routed('/caf%C3%A9/%7Euser/%41')).toBe('/caf%C3%A9/~user/A');
    expect(routed('/café')).toBe('/caf%C3%A9');
    expect(routed('/v1/{name}:cancel')).toBe('/v1/{name}:cancel');
  });

  it('agrees with the router on every printable character and on non-ASCII text', () => {
    // Not here: template syntax ({} and a trailing *), what ends the path (? #), and what
    // shapes it (. / \ and escapes, tested on their own).
    const chars = [...Array(0x7f - 0x20).keys()].map((i) => String.fromCharCode(0x20 + i)).filter((c) => !'{}?#%./\\*'.includes(c));
    for (const c of [...chars, 'é', '日本', '%20', '%2e', '%7e', '%3A']) {
      const key = `/a${c}b/{id}/x${c}y`;
      expect([c, routed(key)]).toEqual([c, asRouterSees(key.replace('{id}', 'ID')).replace('ID', '{id}')]);
      // Already in the router's form: normalizing it again changes nothing.
      const literal = routed(key).replace('{id}', 'ID');
      expect(normalizeRequestPath(literal, NORMALIZE)).toEqual({ ok: true, path: literal, redirect: false });
    }
  });

  it('explains the keys it cannot serve', () => {
    expect(routePath('/data/insights/{insight_id:}')).toEqual({ problem: 'malformed path parameter in "/data/insights/{insight_id:}" (expected {name}: letters, digits and _.-)' });
    expect(routePath('/a/{b')).toMatchObject({ problem: expect.stringMatching(/^malformed path parameter/) });
    expect(routePath('/a/b}/c')).toMatchObject({ problem: expect.stringMatching(/^malformed path parameter/) });
    expect(routePath('/a/*/b')).toMatchObject({ problem: expect.stringMatching(/^a wildcard is only allowed as the last segment/) });
    expect(routePath('items')).toEqual({ problem: 'resource path must start with "/": "items"' });
    expect(routePath('#top')).toEqual({ problem: 'resource path must start with "/": ""' });
    expect(routePath('/a/../b')).toMatchObject({ problem: expect.stringMatching(/"\." or "\.\." segment .* "\/a\/\.\.\/b" can never match/) });
    expect(routePath('/a/%2e/b')).toMatchObject({ problem: expect.stringMatching(/can never match/) });
  });
});
