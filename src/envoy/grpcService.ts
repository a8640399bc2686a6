import type { ServiceDefinition, MethodDefinition } from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';
import { protoRoot } from './protos';

/** grpc-health-check's service, which the adapter's and the enforcer's ports both carry. */
export const HEALTH_SERVICE = 'grpc.health.v1.Health';

/**
 * A grpc-js service definition built from the shared protobufjs root (no second copy of the
 * protos through proto-loader). Requests decode to protobufjs messages: absent scalars read as
 * their proto3 defaults, repeated fields as empty arrays. A handler may write either a plain
 * object (converted with fromObject) or bytes it encoded itself, which pass through untouched:
 * that is how the xDS server sends one pre-encoded response to many streams.
 */
export function serviceDefinition(fullName: string): ServiceDefinition {
  const service = protoRoot().lookupService(fullName);
  const def: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methodsArray) {
    method.resolve();
    const req = method.resolvedRequestType as protobuf.Type;
    const res = method.resolvedResponseType as protobuf.Type;
    def[method.name] = {
      path: `/${service.fullName.slice(1)}/${method.name}`,
      requestStream: !!method.requestStream,
      responseStream: !!method.responseStream,
      requestSerialize: serializer(req),
      requestDeserialize: (buf: Buffer) => req.decode(buf),
      responseSerialize: serializer(res),
      responseDeserialize: (buf: Buffer) => res.decode(buf),
      originalName: method.name,
    };
  }
  return def as ServiceDefinition;
}

function serializer(type: protobuf.Type): (value: unknown) => Buffer {
  return (value) => {
    if (value instanceof Uint8Array) return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    const bytes = type.encode(value instanceof protobuf.Message ? value : type.fromObject(value as object)).finish();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}
