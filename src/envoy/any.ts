import * as protobuf from 'protobufjs';
import { messageType } from './protos';
import { messageName } from './typeUrls';

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
  const type = messageType(messageName(typeUrl));
  checkShape(type, message, messageName(typeUrl));
  return type.encode(type.fromObject(message)).finish();
}

export function packAny(typeUrl: string, message: object): PackedAny {
  return { type_url: typeUrl, value: encodeMessage(typeUrl, message) };
}

/** Decodes an Any into a plain object with nested Anys expanded (`@type` form). */
export function unpackAny(any: PackedAny): Record<string, unknown> {
  const type = messageType(messageName(any.type_url));
  return type.toObject(type.decode(any.value), TO_JSON);
}

export const TO_JSON: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  bytes: String,
  json: true,
};

/**
 * protobufjs's fromObject drops unknown keys and turns unknown enum names into 0, and its Any
 * wrapper encodes an empty Any for a type it has not loaded. All three would hide a typo, so the
 * object is checked first: every key a field, every enum name defined, every `@type` loaded.
 */
function checkShape(type: protobuf.Type, obj: object, where: string): void {
  if (type.fullName === '.google.protobuf.Any' && '@type' in obj) {
    const { ['@type']: url, ...rest } = obj as Record<string, unknown>;
    const inner = messageType(messageName(String(url)));
    checkShape(inner, rest, `${where}(${inner.name})`);
    return;
  }
  for (const [key, value] of Object.entries(obj)) {
    const field = type.fields[key];
    if (!field) throw new Error(`${where}: unknown field "${key}" in ${type.fullName.slice(1)}`);
    if (value === null || value === undefined) continue;
    const rt = field.resolvedType;
    const check = (v: unknown): void => {
      if (rt instanceof protobuf.Enum) {
        if (typeof v === 'string' ? !(v in rt.values) : typeof v !== 'number') {
          throw new Error(`${where}.${key}: ${JSON.stringify(v)} is not a value of ${rt.fullName.slice(1)}`);
        }
      } else if (rt instanceof protobuf.Type && v && typeof v === 'object' && !(v instanceof Uint8Array)) {
        checkShape(rt, v, `${where}.${key}`);
      }
    };
    if (field.map) Object.values(value as object).forEach(check);
    else if (field.repeated) {
      if (!Array.isArray(value)) throw new Error(`${where}.${key}: a list expected`);
      value.forEach(check);
    } else check(value);
  }
}
