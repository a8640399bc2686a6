import * as grpc from '@grpc/grpc-js';
import { CLUSTER, ENDPOINT } from '../src/envoy/typeUrls';
import { SnapshotCache } from '../src/xds/cache';
import { serviceDefinition } from '../src/envoy/grpcService';
import { ADS_SERVICE, XdsServer, xdsChannelOptions } from '../src/xds/server';
import { XdsStream } from '../src/xds/stream';
import { memory, nowMs } from './protocol';
import { buildGroup, changedCluster, GROUP } from './resources';

/**
 * The xDS server under test, alone in its process so that its RSS and CPU are its own.
 * Driven by IPC from bench/run.ts. ACKs are counted by wrapping XdsStream.recordAck at run time
 * (src/ is not modified): that is the server's own view of "every client has ACKed".
 */

interface Cmd {
  id: number;
  cmd: 'setup' | 'mem' | 'expect' | 'change' | 'stop';
  debounceMs?: number;
  /** Baseline: a no-op ADS service (streams held open, requests ignored), no cache, no xDS state. */
  bare?: boolean;
  expect?: { phase: string; acks: number; types?: string[] };
  k?: number;
}

const send = (m: object): void => void process.send!(m);

let cache: SnapshotCache;
let xds: XdsServer | undefined;
let server: grpc.Server;

// ACK accounting: one count per (stream, type) per phase.
let phase = '';
let wanted = 0;
let phaseTypes: Set<string> | undefined;
let acked = new Set<string>();
let phaseStart = 0;
let cpuStart: NodeJS.CpuUsage | undefined;
let phaseTimer: NodeJS.Timeout | undefined;
let pushMs: number[] = [];

const proto = XdsStream.prototype as unknown as { recordAck: (state: { typeUrl: string }, version: string) => void };
const origRecordAck = proto.recordAck;
proto.recordAck = function (this: XdsStream, state, version) {
  origRecordAck.call(this, state, version);
  if (!phase || (phaseTypes && !phaseTypes.has(state.typeUrl))) return;
  acked.add(`${this.id}|${state.typeUrl}`);
  if (acked.size === wanted) finishPhase(false);
};

// Time the synchronous fan-out loop (private XdsServer.push) the same way.
const sproto = XdsServer.prototype as unknown as { push: () => void };
const origPush = sproto.push;
sproto.push = function (this: XdsServer) {
  const t = nowMs();
  origPush.call(this);
  pushMs.push(nowMs() - t);
};

function finishPhase(timedOut: boolean): void {
  const t = nowMs();
  const cpu = process.cpuUsage(cpuStart);
  if (phaseTimer) clearTimeout(phaseTimer);
  send({ ev: 'phaseDone', phase, at: t, ms: t - phaseStart, acks: acked.size, wanted, timedOut, cpuUserMs: cpu.user / 1000, cpuSysMs: cpu.system / 1000, pushMs });
  phase = '';
}

function startPhase(name: string, acks: number, types: string[] | undefined, timeoutMs: number): void {
  phase = name;
  wanted = acks;
  phaseTypes = types ? new Set(types) : undefined;
  acked = new Set();
  pushMs = [];
  phaseStart = nowMs();
  cpuStart = process.cpuUsage();
  phaseTimer = setTimeout(() => finishPhase(true), timeoutMs);
}

process.on('message', async (m: Cmd) => {
  switch (m.cmd) {
    case 'setup': {
      const before = memory();
      if (m.bare) {
        server = new grpc.Server(xdsChannelOptions({ sendBytes: 64 * 1024 * 1024, receiveBytes: 4 * 1024 * 1024 }));
        let open = 0;
        const hold = (call: grpc.ServerDuplexStream<unknown, Buffer>): void => {
          open++;
          call.on('data', () => undefined);
          call.on('end', () => call.end());
          call.on('error', () => undefined);
          if (phase) {
            acked.add(String(open));
            if (acked.size === wanted) finishPhase(false);
          }
        };
        server.addService(serviceDefinition(ADS_SERVICE), { StreamAggregatedResources: hold, DeltaAggregatedResources: hold });
        const port = await new Promise<number>((resolve, reject) =>
          server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
        );
        send({ id: m.id, port, memEmpty: before, mem: memory() });
        break;
      }
      const t0 = nowMs();
      const resources = buildGroup();
      const t1 = nowMs();
      cache = new SnapshotCache();
      cache.setGroup(GROUP, resources);
      const t2 = nowMs();
      xds = new XdsServer(cache, { debounceMs: m.debounceMs, maxDelayMs: 500 });
      server = new grpc.Server(xdsChannelOptions({ sendBytes: 64 * 1024 * 1024, receiveBytes: 4 * 1024 * 1024 }));
      xds.addTo(server);
      const port = await new Promise<number>((resolve, reject) =>
        server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
      );
      const sizes: Record<string, number> = {};
      for (const set of cache.typeSets(GROUP)) {
        let bytes = 0;
        for (const e of set.entries.values()) bytes += e.value.length;
        sizes[set.typeUrl] = bytes;
      }
      send({ id: m.id, port, buildMs: t1 - t0, setGroupMs: t2 - t1, sizes, memEmpty: before, mem: memory() });
      break;
    }
    case 'expect':
      startPhase(m.expect!.phase, m.expect!.acks, m.expect!.types, 120_000);
      send({ id: m.id });
      break;
    case 'mem':
      send({ id: m.id, mem: memory(), streams: xds?.streams().length, cpu: process.cpuUsage() });
      break;
    case 'change': {
      // Every stream ACKs the CDS push and the EDS re-warm push that follows it.
      startPhase(`change${m.k}`, 2 * xds!.streams().length, [CLUSTER, ENDPOINT], 60_000);
      send({ id: m.id, at: phaseStart });
      cache.upsert(GROUP, CLUSTER, [changedCluster(m.k!)]);
      break;
    }
    case 'stop':
      xds?.close();
      server.forceShutdown();
      send({ id: m.id });
      setTimeout(() => process.exit(0), 50);
      break;
  }
});
process.on('disconnect', () => process.exit(0));
