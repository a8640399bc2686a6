import { isIP, isIPv4, isIPv6 } from 'net';
import * as protobuf from 'protobufjs';
import { protoRoot } from './protos';
import { re2ToJs } from './re2';
import { messageName } from './typeUrls';

/**
 * protoc-gen-validate (PGV) rules, checked the way Envoy checks them before it accepts a resource.
 * Nothing here knows a particular Envoy message: the rules come from the `(validate.rules)`,
 * `(validate.required)`, `(validate.disabled)` and `(validate.ignored)` options in the loaded protos.
 * Each message type is compiled once into a list of field checks (cached per Type); a resource
 * is then decoded with protobufjs and walked, descending into every Any whose type is loaded.
 *
 * Presence follows PGV on proto3: a scalar is checked with its value, the default included,
 * unless it belongs to a oneof that is not set or its rules say ignore_empty; an unset message
 * field is skipped unless a rule makes it required.
 */

type Obj = Record<string, any>;
/** Checks one value and appends "path: problem" lines to `out`. */
type Check = (value: any, path: string, out: string[]) => void;
/** One rule on a scalar value: the problem, or undefined when the value passes. */
type Test = (value: any) => string | undefined;

/** Validates an encoded resource of `typeUrl`. Returns the violations, empty when it is valid. */
export function validateResource(typeUrl: string, value: Uint8Array): string[] {
  const type = lookupType(protoRoot(), typeUrl);
  if (!type) return [`${typeUrl}: message type not loaded`];
  let message: protobuf.Message;
  try {
    message = type.decode(value);
  } catch (e) {
    return [`${type.name}: cannot decode: ${(e as Error).message}`];
  }
  return validateMessage(type, message);
}

/**
 * Validates a message of `type`: a decoded protobufjs message, or a plain object in proto field
 * names (missing scalars count as their defaults). Paths start at `path`, by default the type's name.
 */
export function validateMessage(type: protobuf.Type, message: object, path: string = type.name): string[] {
  const out: string[] = [];
  validateInto(type, message as Obj, path, out);
  return out;
}

function validateInto(type: protobuf.Type, message: Obj, path: string, out: string[]): void {
  for (const check of compiled(type)) check(message, path, out);
}

// ---------------------------------------------------------------------------------------------
// Compiling a message type

const compiledTypes = new WeakMap<protobuf.Type, Check[]>();

function compiled(type: protobuf.Type): Check[] {
  let checks = compiledTypes.get(type);
  if (!checks) {
    checks = needsChecks(type) ? compileType(type) : [];
    compiledTypes.set(type, checks);
  }
  return checks;
}

function compileType(type: protobuf.Type): Check[] {
  const checks: Check[] = [];
  for (const oneof of type.oneofsArray) {
    if (!optionValues(oneof, '(validate.required)').some((v) => v === true)) continue;
    const names = oneof.fieldsArray.map((f) => f.name);
    checks.push((msg, path, out) => {
      if (!names.some((n) => isSet(msg, n))) out.push(`${path}.${oneof.name}: one of ${names.join(', ')} is required`);
    });
  }
  for (const field of type.fieldsArray) {
    const check = compileField(field);
    if (check) checks.push(check);
  }
  return checks;
}

function compileField(field: protobuf.Field): Check | null {
  const rules = fieldRules(field);
  const name = field.name;
  if (field instanceof protobuf.MapField) {
    const m: Obj = rules?.map ?? {};
    const keyCheck = valueCheck(scalarKind(field.keyType), m.keys);
    const valCheck = valueCheck(kindOf(field), m.values);
    const keyOf = mapKeyConverter(field.keyType);
    const tests = [
      ...countTests(m, 'min_pairs', 'max_pairs', 'entries'),
      ...(m.no_sparse ? [(entries: Obj) => (Object.values(entries).some((v) => v == null) ? 'must not have unset values' : undefined)] : []),
    ];
    if (!keyCheck && !valCheck && !tests.length) return null;
    return (msg, path, out) => {
      const entries: Obj = msg[name] ?? {};
      const p = `${path}.${name}`;
      if (m.ignore_empty && Object.keys(entries).length === 0) return;
      report(tests, entries, p, out);
      for (const [k, v] of Object.entries(entries)) {
        const at = `${p}[${JSON.stringify(k)}]`;
        keyCheck?.(keyOf(k), at, out);
        if (v != null) valCheck?.(v, at, out);
      }
    };
  }
  if (field.repeated) {
    const r: Obj = rules?.repeated ?? {};
    const itemCheck = valueCheck(kindOf(field), r.items);
    const tests: Test[] = countTests(r, 'min_items', 'max_items', 'items');
    if (r.unique) tests.push((list: unknown[]) => (new Set(list.map(uniqueKey)).size === list.length ? undefined : 'items must be unique'));
    if (!itemCheck && !tests.length) return null;
    return (msg, path, out) => {
      const list: unknown[] = msg[name] ?? [];
      const p = `${path}.${name}`;
      if (r.ignore_empty && list.length === 0) return;
      report(tests, list, p, out);
      if (itemCheck) for (let i = 0; i < list.length; i++) itemCheck(list[i], `${p}[${i}]`, out);
    };
  }
  const check = valueCheck(kindOf(field), rules);
  if (field.resolvedType instanceof protobuf.Type) {
    // A message is checked only when set; the rule types that can demand one share `required`.
    // A oneof member's rules only apply while the oneof holds it (PGV checks them inside the case).
    const required = !field.partOf && [rules?.message, rules?.duration, rules?.timestamp, rules?.any].some((r) => r?.required === true);
    if (!check && !required) return null;
    return (msg, path, out) => {
      const v = msg[name];
      if (v == null) {
        if (required) out.push(`${path}.${name}: is required`);
      } else check?.(v, `${path}.${name}`, out);
    };
  }
  if (!check) return null;
  // Members of a oneof (and proto3 `optional` fields, in synthetic oneofs) have presence.
  if (field.partOf) return (msg, path, out) => (isSet(msg, name) ? check(msg[name], `${path}.${name}`, out) : undefined);
  const dflt = field.typeDefault;
  return (msg, path, out) => check(msg[name] ?? dflt, `${path}.${name}`, out);
}

/** What a single value of a field (or a list item, map key or map value) is. */
interface Kind {
  /** The proto scalar type name (`string`, `uint32`, ...), or the message/enum name. */
  type: string;
  resolved: protobuf.Type | protobuf.Enum | null;
}

function kindOf(field: protobuf.Field): Kind {
  return { type: field.type, resolved: field.resolvedType };
}
function scalarKind(type: string): Kind {
  return { type, resolved: null };
}

/** The check for one value of `kind` under `rules` (a PGV FieldRules), or null when there is nothing to check. */
function valueCheck(kind: Kind, rules: Obj | undefined): Check | null {
  const r = rules ?? {};
  if (kind.resolved instanceof protobuf.Enum) return testsCheck(r.enum ? enumTests(r.enum, kind.resolved) : [], r.enum);
  if (!(kind.resolved instanceof protobuf.Type)) return testsCheck(scalarTests(kind.type, r[kind.type]), r[kind.type]);
  const type = kind.resolved;
  const checks: Check[] = [];
  const wkt = type.fullName;
  const add = (check: Check | null): void => void (check && checks.push(check));
  if (wkt === '.google.protobuf.Duration' && r.duration) add(testsCheck(timeTests(r.duration, formatDuration), undefined));
  if (wkt === '.google.protobuf.Timestamp' && r.timestamp) add(testsCheck(timestampTests(r.timestamp), undefined));
  if (wkt === '.google.protobuf.Any') {
    if (r.any) add(testsCheck(anyTests(r.any), undefined));
    if (!r.message?.skip) add(anyPayloadCheck(type.root)); // its own two fields have no rules: check the payload instead
  }
  // Wrappers (google.protobuf.UInt32Value, ...) carry the rules of the value they wrap.
  const inner = WRAPPERS.has(wkt) ? type.fields.value : undefined;
  const wrapped = inner && testsCheck(scalarTests(inner.type, r[inner.type]), r[inner.type]);
  if (wrapped) add((v, path, out) => wrapped(v.value ?? inner.typeDefault, path, out));
  if (!r.message?.skip && wkt !== '.google.protobuf.Any' && needsChecks(type)) add((v, path, out) => validateInto(type, v, path, out));
  if (checks.length === 0) return null;
  return checks.length === 1 ? checks[0] : (v, path, out) => checks.forEach((c) => c(v, path, out));
}

const WRAPPERS = new Set(
  ['Double', 'Float', 'Int64', 'UInt64', 'Int32', 'UInt32', 'Bool', 'String', 'Bytes'].map((n) => `.google.protobuf.${n}Value`),
);

/** Runs scalar tests on a value, skipping it when the rules say ignore_empty and it is empty. */
function testsCheck(tests: Test[], typeRules: Obj | undefined): Check | null {
  if (tests.length === 0) return null;
  const ignoreEmpty = typeRules?.ignore_empty === true;
  return (v, path, out) => {
    if (ignoreEmpty && isEmpty(v)) return;
    report(tests, v, path, out);
  };
}

function report(tests: Test[], v: unknown, path: string, out: string[]): void {
  for (const t of tests) {
    const problem = t(v);
    if (problem) out.push(`${path}: ${problem}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Rules per value type

const INT64_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const NUMBER_TYPES = new Set(['int32', 'uint32', 'sint32', 'fixed32', 'sfixed32', 'float', 'double', ...INT64_TYPES]);

function scalarTests(type: string, r: Obj | undefined): Test[] {
  if (!r) return [];
  if (type === 'string') return stringTests(r);
  if (type === 'bytes') return bytesTests(r);
  if (type === 'bool') return r.const !== undefined ? [(v) => (v === r.const ? undefined : `must be ${r.const}`)] : [];
  // 64-bit values arrive as Long objects (or numbers, or strings): compare them exactly as BigInt.
  if (NUMBER_TYPES.has(type)) return INT64_TYPES.has(type) ? numberTests(r, toBigInt, String) : numberTests(r, Number, String);
  return [];
}

/** const, in, not_in and the lt/lte/gt/gte range (reversed into an exclusion when lower > upper, as PGV does). */
function numberTests<T extends number | bigint>(r: Obj, conv: (v: any) => T, fmt: (v: T) => string): Test[] {
  const tests: Test[] = [];
  if (r.const !== undefined) {
    const c = conv(r.const);
    tests.push((v) => (conv(v) === c ? undefined : `must equal ${fmt(c)}`));
  }
  tests.push(...setTests(r, conv, fmt), ...rangeTests(r, conv, fmt));
  return tests;
}

function setTests<T>(r: Obj, conv: (v: any) => T, fmt: (v: T) => string): Test[] {
  const tests: Test[] = [];
  const list = (x: unknown): T[] => (Array.isArray(x) ? x : [x]).map(conv);
  if (r.in !== undefined) {
    const allowed = list(r.in);
    const set = new Set(allowed);
    tests.push((v) => (set.has(conv(v)) ? undefined : `must be one of [${allowed.map(fmt).join(', ')}]`));
  }
  if (r.not_in !== undefined) {
    const denied = list(r.not_in);
    const set = new Set(denied);
    tests.push((v) => (set.has(conv(v)) ? `must not be one of [${denied.map(fmt).join(', ')}]` : undefined));
  }
  return tests;
}

function rangeTests<T extends number | bigint>(r: Obj, conv: (v: any) => T, fmt: (v: T) => string): Test[] {
  const lower = r.gt !== undefined ? { at: conv(r.gt), incl: false } : r.gte !== undefined ? { at: conv(r.gte), incl: true } : undefined;
  const upper = r.lt !== undefined ? { at: conv(r.lt), incl: false } : r.lte !== undefined ? { at: conv(r.lte), incl: true } : undefined;
  const above = (x: T): boolean => (lower!.incl ? x >= lower!.at : x > lower!.at);
  const below = (x: T): boolean => (upper!.incl ? x <= upper!.at : x < upper!.at);
  if (lower && upper) {
    if (upper.at > lower.at) {
      const range = `${lower.incl ? '[' : '('}${fmt(lower.at)}, ${fmt(upper.at)}${upper.incl ? ']' : ')'}`;
      return [(v) => (above(conv(v)) && below(conv(v)) ? undefined : `must be inside range ${range}`)];
    }
    // lower bound above the upper one: PGV reads it as "outside [upper, lower]"
    const range = `${upper.incl ? '(' : '['}${fmt(upper.at)}, ${fmt(lower.at)}${lower.incl ? ')' : ']'}`;
    return [(v) => (above(conv(v)) || below(conv(v)) ? undefined : `must be outside range ${range}`)];
  }
  if (lower) return [(v) => (above(conv(v)) ? undefined : `must be ${lower.incl ? '>=' : '>'} ${fmt(lower.at)}`)];
  if (upper) return [(v) => (below(conv(v)) ? undefined : `must be ${upper.incl ? '<=' : '<'} ${fmt(upper.at)}`)];
  return [];
}

function enumTests(r: Obj, e: protobuf.Enum): Test[] {
  // Plain objects may carry enum names; decoded messages carry numbers.
  const conv = (v: any): number => (typeof v === 'string' ? (e.values[v] ?? NaN) : Number(v));
  const fmt = (n: number): string => e.valuesById[n] ?? String(n);
  const tests: Test[] = [];
  if (r.const !== undefined) tests.push((v) => (conv(v) === conv(r.const) ? undefined : `must equal ${fmt(conv(r.const))}`));
  if (r.defined_only) tests.push((v) => (conv(v) in e.valuesById ? undefined : `must be a defined value of ${e.fullName.slice(1)} (got ${v})`));
  tests.push(...setTests(r, conv, fmt));
  return tests;
}

/** Header checks as PGV defines them; `strict: false` (what Envoy's protos use) only refuses NUL, CR and LF. */
const HEADER_REGEX = {
  HTTP_HEADER_NAME: { strict: /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/, problem: 'must be a valid HTTP header name' },
  HTTP_HEADER_VALUE: { strict: /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/, problem: 'must be a valid HTTP header value' },
} as const;
const NO_NUL_CR_LF = /^[^\u0000\n\r]*$/;
const WELL_KNOWN_REGEX_NAMES = ['UNKNOWN', 'HTTP_HEADER_NAME', 'HTTP_HEADER_VALUE'];

function stringTests(r: Obj): Test[] {
  const tests: Test[] = [];
  const quote = JSON.stringify;
  if (r.const !== undefined) tests.push((v) => (v === r.const ? undefined : `must equal ${quote(r.const)}`));
  tests.push(...lengthTests(r, 'len', 'min_len', 'max_len', runeCount, 'characters'));
  tests.push(...lengthTests(r, 'len_bytes', 'min_bytes', 'max_bytes', (v: string) => Buffer.byteLength(v), 'bytes'));
  if (r.pattern !== undefined) tests.push(patternTest(String(r.pattern), (v) => v));
  if (r.prefix !== undefined) tests.push((v) => (v.startsWith(r.prefix) ? undefined : `must start with ${quote(r.prefix)}`));
  if (r.suffix !== undefined) tests.push((v) => (v.endsWith(r.suffix) ? undefined : `must end with ${quote(r.suffix)}`));
  if (r.contains !== undefined) tests.push((v) => (v.includes(r.contains) ? undefined : `must contain ${quote(r.contains)}`));
  if (r.not_contains !== undefined) tests.push((v) => (v.includes(r.not_contains) ? `must not contain ${quote(r.not_contains)}` : undefined));
  tests.push(...setTests(r, String, quote));
  const known: string | undefined = typeof r.well_known_regex === 'number' ? WELL_KNOWN_REGEX_NAMES[r.well_known_regex] : r.well_known_regex;
  if (known === 'HTTP_HEADER_NAME' || known === 'HTTP_HEADER_VALUE') {
    const { strict, problem } = HEADER_REGEX[known];
    if (r.strict === false) tests.push((v) => (NO_NUL_CR_LF.test(v) ? undefined : 'must not contain NUL, CR or LF'));
    else tests.push((v) => (strict.test(v) ? undefined : problem));
  }
  const format = (ok: (v: string) => boolean, what: string): number => tests.push((v) => (ok(v) ? undefined : `must be ${what}`));
  if (r.email) format(isEmail, 'a valid email address');
  if (r.hostname) format(isHostname, 'a valid hostname');
  if (r.ip) format((v) => isIP(v) !== 0, 'a valid IP address');
  if (r.ipv4) format(isIPv4, 'a valid IPv4 address');
  if (r.ipv6) format(isIPv6, 'a valid IPv6 address');
  if (r.address) format((v) => isIP(v) !== 0 || isHostname(v), 'a valid hostname or IP address');
  if (r.uri) format(isUri, 'an absolute URI');
  if (r.uri_ref) format(isUriRef, 'a URI reference');
  if (r.uuid) format((v) => /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(v), 'a valid UUID');
  return tests;
}

function bytesTests(r: Obj): Test[] {
  const tests: Test[] = [];
  // Rule values come from proto string literals: keep their characters as bytes.
  const bytes = (s: unknown): Buffer => (typeof s === 'string' ? Buffer.from(s, 'latin1') : Buffer.from(s as Uint8Array));
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
  const buf = (v: Uint8Array): Buffer => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (r.const !== undefined) tests.push((v) => (buf(v).equals(bytes(r.const)) ? undefined : `must equal 0x${hex(bytes(r.const))}`));
  tests.push(...lengthTests(r, 'len', 'min_len', 'max_len', (v: Uint8Array) => v.length, 'bytes'));
  if (r.pattern !== undefined) tests.push(patternTest(String(r.pattern), (v) => buf(v).toString('utf8')));
  if (r.prefix !== undefined) tests.push((v) => (buf(v).subarray(0, bytes(r.prefix).length).equals(bytes(r.prefix)) ? undefined : 'must start with the given prefix'));
  if (r.suffix !== undefined) tests.push((v) => (buf(v).subarray(v.length - bytes(r.suffix).length).equals(bytes(r.suffix)) ? undefined : 'must end with the given suffix'));
  if (r.contains !== undefined) tests.push((v) => (buf(v).includes(bytes(r.contains)) ? undefined : 'must contain the given bytes'));
  tests.push(...setTests(r, (v: any) => hex(typeof v === 'string' ? bytes(v) : v), (h: string) => `0x${h}`));
  if (r.ip) tests.push((v) => (v.length === 4 || v.length === 16 ? undefined : 'must be an IP address (4 or 16 bytes)'));
  if (r.ipv4) tests.push((v) => (v.length === 4 ? undefined : 'must be an IPv4 address (4 bytes)'));
  if (r.ipv6) tests.push((v) => (v.length === 16 ? undefined : 'must be an IPv6 address (16 bytes)'));
  return tests;
}

function lengthTests(r: Obj, exact: string, min: string, max: string, measure: (v: any) => number, unit: string): Test[] {
  const tests: Test[] = [];
  if (r[exact] !== undefined) tests.push((v) => (measure(v) === Number(r[exact]) ? undefined : `must be exactly ${r[exact]} ${unit} long`));
  if (r[min] !== undefined) tests.push((v) => (measure(v) >= Number(r[min]) ? undefined : `must be at least ${r[min]} ${unit} long`));
  if (r[max] !== undefined) tests.push((v) => (measure(v) <= Number(r[max]) ? undefined : `must be at most ${r[max]} ${unit} long`));
  return tests;
}

/** min/max counts of a list or map. */
function countTests(r: Obj, min: string, max: string, unit: string): Test[] {
  const size = (v: any): number => (Array.isArray(v) ? v.length : Object.keys(v).length);
  const tests: Test[] = [];
  if (r[min] !== undefined) tests.push((v) => (size(v) >= Number(r[min]) ? undefined : `must have at least ${r[min]} ${unit}`));
  if (r[max] !== undefined) tests.push((v) => (size(v) <= Number(r[max]) ? undefined : `must have at most ${r[max]} ${unit}`));
  return tests;
}

/** Duration and Timestamp rules share their shape; values are compared in nanoseconds. */
function timeTests(r: Obj, fmt: (ns: bigint) => string): Test[] {
  const tests = numberTests({ ...r, in: undefined, not_in: undefined }, toNanos, fmt);
  // `in`/`not_in` hold messages, so compare their nanoseconds (a Set would compare objects).
  const nanosList = (x: unknown): bigint[] => (Array.isArray(x) ? x : [x]).map(toNanos);
  if (r.in !== undefined) {
    const allowed = nanosList(r.in);
    tests.push((v) => (allowed.includes(toNanos(v)) ? undefined : `must be one of [${allowed.map(fmt).join(', ')}]`));
  }
  if (r.not_in !== undefined) {
    const denied = nanosList(r.not_in);
    tests.push((v) => (denied.includes(toNanos(v)) ? `must not be one of [${denied.map(fmt).join(', ')}]` : undefined));
  }
  return tests;
}

function timestampTests(r: Obj): Test[] {
  const fmt = (ns: bigint): string => new Date(Number(ns / 1_000_000n)).toISOString();
  const now = (): bigint => BigInt(Date.now()) * 1_000_000n;
  const tests = timeTests(r, fmt);
  if (r.lt_now) tests.push((v) => (toNanos(v) < now() ? undefined : 'must be in the past'));
  if (r.gt_now) tests.push((v) => (toNanos(v) > now() ? undefined : 'must be in the future'));
  if (r.within !== undefined) {
    const within = toNanos(r.within);
    tests.push((v) => {
      const d = toNanos(v) - now();
      return (d < 0n ? -d : d) <= within ? undefined : `must be within ${formatDuration(within)} of now`;
    });
  }
  return tests;
}

function anyTests(r: Obj): Test[] {
  return setTests(r, String, JSON.stringify).map((t) => (v: Obj) => t(v.type_url));
}

// ---------------------------------------------------------------------------------------------
// Any payloads

const payloadTypes = new WeakMap<protobuf.Root, Map<string, protobuf.Type | null>>();

function lookupType(root: protobuf.Root, typeUrl: string): protobuf.Type | null {
  let cache = payloadTypes.get(root);
  if (!cache) payloadTypes.set(root, (cache = new Map()));
  let type = cache.get(typeUrl);
  if (type === undefined) {
    const found = typeUrl ? root.lookup(messageName(typeUrl)) : null;
    type = found instanceof protobuf.Type ? found : null;
    cache.set(typeUrl, type);
  }
  return type;
}

/** Decodes an Any's payload and validates it; a type this root does not hold cannot be checked, so it is refused. */
function anyPayloadCheck(root: protobuf.Root): Check {
  return (any: Obj, path, out) => {
    const url: string = any.type_url ?? '';
    const type = lookupType(root, url);
    if (!type) {
      out.push(`${path}: ${url ? `type ${JSON.stringify(url)} is not loaded, so it cannot be validated` : 'type_url is empty'}`);
      return;
    }
    if (!needsChecks(type)) return;
    let payload: protobuf.Message;
    try {
      payload = type.decode(any.value ?? new Uint8Array(0));
    } catch (e) {
      out.push(`${path}: cannot decode ${type.name}: ${(e as Error).message}`);
      return;
    }
    validateInto(type, payload, `${path}(${type.name})`, out);
  };
}

// ---------------------------------------------------------------------------------------------
// Which types have anything to check: lets the walk skip subtrees without rules (Struct metadata, ...)

const needs = new WeakMap<protobuf.Type, boolean>();

function needsChecks(type: protobuf.Type): boolean {
  const known = needs.get(type);
  if (known !== undefined) return known;
  // Types refer to each other in cycles, so settle all types reachable from here together, to a fixpoint.
  const group = new Map<protobuf.Type, boolean>();
  const stack = [type];
  while (stack.length) {
    const t = stack.pop()!;
    if (group.has(t) || needs.has(t)) continue;
    group.set(t, hasOwnChecks(t));
    stack.push(...children(t));
  }
  for (let changed = true; changed; ) {
    changed = false;
    for (const [t, value] of group) {
      if (!value && children(t).some((c) => group.get(c) ?? needs.get(c))) {
        group.set(t, true);
        changed = true;
      }
    }
  }
  for (const [t, value] of group) needs.set(t, value);
  return group.get(type)!;
}

function disabled(type: protobuf.Type): boolean {
  return optionValues(type, '(validate.disabled)').includes(true) || optionValues(type, '(validate.ignored)').includes(true);
}

function hasOwnChecks(type: protobuf.Type): boolean {
  if (disabled(type)) return false;
  return (
    type.oneofsArray.some((o) => optionValues(o, '(validate.required)').includes(true)) ||
    type.fieldsArray.some((f) => fieldRules(f) !== undefined || f.resolvedType?.fullName === '.google.protobuf.Any')
  );
}

/** Message types whose values this type's fields hold and that its rules let the walk descend into. */
function children(type: protobuf.Type): protobuf.Type[] {
  if (disabled(type)) return [];
  const out: protobuf.Type[] = [];
  for (const f of type.fieldsArray) {
    const rules = fieldRules(f);
    const skip = f.repeated ? rules?.repeated?.items?.message?.skip : f.map ? rules?.map?.values?.message?.skip : rules?.message?.skip;
    if (f.resolvedType instanceof protobuf.Type && !skip) out.push(f.resolvedType);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** A field's `(validate.rules)`, merged when the proto sets them in several option statements. */
function fieldRules(field: protobuf.Field): Obj | undefined {
  const values = optionValues(field, '(validate.rules)');
  return values.length <= 1 ? values[0] : values.reduce(deepMerge, {});
}

function optionValues(obj: protobuf.ReflectionObject, name: string): any[] {
  const parsed = obj.parsedOptions as unknown as Obj[] | undefined;
  return (parsed ?? []).filter((o) => name in o).map((o) => o[name]);
}

function deepMerge(a: Obj, b: Obj): Obj {
  const out: Obj = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] = isPlainObject(out[k]) && isPlainObject(v) ? deepMerge(out[k], v) : v;
  }
  return out;
}

function isPlainObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Set on the wire (or in a plain object): an own, non-null property. Decoded messages keep defaults on the prototype. */
function isSet(msg: Obj, name: string): boolean {
  return Object.prototype.hasOwnProperty.call(msg, name) && msg[name] != null;
}

function isEmpty(v: any): boolean {
  if (v == null || v === '' || v === 0 || v === false || v === 0n) return true;
  if (v instanceof Uint8Array) return v.length === 0;
  if (typeof v === 'object' && 'low' in v && 'high' in v) return v.low === 0 && v.high === 0;
  return false;
}

function toBigInt(v: any): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(Math.trunc(v));
  return BigInt(String(v)); // Long and decimal strings
}

/** A Duration or Timestamp (`{seconds, nanos}`; a rule's zero value is `{}`) in nanoseconds. */
function toNanos(v: any): bigint {
  return toBigInt(v?.seconds ?? 0) * 1_000_000_000n + toBigInt(v?.nanos ?? 0);
}

function formatDuration(ns: bigint): string {
  const sign = ns < 0n ? '-' : '';
  const abs = ns < 0n ? -ns : ns;
  const frac = abs % 1_000_000_000n;
  return `${sign}${abs / 1_000_000_000n}${frac ? `.${String(frac).padStart(9, '0').replace(/0+$/, '')}` : ''}s`;
}

/** Map keys are strings in JS objects; turn them back into what the key rules compare. */
function mapKeyConverter(keyType: string): (k: string) => unknown {
  if (keyType === 'bool') return (k) => k === 'true';
  if (INT64_TYPES.has(keyType)) return (k) => (k.length === 8 && !/^-?\d+$/.test(k) ? protobuf.util.longFromHash(k, keyType.startsWith('u') || keyType.startsWith('fixed')) : k);
  if (NUMBER_TYPES.has(keyType)) return Number;
  return (k) => k;
}

function uniqueKey(v: unknown): unknown {
  if (v instanceof Uint8Array) return `bytes:${Buffer.from(v).toString('hex')}`;
  if (typeof v === 'object' && v !== null) return JSON.stringify(v);
  return v;
}

/** Length in Unicode code points, as PGV counts string lengths. */
function runeCount(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) n--;
  }
  return n;
}

/** A `pattern` rule. Patterns are RE2; the subset Envoy's protos use maps onto JS regexes directly. */
function patternTest(pattern: string, text: (v: any) => string): Test {
  let re: RegExp;
  try {
    const { source, flags } = re2ToJs(pattern);
    re = new RegExp(source, flags);
  } catch (e) {
    // Fail closed: a rule we cannot evaluate must not let a value through unchecked.
    return () => `cannot check pattern ${JSON.stringify(pattern)}: ${(e as Error).message}`;
  }
  return (v) => (re.test(text(v)) ? undefined : `must match pattern ${JSON.stringify(pattern)}`);
}

function isHostname(v: string): boolean {
  const host = v.endsWith('.') ? v.slice(0, -1) : v;
  if (!host || host.length > 253) return false;
  return host.split('.').every((l) => /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/.test(l));
}

function isEmail(v: string): boolean {
  const m = /^<?([^<>@\s]+)@([^<>@\s]+?)>?$/.exec(v);
  return !!m && m[1].length <= 64 && isHostname(m[2]);
}

function isUri(v: string): boolean {
  try {
    new URL(v);
    return /^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(v);
  } catch {
    return false;
  }
}

function isUriRef(v: string): boolean {
  try {
    new URL(v, 'http://base.invalid/');
    return !/\s/.test(v);
  } catch {
    return false;
  }
}
