import { Reader, Writer } from 'protobufjs';

/** IPC between bench/run.ts and its children, and small helpers they share. */

export type Protocol = 'delta' | 'sotw';

export interface Mem {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

/** A monotonic clock shared by every process on the machine (CLOCK_MONOTONIC), in ms. */
export const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

export function memory(): Mem {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers };
}

/** The fields of a (Delta)DiscoveryResponse a client needs, without decoding any resource. */
export interface Scanned {
  version: string;
  typeUrl: string;
  nonce: string;
  resources: number;
  removed: number;
}

/**
 * DiscoveryResponse { version_info = 1, resources = 2, type_url = 4, nonce = 5 } and
 * DeltaDiscoveryResponse { system_version_info = 1, resources = 2, type_url = 4, nonce = 5,
 * removed_resources = 6 } share the numbers this reads; resources are skipped, not decoded.
 */
export function scanResponse(buf: Uint8Array): Scanned {
  const r = Reader.create(buf);
  const out: Scanned = { version: '', typeUrl: '', nonce: '', resources: 0, removed: 0 };
  while (r.pos < r.len) {
    const t = r.uint32();
    switch (t >>> 3) {
      case 1:
        out.version = r.string();
        break;
      case 4:
        out.typeUrl = r.string();
        break;
      case 5:
        out.nonce = r.string();
        break;
      case 2:
        out.resources++;
        r.skipType(t & 7);
        break;
      case 6:
        out.removed++;
        r.skipType(t & 7);
        break;
      default:
        r.skipType(t & 7);
    }
  }
  return out;
}

/** Appends string fields to a pre-encoded message (protobuf merges concatenated messages). */
export function withStrings(base: Uint8Array, fields: Array<[number, string]>): Buffer {
  const w = Writer.create();
  for (const [f, s] of fields) if (s) w.uint32((f << 3) | 2).string(s);
  const tail = w.finish();
  return Buffer.concat([base, tail]);
}
