/**
 * The careful half of decoding APIM's messages: size limits, strict base64, UTF-8 and JSON
 * parsing, and a field reader that knows APIM's loose typing. Every failure here is a
 * DecodeError (a short reason plus an excerpt of the offending text), never another exception,
 * so a listener can log the message and carry on with the next one.
 */

/** Why a message or REST body could not be decoded, with a printable excerpt of it. */
export class DecodeError extends Error {
  constructor(
    readonly reason: string,
    /** The start of the offending text (about 120 characters), control characters escaped. */
    readonly excerpt: string,
  ) {
    super(`${reason} (input: ${excerpt})`);
    this.name = 'DecodeError';
  }
}

/** AMQP messages from APIM are small; anything larger is refused before it is parsed. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

const EXCERPT_CHARS = 120;

const SECRET_WORDS = 'secret|password|passwd|pwd|token|credential|authorization|apikey|api_key|signature';
/** A JSON member whose name contains a secret word, and its value (string or bare). */
const SECRET_MEMBER = new RegExp(`("[^"]*(?:${SECRET_WORDS})[^"]*"\\s*:\\s*)("(?:[^"\\\\]|\\\\.)*"|[^,}\\]\\s]+)`, 'gi');
/** 32 or more base64 characters, a digit, + or / among them: they may encode anything (APIM sends a key manager's configuration so). */
const BASE64_RUN = /[A-Za-z0-9+/]{32,}={0,2}/g;

/** Text for a log line or an error with secret-looking JSON values and base64 runs masked. */
export function maskSecrets(text: string): string {
  return text.replace(SECRET_MEMBER, '$1"***"').replace(BASE64_RUN, (run) => (/[0-9+/]/.test(run) ? '<base64>' : run));
}

/** The first ~120 characters of `text`, safe to put on one log line: nothing secret-looking, control characters escaped. */
export function excerpt(text: string | Buffer): string {
  // A Buffer may be megabytes of anything: look at its first bytes only.
  const head = typeof text === 'string' ? text.slice(0, EXCERPT_CHARS) : text.subarray(0, EXCERPT_CHARS * 4).toString('utf8').slice(0, EXCERPT_CHARS);
  const cut = typeof text === 'string' ? text.length > head.length : text.length > Buffer.byteLength(head);
  const escaped = maskSecrets(head).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufffd]/g, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    const code = c.charCodeAt(0);
    return code > 0xff ? `\\u${code.toString(16).padStart(4, '0')}` : `\\x${code.toString(16).padStart(2, '0')}`;
  });
  return cut ? `${escaped}…` : escaped;
}

/** The text of a message body: refused when too large or not UTF-8. */
export function bodyText(body: Buffer | string, limit = MAX_MESSAGE_BYTES): string {
  if (typeof body !== 'string' && !Buffer.isBuffer(body)) throw new DecodeError('message body is neither a Buffer nor a string', String(typeof body));
  const size = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length;
  if (size > limit) throw new DecodeError(`message of ${size} bytes is over the ${limit}-byte limit`, excerpt(body));
  return typeof body === 'string' ? body : utf8(body, body);
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function utf8(bytes: Uint8Array, forExcerpt: Buffer | string): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    throw new DecodeError('not valid UTF-8', excerpt(forExcerpt));
  }
}

/** APIM always writes standard, padded base64 (commons-codec); Node's decoder would accept junk. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function isBase64(text: string): boolean {
  return BASE64.test(text);
}

/** Decodes base64 that must hold UTF-8 text (a JSON document, for every APIM use). */
export function base64Text(text: string, what: string): string {
  if (!isBase64(text)) throw new DecodeError(`${what} is not standard padded base64`, excerpt(text));
  return utf8(Buffer.from(text, 'base64'), text);
}

/**
 * Keys that would reach an object's prototype if a consumer ever merged the decoded value into
 * another object. APIM never sends them, so a message holding one is refused outright.
 */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** JSON.parse that reports failures as DecodeError and refuses prototype-polluting keys. */
export function parseJson(text: string, what: string): unknown {
  let bad: string | undefined;
  let value: unknown;
  try {
    value = JSON.parse(text, (key, v: unknown) => {
      if (FORBIDDEN_KEYS.has(key)) bad ??= key;
      return v;
    });
  } catch (e) {
    throw new DecodeError(`${what} is not valid JSON (${(e as Error).message})`, excerpt(text));
  }
  if (bad !== undefined) throw new DecodeError(`${what} holds the forbidden key ${JSON.stringify(bad)}`, excerpt(text));
  return value;
}

/** Checks a value that is kept verbatim (a key manager configuration, attributes) for forbidden keys. */
export function assertPlainJson(value: unknown, fail: (reason: string) => never, depth = 0): void {
  if (depth > 64) fail('is nested too deeply');
  if (Array.isArray(value)) {
    for (const v of value) assertPlainJson(v, fail, depth + 1);
  } else if (isRecord(value)) {
    for (const key of Object.keys(value)) {
      if (FORBIDDEN_KEYS.has(key)) fail(`holds the forbidden key ${JSON.stringify(key)}`);
      assertPlainJson(value[key], fail, depth + 1);
    }
  }
}

/** `table[key]` for the table's own keys only: `constructor` must not find Object's. */
export function lookup<T>(table: Record<string, T>, key: string): T | undefined {
  return Object.prototype.hasOwnProperty.call(table, key) ? table[key] : undefined;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** What a JSON value is, for error messages. */
function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `${typeof v} ${String(v)}`;
}

/**
 * Reads named fields of one JSON object, the way APIM's payloads need: `null` counts as absent
 * (Gson omits nulls, REST DTOs send them), numbers may come as digit strings and booleans as
 * "true"/"false" (APIM's streams are not uniform), unknown fields are ignored, and several names
 * may be given for one field (the first present wins: `apiName` vs `name`). A wrong type or a
 * missing required field is a DecodeError naming `where` and the field.
 */
export class Fields {
  private constructor(
    readonly obj: Record<string, unknown>,
    /** `notification event`, `GET /subscriptions list[3]`. */
    readonly where: string,
    private readonly source: () => string,
  ) {}

  /** `value` must be an object. `source` gives the excerpt when something is wrong. */
  static of(value: unknown, where: string, source: () => string): Fields {
    if (!isRecord(value)) throw new DecodeError(`${where}: expected an object, got ${kindOf(value)}`, source());
    return new Fields(value, where, source);
  }

  /** A nested object, read with the same excerpt. */
  nested(value: unknown, name: string): Fields {
    return Fields.of(value, `${this.where}.${name}`, this.source);
  }

  /** The same object with its keys lower-cased, for payloads APIM matches case-insensitively. */
  lowerCased(): Fields {
    return new Fields(Object.fromEntries(Object.entries(this.obj).map(([k, v]) => [k.toLowerCase(), v])), this.where, this.source);
  }

  /** A required nested object. */
  child(name: string): Fields {
    return this.nested(this.raw(name)?.[1] ?? this.fail(name, 'missing'), name);
  }

  fail(field: string, reason: string): never {
    throw new DecodeError(`${this.where}${field ? `.${field}` : ''}: ${reason}`, this.source());
  }

  /** The first of `names` present (and not null), with its name. */
  raw(...names: string[]): [string, unknown] | undefined {
    for (const n of names) {
      if (Object.prototype.hasOwnProperty.call(this.obj, n) && this.obj[n] !== null && this.obj[n] !== undefined) return [n, this.obj[n]];
    }
    return undefined;
  }

  has(...names: string[]): boolean {
    return this.raw(...names) !== undefined;
  }

  private required(names: string[]): [string, unknown] {
    return this.raw(...names) ?? this.fail(names[0]!, `missing${names.length > 1 ? ` (also looked for ${names.slice(1).join(', ')})` : ''}`);
  }

  /** A required, non-empty string. */
  str(...names: string[]): string {
    const [n, v] = this.required(names);
    if (typeof v !== 'string') return this.fail(n, `expected a string, got ${kindOf(v)}`);
    if (v === '') return this.fail(n, 'must not be empty');
    return v;
  }

  optStr(...names: string[]): string | undefined {
    const got = this.raw(...names);
    if (!got) return undefined;
    if (typeof got[1] !== 'string') return this.fail(got[0], `expected a string, got ${kindOf(got[1])}`);
    return got[1];
  }

  /** A required integer (or a string of digits). */
  int(...names: string[]): number {
    const [n, v] = this.required(names);
    return this.toInt(n, v);
  }

  optInt(...names: string[]): number | undefined {
    const got = this.raw(...names);
    return got ? this.toInt(got[0], got[1]) : undefined;
  }

  /** An id APIM sends as a number or a string: kept as a string. */
  idStr(...names: string[]): string {
    const [n, v] = this.required(names);
    if (typeof v === 'string' && v !== '') return v;
    return String(this.toInt(n, v));
  }

  bool(...names: string[]): boolean {
    const [n, v] = this.required(names);
    return this.toBool(n, v);
  }

  optBool(...names: string[]): boolean | undefined {
    const got = this.raw(...names);
    return got ? this.toBool(got[0], got[1]) : undefined;
  }

  /** A required array of non-empty strings. */
  strings(...names: string[]): string[] {
    const [n, v] = this.required(names);
    if (!Array.isArray(v)) return this.fail(n, `expected a list of strings, got ${kindOf(v)}`);
    return v.map((s, i) => (typeof s === 'string' && s !== '' ? s : this.fail(`${n}[${i}]`, `expected a non-empty string, got ${kindOf(s)}`)));
  }

  /** An optional array (of anything; the caller reads the elements). */
  optList(...names: string[]): unknown[] | undefined {
    const got = this.raw(...names);
    if (!got) return undefined;
    if (!Array.isArray(got[1])) return this.fail(got[0], `expected a list, got ${kindOf(got[1])}`);
    return got[1];
  }

  /** An optional object, kept verbatim after a check for forbidden keys. */
  optObject(...names: string[]): Record<string, unknown> | undefined {
    const got = this.raw(...names);
    if (!got) return undefined;
    const [n, v] = got;
    if (!isRecord(v)) return this.fail(n, `expected an object, got ${kindOf(v)}`);
    assertPlainJson(v, (reason) => this.fail(n, reason));
    return { ...v };
  }

  /** The whole object, kept verbatim after the same check as optObject. */
  plain(): Record<string, unknown> {
    assertPlainJson(this.obj, (reason) => this.fail('', reason));
    return { ...this.obj };
  }

  /** An optional string map (application attributes): scalars become strings, nulls are left out. */
  optStringMap(...names: string[]): Record<string, string> | undefined {
    const obj = this.optObject(...names);
    if (!obj) return undefined;
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(obj)) {
      if (v === null || v === undefined) continue;
      if (typeof v === 'object') return this.fail(`${names[0]}.${k}`, `expected a string, got ${kindOf(v)}`);
      out[k] = String(v);
    }
    return out;
  }

  private toInt(n: string, v: unknown): number {
    if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
    if (typeof v === 'string' && /^-?\d{1,16}$/.test(v) && Number.isSafeInteger(Number(v))) return Number(v);
    return this.fail(n, `expected an integer, got ${kindOf(v)}`);
  }

  private toBool(n: string, v: unknown): boolean {
    if (typeof v === 'boolean') return v;
    if (typeof v === 'string' && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
    return this.fail(n, `expected true or false, got ${kindOf(v)}`);
  }
}

/** The organization an entry belongs to: APIM's tenant domain, the super tenant when it names none. */
export { SUPER_TENANT } from '../../model/access';
