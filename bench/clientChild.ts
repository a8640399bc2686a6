import * as grpc from '@grpc/grpc-js';
import { serviceDefinition } from '../src/envoy/grpcService';
import { messageType } from '../src/envoy/protos';
import { CLUSTER, ENDPOINT, LISTENER, ROUTE } from '../src/envoy/typeUrls';
import { ADS_SERVICE } from '../src/xds/server';
import { nowMs, scanResponse, withStrings, type Protocol } from './protocol';
import { clusterNames, GROUP, ROUTE_CONFIG } from './resources';

/**
 * Lightweight raw ADS clients (many streams per process, a few streams per HTTP/2 connection).
 * Responses arrive as bytes and are only scanned for version, type and nonce; requests are
 * pre-encoded templates plus the version/nonce fields appended. Every response is ACKed at once.
 */

interface Start {
  cmd: 'start';
  port: number;
  protocol: Protocol;
  first: number;
  count: number;
  perChannel: number;
  window: number;
  /** >0: open streams in waves of this many, the next once the previous wave is in sync. */
  wave: number;
}

const send = (m: object): void => void process.send!(m);
const TYPES = [CLUSTER, ENDPOINT, LISTENER, ROUTE];

// The ADS method paths from the project's definition; (de)serialisers replaced by pass-through.
const base = serviceDefinition(ADS_SERVICE);
const raw: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
for (const [k, m] of Object.entries(base)) {
  const id = (b: Buffer): Buffer => b;
  raw[k] = { ...m, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id };
}
const AdsClient = grpc.makeGenericClientConstructor(raw as grpc.ServiceDefinition, 'ads');

const subscription = (t: string): string[] => (t === ENDPOINT ? clusterNames() : t === ROUTE ? [ROUTE_CONFIG] : []);

/** Pre-encoded requests: per type the subscription part; the node on its own. */
function templates(protocol: Protocol): { first: Map<string, Uint8Array>; ack: Map<string, Uint8Array>; node: (id: string) => Uint8Array } {
  const first = new Map<string, Uint8Array>();
  const ack = new Map<string, Uint8Array>();
  if (protocol === 'delta') {
    const T = messageType('envoy.service.discovery.v3.DeltaDiscoveryRequest');
    for (const t of TYPES) {
      first.set(t, T.encode(T.fromObject({ type_url: t, resource_names_subscribe: subscription(t) })).finish());
      ack.set(t, T.encode(T.fromObject({ type_url: t })).finish());
    }
    return { first, ack, node: (id) => T.encode(T.fromObject({ node: { id, cluster: GROUP } })).finish() };
  }
  const T = messageType('envoy.service.discovery.v3.DiscoveryRequest');
  for (const t of TYPES) {
    const b = T.encode(T.fromObject({ type_url: t, resource_names: subscription(t) })).finish();
    first.set(t, b);
    ack.set(t, b); // SotW ACKs repeat the subscription
  }
  return { first, ack, node: (id) => T.encode(T.fromObject({ node: { id, cluster: GROUP } })).finish() };
}

interface Counters {
  responses: number;
  bytes: number;
  resources: number;
  byType: Record<string, { responses: number; resources: number; bytes: number }>;
}
const fresh = (): Counters => ({ responses: 0, bytes: 0, resources: 0, byType: {} });
let counters = fresh();

const clients: grpc.Client[] = [];
const calls: grpc.ClientDuplexStream<Buffer, Buffer>[] = [];
let readyCount = 0;
let errors = 0;
let firstError = '';

function start(s: Start): void {
  const tpl = templates(s.protocol);
  const nonceField = s.protocol === 'delta' ? 6 : 5;
  const method = s.protocol === 'delta' ? 'DeltaAggregatedResources' : 'StreamAggregatedResources';
  const t0 = nowMs();
  const readyAt: number[] = [];
  let client: grpc.Client | undefined;
  let opened = 0;
  const openNext = (): void => {
    const until = s.wave > 0 ? Math.min(s.count, opened + s.wave) : s.count;
    while (opened < until) open(opened++);
  };
  const open = (i: number): void => {
    if (i % s.perChannel === 0) {
      client = new AdsClient(`127.0.0.1:${s.port}`, grpc.credentials.createInsecure(), {
        'grpc.max_receive_message_length': 64 * 1024 * 1024,
        'grpc.max_send_message_length': 64 * 1024 * 1024,
        'grpc.use_local_subchannel_pool': 1, // one HTTP/2 connection per `perChannel` streams
        'grpc-node.flow_control_window': s.window,
      });
      clients.push(client);
    }
    const call = (client as unknown as Record<string, () => grpc.ClientDuplexStream<Buffer, Buffer>>)[method]();
    calls.push(call);
    const seen = new Set<string>();
    call.on('data', (buf: Buffer) => {
      const r = scanResponse(buf);
      counters.responses++;
      counters.bytes += buf.length;
      counters.resources += r.resources;
      const bt = (counters.byType[r.typeUrl] ??= { responses: 0, resources: 0, bytes: 0 });
      bt.responses++;
      bt.resources += r.resources;
      bt.bytes += buf.length;
      const fields: Array<[number, string]> = s.protocol === 'sotw' ? [[1, r.version], [nonceField, r.nonce]] : [[nonceField, r.nonce]];
      call.write(withStrings(tpl.ack.get(r.typeUrl)!, fields));
      if (!seen.has(r.typeUrl)) {
        seen.add(r.typeUrl);
        if (seen.size === TYPES.length) {
          readyAt.push(nowMs());
          if (++readyCount === s.count) send({ ev: 'ready', t0, readyAt: summarize(readyAt.map((t) => t - t0)) });
          else if (readyCount === opened && opened < s.count) openNext();
        }
      }
    });
    call.on('error', (e) => {
      errors++;
      firstError ||= e.message;
    });
    const nodeBytes = tpl.node(`router-${s.first + i}`);
    TYPES.forEach((t, k) => call.write(Buffer.concat(k === 0 ? [nodeBytes, tpl.first.get(t)!] : [tpl.first.get(t)!])));
  };
  openNext();
  send({ ev: 'opened', t0 });
}

function summarize(xs: number[]): { p50: number; p99: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { p50: at(0.5), p99: at(0.99), max: s[s.length - 1] };
}

process.on('message', (m: { cmd: string; id?: number } & Partial<Start>) => {
  if (m.cmd === 'start') start(m as Start);
  else if (m.cmd === 'reset') {
    counters = fresh();
    send({ id: m.id });
  } else if (m.cmd === 'stats') send({ id: m.id, counters, errors, firstError, rss: process.memoryUsage().rss });
  else if (m.cmd === 'stop') {
    for (const c of calls) c.cancel();
    for (const c of clients) c.close();
    send({ id: m.id });
    setTimeout(() => process.exit(0), 50);
  }
});
process.on('disconnect', () => process.exit(0));
