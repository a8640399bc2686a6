/**
 * A JSON value as a google.protobuf.Value in protobufjs's object form, so the admin API can
 * return decoded resources that any gRPC client prints as plain JSON.
 */
export function toValue(v: unknown): object {
  if (v === null || v === undefined) return { null_value: 'NULL_VALUE' };
  if (typeof v === 'number') return { number_value: v };
  if (typeof v === 'string') return { string_value: v };
  if (typeof v === 'boolean') return { bool_value: v };
  if (Array.isArray(v)) return { list_value: { values: v.map(toValue) } };
  if (typeof v === 'object') return { struct_value: { fields: Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toValue(x)])) } };
  return { string_value: String(v) };
}
