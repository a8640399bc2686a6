/**
 * A JSON value as a google.protobuf.Value in protobufjs's object form, so the admin API can
 * return decoded resources that any gRPC client prints as plain JSON. Field names are
 * lowerCamel because protobufjs bundles struct.proto that way (whatever keepCase says).
 */
export function toValue(v: unknown): object {
  if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
  if (typeof v === 'object') return { structValue: { fields: Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toValue(x)])) } };
  return { stringValue: String(v) };
}
