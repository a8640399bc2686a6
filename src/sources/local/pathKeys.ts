/**
 * A definition's path keys (and api.yaml targets) as the router sees requests. Envoy normalizes
 * every request path before routing (normalize_path, merge_slashes: src/envoy/pathNormalize.ts),
 * so a template must be written in that form to match: `/Your Path` is requested as
 * `/Your%20Path`, `/a//b` as `/a/b`. Pure: no I/O.
 */

export type RoutePath = { path: string } | { problem: string };

/**
 * The template the router serves for a path key, or why it cannot serve one. What follows `#` or
 * `?` is no part of the path (AWS's `/#Action=...`, Box's `/files/{file_id}#add_shared_link`).
 */
export function routePath(key: string): RoutePath {
  const cut = key.search(/[?#]/);
  const raw = cut < 0 ? key : key.slice(0, cut);
  const problem = checkResourcePath(raw);
  if (problem) return { problem };
  const path = raw
    .split(/(\{[^{}]*\})/)
    .map((part, i) => (i % 2 ? part : asRequested(part)))
    .join('')
    .replace(/\/{2,}/g, '/');
  if (/(^|\/)\.\.?(\/|$)/.test(path)) return { problem: `a "." or ".." segment is removed from every request before routing, so ${JSON.stringify(key)} can never match` };
  return { path };
}

/**
 * Why a resource path template cannot be routed, or undefined when it can: `/pets/{petId}`,
 * `/files/{name}.json`, `/pets/` and `/pets/*` are fine.
 */
export function checkResourcePath(path: string): string | undefined {
  if (!path.startsWith('/')) return `resource path must start with "/": ${JSON.stringify(path)}`;
  const stripped = path.replace(/\{[A-Za-z0-9_.-]+\}/g, 'p');
  if (/[{}]/.test(stripped)) return `malformed path parameter in ${JSON.stringify(path)} (expected {name}: letters, digits and _.-)`;
  if (stripped.includes('*') && !(stripped.endsWith('/*') && stripped.indexOf('*') === stripped.length - 1)) {
    return `a wildcard is only allowed as the last segment ("/*"): ${JSON.stringify(path)}`;
  }
  return undefined;
}

/** Two templates that route the same requests: parameter names and a trailing slash do not matter. */
export function routeShape(path: string): string {
  const shape = path.replace(/\{[^}]*\}/g, '{}');
  return shape.length > 1 ? shape.replace(/\/+$/, '') : shape;
}

/** Unreserved characters: normalize_path decodes their escapes. */
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
/** What normalize_path keeps as it is (pathNormalize.ts KEPT; a test holds the two together). */
const KEPT = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/[\]]$/;

/** Literal template text as a normalized request holds it. */
function asRequested(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    const escape = b === 0x25 ? /^[0-9a-fA-F]{2}$/.exec(bytes.toString('latin1', i + 1, i + 3)) : null;
    if (escape) {
      const c = String.fromCharCode(parseInt(escape[0], 16));
      out += UNRESERVED.test(c) ? c : bytes.toString('latin1', i, i + 3);
      i += 2;
    } else if (b === 0x25) out += '%';
    else if (b === 0x5c) out += '/';
    else if (b < 0x80 && KEPT.test(String.fromCharCode(b))) out += String.fromCharCode(b);
    else out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
