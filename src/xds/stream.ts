import { status as GrpcStatus, type ServerDuplexStream } from '@grpc/grpc-js';
import type { PeerCertificate } from 'tls';
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET } from '../envoy/typeUrls';
import type { Entry, SnapshotCache } from './cache';
import type { Log } from './log';
import { NameSets } from './nameSets';

/** Per stream and type: the subscription, and what was sent, ACKed and NACKed. */
export class TypeStatus {
  wildcard = false;
  /** Names subscribed explicitly: a set shared with every stream subscribed to the same names. */
  names: ReadonlySet<string> = NameSets.EMPTY;
  lastSentVersion = '';
  lastSentNonce = '';
  lastSentAt?: Date;
  lastAckedVersion = '';
  lastAckedAt?: Date;
  lastNack?: Nack;
  responsesSent = 0;
  /** Cache seq at the last time this stream was sent the whole of its view of the type. */
  syncedSeq = 0;
  /** Responses not answered yet (ACK or NACK), oldest first: version sent, and the cache seq it brings the client to. */
  readonly inflight = new Map<string, { version: string; seq: number }>();
  /** The client has answered everything in its scope up to this cache seq (what lock-step waits for). */
  answeredSeq = 0;
  /** Cache seq carried by the last response sent. */
  lastSentSeq = 0;
  /** A push that needed no response while others were in flight: reached once they are answered. */
  quietSeq = 0;
  constructor(readonly typeUrl: string) {}

  covers(name: string): boolean {
    return this.wildcard || this.names.has(name);
  }
}

export interface Nack {
  version: string;
  nonce: string;
  error: string;
  at: Date;
}

/** More type URLs than any real client uses on one stream; beyond it, a client is misbehaving. */
const MAX_TYPES_PER_STREAM = 64;
/** Responses in flight per type that are remembered; an answer to an older one is not an ACK. */
const MAX_INFLIGHT = 64;

/** Changed names per type URL, each with the cache seq of its latest change. */
export type ChangeBatch = ReadonlyMap<string, ReadonlyMap<string, number>>;

/** What a stream needs from the server that owns it. */
export interface StreamHost {
  readonly cache: SnapshotCache;
  readonly log: Log;
  attach(stream: XdsStream): void;
  detach(stream: XdsStream): void;
  /** Which group serves this node. */
  groupOf(node: NodeInfo): string;
  /** A response body shared by every stream that needs the same bytes. */
  body(key: string, build: () => Buffer): Buffer;
  /** An empty ClusterLoadAssignment for an EDS name that does not exist. */
  emptyEndpoints(name: string): Entry;
  /** True, or why the peer may not subscribe to the type. */
  authorize(peer: XdsPeer, typeUrl: string): true | string;
  /** True while changes to this group and type wait in the debouncer. */
  pending(group: string, typeUrl: string): boolean;
  /** The stream's client answered a response, or was found to need none. */
  answered(stream: XdsStream): void;
  /** Pool of subscribed-name sets shared across streams. */
  readonly nameSets: NameSets;
  /**
   * The resources a (shared) name set selects in a group and type, with their version: computed
   * once per content version, however many streams subscribe to the same names.
   */
  namedView(group: string, typeUrl: string, names: ReadonlySet<string>): NamedView;
}

export interface NamedView {
  /** Entries sorted by name (empty assignments for EDS names that do not exist). */
  entries: Entry[];
  version: string;
}

/** Who is at the other end of a stream, for an authorization decision. */
export interface XdsPeer {
  /** host:port */
  address: string;
  /** The node the stream's first request named (what it says, not proven). */
  node: NodeInfo;
  /** The client certificate, when the connection is TLS and the server verified one. */
  certificate?: PeerCertificate;
}

export interface NodeInfo {
  id: string;
  cluster: string;
  userAgent: string;
}

/** Within one push: secrets, then clusters, endpoints, listeners, routes; other types after. */
const PUSH_ORDER = [SECRET, CLUSTER, ENDPOINT, LISTENER, ROUTE];

export function pushOrder(typeUrls: Iterable<string>): string[] {
  const rank = (t: string): number => {
    const i = PUSH_ORDER.indexOf(t);
    return i < 0 ? PUSH_ORDER.length : i;
  };
  return [...typeUrls].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

let nextStreamId = 1;

/** The part of a SotW or Delta ADS stream that does not depend on the variant. */
export abstract class XdsStream<S extends TypeStatus = TypeStatus> {
  readonly id = nextStreamId++;
  readonly connectedAt = new Date();
  readonly peer: string;
  node?: NodeInfo;
  group = '';
  readonly types = new Map<string, S>();
  private nonceCount = 0;
  private closed = false;

  constructor(
    protected readonly host: StreamHost,
    private readonly call: ServerDuplexStream<unknown, Buffer>,
    readonly protocol: 'sotw' | 'delta',
  ) {
    this.peer = call.getPeer();
    call.on('data', (req) => this.receive(req));
    call.on('end', () => {
      call.end();
      this.close();
    });
    call.on('cancelled', () => this.close());
    call.on('error', () => this.close());
    call.on('close', () => this.close());
  }

  /** Applies a batch of cache changes (already debounced) to this stream, in push order. */
  protected abstract onChanges(changes: ChangeBatch): void;

  /**
   * Pushes a batch of changes, all at or below cache seq `seq`. A type that needed no response
   * is up to date at `seq` as soon as what is in flight for it is answered.
   */
  push(changes: ChangeBatch, seq: number): void {
    this.onChanges(changes);
    for (const state of this.types.values()) if (state.lastSentSeq < seq) this.quiet(state, seq);
  }

  protected abstract handle(req: unknown): void;

  /**
   * The state of a type, created on its first request; undefined (stream failed) past the cap or
   * when the peer may not have the type.
   */
  protected typeState(typeUrl: string, make: (t: string) => S): { state: S; isNew: boolean } | undefined {
    const state = this.types.get(typeUrl);
    if (state) return { state, isNew: false };
    if (this.types.size >= MAX_TYPES_PER_STREAM) {
      this.fail(GrpcStatus.RESOURCE_EXHAUSTED, `more than ${MAX_TYPES_PER_STREAM} type URLs on one stream`);
      return undefined;
    }
    const certificate = this.call.getAuthContext().sslPeerCertificate;
    const allowed = this.host.authorize({ address: this.peer, node: this.node!, certificate }, typeUrl);
    if (allowed !== true) {
      this.fail(GrpcStatus.PERMISSION_DENIED, allowed, { node: this.node?.id, certificate: certificate ? subjectOf(certificate) : '(none)', type: typeUrl });
      return undefined;
    }
    const created = make(typeUrl);
    this.types.set(typeUrl, created);
    return { state: created, isNew: true };
  }

  /** Replaces a type's explicit subscription (the set given becomes shared; do not reuse it). */
  protected subscribeNames(state: S, names: Set<string>): void {
    const old = state.names;
    state.names = this.host.nameSets.acquire(names);
    this.host.nameSets.release(old);
  }

  /** Ends the stream with OK (the client reconnects, to us or to another replica). */
  end(): void {
    if (!this.closed) this.call.end();
    this.close();
  }

  protected nonce(): string {
    return (++this.nonceCount).toString();
  }

  /**
   * Sends a response. `seq` is the cache seq up to which it makes the client's view of the type
   * current (0 for a response that answers a few names only).
   */
  protected write(state: S, version: string, nonce: string, bytes: Buffer, seq: number): void {
    state.lastSentVersion = version;
    state.lastSentNonce = nonce;
    state.lastSentAt = new Date();
    state.lastSentSeq = Math.max(state.lastSentSeq, seq);
    state.responsesSent++;
    state.inflight.set(nonce, { version, seq });
    if (state.inflight.size > MAX_INFLIGHT) state.inflight.delete(state.inflight.keys().next().value as string);
    this.call.write(bytes);
  }

  /**
   * Records the client's answer to the response with `nonce` (unknown nonces are ignored). Clients
   * answer in order, so it also settles every earlier response still in flight.
   */
  protected answer(state: S, nonce: string, error: { code?: number; message?: string } | undefined): void {
    const sent = state.inflight.get(nonce);
    if (!sent) return;
    for (const n of state.inflight.keys()) {
      state.inflight.delete(n);
      if (n === nonce) break;
    }
    if (error) this.recordNack(state, sent.version, nonce, error);
    else this.recordAck(state, sent.version);
    this.advance(state, state.inflight.size === 0 ? Math.max(sent.seq, state.quietSeq) : sent.seq);
  }

  /** (bench/serverChild.ts counts ACKs by wrapping this.) */
  protected recordAck(state: S, version: string): void {
    state.lastAckedVersion = version;
    state.lastAckedAt = new Date();
  }

  private quiet(state: S, seq: number): void {
    if (state.inflight.size === 0) this.advance(state, seq);
    else state.quietSeq = Math.max(state.quietSeq, seq);
  }

  private advance(state: S, seq: number): void {
    if (seq <= state.answeredSeq) return;
    state.answeredSeq = seq;
    this.host.answered(this);
  }

  private recordNack(state: S, version: string, nonce: string, error: { code?: number; message?: string }): void {
    const text = error.message || `code ${error.code ?? 0}`;
    state.lastNack = { version, nonce, error: text, at: new Date() };
    this.host.log.warn('xDS client rejected a response', {
      node: this.node?.id,
      group: this.group,
      type: state.typeUrl,
      version,
      nonce,
      error: text,
    });
  }

  /** The first request names the node; later ones may leave it out. */
  protected identify(node: { id?: string; cluster?: string; user_agent_name?: string } | null | undefined): boolean {
    if (this.node) return true;
    if (!node || (!node.id && !node.cluster)) {
      this.fail(GrpcStatus.INVALID_ARGUMENT, 'the first request of a stream must carry node.id or node.cluster');
      return false;
    }
    this.node = { id: node.id ?? '', cluster: node.cluster ?? '', userAgent: node.user_agent_name ?? '' };
    this.group = this.host.groupOf(this.node);
    this.host.attach(this);
    this.host.log.info('xDS stream opened', { stream: this.id, protocol: this.protocol, node: this.node.id, group: this.group, peer: this.peer });
    return true;
  }

  protected fail(code: GrpcStatus, details: string, context: Record<string, unknown> = {}): void {
    this.host.log.warn('xDS stream refused', { stream: this.id, peer: this.peer, ...context, code: GrpcStatus[code], details });
    this.call.emit('error', { code, details });
    this.close();
  }

  private receive(req: unknown): void {
    if (this.closed) return;
    try {
      this.handle(req);
    } catch (err) {
      this.host.log.error('xDS request failed', { stream: this.id, error: (err as Error).stack ?? String(err) });
      this.fail(GrpcStatus.INTERNAL, `request failed: ${(err as Error).message}`);
    }
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const state of this.types.values()) this.host.nameSets.release(state.names);
    this.host.detach(this);
    if (this.node) this.host.log.info('xDS stream closed', { stream: this.id, node: this.node.id, group: this.group });
  }
}

/** A certificate's subject for logs: "CN=router" (fields in the order Node gives them). */
function subjectOf(c: PeerCertificate): string {
  return Object.entries(c.subject ?? {})
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`)
    .join(', ');
}

/** Entries of `names` in the cache (EDS names that do not exist become empty assignments). */
export function lookup(host: StreamHost, group: string, typeUrl: string, names: Iterable<string>): { found: Entry[]; missing: string[] } {
  const found: Entry[] = [];
  const missing: string[] = [];
  for (const name of names) {
    const e = host.cache.get(group, typeUrl, name);
    if (e) found.push(e);
    else if (typeUrl === ENDPOINT) found.push(host.emptyEndpoints(name));
    else missing.push(name);
  }
  return { found, missing };
}

export function byName(a: Entry, b: Entry): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** The error a client put in a request, if any (google.rpc.Status). */
export function errorDetail(e: { code?: number; message?: string } | null | undefined): { code?: number; message?: string } | undefined {
  return e && (e.code || e.message) ? e : undefined;
}
