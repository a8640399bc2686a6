import * as protobuf from 'protobufjs';
import { messageType } from './protos';
import { messageName } from './typeUrls';

/** protobufjs computes fullName by walking parents on every read; the hot paths read it a lot. */
const names = new WeakMap<protobuf.ReflectionObject, string>();
function nameOf(t: protobuf.ReflectionObject): string {
  let n = names.get(t);
  if (n === undefined) names.set(t, (n = t.fullName));
  return n;
}

/** A packed google.protobuf.Any. */
export interface PackedAny {
  type_url: string;
  value: Uint8Array;
}

/**
 * Encodes `message` (a plain object in proto field names) as the Any payload of `typeUrl`.
 * Throws on an unknown type, an unknown field or a value of the wrong shape, so a typo can never
 * turn into a silently empty resource.
 */
export function encodeMessage(typeUrl: string, message: object): Uint8Array {
  const { type, message: m } = toMessage(typeUrl, message);
  return type.encode(m).finish();
}

/** The checked protobufjs message for `typeUrl` (see encodeMessage), before encoding. */
export function toMessage(typeUrl: string, message: object): { type: protobuf.Type; message: protobuf.Message } {
  const type = messageType(messageName(typeUrl));
  return { type, message: type.fromObject(normalize(type, message, messageName(typeUrl))) };
}

export function packAny(typeUrl: string, message: object): PackedAny {
  return { type_url: typeUrl, value: encodeMessage(typeUrl, message) };
}

/**
 * Decodes an Any into proto3 JSON as Envoy's config dumps show it: nested Anys expanded
 * (`@type`), Structs as plain JSON, Durations as "1.5s", Timestamps as RFC 3339, wrappers as
 * their bare value.
 */
export function unpackAny(any: PackedAny, options: JsonOptions = {}): Record<string, unknown> {
  const type = messageType(messageName(any.type_url));
  return messageJson(type, type.decode(any.value), options);
}

export interface JsonOptions {
  /** What to show in place of a set field's value; undefined: its value. */
  mask?: (field: protobuf.Field) => string | undefined;
}

/** A decoded message as proto3 JSON (see unpackAny). */
export function messageJson(type: protobuf.Type, message: protobuf.Message | object, options: JsonOptions = {}): Record<string, unknown> {
  return toJson(type, type.toObject(message as protobuf.Message, TO_JSON), options);
}

function toJson(type: protobuf.Type, obj: Record<string, unknown>, options: JsonOptions): Record<string, unknown> {
  if (nameOf(type) === '.google.protobuf.Any' && typeof obj['@type'] === 'string') {
    return { ...toJson(messageType(messageName(obj['@type'])), obj, options), '@type': obj['@type'] };
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj)) {
    const rt = type.fields[key]?.resolvedType;
    const field = type.fields[key];
    const masked = field && options.mask?.(field);
    if (masked !== undefined) {
      out[key] = masked;
      continue;
    }
    if (!(rt instanceof protobuf.Type) || value === null || typeof value !== 'object') {
      out[key] = value;
      continue;
    }
    const convert = (v: unknown): unknown => {
      const m = v as Record<string, unknown>;
      if (nameOf(rt) === '.google.protobuf.Struct') return structToJson(m);
      if (nameOf(rt) === '.google.protobuf.Value') return valueToJson(m);
      if (WRAPPERS.has(nameOf(rt))) return m.value ?? defaultOf(rt);
      if (nameOf(rt) === '.google.protobuf.Duration') return formatDuration(m);
      if (nameOf(rt) === '.google.protobuf.Timestamp') return new Date(Number(m.seconds ?? 0) * 1000 + Number(m.nanos ?? 0) / 1e6).toISOString();
      return toJson(rt, m, options);
    };
    if (field.map) out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, convert(v)]));
    else if (Array.isArray(value)) out[key] = value.map(convert);
    else out[key] = convert(value);
  }
  return out;
}

function structToJson(s: Record<string, unknown>): Record<string, unknown> {
  const fields = (s.fields ?? {}) as Record<string, Record<string, unknown>>;
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, valueToJson(v)]));
}

function valueToJson(v: Record<string, unknown>): unknown {
  if ('structValue' in v) return structToJson(v.structValue as Record<string, unknown>);
  if ('listValue' in v) return (((v.listValue as Record<string, unknown>).values ?? []) as Record<string, unknown>[]).map(valueToJson);
  if ('numberValue' in v) return v.numberValue;
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  return null;
}

function formatDuration(d: Record<string, unknown>): string {
  const seconds = Number(d.seconds ?? 0);
  const nanos = Number(d.nanos ?? 0);
  const frac = nanos ? `.${String(Math.abs(nanos)).padStart(9, '0').replace(/0+$/, '')}` : '';
  return `${seconds}${frac}s`;
}

const TO_JSON: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  bytes: String,
  json: true,
};

/**
 * Checks a message object and converts the proto3 JSON forms Envoy configs are written in.
 * protobufjs's fromObject drops unknown keys and turns unknown enum names into 0, and its Any
 * wrapper encodes an empty Any for a type it has not loaded: all three would hide a typo, so
 * every key must be a field, every enum name defined, every `@type` loaded. Struct values are
 * plain JSON (as in Envoy's YAML), a Duration may be written "1.5s", and a wrapper (BoolValue,
 * UInt32Value, ...) its bare value.
 */
function normalize(type: protobuf.Type, obj: object, where: string): Record<string, unknown> {
  if (nameOf(type) === '.google.protobuf.Any' && '@type' in obj) {
    const { ['@type']: url, ...rest } = obj as Record<string, unknown>;
    const inner = messageType(messageName(String(url)));
    return { '@type': url, ...normalize(inner, rest, `${where}(${inner.name})`) };
  }
  const out: Record<string, unknown> = {};
  for (const key in obj) {
    const value = (obj as Record<string, unknown>)[key];
    const field = type.fields[key];
    if (!field) throw new Error(`${where}: unknown field "${key}" in ${nameOf(type).slice(1)}`);
    if (value === null || value === undefined) continue;
    if (field.map) {
      const m: Record<string, unknown> = {};
      for (const k in value as object) m[k] = convert(field, (value as Record<string, unknown>)[k], where, key);
      out[key] = m;
    } else if (field.repeated) {
      if (!Array.isArray(value)) throw new Error(`${where}.${key}: a list expected`);
      out[key] = value.map((v) => convert(field, v, where, key));
    } else out[key] = convert(field, value, where, key);
  }
  return out;
}

/** One value of a field (the path for errors is only built when needed). */
function convert(field: protobuf.Field, v: unknown, where: string, key: string): unknown {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Enum) {
    if (typeof v === 'string' ? !(v in rt.values) : typeof v !== 'number') {
      throw new Error(`${where}.${key}: ${JSON.stringify(v)} is not a value of ${nameOf(rt).slice(1)}`);
    }
    return v;
  }
  if (!(rt instanceof protobuf.Type)) return v;
  const name = nameOf(rt);
  if (name === '.google.protobuf.Struct') return jsonToStruct(v, `${where}.${key}`);
  if (WRAPPERS.has(name) && (typeof v !== 'object' || v === null)) return { value: v };
  if (name === '.google.protobuf.Duration' && typeof v === 'string') return parseDuration(v, `${where}.${key}`);
  if (v && typeof v === 'object' && !(v instanceof Uint8Array)) return normalize(rt, v, `${where}.${key}`);
  return v;
}

/** google.protobuf wrapper types: proto3 JSON writes them as their bare value. */
const WRAPPERS = new Set(
  ['DoubleValue', 'FloatValue', 'Int64Value', 'UInt64Value', 'Int32Value', 'UInt32Value', 'BoolValue', 'StringValue', 'BytesValue'].map(
    (n) => `.google.protobuf.${n}`,
  ),
);

function defaultOf(wrapper: protobuf.Type): unknown {
  const field = wrapper.fields.value;
  if (field.type === 'bool') return false;
  if (field.type === 'string' || field.type === 'bytes') return '';
  return field.long ? '0' : 0;
}

function parseDuration(v: string, where: string): { seconds: number; nanos: number } {
  const m = /^(-?\d+)(?:\.(\d{1,9}))?s$/.exec(v);
  if (!m) throw new Error(`${where}: "${v}" is not a duration such as "1.5s"`);
  const nanos = m[2] ? Number(m[2].padEnd(9, '0')) : 0;
  return { seconds: Number(m[1]), nanos: m[1].startsWith('-') ? -nanos : nanos };
}

function jsonToStruct(v: unknown, where: string): object {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${where}: a JSON object expected`);
  return jsonToValue(v).structValue as object;
}

/**
 * Plain JSON as google.protobuf.Value in protobufjs's object form. Its field names are
 * lowerCamel because protobufjs bundles struct.proto that way, whatever keepCase says.
 */
export function jsonToValue(v: unknown): Record<string, unknown> {
  if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(jsonToValue) } };
  if (typeof v === 'object') return { structValue: { fields: Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonToValue(x)])) } };
  return { stringValue: String(v) };
}
