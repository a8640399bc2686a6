import { Writer } from 'protobufjs';
import { finish, stringField } from '../envoy/protoWire';

/**
 * Hand-assembled xDS responses. Every resource is encoded once (as an Any, and as a Delta
 * `Resource`) and its bytes are reused for every stream; a response is those bytes plus a few
 * scalar fields. Field numbers are envoy/service/discovery/v3/discovery.proto's; a test decodes
 * the output with the real message types.
 */

const LEN = 2; // wire type: length-delimited
const tag = (field: number): number => (field << 3) | LEN;

export function encodeAny(typeUrl: string, value: Uint8Array): Buffer {
  return finish(Writer.create().uint32(tag(1)).string(typeUrl).uint32(tag(2)).bytes(value));
}

/** envoy.service.discovery.v3.Resource { version = 1, resource = 2, name = 3 } */
export function encodeDeltaResource(name: string, version: string, any: Uint8Array): Buffer {
  return finish(Writer.create().uint32(tag(1)).string(version).uint32(tag(2)).bytes(any).uint32(tag(3)).string(name));
}

/**
 * DiscoveryResponse without its nonce: { version_info = 1, resources = 2, type_url = 4 }.
 * Shared by every stream that is sent the same content; `withNonce` completes it per stream.
 */
export function encodeSotwBody(version: string, typeUrl: string, anys: readonly Uint8Array[]): Buffer {
  const w = Writer.create().uint32(tag(1)).string(version);
  for (const a of anys) w.uint32(tag(2)).bytes(a);
  return finish(w.uint32(tag(4)).string(typeUrl));
}

/**
 * DeltaDiscoveryResponse without its nonce:
 * { system_version_info = 1, resources = 2, type_url = 4, removed_resources = 6 }.
 */
export function encodeDeltaBody(
  systemVersion: string,
  typeUrl: string,
  resources: readonly Uint8Array[],
  removed: readonly string[],
): Buffer {
  const w = Writer.create().uint32(tag(1)).string(systemVersion);
  for (const r of resources) w.uint32(tag(2)).bytes(r);
  w.uint32(tag(4)).string(typeUrl);
  for (const name of removed) w.uint32(tag(6)).string(name);
  return finish(w);
}

/** Appends `nonce = 5` (the same field number in both responses). Protobuf merges concatenations. */
export function withNonce(body: Buffer, nonce: string): Buffer {
  return Buffer.concat([body, stringField(5, nonce)]);
}
