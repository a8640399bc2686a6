import { Writer } from 'protobufjs';
import { chunksLength, finish, lengthPrefix, stringField, type Chunks } from '../envoy/protoWire';

/**
 * Hand-assembled xDS responses. A resource is kept as chunks (a route table of 100,000 routes
 * is the routes of each API, as encoded once): its Any and Delta `Resource` framings only add
 * small prefixes, and a response body is copied together once and shared by every stream sent
 * the same content. Field numbers are envoy/service/discovery/v3/discovery.proto's; a test
 * decodes the output with the real message types.
 */

/** google.protobuf.Any { type_url = 1, value = 2 } around the value's chunks. */
export function anyChunks(typeUrl: string, value: Chunks): Chunks {
  const head = finish(Writer.create().uint32((1 << 3) | 2).string(typeUrl).uint32((2 << 3) | 2).uint32(chunksLength(value)));
  return [head, ...value];
}

/** envoy.service.discovery.v3.Resource { version = 1, resource = 2, name = 3 } around an Any. */
export function deltaResourceChunks(name: string, version: string, any: Chunks): Chunks {
  return [stringField(1, version), lengthPrefix(2, chunksLength(any)), ...any, stringField(3, name)];
}

/**
 * DiscoveryResponse without its nonce: { version_info = 1, resources = 2, type_url = 4 }.
 * Shared by every stream that is sent the same content; `withNonce` completes it per stream.
 */
export function encodeSotwBody(version: string, typeUrl: string, anys: readonly Chunks[]): Buffer {
  const parts: Uint8Array[] = [stringField(1, version)];
  for (const a of anys) parts.push(lengthPrefix(2, chunksLength(a)), ...a);
  parts.push(stringField(4, typeUrl));
  return Buffer.concat(parts);
}

/**
 * DeltaDiscoveryResponse without its nonce:
 * { system_version_info = 1, resources = 2, type_url = 4, removed_resources = 6 }.
 */
export function encodeDeltaBody(systemVersion: string, typeUrl: string, resources: readonly Chunks[], removed: readonly string[]): Buffer {
  const parts: Uint8Array[] = [stringField(1, systemVersion)];
  for (const r of resources) parts.push(lengthPrefix(2, chunksLength(r)), ...r);
  parts.push(stringField(4, typeUrl));
  for (const name of removed) parts.push(stringField(6, name));
  return Buffer.concat(parts);
}

/** Appends `nonce = 5` (the same field number in both responses). Protobuf merges concatenations. */
export function withNonce(body: Buffer, nonce: string): Buffer {
  return Buffer.concat([body, stringField(5, nonce)]);
}
