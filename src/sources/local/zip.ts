import { inflateSync } from 'fflate';

/**
 * Unpacks a zip from its central directory, trusting none of its numbers: every entry must
 * inflate to exactly the size the directory declares (a zip that says "small" and inflates big,
 * or the reverse, is refused, naming the entry), no entry is inflated past that size, and the
 * declared sizes together may not pass `maxBytes` (a zip bomb stops before it is inflated).
 */

/** Why a zip cannot be read; `entry` names the file inside it when one is to blame. */
export class ZipError extends Error {
  constructor(
    message: string,
    readonly entry = '',
  ) {
    super(message);
    this.name = 'ZipError';
  }
}

export interface UnzipOptions {
  /** Most bytes all kept entries may inflate to. */
  maxBytes: number;
  /** Entries to keep (by their name as stored); the rest are not inflated. */
  keep?: (name: string) => boolean;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

export function unzipBounded(zip: Uint8Array, options: UnzipOptions): Map<string, Uint8Array> {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const u16 = (at: number): number => view.getUint16(at, true);
  const u32 = (at: number): number => view.getUint32(at, true);
  const inside = (at: number, length: number): boolean => at >= 0 && at + length <= zip.length;

  let end = zip.length - 22;
  // The end record sits after at most a 64 KiB comment.
  while (end >= 0 && end >= zip.length - 22 - 0xffff && u32(end) !== EOCD) end--;
  if (end < 0 || end < zip.length - 22 - 0xffff) throw new ZipError('no end of central directory (not a zip?)');
  if (end >= 20 && u32(end - 20) === ZIP64_LOCATOR) throw new ZipError('ZIP64 archives are not supported (an API project is far smaller)');
  const count = u16(end + 10);
  let at = u32(end + 16);

  // The directory first, whole: a zip bomb is refused before a byte is inflated.
  const kept: Array<{ name: string; flags: number; method: number; packed: number; size: number; local: number }> = [];
  let total = 0;
  for (let i = 0; i < count; i++) {
    if (!inside(at, 46) || u32(at) !== CENTRAL) throw new ZipError(`central directory entry ${i + 1} of ${count} is malformed`);
    const flags = u16(at + 8);
    const nameLength = u16(at + 28);
    if (!inside(at + 46, nameLength)) throw new ZipError(`central directory entry ${i + 1} of ${count} is malformed`);
    const name = Buffer.from(zip.subarray(at + 46, at + 46 + nameLength)).toString(flags & 0x800 ? 'utf8' : 'latin1');
    const entry = { name, flags, method: u16(at + 10), packed: u32(at + 20), size: u32(at + 24), local: u32(at + 42) };
    at += 46 + nameLength + u16(at + 30) + u16(at + 32);
    if (options.keep && !options.keep(name)) continue;
    total += entry.size;
    if (total > options.maxBytes) throw new ZipError(`uncompressed size exceeds ${options.maxBytes} bytes`);
    kept.push(entry);
  }

  const out = new Map<string, Uint8Array>();
  for (const { name, flags, method, packed, size, local } of kept) {
    if (flags & 1) throw new ZipError('encrypted entries are not supported', name);
    if (!inside(local, 30) || u32(local) !== LOCAL) throw new ZipError('its local header is missing or malformed', name);
    const data = local + 30 + u16(local + 26) + u16(local + 28);
    if (!inside(data, packed)) throw new ZipError(`its ${packed} compressed bytes run past the end of the zip`, name);
    const raw = zip.subarray(data, data + packed);

    let bytes: Uint8Array;
    if (method === 0) bytes = raw;
    else if (method === 8) {
      try {
        // One byte of room beyond the declared size tells "inflates bigger" from "exactly".
        bytes = inflateSync(raw, { out: new Uint8Array(size + 1) });
      } catch (err) {
        throw new ZipError(`cannot inflate: ${(err as Error).message}`, name);
      }
    } else throw new ZipError(`compression method ${method} is not supported (only stored and deflate)`, name);
    if (bytes.length > size) throw new ZipError(`inflates to more than the ${size} bytes the zip declares for it (the zip lies about its sizes)`, name);
    if (bytes.length < size) throw new ZipError(`inflates to ${bytes.length} bytes, not the ${size} the zip declares for it (the zip lies about its sizes)`, name);
    out.set(name, method === 0 ? bytes.slice() : bytes);
  }
  return out;
}
