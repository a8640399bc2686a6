import * as fs from 'fs';
import * as path from 'path';
import * as protobuf from 'protobufjs';

/**
 * One protobufjs Root holds every message we encode or decode: Envoy's protos (from the include
 * roots @grpc/grpc-js-xds ships), gRPC health and reflection, and our own proto/ files. One root
 * matters: an Any can only be packed or expanded for a type loaded in the same root.
 */

const xdsDeps = path.join(path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
/** The folder holding package.json and proto/, wherever this file was compiled to. */
const projectRoot = ((): string => {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'proto'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`cannot find the apim-connect folder above ${__dirname}`);
  }
})();

/** Include roots, searched in order, the way protoc's -I flags are. */
export const INCLUDE_ROOTS: readonly string[] = [
  path.join(projectRoot, 'proto'),
  path.join(xdsDeps, 'envoy-api'),
  path.join(xdsDeps, 'xds'),
  path.join(xdsDeps, 'googleapis'),
  path.join(xdsDeps, 'protoc-gen-validate'),
  path.join(path.dirname(require.resolve('grpc-health-check/package.json')), 'proto'),
  path.join(path.dirname(require.resolve('@grpc/reflection/package.json')), 'build', 'proto'),
  path.dirname(require.resolve('protobufjs/package.json')),
];

/** The files loaded; everything they import comes along. */
export const PROTO_FILES: readonly string[] = [
  // xDS transport
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/secret/v3/sds.proto',
  'envoy/service/status/v3/csds.proto',
  // resources
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/config/bootstrap/v3/bootstrap.proto',
  // HTTP connection manager and the filters translators use
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/filters/http/cors/v3/cors.proto',
  'envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto',
  'envoy/extensions/filters/http/lua/v3/lua.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
  'envoy/extensions/access_loggers/stream/v3/stream.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  // path matchers and rewrites (route templates too long for a regex)
  'envoy/extensions/path/match/uri_template/v3/uri_template_match.proto',
  'envoy/extensions/path/rewrite/uri_template/v3/uri_template_rewrite.proto',
  // the enforcer's API
  'envoy/service/auth/v3/external_auth.proto',
  // gRPC infrastructure
  'health/v1/health.proto',
  'grpc/reflection/v1/reflection.proto',
  'grpc/reflection/v1alpha/reflection.proto',
];

/** Our own proto files, every .proto under proto/. */
export function ownProtoFiles(): string[] {
  const base = path.join(projectRoot, 'proto');
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.proto')) out.push(path.relative(base, p));
    }
  };
  if (fs.existsSync(base)) walk(base);
  return out.sort();
}

/** Maps an absolute file name back to its import path (`envoy/config/...proto`). */
export function importPath(filename: string): string {
  for (const r of INCLUDE_ROOTS) {
    const rel = path.relative(r, filename);
    if (!rel.startsWith('..') && !path.isAbsolute(rel)) return rel.split(path.sep).join('/');
  }
  return filename;
}

function resolveImport(origin: string, target: string): string | null {
  if (path.isAbsolute(target)) return target;
  if (origin) {
    const sibling = path.join(path.dirname(origin), target);
    if (fs.existsSync(sibling) && !INCLUDE_ROOTS.some((r) => fs.existsSync(path.join(r, target)))) return sibling;
  }
  for (const r of INCLUDE_ROOTS) {
    const p = path.join(r, target);
    if (fs.existsSync(p)) return p;
  }
  return null;
}

let loaded: protobuf.Root | undefined;

/** The shared root, loaded once (a few hundred ms) and fully resolved. */
export function protoRoot(): protobuf.Root {
  if (loaded) return loaded;
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    const found = resolveImport(origin, target);
    if (!found) throw new Error(`proto import not found: ${target} (imported from ${origin || 'the loader'})`);
    return found;
  };
  // @grpc/proto-loader registers a camelCase descriptor.proto in protobufjs's shared table of
  // bundled files, which would win over the file whenever proto-loader happened to load first.
  // Parsing the real file up front keeps this root the same whatever was loaded before it.
  const descriptor = require.resolve('protobufjs/google/protobuf/descriptor.proto');
  // parse.filename (untyped) is what gives parsed types their file, as Root.load does.
  const parser = protobuf.parse as typeof protobuf.parse & { filename: string | null };
  parser.filename = descriptor;
  protobuf.parse(fs.readFileSync(descriptor, 'utf8'), root, { keepCase: true });
  parser.filename = null;
  (root.files as string[]).push('google/protobuf/descriptor.proto', descriptor);
  root.loadSync([...PROTO_FILES, ...ownProtoFiles()], { keepCase: true });
  root.resolveAll();
  loaded = root;
  return root;
}

const types = new Map<string, protobuf.Type>();

/** A message type by its full name; throws if it is not loaded. */
export function messageType(fullName: string): protobuf.Type {
  let t = types.get(fullName);
  if (!t) {
    const found = protoRoot().lookup(fullName);
    if (!(found instanceof protobuf.Type)) throw new Error(`message type not loaded: ${fullName}`);
    types.set(fullName, (t = found));
  }
  return t;
}
