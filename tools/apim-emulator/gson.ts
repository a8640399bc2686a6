/**
 * JSON the way APIM's Java side writes it, so base64 payloads match APIM's byte for byte.
 *
 * - `gsonJson`: `new Gson().toJson(obj)` (what `AbstractNotifier` base64-encodes, and the key-manager
 *   `value`). Gson drops null fields, keeps empty collections, writes fields in declaration order
 *   (callers build objects in that order), and is HTML-safe by default: `< > & = '` become
 *   `\u003c \u003e \u0026 \u003d \u0027`. It also escapes U+2028/U+2029.
 * - `plainJson`: `JsonElement.toString()` (the WSO2 event publisher's default JSON mapping, i.e. the
 *   envelope): no HTML escaping, only U+2028/U+2029.
 * - `b64`: commons-codec `Base64.encodeBase64` (standard alphabet, padded, no line breaks).
 */

const HTML_ESCAPES: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '=': '\\u003d',
  "'": '\\u0027',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

function dropNulls(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (v !== null && v !== undefined) out[k] = v;
    }
    return out;
  }
  return value;
}

/** Gson's `toJson` for a plain object tree (field order = insertion order). */
export function gsonJson(value: unknown): string {
  // The characters escaped here can only occur inside JSON strings, so a textual pass is exact.
  return JSON.stringify(value, dropNulls).replace(/[<>&='\u2028\u2029]/g, (c) => HTML_ESCAPES[c]!);
}

/** Gson `JsonElement.toString()`: nulls kept as given, no HTML escaping. */
export function plainJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u2028\u2029]/g, (c) => HTML_ESCAPES[c]!);
}

/** Standard, padded base64 of the UTF-8 bytes. */
export function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}
