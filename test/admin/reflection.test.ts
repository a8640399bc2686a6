import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';
import { protoRoot } from '../../src/envoy/protos';
import { serviceDefinition } from '../../src/envoy/grpcService';
import { addReflection } from '../../src/admin/reflection';
import { buildFileDescriptors, jsonName, mapEntryName, withDependencies } from '../../src/admin/fileDescriptors';
import { bindLoopback } from '../helpers/ads';
import { bufCurl } from '../helpers/buf';

const ADMIN = 'apimconnect.admin.v1.AdminService';
const ADS = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

const root = protoRoot();
const FileDescriptorProto = root.lookupType('google.protobuf.FileDescriptorProto');
const FileDescriptorSet = root.lookupType('google.protobuf.FileDescriptorSet');

interface FieldDesc { name: string; type_name?: string }
interface MessageDesc { name: string; field?: FieldDesc[]; nested_type?: MessageDesc[]; enum_type?: { name: string }[] }
interface FileDesc {
  name: string;
  package?: string;
  syntax?: string;
  dependency?: string[];
  message_type?: MessageDesc[];
  enum_type?: { name: string }[];
  service?: { name: string; method?: { input_type: string; output_type: string }[] }[];
}

function decode(bytes: Uint8Array): FileDesc {
  return FileDescriptorProto.toObject(FileDescriptorProto.decode(bytes), { enums: String }) as FileDesc;
}

/** `.pkg.Name` of every message and enum a file defines, nested ones included. */
function definedTypes(f: FileDesc): Set<string> {
  const out = new Set<string>();
  const prefix = f.package ? `.${f.package}` : '';
  const walk = (scope: string, messages: MessageDesc[] = [], enums: { name: string }[] = []): void => {
    for (const e of enums) out.add(`${scope}.${e.name}`);
    for (const m of messages) {
      out.add(`${scope}.${m.name}`);
      walk(`${scope}.${m.name}`, m.nested_type, m.enum_type);
    }
  };
  walk(prefix, f.message_type, f.enum_type);
  return out;
}

/** Every type name a file refers to (fields, method input/output). */
function referencedTypes(f: FileDesc): Set<string> {
  const out = new Set<string>();
  const walk = (messages: MessageDesc[] = []): void => {
    for (const m of messages) {
      for (const fd of m.field ?? []) if (fd.type_name) out.add(fd.type_name);
      walk(m.nested_type);
    }
  };
  walk(f.message_type);
  for (const s of f.service ?? []) for (const m of s.method ?? []) out.add(m.input_type).add(m.output_type);
  return out;
}

describe('file descriptors', () => {
  const pool = buildFileDescriptors(root);

  it('follows protoc naming rules', () => {
    expect(jsonName('resource_count')).toBe('resourceCount');
    expect(jsonName('ipv4_compat')).toBe('ipv4Compat');
    expect(jsonName('foo__bar_1x_')).toBe('fooBar1x');
    expect(mapEntryName('typed_filter_config')).toBe('TypedFilterConfigEntry');
    expect(mapEntryName('fields')).toBe('FieldsEntry');
  });

  it('gives every file exactly the dependencies its references need', () => {
    const files = new Map<string, FileDesc>();
    const starts = [ADMIN, ADS, 'envoy.service.auth.v3.Authorization'].map((s) => pool.symbols.get(s) as string);
    starts.push('health/v1/health.proto');
    expect(starts.every((s) => pool.files.has(s))).toBe(true);
    for (const start of starts) for (const f of withDependencies(pool, start)) files.set(f.name, decode(f.encoded));
    expect(files.has('envoy/config/core/v3/base.proto')).toBe(true);
    expect(files.has('google/protobuf/any.proto')).toBe(true);

    for (const [name, f] of files) {
      const deps = f.dependency ?? [];
      expect(f.name).toBe(name);
      expect(deps).not.toContain(name);
      expect(new Set(deps).size).toBe(deps.length);
      for (const d of deps) expect(files.has(d) ? d : `${name} depends on missing ${d}`).toBe(d);
      // Each reference resolves in the file or a direct dependency; each dependency is used.
      const visible = new Map<string, string>();
      for (const d of [name, ...deps]) for (const t of definedTypes(files.get(d) as FileDesc)) visible.set(t, d);
      const used = new Set<string>();
      for (const ref of referencedTypes(f)) {
        expect(visible.has(ref) ? ref : `${name}: unresolved ${ref}`).toBe(ref);
        used.add(visible.get(ref) as string);
      }
      for (const d of deps) expect(used.has(d) ? d : `${name}: unused dependency ${d}`).toBe(d);
    }
  });

  it('serves the bundled well-known types under their canonical names and spellings', () => {
    const struct = decode((pool.files.get('google/protobuf/struct.proto') as { encoded: Buffer }).encoded);
    expect(struct.syntax).toBe('proto3');
    const value = struct.message_type?.find((m) => m.name === 'Value');
    expect(value?.field?.map((f) => f.name)).toContain('null_value');
    const s = struct.message_type?.find((m) => m.name === 'Struct');
    expect(s?.nested_type?.[0]).toMatchObject({ name: 'FieldsEntry', options: { map_entry: true } });
    for (const f of ['duration', 'timestamp', 'any', 'wrappers', 'empty']) expect(pool.files.has(`google/protobuf/${f}.proto`)).toBe(true);
    expect(pool.files.get('google/protobuf/descriptor.proto')?.proto.syntax).toBeUndefined();
  });
});

describe('reflection served to real clients', () => {
  let server: grpc.Server;
  let url: string;
  let address: string;

  beforeAll(async () => {
    server = new grpc.Server();
    server.addService(serviceDefinition(ADMIN), {
      ListSnapshots: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) =>
        cb(null, { snapshots: [{ group: 'Default', types: [{ type_url: 't', version: 'v1', resource_count: 3 }] }] }),
    });
    // Ends when the client has sent its request and half-closed (ending at once races buf's write).
    const end = (call: grpc.ServerDuplexStream<unknown, unknown>): void => {
      call.on('data', () => undefined);
      call.on('end', () => call.end());
    };
    server.addService(serviceDefinition(ADS), { StreamAggregatedResources: end, DeltaAggregatedResources: end });
    addReflection(server, [ADS, ADMIN]);
    const port = await bindLoopback(server);
    address = `127.0.0.1:${port}`;
    url = `http://${address}`;
  });

  afterAll(() => server.forceShutdown());

  const curl = (...args: string[]) => bufCurl(args, undefined, 60_000);

  it('buf curl lists services and methods', async () => {
    const services = await curl('--list-services', url);
    expect(services.stderr).toBe('');
    expect(services.stdout.split('\n')).toEqual(
      expect.arrayContaining([ADS, ADMIN, 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection']),
    );
    const methods = await curl('--list-methods', url);
    expect(methods.stderr).toBe('');
    expect(methods.stdout).toContain(`${ADS}/StreamAggregatedResources`);
    expect(methods.stdout).toContain(`${ADS}/DeltaAggregatedResources`);
    expect(methods.stdout).toContain(`${ADMIN}/ListSnapshots`);
  });

  it('buf curl calls a method with no schema file, over v1 and v1alpha', async () => {
    for (const protocol of ['grpc-v1', 'grpc-v1alpha']) {
      const res = await curl('--reflect-protocol', protocol, `${url}/${ADMIN}/ListSnapshots`, '-d', '{}');
      expect({ protocol, stderr: res.stderr, code: res.code }).toEqual({ protocol, stderr: '', code: 0 });
      expect(JSON.parse(res.stdout)).toEqual({
        snapshots: [{ group: 'Default', types: [{ typeUrl: 't', version: 'v1', resourceCount: 3 }] }],
      });
      expect(res.stdout).toMatch(/"resourceCount": 3/);
    }
  });

  it('buf curl links the Envoy ADS schema and opens a stream', async () => {
    const res = await curl(`${url}/${ADS}/StreamAggregatedResources`, '-d', '{}');
    expect({ stderr: res.stderr, code: res.code }).toEqual({ stderr: '', code: 0 });
  });

  it('every built file links in Go (buf curl --schema with all of them)', async () => {
    // protodesc links the whole set, so one call fails if any file anywhere is wrong.
    const pool = buildFileDescriptors(root);
    const names = new Set<string>();
    for (const name of pool.files.keys()) for (const f of withDependencies(pool, name).reverse()) names.add(f.name);
    const file = [...names].map((n) => FileDescriptorProto.decode((pool.files.get(n) as { encoded: Buffer }).encoded));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reflection-'));
    try {
      const image = path.join(dir, 'all.binpb');
      fs.writeFileSync(image, FileDescriptorSet.encode(FileDescriptorSet.create({ file })).finish());
      const res = await curl('--schema', image, `${url}/${ADMIN}/ListSnapshots`, '-d', '{}');
      expect({ stderr: res.stderr, code: res.code }).toEqual({ stderr: '', code: 0 });
      expect(res.stdout).toContain('"resourceCount": 3');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('builds proto3 optional, oneofs, maps, ranges, aliases and proto2 the way Go links them', async () => {
    // The Envoy protos use none of proto3 `optional`, allow_alias or proto2 `required`: a small root does.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reflection-'));
    try {
      fs.writeFileSync(path.join(dir, 'two.proto'), `syntax = "proto2"; package test.two;
        message P { required int32 x = 1; optional string y = 2; repeated int64 z = 3 [packed = true]; extensions 100 to max; }`);
      fs.writeFileSync(path.join(dir, 'opt.proto'), `syntax = "proto3"; package test.opt;
        import "google/protobuf/duration.proto"; import "two.proto";
        message M {
          optional string a = 1;
          oneof choice { string b = 2; int32 c = 3; }
          optional google.protobuf.Duration d = 4;
          map<string, E> by_name = 5;
          repeated int32 nums = 6 [packed = false];
          test.two.P p = 7;
          reserved 10 to 20, 100 to max;
          reserved "old";
          enum E { option allow_alias = true; E_ZERO = 0; E_NONE = 0; E_ONE = 1; reserved 5 to 7; }
        }
        service S { rpc Do(M) returns (stream M); }`);
      const descriptorProto = require.resolve('protobufjs/google/protobuf/descriptor.proto');
      const small = new protobuf.Root().loadSync([descriptorProto, path.join(dir, 'opt.proto')], { keepCase: true });
      small.resolveAll();
      const pool = buildFileDescriptors(small, (f) => path.relative(f === descriptorProto ? path.dirname(path.dirname(path.dirname(f))) : dir, f));
      // Loosely typed: this test walks many descriptor fields the FileDesc interface leaves out.
      const loose = (name: string): any => decode((pool.files.get(name) as { encoded: Buffer }).encoded);
      const opt = loose('opt.proto');
      expect(opt.dependency).toEqual(['google/protobuf/duration.proto', 'two.proto']);
      const m = opt.message_type[0];
      expect(m.oneof_decl.map((o: { name: string }) => o.name)).toEqual(['choice', '_a', '_d']);
      const field = (n: string): unknown => m.field.find((f: { name: string }) => f.name === n);
      expect(field('a')).toMatchObject({ oneof_index: 1, proto3_optional: true, label: 'LABEL_OPTIONAL' });
      expect(field('b')).toMatchObject({ oneof_index: 0 });
      expect(field('d')).toMatchObject({ oneof_index: 2, proto3_optional: true, type_name: '.google.protobuf.Duration' });
      expect(field('by_name')).toMatchObject({ label: 'LABEL_REPEATED', type_name: '.test.opt.M.ByNameEntry', json_name: 'byName' });
      expect(field('nums')).toMatchObject({ options: { packed: false } });
      expect(m.reserved_range).toEqual([{ start: 10, end: 21 }, { start: 100, end: 536870912 }]);
      expect(m.nested_type).toContainEqual(expect.objectContaining({ name: 'ByNameEntry', options: { map_entry: true } }));
      expect(m.enum_type).toEqual([expect.objectContaining({ options: { allow_alias: true }, reserved_range: [{ start: 5, end: 7 }] })]);
      const two = loose('two.proto');
      expect(two.syntax).toBeUndefined();
      expect(two.message_type[0]).toMatchObject({ extension_range: [{ start: 100, end: 536870912 }] });
      expect(pool.symbols.get('test.opt.M.E_NONE')).toBe('opt.proto');

      // Go links it: buf reaches the server (which does not serve test.opt.S) instead of failing on the schema.
      const file = withDependencies(pool, 'opt.proto').reverse().map((f) => FileDescriptorProto.decode(f.encoded));
      const image = path.join(dir, 'small.binpb');
      fs.writeFileSync(image, FileDescriptorSet.encode(FileDescriptorSet.create({ file })).finish());
      const res = await curl('--schema', image, `${url}/test.opt.S/Do`, '-d', '{"a":"x","byName":{"k":"E_ONE"},"p":{"x":1}}');
      expect(res.stderr).toContain('"code": "unimplemented"');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('raw ServerReflectionInfo', () => {
    const Client = grpc.makeGenericClientConstructor(serviceDefinition('grpc.reflection.v1.ServerReflection'), 'ServerReflection');
    type Response = protobuf.Message & {
      message_response?: string;
      file_descriptor_response?: { file_descriptor_proto: Uint8Array[] };
      error_response?: { error_code: number; error_message: string };
      original_request?: { file_containing_symbol?: string };
    };

    /** Sends the requests on one stream and collects the answers. */
    function ask(requests: object[]): Promise<Response[]> {
      const client = new Client(address, grpc.credentials.createInsecure());
      const call = (client as unknown as { ServerReflectionInfo(): grpc.ClientDuplexStream<object, Response> }).ServerReflectionInfo();
      const out: Response[] = [];
      return new Promise<Response[]>((resolve, reject) => {
        call.on('data', (r: Response) => out.push(r));
        call.on('error', reject);
        call.on('end', () => resolve(out));
        for (const r of requests) call.write(r);
        call.end();
      }).finally(() => client.close());
    }

    it('answers file_containing_symbol with the file and its dependencies, NOT_FOUND for unknown ones', async () => {
      const [cluster, unknown, method, nested, byName, ext] = await ask([
        { file_containing_symbol: 'envoy.config.cluster.v3.Cluster' },
        { file_containing_symbol: 'no.such.Symbol' },
        { file_containing_symbol: `${ADMIN}.ListSnapshots` },
        { file_containing_symbol: 'envoy.config.cluster.v3.Cluster.LbPolicy' },
        { file_by_filename: 'google/protobuf/duration.proto' },
        { file_containing_extension: { containing_type: 'google.protobuf.FieldOptions', extension_number: 1071 } },
      ]);

      expect(cluster.message_response).toBe('file_descriptor_response');
      expect(cluster.original_request?.file_containing_symbol).toBe('envoy.config.cluster.v3.Cluster');
      const files = (cluster.file_descriptor_response?.file_descriptor_proto ?? []).map(decode);
      const names = files.map((f) => f.name);
      expect(names[0]).toBe('envoy/config/cluster/v3/cluster.proto');
      for (const dep of files[0].dependency ?? []) expect(names).toContain(dep);
      expect(names).toEqual(expect.arrayContaining(['envoy/config/core/v3/address.proto', 'google/protobuf/duration.proto']));
      expect(files[0].message_type?.map((m) => m.name)).toContain('Cluster');

      expect(unknown.message_response).toBe('error_response');
      expect(unknown.error_response?.error_code).toBe(5);

      expect(decode(method.file_descriptor_response?.file_descriptor_proto[0] as Uint8Array).name).toBe('apimconnect/admin/v1/admin.proto');
      expect(decode(nested.file_descriptor_response?.file_descriptor_proto[0] as Uint8Array).name).toBe('envoy/config/cluster/v3/cluster.proto');
      expect(byName.file_descriptor_response?.file_descriptor_proto.map((b) => decode(b).name)).toEqual(['google/protobuf/duration.proto']);
      expect(ext.error_response?.error_code).toBe(5);
    });
  });
});
