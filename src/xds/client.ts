import * as grpc from '@grpc/grpc-js';
import { serviceDefinition } from '../envoy/grpcService';
import { silentLog, type Log } from './log';
import { ADS_SERVICE, xdsChannelOptions } from './server';

/**
 * A Delta ADS client that keeps an in-memory view of every resource of the types it subscribes
 * to (all wildcard). The enforcer answers requests from this view, so the view must only ever
 * hold content that decoded: a response is applied whole or not at all (NACK). While the server
 * is away the view keeps serving, and on reconnect the client tells the server what it holds
 * (initial_resource_versions) so only what changed meanwhile is sent again.
 */

/** Turns a resource's encoded message into what the view holds; throws if the resource is unusable. */
export type Decoder<T> = (value: Uint8Array, name: string) => T;

export interface DeltaXdsClientOptions<T> {
  /** host:port of the ADS server. */
  address: string;
  node: { id: string; cluster: string };
  /** Type URLs to subscribe to (wildcard). */
  typeUrls: string[];
  /** Per type URL; a type without one keeps the raw message bytes as its value. */
  decode?: Record<string, Decoder<T>>;
  log?: Log;
  /** Delay before reconnecting: doubles from initialMs up to maxMs, with jitter. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Largest response accepted (the server's send limit); requests are small. */
  maxMessageBytes?: number;
  credentials?: grpc.ChannelCredentials;
}

export interface HeldResource<T> {
  version: string;
  value: T;
}

/** What one applied response changed. `updated` lists every resource the server sent. */
export interface XdsChange {
  typeUrl: string;
  updated: string[];
  removed: string[];
}

type ChangeListener = (change: XdsChange) => void;

/** The fields of a DeltaDiscoveryResponse we read (a decoded protobufjs message). */
interface DeltaResponse {
  type_url: string;
  nonce: string;
  system_version_info: string;
  resources: Array<{ name: string; version: string; resource?: { type_url: string; value: Uint8Array } | null }>;
  removed_resources: string[];
}

type DeltaCall = grpc.ClientDuplexStream<object, DeltaResponse>;

const AdsClient = grpc.makeGenericClientConstructor(serviceDefinition(ADS_SERVICE), 'AggregatedDiscoveryService');

/** google.rpc.Code INVALID_ARGUMENT, what Envoy puts in a NACK's error_detail. */
const INVALID_ARGUMENT = 3;
/** A NACK names this many failures at most, so one huge bad push does not make a huge request. */
const MAX_ERRORS_LISTED = 20;

export class DeltaXdsClient<T = unknown> {
  private readonly views = new Map<string, Map<string, HeldResource<T>>>();
  /** Types that have had a response applied since the client started. */
  private readonly received = new Set<string>();
  private readonly listeners = new Set<ChangeListener>();
  private readyWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private readonly log: Log;
  private readonly client: grpc.Client;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private call?: DeltaCall;
  private timer?: NodeJS.Timeout;
  private attempt = 0;
  /** 'starting' until the first stream answers or fails, so the first failure is logged once too. */
  private state: 'starting' | 'connected' | 'disconnected' = 'starting';
  private closed = false;
  private _ready = false;

  constructor(private readonly options: DeltaXdsClientOptions<T>) {
    if (options.typeUrls.length === 0) throw new Error('DeltaXdsClient: typeUrls must not be empty');
    this.log = options.log ?? silentLog;
    this.initialMs = options.backoff?.initialMs ?? 500;
    this.maxMs = Math.max(this.initialMs, options.backoff?.maxMs ?? 30_000);
    for (const t of options.typeUrls) this.views.set(t, new Map());
    this.client = new AdsClient(options.address, options.credentials ?? grpc.credentials.createInsecure(), {
      ...xdsChannelOptions({ receiveBytes: options.maxMessageBytes ?? 64 * 1024 * 1024, sendBytes: -1 }),
      // grpc-js backs off its own reconnects up to 120 s; keep it within ours so a restarted
      // server is found within maxMs, not minutes later.
      'grpc.initial_reconnect_backoff_ms': this.initialMs,
      'grpc.max_reconnect_backoff_ms': this.maxMs,
    });
    this.open();
  }

  /** True once every subscribed type has had a response applied; stays true across reconnects. */
  get ready(): boolean {
    return this._ready;
  }

  /** True while a stream is up and the server has answered on it. */
  get connected(): boolean {
    return this.state === 'connected';
  }

  /** Resolves once ready; rejects if the client is closed first. */
  whenReady(): Promise<void> {
    if (this._ready) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error('xDS client closed'));
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  get(typeUrl: string, name: string): T | undefined {
    return this.views.get(typeUrl)?.get(name)?.value;
  }

  /** The current view of a type (live: it changes as responses are applied). */
  entries(typeUrl: string): ReadonlyMap<string, HeldResource<T>> {
    return this.views.get(typeUrl) ?? new Map();
  }

  /** Called after each applied response that changed something; returns an unsubscribe function. */
  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.call?.cancel();
    this.call = undefined;
    this.client.close();
    for (const w of this.readyWaiters.splice(0)) w.reject(new Error('xDS client closed'));
  }

  private open(): void {
    const call = (this.client as unknown as { DeltaAggregatedResources(): DeltaCall }).DeltaAggregatedResources();
    this.call = call;
    // Events of a stream that has been replaced (or closed by us) are ignored.
    call.on('data', (res: DeltaResponse) => {
      if (call === this.call) this.receive(res);
    });
    call.on('error', () => undefined); // 'status' follows every error and carries the same information
    call.on('status', (s: grpc.StatusObject) => {
      if (call === this.call) this.lost(s);
    });
    let first = true;
    for (const typeUrl of this.options.typeUrls) {
      const held: Record<string, string> = {};
      for (const [name, r] of this.views.get(typeUrl)!) held[name] = r.version;
      call.write({
        // The server identifies the stream by the node on its first request only.
        ...(first ? { node: { ...this.options.node, user_agent_name: 'apim-connect' } } : {}),
        type_url: typeUrl,
        resource_names_subscribe: ['*'],
        initial_resource_versions: held,
      });
      first = false;
    }
  }

  private lost(s: grpc.StatusObject): void {
    this.call = undefined;
    if (this.closed) return;
    const detail = { address: this.options.address, code: s.code, details: s.details };
    // A message over a size limit fails every retry the same way (say, the versions a reconnect
    // names exceed the server's receive limit): an operator must see it, not a debug line.
    if (s.code === grpc.status.RESOURCE_EXHAUSTED) this.log.error('xDS stream refused: a message over a gRPC size limit; serving the last good view, retrying', detail);
    else if (s.code === grpc.status.PERMISSION_DENIED) this.log.error('xDS stream refused: the server does not let this client have a type it asks for; retrying', detail);
    else if (this.state === 'connected') this.log.warn('xDS server disconnected; serving the last good view', detail);
    else if (this.state === 'starting') this.log.warn('xDS server not reachable; retrying', detail);
    else this.log.debug('xDS reconnect failed', detail);
    this.state = 'disconnected';
    // Random within the upper half of the delay, so many enforcers do not return to a restarted adapter at once.
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    this.timer = setTimeout(() => this.open(), ceiling / 2 + Math.random() * (ceiling / 2));
  }

  private receive(res: DeltaResponse): void {
    if (this.state !== 'connected') {
      this.log.info('xDS server connected', { address: this.options.address });
      this.state = 'connected';
    }
    this.attempt = 0;
    const typeUrl = res.type_url;
    const view = this.views.get(typeUrl);
    if (!view) return this.nack(typeUrl, res.nonce, `type ${typeUrl} was not subscribed`);

    // Decode everything before touching the view: a response is applied whole or not at all.
    const decode = this.options.decode?.[typeUrl];
    const decoded: Array<[string, HeldResource<T>]> = [];
    const errors: string[] = [];
    for (const r of res.resources) {
      try {
        if (!r.name) throw new Error('resource without a name');
        if (!r.resource) throw new Error('resource without a body');
        if (r.resource.type_url !== typeUrl) throw new Error(`body of type ${r.resource.type_url}`);
        const value = decode ? decode(r.resource.value, r.name) : (r.resource.value as T);
        decoded.push([r.name, { version: r.version, value }]);
      } catch (err) {
        errors.push(`${r.name || '(unnamed)'}: ${(err as Error).message ?? String(err)}`);
      }
    }
    if (errors.length > 0) {
      const more = errors.length > MAX_ERRORS_LISTED ? `; and ${errors.length - MAX_ERRORS_LISTED} more` : '';
      const message = `${errors.length} of ${res.resources.length} resources rejected: ${errors.slice(0, MAX_ERRORS_LISTED).join('; ')}${more}`;
      this.log.warn('xDS response rejected; keeping the previous view', { type: typeUrl, version: res.system_version_info, error: message });
      return this.nack(typeUrl, res.nonce, message);
    }

    for (const [name, held] of decoded) view.set(name, held);
    const removed = res.removed_resources.filter((n) => view.delete(n));
    const updated = decoded.map(([name]) => name);
    // Listeners run before the ACK: the adapter takes an ACK to mean the enforcer can use the
    // resources (routes go live after it), so everything built on the view must be current.
    if (updated.length > 0 || removed.length > 0) this.emit({ typeUrl, updated, removed });
    this.call?.write({ type_url: typeUrl, response_nonce: res.nonce });
    this.received.add(typeUrl);
    if (!this._ready && this.received.size === this.views.size) {
      this._ready = true;
      this.log.info('xDS view complete', { types: this.views.size });
      for (const w of this.readyWaiters.splice(0)) w.resolve();
    }
  }

  private nack(typeUrl: string, nonce: string, message: string): void {
    this.call?.write({ type_url: typeUrl, response_nonce: nonce, error_detail: { code: INVALID_ARGUMENT, message } });
  }

  private emit(change: XdsChange): void {
    for (const l of this.listeners) {
      try {
        l(change);
      } catch (err) {
        this.log.error('xDS change listener failed', { type: change.typeUrl, error: (err as Error).stack ?? String(err) });
      }
    }
  }
}
