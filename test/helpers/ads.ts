import * as grpc from '@grpc/grpc-js';
import { serviceDefinition } from '../../src/envoy/grpcService';
import { messageType } from '../../src/envoy/protos';
import { messageName } from '../../src/envoy/typeUrls';
import { SnapshotCache } from '../../src/xds/cache';
import { ADS_SERVICE, XdsServer, xdsChannelOptions, type XdsServerOptions } from '../../src/xds/server';

/** A running ADS server on a free loopback port. */
export interface TestServer {
  cache: SnapshotCache;
  xds: XdsServer;
  grpcServer: grpc.Server;
  address: string;
  stop(): Promise<void>;
}

export async function startServer(options: XdsServerOptions = {}, maxReceiveBytes = 64 * 1024 * 1024): Promise<TestServer> {
  const cache = new SnapshotCache();
  const xds = new XdsServer(cache, { debounceMs: 0, ...options });
  const grpcServer = new grpc.Server(xdsChannelOptions({ sendBytes: 64 * 1024 * 1024, receiveBytes: maxReceiveBytes }));
  xds.addTo(grpcServer);
  const port = await bindLoopback(grpcServer);
  return {
    cache,
    xds,
    grpcServer,
    address: `127.0.0.1:${port}`,
    stop: () => {
      xds.close();
      return shutdown(grpcServer);
    },
  };
}

/** Binds a grpc-js server to a free loopback port. */
export function bindLoopback(server: grpc.Server): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
}

/** Graceful shutdown, forced after `graceMs` (long-lived streams would hold it open). */
export function shutdown(server: grpc.Server, graceMs = 300): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Per-test server and streams for protocol suites: a fresh server with group "Default" before
 * each test, every stream opened through `open` closed after it.
 */
export function protocolFixture(protocol: 'sotw' | 'delta'): {
  readonly srv: TestServer;
  open(): AdsStream;
  restart(options: XdsServerOptions, maxReceiveBytes?: number): Promise<void>;
} {
  let srv: TestServer;
  const streams: AdsStream[] = [];
  beforeEach(async () => {
    srv = await startServer();
    srv.cache.ensureGroup('Default');
  });
  afterEach(async () => {
    streams.splice(0).forEach((s) => s.close());
    await srv.stop();
  });
  return {
    get srv() {
      return srv;
    },
    open: () => {
      const s = new AdsStream(srv.address, protocol);
      streams.push(s);
      return s;
    },
    restart: async (options, max) => {
      await srv.stop();
      srv = await startServer(options, max);
      srv.cache.ensureGroup('Default');
    },
  };
}

const AdsClient = grpc.makeGenericClientConstructor(serviceDefinition(ADS_SERVICE), 'ads');

export interface DecodedResource {
  name: string;
  version?: string;
  body: Record<string, unknown>;
}

export interface Response {
  typeUrl: string;
  version: string;
  nonce: string;
  resources: DecodedResource[];
  removed: string[];
}

/** A raw ADS stream for protocol tests: send requests, await responses one by one. */
export class AdsStream {
  private readonly queue: Response[] = [];
  private waiters: Array<(r: Response) => void> = [];
  readonly client: grpc.Client;
  readonly call: grpc.ClientDuplexStream<object, Record<string, unknown>>;
  status?: grpc.StatusObject;
  readonly ended: Promise<grpc.StatusObject>;

  constructor(address: string, readonly protocol: 'sotw' | 'delta', maxMessageBytes = 64 * 1024 * 1024, credentials = grpc.credentials.createInsecure()) {
    this.client = new AdsClient(address, credentials, {
      'grpc.max_receive_message_length': maxMessageBytes,
      'grpc.max_send_message_length': maxMessageBytes,
    });
    const method = protocol === 'sotw' ? 'StreamAggregatedResources' : 'DeltaAggregatedResources';
    this.call = (this.client as unknown as Record<string, () => grpc.ClientDuplexStream<object, Record<string, unknown>>>)[method]();
    this.call.on('data', (msg) => this.deliver(decodeResponse(msg, protocol)));
    this.ended = new Promise((resolve) => {
      this.call.on('status', (s) => {
        this.status = s;
        resolve(s);
      });
      this.call.on('error', () => undefined);
    });
  }

  send(req: object): void {
    this.call.write(req);
  }

  /** The next response, or a rejection after `ms`. */
  next(ms = 3000): Promise<Response> {
    const r = this.queue.shift();
    if (r) return Promise.resolve(r);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no response within ${ms} ms`));
      }, ms);
      const waiter = (x: Response): void => {
        clearTimeout(timer);
        resolve(x);
      };
      this.waiters.push(waiter);
    });
  }

  /** Resolves if nothing arrives within `ms`; rejects with what arrived otherwise. */
  async none(ms = 200): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
    if (this.queue.length) throw new Error(`unexpected response: ${JSON.stringify(this.queue[0])}`);
  }

  close(): void {
    this.call.end();
    this.client.close();
  }

  private deliver(r: Response): void {
    const w = this.waiters.shift();
    if (w) w(r);
    else this.queue.push(r);
  }
}

function decodeAny(any: { type_url: string; value: Uint8Array }): Record<string, unknown> {
  const t = messageType(messageName(any.type_url));
  return t.toObject(t.decode(any.value), { enums: String, longs: String, defaults: false });
}

function resourceName(body: Record<string, unknown>): string {
  return String(body.name ?? body.cluster_name ?? '');
}

function decodeResponse(msg: Record<string, unknown>, protocol: 'sotw' | 'delta'): Response {
  if (protocol === 'sotw') {
    const anys = msg.resources as Array<{ type_url: string; value: Uint8Array }>;
    return {
      typeUrl: msg.type_url as string,
      version: msg.version_info as string,
      nonce: msg.nonce as string,
      resources: anys.map((a) => {
        const body = decodeAny(a);
        return { name: resourceName(body), body };
      }),
      removed: [],
    };
  }
  const res = msg.resources as Array<{ name: string; version: string; resource: { type_url: string; value: Uint8Array } }>;
  return {
    typeUrl: msg.type_url as string,
    version: msg.system_version_info as string,
    nonce: msg.nonce as string,
    resources: res.map((r) => ({ name: r.name, version: r.version, body: decodeAny(r.resource) })),
    removed: [...(msg.removed_resources as string[])],
  };
}

export const node = (id: string, cluster: string): object => ({ id, cluster, locality: {} });

/** Polls `cond` until it holds; fails after `ms`. */
export async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
