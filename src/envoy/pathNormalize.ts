/**
 * The path normalization Envoy's HTTP connection manager applies before routing, as its
 * settings ask (HttpConnectionManager.path_with_escaped_slashes_action, normalize_path,
 * merge_slashes, in that order, on the path without its query):
 * - escaped slashes: `%2F` becomes `/` and `%5C` `\`; when there were any, the request is
 *   rejected (400), redirected to the result (307), or forwarded as is, per the action;
 * - normalize_path (RFC 3986 as Chromium's URL library does it): `\` becomes `/`, escapes of
 *   unreserved characters are decoded (`%41` → `A`, `%2e` counts as a dot), characters a URL
 *   may not hold are escaped, `.` and `..` segments are removed; an escaped or raw NUL rejects;
 * - merge_slashes: runs of `/` become one.
 * Pure: no I/O.
 */

export type EscapedSlashesAction = 'IMPLEMENTATION_SPECIFIC_DEFAULT' | 'KEEP_UNCHANGED' | 'REJECT_REQUEST' | 'UNESCAPE_AND_REDIRECT' | 'UNESCAPE_AND_FORWARD';

export interface PathNormalization {
  normalizePath: boolean;
  mergeSlashes: boolean;
  escapedSlashes: EscapedSlashesAction;
}

export type NormalizedPath = { ok: true; path: string; redirect: boolean } | { ok: false; why: string };

export function normalizeRequestPath(fullPath: string, n: PathNormalization): NormalizedPath {
  const q = fullPath.indexOf('?');
  let path = q < 0 ? fullPath : fullPath.slice(0, q);
  const query = q < 0 ? '' : fullPath.slice(q);
  let redirect = false;
  // Envoy's default for an unset action is to keep escaped slashes unchanged.
  if (n.escapedSlashes !== 'KEEP_UNCHANGED' && n.escapedSlashes !== 'IMPLEMENTATION_SPECIFIC_DEFAULT' && /%(2f|5c)/i.test(path)) {
    if (n.escapedSlashes === 'REJECT_REQUEST') return { ok: false, why: 'the path holds an escaped slash (%2F or %5C) and path_with_escaped_slashes_action is REJECT_REQUEST' };
    path = path.replace(/%2f/gi, '/').replace(/%5c/gi, '\\');
    redirect = n.escapedSlashes === 'UNESCAPE_AND_REDIRECT';
  }
  if (n.normalizePath) {
    const canonical = canonicalPath(path);
    if (canonical === undefined) return { ok: false, why: 'the path holds a NUL character, which normalize_path rejects' };
    path = canonical;
  }
  if (n.mergeSlashes && path.includes('//')) {
    const segments = path.split('/').filter((s) => s !== '');
    path = `${path.startsWith('/') ? '/' : ''}${segments.join('/')}${path.endsWith('/') && segments.length ? '/' : ''}`;
  }
  return { ok: true, path: path + query, redirect };
}

/** A-Z a-z 0-9 - . _ ~ : escapes of these are decoded. */
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
/** Characters kept as they are; everything else below 0x80 except `%` (and all bytes above) is escaped. */
const KEPT = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/[\]]$/;

/** Chromium's path canonicalization as Envoy uses it; undefined when the path holds a NUL. */
function canonicalPath(path: string): string | undefined {
  const bytes = Buffer.from(path, 'utf8');
  let out = path.startsWith('/') || path.startsWith('\\') ? '' : '/';
  const hex = (b: number): string => `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  const escapeAt = (i: number): number | undefined => {
    if (bytes[i] !== 0x25 || i + 2 >= bytes.length) return undefined;
    const h = bytes.toString('latin1', i + 1, i + 3);
    return /^[0-9a-fA-F]{2}$/.test(h) ? parseInt(h, 16) : undefined;
  };
  /** Length of a dot at i: `.` is 1, `%2e` 3, anything else 0. */
  const dotAt = (i: number): number => (bytes[i] === 0x2e ? 1 : escapeAt(i) === 0x2e ? 3 : 0);
  const slashAt = (i: number): boolean => bytes[i] === 0x2f || bytes[i] === 0x5c;
  /** Where in `out` the last `%` that began no escape is: decoding after it must not make one. */
  let strayPercent = -Infinity;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    const dot = dotAt(i);
    if (dot) {
      if (!out.endsWith('/')) {
        out += '.';
        i += dot - 1;
        continue;
      }
      const after = i + dot;
      if (after === bytes.length || slashAt(after)) {
        i = after; // a `.` segment: dropped with the slash after it
        continue;
      }
      const second = dotAt(after);
      const end = after + second;
      if (second && (end === bytes.length || slashAt(end))) {
        // `..` segment: back up to the previous slash, never above the root.
        const cut = out.lastIndexOf('/', out.length - 2);
        out = cut < 0 ? '/' : out.slice(0, cut + 1);
        i = end;
        continue;
      }
      out += '.';
      i += dot - 1;
      continue;
    }
    if (b === 0x5c) out += '/';
    else if (b === 0x25) {
      const v = escapeAt(i);
      if (v === undefined) {
        strayPercent = out.length;
        out += '%';
      } else {
        if (v === 0) return undefined;
        const c = String.fromCharCode(v);
        const decoded = v < 0x80 && UNRESERVED.test(c);
        out += decoded ? c : bytes.toString('latin1', i, i + 3);
        i += 2;
        // `%%32%65` must not become the escape `%2e`: the stray `%` is escaped as `%25` instead.
        if (decoded && strayPercent >= out.length - 3) {
          const next = strayPercent === out.length - 2 && i + 1 < bytes.length && bytes[i + 1]! < 0x80 ? String.fromCharCode(bytes[i + 1]!) : '';
          if (/^%[0-9a-fA-F]{2}/.test(out.slice(strayPercent) + next)) out = `${out.slice(0, strayPercent + 1)}25${out.slice(strayPercent + 1)}`;
        }
      }
    } else if (b === 0) return undefined;
    else {
      const c = String.fromCharCode(b);
      out += b < 0x80 && KEPT.test(c) ? c : hex(b);
    }
  }
  return out;
}
