/**
 * Text a client or a file chose (node ids, NACK messages, problem reasons), made safe to print:
 * control characters (C0, DEL, C1, so ANSI escape sequences too) and bidi overrides become
 * visible escapes, so nothing printed can move the cursor, recolour or rewrite the terminal, or
 * fake a line of output.
 */

const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/** What JSON.stringify leaves raw: all but C0 (whose newlines between lines are the JSON's own). */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const SHORT: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\x1b': '\\e' };

/** One table cell or line: `\n` → `\\n`, ESC → `\\e`, others as `\\xHH` or `\\u{HHHH}`. */
export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => SHORT[c] ?? (c.charCodeAt(0) <= 0xff ? `\\x${hex(c, 2)}` : `\\u{${hex(c, 4)}}`));
}

/**
 * JSON for the terminal: JSON.stringify already escapes C0 controls inside strings; this escapes
 * the rest (`\u009b` is a one-byte CSI to many terminals). Still valid JSON, same value.
 */
export function printableJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(UNSAFE_IN_JSON, (c) => `\\u${hex(c, 4)}`);
}

const hex = (c: string, width: number): string => c.charCodeAt(0).toString(16).padStart(width, '0');
