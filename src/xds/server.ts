import type { ChannelOptions, Server, ServerDuplexStream } from '@grpc/grpc-js';
import { encodeMessage } from '../envoy/any';
import { serviceDefinition } from '../envoy/grpcService';
import { ENDPOINT } from '../envoy/typeUrls';
import { makeEntry, setVersion, type CacheChange, type Entry, type SnapshotCache } from './cache';
import { Debouncer } from './debounce';
import { DeltaStream } from './delta';
import { silentLog, type Log } from './log';
import { NameSets } from './nameSets';
import { nodeGroup, type GroupFrom } from './nodeGroup';
import { SotwStream } from './sotw';
import { byName, lookup, type NamedView, type NodeInfo, type StreamHost, type XdsPeer, type XdsStream } from './stream';

export interface XdsServerOptions {
  /** Quiet period before a burst of cache changes is pushed (ms). */
  debounceMs?: number;
  /** Longest a change waits while a burst goes on (ms). */
  maxDelayMs?: number;
  groupFrom?: GroupFrom;
  log?: Log;
  /** Bytes of encoded response bodies kept for reuse across streams. */
  bodyCacheBytes?: number;
  /**
   * Whether a peer may subscribe to a type URL: true, or why not (the stream then ends with
   * PERMISSION_DENIED before anything of that type is sent). Asked once per stream and type.
   */
  authorize?: (peer: XdsPeer, typeUrl: string) => true | string;
}

/** A stream that had not answered what lock-step waited for. */
export interface Straggler {
  stream: number;
  node: string;
  /** The types it had not answered up to the awaited seq. */
  types: string[];
}

interface AnswerWait {
  group: string;
  typeUrls: readonly string[];
  seq: number;
  done(stragglers: Straggler[]): void;
}

export const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

/**
 * gRPC options for either end of ADS. Limits differ by direction: responses for thousands of
 * resources are large, while what a peer may make us decode stays small (the server's receive
 * limit caps a request, the enforcer's its trusted adapter's responses).
 */
export function xdsChannelOptions(limits: { sendBytes: number; receiveBytes: number }): ChannelOptions {
  return {
    'grpc.max_receive_message_length': limits.receiveBytes,
    'grpc.max_send_message_length': limits.sendBytes,
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 10_000,
  };
}

/**
 * The ADS server (SotW and Delta) over a SnapshotCache. It knows nothing about what it serves:
 * any type URL, any group. Cache changes are debounced and then pushed to the streams of the
 * changed group.
 */
export class XdsServer implements StreamHost {
  readonly log: Log;
  readonly nameSets = new NameSets();
  private readonly byGroup = new Map<string, Set<XdsStream>>();
  private readonly all = new Set<XdsStream>();
  private pendingChanges = new Map<string, Map<string, Map<string, number>>>();
  private readonly debouncer: Debouncer;
  private readonly bodies: BodyCache;
  private readonly empties = new Map<string, Entry>();
  private readonly views = new WeakMap<ReadonlySet<string>, Map<string, NamedView & { typeVersion: string }>>();
  private readonly unwatch: () => void;
  private readonly groupFrom: GroupFrom;
  private readonly waits = new Set<AnswerWait>();
  private readonly authorizer?: XdsServerOptions['authorize'];

  constructor(
    readonly cache: SnapshotCache,
    options: XdsServerOptions = {},
  ) {
    this.log = options.log ?? silentLog;
    this.groupFrom = options.groupFrom ?? 'auto';
    this.authorizer = options.authorize;
    this.bodies = new BodyCache(options.bodyCacheBytes ?? 64 * 1024 * 1024);
    this.debouncer = new Debouncer(() => this.push(), options.debounceMs ?? 50, options.maxDelayMs ?? 500);
    this.unwatch = cache.watch((c) => this.record(c));
  }

  /** Registers the ADS service on a grpc-js server. */
  addTo(server: Server): void {
    server.addService(serviceDefinition(ADS_SERVICE), {
      StreamAggregatedResources: (call: ServerDuplexStream<unknown, Buffer>) => new SotwStream(this, call, 'sotw'),
      DeltaAggregatedResources: (call: ServerDuplexStream<unknown, Buffer>) => new DeltaStream(this, call, 'delta'),
    });
  }

  /** Connected streams, oldest first. */
  streams(): XdsStream[] {
    return [...this.all];
  }

  /** Pushes pending changes now instead of after the debounce. */
  flush(): void {
    this.debouncer.flushNow();
  }

  /** Stops pushing and ends every stream (clients reconnect elsewhere). */
  close(): void {
    this.unwatch();
    this.debouncer.cancel();
    for (const w of [...this.waits]) w.done(this.behind(w));
    for (const s of this.streams()) s.end();
  }

  /**
   * Lock-step: resolves once every stream of `group` that subscribes to any of `typeUrls` has
   * answered (ACKed or NACKed) every change up to cache seq `seq`, or after `timeoutMs` with the
   * streams that had not. Pending changes are pushed at once. Returns undefined when no stream
   * is behind, so a caller with nobody to wait for goes on synchronously.
   */
  whenAnswered(group: string, typeUrls: readonly string[], seq: number, timeoutMs: number): Promise<Straggler[]> | undefined {
    const probe = { group, typeUrls, seq, done: () => undefined };
    if (!this.anyBehind(probe)) return undefined;
    return new Promise((resolve) => {
      const timer = setTimeout(() => wait.done(this.behind(wait)), timeoutMs);
      const wait: AnswerWait = {
        ...probe,
        done: (stragglers) => {
          clearTimeout(timer);
          this.waits.delete(wait);
          resolve(stragglers);
        },
      };
      this.waits.add(wait);
      this.flush();
    });
  }

  // StreamHost

  attach(stream: XdsStream): void {
    this.all.add(stream);
    let set = this.byGroup.get(stream.group);
    if (!set) this.byGroup.set(stream.group, (set = new Set()));
    set.add(stream);
  }

  detach(stream: XdsStream): void {
    this.all.delete(stream);
    const set = this.byGroup.get(stream.group);
    set?.delete(stream);
    if (set?.size === 0) this.byGroup.delete(stream.group);
    // A stream that went away is waited for no more.
    for (const w of this.waits) if (w.group === stream.group && !this.anyBehind(w)) w.done([]);
  }

  answered(stream: XdsStream): void {
    // Only a stream that has caught up can end a wait; then the others are checked, stopping at
    // the first still behind (an answer per stream must not cost a scan of the whole group).
    for (const w of this.waits) if (w.group === stream.group && !isBehind(stream, w) && !this.anyBehind(w)) w.done([]);
  }

  authorize(peer: XdsPeer, typeUrl: string): true | string {
    return this.authorizer ? this.authorizer(peer, typeUrl) : true;
  }

  groupOf(node: NodeInfo): string {
    return nodeGroup(node, (g) => this.cache.hasGroup(g), this.groupFrom);
  }

  body(key: string, build: () => Buffer): Buffer {
    return this.bodies.get(key, build);
  }

  emptyEndpoints(name: string): Entry {
    let e = this.empties.get(name);
    if (!e) {
      if (this.empties.size >= 10_000) this.empties.clear();
      e = makeEntry(ENDPOINT, name, encodeMessage(ENDPOINT, { cluster_name: name }));
      this.empties.set(name, e);
    }
    return e;
  }

  namedView(group: string, typeUrl: string, names: ReadonlySet<string>): NamedView {
    const typeVersion = this.cache.typeSet(group, typeUrl)?.version ?? '';
    let byType = this.views.get(names);
    if (!byType) this.views.set(names, (byType = new Map()));
    const key = `${group}|${typeUrl}`;
    const hit = byType.get(key);
    if (hit?.typeVersion === typeVersion) return hit;
    const entries = lookup(this, group, typeUrl, [...names].sort()).found.sort(byName);
    const view = { entries, version: setVersion(entries), typeVersion };
    byType.set(key, view);
    return view;
  }

  pending(group: string, typeUrl: string): boolean {
    return !!this.pendingChanges.get(group)?.has(typeUrl);
  }

  private record(change: CacheChange): void {
    let types = this.pendingChanges.get(change.group);
    if (!types) this.pendingChanges.set(change.group, (types = new Map()));
    for (const t of change.types) {
      let names = types.get(t.typeUrl);
      if (!names) types.set(t.typeUrl, (names = new Map()));
      for (const n of t.changed) names.set(n, change.seq);
      for (const n of t.removed) names.set(n, change.seq);
    }
    this.debouncer.poke();
  }

  private behind(w: AnswerWait): Straggler[] {
    const out: Straggler[] = [];
    for (const stream of this.byGroup.get(w.group) ?? []) {
      const types = w.typeUrls.filter((t) => (stream.types.get(t)?.answeredSeq ?? w.seq) < w.seq);
      if (types.length > 0) out.push({ stream: stream.id, node: stream.node?.id ?? '', types });
    }
    return out;
  }

  private anyBehind(w: AnswerWait): boolean {
    for (const stream of this.byGroup.get(w.group) ?? []) if (isBehind(stream, w)) return true;
    return false;
  }

  private push(): void {
    const batch = this.pendingChanges;
    this.pendingChanges = new Map();
    const seq = this.cache.seq;
    for (const [group, types] of batch) {
      for (const stream of [...(this.byGroup.get(group) ?? [])]) {
        try {
          stream.push(types, seq);
        } catch (err) {
          this.log.error('xDS push failed for a stream', { stream: stream.id, group, error: (err as Error).stack ?? String(err) });
        }
      }
    }
  }
}

/** Encoded bodies by key, least recently used dropped first once over the byte budget. */
class BodyCache {
  private readonly map = new Map<string, Buffer>();
  private bytes = 0;
  constructor(private readonly budget: number) {}

  get(key: string, build: () => Buffer): Buffer {
    const hit = this.map.get(key);
    if (hit) {
      this.map.delete(key);
      this.map.set(key, hit);
      return hit;
    }
    const body = build();
    if (body.length > this.budget) return body;
    this.map.set(key, body);
    this.bytes += body.length;
    for (const [k, v] of this.map) {
      if (this.bytes <= this.budget) break;
      this.map.delete(k);
      this.bytes -= v.length;
    }
    return body;
  }
}

/** The stream has not answered everything up to the awaited seq for one of the awaited types. */
function isBehind(stream: XdsStream, w: AnswerWait): boolean {
  for (const t of w.typeUrls) if ((stream.types.get(t)?.answeredSeq ?? w.seq) < w.seq) return true;
  return false;
}
