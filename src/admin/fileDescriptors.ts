import * as protobuf from 'protobufjs';
import { importPath } from '../envoy/protos';

/**
 * google.protobuf.FileDescriptorProtos rebuilt from a protobufjs Root, for gRPC server reflection.
 *
 * Reflection clients written in Go (buf curl) link what they receive with protodesc, which is
 * strict: every type a file names must be defined in the file itself or in one of its direct
 * dependencies, map entries must look exactly as protoc makes them, ranges use protoc's bounds.
 * So each file is built here the way protoc would describe it, with two deliberate omissions:
 *  - options other than map_entry / packed / allow_alias. Envoy's custom options (validate, udpa,
 *    xds annotations) are extensions of google.protobuf.*Options; a client does not need them to
 *    call a method, and leaving them out means no file has to import descriptor.proto for them.
 *  - extension definitions, for the same reason. A file that only existed to define extensions is
 *    still served with its messages and enums if some other file uses one of them.
 * proto2 default values are left out too: they are not needed to link or to call, and a wrongly
 * escaped default is something protodesc rejects.
 */

export interface FileDescriptor {
  /** Import path, e.g. `envoy/config/cluster/v3/cluster.proto`. */
  readonly name: string;
  /** Files defining the types this file refers to: exactly its direct imports. */
  readonly dependency: readonly string[];
  /** The descriptor as a plain object in FileDescriptorProto's (snake_case) shape. */
  readonly proto: Readonly<Record<string, unknown>>;
  /** The descriptor encoded as google.protobuf.FileDescriptorProto. */
  readonly encoded: Buffer;
}

export interface DescriptorPool {
  /** Every file of the root by import path. */
  readonly files: ReadonlyMap<string, FileDescriptor>;
  /**
   * Full names (no leading dot) of everything a reflection client may ask for, to the file that
   * defines it: services, methods, messages (also nested and map entries), enums, enum values,
   * fields and oneofs.
   */
  readonly symbols: ReadonlyMap<string, string>;
}

type Obj = Record<string, unknown>;
type Definition = protobuf.Type | protobuf.Enum | protobuf.Service;

/** Builds a descriptor for every file that defines a message, enum or service in `root`. */
export function buildFileDescriptors(
  root: protobuf.Root,
  importPathOf: (filename: string) => string = importPath,
): DescriptorPool {
  const wkt = wellKnownFiles();
  const fileOf = (o: protobuf.ReflectionObject): string => {
    // Nested definitions live in the file of their outermost message.
    while (o.parent instanceof protobuf.Type) o = o.parent;
    if (o.filename) return importPathOf(o.filename);
    const name = wkt.get(o.fullName);
    if (!name) throw new Error(`no file known for ${o.fullName}`);
    return name;
  };

  // Group top-level definitions by file; the package is the namespace they sit in.
  const groups = new Map<string, { pkg: string; defs: Definition[] }>();
  const collect = (ns: protobuf.NamespaceBase): void => {
    for (const o of ns.nestedArray) {
      if (o instanceof protobuf.Type || o instanceof protobuf.Enum || o instanceof protobuf.Service) {
        const name = fileOf(o);
        const group = groups.get(name) ?? { pkg: ns.fullName.slice(1), defs: [] };
        group.defs.push(o);
        groups.set(name, group);
      } else if (o instanceof protobuf.Namespace) {
        collect(o);
      }
      // Anything else at namespace level is an extension field: left out on purpose.
    }
  };
  collect(root);

  const fdp = root.lookupType('google.protobuf.FileDescriptorProto');
  const files = new Map<string, FileDescriptor>();
  const symbols = new Map<string, string>();
  for (const [name, { pkg, defs }] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const deps = new Set<string>();
    const ctx: Context = {
      use: (t) => {
        const f = fileOf(t);
        if (f !== name) deps.add(f);
        return t.fullName; // protobufjs full names carry the leading dot descriptors want
      },
      // protobufjs's bundled copy of struct.proto spells Value's fields in lowerCamel
      // (nullValue); the real file, which clients may also know, has null_value.
      fieldName: defs.every((d) => !d.filename) ? (n) => n.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) : (n) => n,
      define: (fullName) => symbols.set(fullName.replace(/^\./, ''), name),
    };
    const proto: Obj = { name, package: pkg || undefined };
    // Only top-level definitions carry the file's syntax (protobufjs's internal `_edition`);
    // nested ones inherit it and hold null. Editions files would need more than a syntax
    // string (features), so refuse them rather than describe them wrongly.
    const edition = defs.map((d) => (d as unknown as { _edition?: string | null })._edition).find((e) => e) ?? 'proto2';
    if (edition !== 'proto2' && edition !== 'proto3') throw new Error(`${name}: edition ${edition} is not supported`);
    if (edition === 'proto3') proto.syntax = 'proto3';
    proto.message_type = defs.filter((d) => d instanceof protobuf.Type).map((t) => messageProto(t as protobuf.Type, ctx));
    proto.enum_type = defs.filter((d) => d instanceof protobuf.Enum).map((e) => enumProto(e as protobuf.Enum, ctx));
    proto.service = defs.filter((d) => d instanceof protobuf.Service).map((s) => serviceProto(s as protobuf.Service, ctx));
    proto.dependency = [...deps].sort();
    const bytes = fdp.encode(fdp.fromObject(proto)).finish();
    files.set(name, {
      name,
      dependency: proto.dependency as string[],
      proto,
      encoded: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    });
  }
  return { files, symbols };
}

/** A file and everything it imports, directly or not; the file itself comes first. */
export function withDependencies(pool: DescriptorPool, name: string): FileDescriptor[] {
  const out: FileDescriptor[] = [];
  const seen = new Set<string>();
  const visit = (n: string): void => {
    if (seen.has(n)) return;
    seen.add(n);
    const f = pool.files.get(n);
    if (!f) throw new Error(`file not in pool: ${n}`);
    out.push(f);
    f.dependency.forEach(visit);
  };
  visit(name);
  return out;
}

/** protoc's json_name: drop underscores and upper-case the letter after each. */
export function jsonName(field: string): string {
  return field.replace(/_+([a-z])?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''));
}

/** protoc's name for a map field's entry message: UpperCamel of the field plus `Entry`. */
export function mapEntryName(field: string): string {
  return field.replace(/(?:^|_+)([a-z])?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : '')) + 'Entry';
}

interface Context {
  /** Records a reference to a type (for dependencies) and returns its `.full.name`. */
  use(t: protobuf.ReflectionObject): string;
  /** Records a symbol defined in the file being built. */
  define(fullName: string): void;
  /** The field's name as the .proto file spells it. */
  fieldName(name: string): string;
}

/**
 * protobufjs loads the well-known types it bundles (google/protobuf/duration.proto and the
 * others in protobuf.common) from JSON, so their objects have no filename. Map their full names
 * back to those canonical files, from protobufjs's own table rather than a copy of it.
 */
function wellKnownFiles(): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (nested: Record<string, protobuf.AnyNestedObject> | undefined, prefix: string, file: string): void => {
    for (const [name, json] of Object.entries(nested ?? {})) {
      if ('fields' in json || 'values' in json || 'methods' in json) out.set(`${prefix}.${name}`, file);
      else walk((json as protobuf.INamespace).nested, `${prefix}.${name}`, file);
    }
  };
  for (const file of Object.keys(protobuf.common).filter((k) => k.endsWith('.proto'))) {
    walk(protobuf.common.get(file)?.nested, '', file);
  }
  return out;
}

const LABEL_OPTIONAL = 'LABEL_OPTIONAL';
const LABEL_REQUIRED = 'LABEL_REQUIRED';
const LABEL_REPEATED = 'LABEL_REPEATED';

/** Wire types that may be packed: every scalar except string and bytes, plus enums. */
const PACKABLE = new Set(['double', 'float', 'int64', 'uint64', 'int32', 'fixed64', 'fixed32', 'bool', 'uint32', 'sfixed32', 'sfixed64', 'sint32', 'sint64']);

/** A proto3 `optional` field sits alone in a oneof protobufjs named `_field`: a synthetic oneof. */
function isSynthetic(oneof: protobuf.OneOf): boolean {
  return oneof.fieldsArray.length === 1 && oneof.fieldsArray[0].options?.proto3_optional === true;
}

function messageProto(type: protobuf.Type, ctx: Context): Obj {
  ctx.define(type.fullName);
  // protoc lists synthetic oneofs after all real ones; oneof_index counts in that order.
  const oneofs = [...type.oneofsArray.filter((o) => !isSynthetic(o)), ...type.oneofsArray.filter(isSynthetic)];
  const nested: Obj[] = [];
  const fields: Obj[] = [];
  // Extension fields of other messages show up among `fieldsArray` (declaringField set): skip.
  for (const f of type.fieldsArray.filter((f) => !f.declaringField && !f.extend)) {
    const name = ctx.fieldName(f.name);
    ctx.define(`${type.fullName}.${name}`);
    const field: Obj = { name, number: f.id, json_name: jsonName(name) };
    if (f instanceof protobuf.MapField) {
      // A map is a repeated field of a nested `XxxEntry` message with key = 1, value = 2.
      const entry = mapEntryName(name);
      ctx.define(`${type.fullName}.${entry}`);
      nested.push({
        name: entry,
        field: [
          { name: 'key', number: 1, label: LABEL_OPTIONAL, json_name: 'key', type: `TYPE_${f.keyType.toUpperCase()}` },
          { name: 'value', number: 2, label: LABEL_OPTIONAL, json_name: 'value', ...typeOf(f, ctx) },
        ],
        options: { map_entry: true },
      });
      Object.assign(field, { label: LABEL_REPEATED, type: 'TYPE_MESSAGE', type_name: `${type.fullName}.${entry}` });
    } else {
      field.label = f.repeated ? LABEL_REPEATED : f.required ? LABEL_REQUIRED : LABEL_OPTIONAL;
      Object.assign(field, typeOf(f, ctx));
      if (f.partOf) field.oneof_index = oneofs.indexOf(f.partOf);
      if (f.options?.proto3_optional === true) field.proto3_optional = true;
      const packable = PACKABLE.has(f.type) || f.resolvedType instanceof protobuf.Enum;
      if (f.repeated && packable && typeof f.options?.packed === 'boolean') field.options = { packed: f.options.packed };
    }
    fields.push(field);
  }
  for (const o of oneofs) ctx.define(`${type.fullName}.${o.name}`);
  const ranges = (type.reserved ?? []).filter((r): r is number[] => Array.isArray(r));
  return {
    name: type.name,
    field: fields,
    nested_type: [
      ...type.nestedArray.filter((n): n is protobuf.Type => n instanceof protobuf.Type).map((t) => messageProto(t, ctx)),
      ...nested,
    ],
    enum_type: type.nestedArray.filter((n): n is protobuf.Enum => n instanceof protobuf.Enum).map((e) => enumProto(e, ctx)),
    oneof_decl: oneofs.map((o) => ({ name: o.name })),
    // protobufjs keeps ranges inclusive ([1000, 536870911] for `1000 to max`); descriptors want
    // the end exclusive for messages.
    extension_range: (type.extensions ?? []).map(([start, end]) => ({ start, end: end + 1 })),
    reserved_range: ranges.map(([start, end]) => ({ start, end: end + 1 })),
    reserved_name: (type.reserved ?? []).filter((r): r is string => typeof r === 'string'),
  };
}

/** type, plus type_name for messages and enums (recording the dependency). */
function typeOf(f: protobuf.Field, ctx: Context): Obj {
  const t = f.resolvedType;
  if (t instanceof protobuf.Type) return { type: 'TYPE_MESSAGE', type_name: ctx.use(t) };
  if (t instanceof protobuf.Enum) return { type: 'TYPE_ENUM', type_name: ctx.use(t) };
  return { type: `TYPE_${f.type.toUpperCase()}` };
}

function enumProto(e: protobuf.Enum, ctx: Context): Obj {
  ctx.define(e.fullName);
  // Enum values are scoped beside their enum, not inside it (C++ scoping rules).
  const scope = e.parent && e.parent.fullName ? e.parent.fullName : '';
  for (const v of Object.keys(e.values)) ctx.define(`${scope}.${v}`);
  const numbers = Object.values(e.values);
  return {
    name: e.name,
    value: Object.entries(e.values).map(([name, number]) => ({ name, number })),
    // Without allow_alias, protodesc rejects two names for one number.
    options: new Set(numbers).size < numbers.length ? { allow_alias: true } : undefined,
    // Enum reserved ranges, unlike message ones, are inclusive in descriptors too.
    reserved_range: (e.reserved ?? []).filter((r): r is number[] => Array.isArray(r)).map(([start, end]) => ({ start, end })),
    reserved_name: (e.reserved ?? []).filter((r): r is string => typeof r === 'string'),
  };
}

function serviceProto(s: protobuf.Service, ctx: Context): Obj {
  ctx.define(s.fullName);
  return {
    name: s.name,
    method: s.methodsArray.map((m) => {
      m.resolve();
      ctx.define(`${s.fullName}.${m.name}`);
      return {
        name: m.name,
        input_type: ctx.use(m.resolvedRequestType as protobuf.Type),
        output_type: ctx.use(m.resolvedResponseType as protobuf.Type),
        client_streaming: m.requestStream ? true : undefined,
        server_streaming: m.responseStream ? true : undefined,
      };
    }),
  };
}
