import { createHash } from 'crypto';
import { contentVersion, wholeBytes, type Chunks } from '../envoy/protoWire';
import { anyChunks, deltaResourceChunks } from './wire';

/**
 * The snapshot cache: named, already-encoded resources per node group (gateway label) and type
 * URL. It knows nothing about APIs or about servers. Versions are content hashes, so setting the
 * same content again changes nothing and notifies nobody, and two replicas fed the same state
 * report the same versions.
 */

/**
 * A resource as producers hand it in: its name and its encoded message (the Any payload), whole
 * or as consecutive chunks that are never copied together here.
 */
export interface NamedResource {
  name: string;
  value: Uint8Array | Chunks;
  /**
   * A content hash the producer already has (say, from the parts it assembled the value from);
   * it must change exactly when the content does. Without it the cache hashes the value.
   */
  version?: string;
}

/** A stored resource. Immutable; shared by every stream that sends it. */
export class Entry {
  private anyParts?: Chunks;
  private deltaParts?: Chunks;
  constructor(
    readonly typeUrl: string,
    readonly name: string,
    readonly version: string,
    /** The message, as the producer handed it in (same object: same content). */
    readonly source: Uint8Array | Chunks,
    /** 128-bit hash of (name, version) as four words, folded into the type version. */
    readonly digest: Uint32Array,
  ) {}
  /** The encoded message in one piece (copied together when handed in as chunks). */
  get value(): Uint8Array {
    return wholeBytes(this.source);
  }
  /** The encoded google.protobuf.Any, framed once. */
  get any(): Chunks {
    return (this.anyParts ??= anyChunks(this.typeUrl, this.source instanceof Uint8Array ? [this.source] : this.source));
  }
  /** The encoded Delta `Resource` (name, version, Any), framed once. */
  get delta(): Chunks {
    return (this.deltaParts ??= deltaResourceChunks(this.name, this.version, this.any));
  }
}

/** All resources of one type in one group. */
export class TypeSet {
  readonly entries = new Map<string, Entry>();
  /** XOR of the entries' digests: order-free, updated in O(1) per change. */
  private readonly acc = new Uint32Array(4);
  private cachedVersion?: string;
  /** When the content last changed. */
  updatedAt = new Date();

  constructor(readonly typeUrl: string) {}

  get version(): string {
    return (this.cachedVersion ??= hex(this.acc));
  }

  put(entry: Entry): void {
    const old = this.entries.get(entry.name);
    if (old) xorInto(this.acc, old.digest);
    xorInto(this.acc, entry.digest);
    this.entries.set(entry.name, entry);
    this.changed();
  }

  delete(name: string): boolean {
    const old = this.entries.get(name);
    if (!old) return false;
    xorInto(this.acc, old.digest);
    this.entries.delete(name);
    this.changed();
    return true;
  }

  private changed(): void {
    this.cachedVersion = undefined;
    this.updatedAt = new Date();
  }
}

/** What one mutation changed in one type: names added or updated, and names removed. */
export interface TypeChange {
  typeUrl: string;
  version: string;
  changed: string[];
  removed: string[];
}

/** One notification per mutation that changed anything. `seq` grows by one per mutation. */
export interface CacheChange {
  group: string;
  seq: number;
  types: TypeChange[];
}

export type CacheListener = (change: CacheChange) => void;

export class SnapshotCache {
  private readonly groupMap = new Map<string, Map<string, TypeSet>>();
  private readonly listeners = new Set<CacheListener>();
  private seqNo = 0;

  /** The sequence number of the last mutation that changed something. */
  get seq(): number {
    return this.seqNo;
  }

  /** Registers a listener; returns the function that removes it. */
  watch(listener: CacheListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Makes a group known (a configured label) even while it has no resources. */
  ensureGroup(group: string): void {
    if (!this.groupMap.has(group)) this.groupMap.set(group, new Map());
  }

  hasGroup(group: string): boolean {
    return this.groupMap.has(group);
  }

  groups(): string[] {
    return [...this.groupMap.keys()].sort();
  }

  /** The types of a group, each with its current version; sorted by type URL. */
  typeSets(group: string): TypeSet[] {
    const types = this.groupMap.get(group);
    if (!types) return [];
    return [...types.values()].sort((a, b) => (a.typeUrl < b.typeUrl ? -1 : a.typeUrl > b.typeUrl ? 1 : 0));
  }

  typeSet(group: string, typeUrl: string): TypeSet | undefined {
    return this.groupMap.get(group)?.get(typeUrl);
  }

  get(group: string, typeUrl: string, name: string): Entry | undefined {
    return this.groupMap.get(group)?.get(typeUrl)?.entries.get(name);
  }

  /**
   * Replaces a whole group: every type given gets exactly the resources given, every type not
   * given is emptied. One notification for the lot.
   */
  setGroup(group: string, resources: Record<string, readonly NamedResource[]>): void {
    const empty = Object.fromEntries([...this.types(group).keys()].map((t) => [t, []]));
    this.setTypes(group, { ...empty, ...resources });
  }

  /**
   * Replaces the types given (each gets exactly the resources given), leaving the others; one
   * notification. True if anything changed.
   */
  setTypes(group: string, resources: Record<string, readonly NamedResource[]>): boolean {
    for (const [typeUrl, list] of Object.entries(resources)) assertUnique(typeUrl, list);
    const types = this.types(group);
    return this.commit(group, Object.entries(resources).map(([t, list]) => this.replace(types, t, list)));
  }

  /** Replaces all resources of one type in a group. */
  setType(group: string, typeUrl: string, resources: readonly NamedResource[]): void {
    this.setTypes(group, { [typeUrl]: resources });
  }

  /** Adds or updates single resources, leaving the rest of the type as it is. */
  upsert(group: string, typeUrl: string, resources: readonly NamedResource[]): void {
    const set = this.typeSetFor(this.types(group), typeUrl);
    const changed: string[] = [];
    for (const r of resources) if (this.putIfChanged(set, r)) changed.push(r.name);
    this.commit(group, [{ typeUrl, version: set.version, changed, removed: [] }]);
  }

  /** Removes single resources by name; unknown names are ignored. */
  remove(group: string, typeUrl: string, names: readonly string[]): void {
    const set = this.groupMap.get(group)?.get(typeUrl);
    if (!set) return;
    const removed = names.filter((n) => set.delete(n));
    this.commit(group, [{ typeUrl, version: set.version, changed: [], removed }]);
  }

  /** Forgets a group: its resources are removed (clients are told) and it is no longer known. */
  deleteGroup(group: string): void {
    const types = this.groupMap.get(group);
    if (!types) return;
    const changes = [...types.keys()].map((t) => this.replace(types, t, []));
    this.groupMap.delete(group);
    this.commit(group, changes);
  }

  private types(group: string): Map<string, TypeSet> {
    this.ensureGroup(group);
    return this.groupMap.get(group)!;
  }

  private typeSetFor(types: Map<string, TypeSet>, typeUrl: string): TypeSet {
    let set = types.get(typeUrl);
    if (!set) types.set(typeUrl, (set = new TypeSet(typeUrl)));
    return set;
  }

  private replace(types: Map<string, TypeSet>, typeUrl: string, resources: readonly NamedResource[]): TypeChange {
    const set = this.typeSetFor(types, typeUrl);
    const keep = new Set<string>();
    const changed: string[] = [];
    for (const r of resources) {
      keep.add(r.name);
      if (this.putIfChanged(set, r)) changed.push(r.name);
    }
    const removed: string[] = [];
    for (const name of [...set.entries.keys()]) {
      if (!keep.has(name)) {
        set.delete(name);
        removed.push(name);
      }
    }
    return { typeUrl, version: set.version, changed, removed };
  }

  private putIfChanged(set: TypeSet, r: NamedResource): boolean {
    if (!r.name) throw new Error(`resource without a name for ${set.typeUrl}`);
    const old = set.entries.get(r.name);
    // Producers that keep unchanged resources hand in the same bytes: no need to hash them again.
    if (old?.source === r.value) return false;
    const version = r.version ?? contentVersion(r.value);
    if (old?.version === version) return false;
    set.put(makeEntry(set.typeUrl, r.name, r.value, version));
    return true;
  }

  private commit(group: string, changes: TypeChange[]): boolean {
    const types = changes.filter((c) => c.changed.length > 0 || c.removed.length > 0);
    if (types.length === 0) return false;
    const change: CacheChange = { group, seq: ++this.seqNo, types };
    for (const l of this.listeners) l(change);
    return true;
  }
}

/** Checked before anything changes, so a refused update leaves the cache as it was. */
function assertUnique(typeUrl: string, resources: readonly NamedResource[]): void {
  const seen = new Set<string>();
  for (const r of resources) {
    if (!r.name) throw new Error(`resource without a name for ${typeUrl}`);
    if (seen.has(r.name)) throw new Error(`duplicate resource name "${r.name}" for ${typeUrl}`);
    seen.add(r.name);
  }
}

export function makeEntry(typeUrl: string, name: string, value: Uint8Array | Chunks, version = contentVersion(value)): Entry {
  const hash = createHash('sha256').update(name).update('\0').update(version).digest();
  return new Entry(typeUrl, name, version, value, new Uint32Array(hash.buffer.slice(hash.byteOffset, hash.byteOffset + 16)));
}

/** The version of a set of entries: the XOR of their digests, as TypeSet computes it. */
export function setVersion(entries: Iterable<Entry>): string {
  const acc = new Uint32Array(4);
  for (const e of entries) xorInto(acc, e.digest);
  return hex(acc);
}

function xorInto(acc: Uint32Array, d: Uint32Array): void {
  acc[0] ^= d[0];
  acc[1] ^= d[1];
  acc[2] ^= d[2];
  acc[3] ^= d[3];
}

function hex(words: Uint32Array): string {
  return Buffer.from(words.buffer, words.byteOffset, 16).toString('hex');
}
