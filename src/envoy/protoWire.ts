import { createHash } from 'crypto';
import { Writer } from 'protobufjs';

/**
 * Protobuf fields written by hand, for messages assembled from parts that were encoded once
 * and are reused (xDS responses, route tables). Concatenated encodings merge: repeated fields
 * append, so a message can be built piece by piece.
 */

/** An encoded message as consecutive byte chunks, for messages too big to copy together often. */
export type Chunks = readonly Uint8Array[];

export function chunksLength(chunks: Chunks): number {
  let n = 0;
  for (const c of chunks) n += c.length;
  return n;
}

/** The bytes of a message given whole or in chunks (copied together only when in chunks). */
export function wholeBytes(value: Uint8Array | Chunks): Uint8Array {
  return value instanceof Uint8Array ? value : Buffer.concat(value);
}

/**
 * A resource's version: a hash of its encoded bytes (protobufjs encodes deterministically). The
 * snapshot cache computes it unless the producer did (a worker, say).
 */
export function contentVersion(value: Uint8Array | Chunks): string {
  const hash = createHash('sha256');
  for (const part of value instanceof Uint8Array ? [value] : value) hash.update(part);
  return hash.digest('base64url').slice(0, 16);
}

/** A length-delimited field (bytes, string or sub-message) with its tag. */
export function lengthDelimited(field: number, bytes: Uint8Array): Buffer {
  return finish(Writer.create().uint32((field << 3) | 2).bytes(bytes));
}

/** The tag and length of a length-delimited field whose `length` bytes follow separately. */
export function lengthPrefix(field: number, length: number): Buffer {
  return finish(Writer.create().uint32((field << 3) | 2).uint32(length));
}

export function stringField(field: number, value: string): Buffer {
  return finish(Writer.create().uint32((field << 3) | 2).string(value));
}

/** A writer's bytes as a Buffer (no copy). */
export function finish(w: Writer): Buffer {
  const b = w.finish();
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}
