import { messageType } from '../src/envoy/protos';
import { CLUSTER, ENDPOINT, LISTENER, ROUTE } from '../src/envoy/typeUrls';
import { makeEntry, setVersion, SnapshotCache, type Entry } from '../src/xds/cache';
import { encodeDeltaBody, encodeSotwBody, withNonce } from '../src/xds/wire';
import { nowMs, scanResponse } from './protocol';
import { buildGroup, changedCluster, GROUP } from './resources';

/** Encode (and client-side decode) cost of single responses, ns/op, in this process. */

export interface EncodeRow {
  name: string;
  bytes: number;
  nsPerOp: number;
  note: string;
}

/** Best of 3 rounds, each running `fn` for `minMs` (after a warm-up); ns per call. */
function time(fn: () => unknown, minMs = 120): number {
  return Math.min(round(fn, minMs), round(fn, minMs), round(fn, minMs));
}

function round(fn: () => unknown, minMs: number): number {
  for (let i = 0; i < 3; i++) fn();
  let n = 0;
  const t0 = nowMs();
  let t = t0;
  while (t - t0 < minMs) {
    for (let i = 0; i < 5; i++) fn();
    n += 5;
    t = nowMs();
  }
  return ((t - t0) * 1e6) / n;
}

export function encodeBench(): EncodeRow[] {
  const cache = new SnapshotCache();
  cache.setGroup(GROUP, buildGroup());
  const entries = (t: string): Entry[] => [...cache.typeSet(GROUP, t)!.entries.values()];
  const version = (t: string): string => cache.typeSet(GROUP, t)!.version;
  const DR = messageType('envoy.service.discovery.v3.DiscoveryResponse');
  const DDR = messageType('envoy.service.discovery.v3.DeltaDiscoveryResponse');
  const rows: EncodeRow[] = [];
  const add = (name: string, fn: () => Uint8Array | { length: number }, note: string, minMs?: number): number => {
    const bytes = (fn() as Uint8Array).length;
    const ns = time(fn, minMs);
    rows.push({ name, bytes, nsPerOp: ns, note });
    return ns;
  };

  // Full SotW responses: the shared body (built once per push per group) and the per-stream nonce.
  for (const [label, t] of [
    ['CDS 1,000 clusters', CLUSTER],
    ['EDS 1,000 assignments', ENDPOINT],
    ['RDS 1 config / 10,000 routes', ROUTE],
    ['LDS 1 listener', LISTENER],
  ] as const) {
    const es = entries(t);
    const anys = es.map((e) => e.any);
    const body = encodeSotwBody(version(t), t, anys);
    add(`SotW ${label}: body (once per push)`, () => encodeSotwBody(version(t), t, es.map((e) => e.any)), 'encodeSotwBody over cached Any bytes');
    add(`SotW ${label}: withNonce (per stream)`, () => withNonce(body, '12345'), 'Buffer.concat copy of the shared body');
    add(
      `SotW ${label}: protobufjs baseline`,
      () => DR.encode(DR.fromObject({ version_info: version(t), type_url: t, nonce: '12345', resources: es.map((e) => ({ type_url: t, value: e.value })) })).finish(),
      'DiscoveryResponse.encode(fromObject(...)) of the same response',
    );
  }

  // Delta: one changed cluster (what every Delta stream is sent after the change).
  const changed = makeEntry(CLUSTER, changedCluster(1).name, changedCluster(1).value);
  const dver = version(CLUSTER);
  const dbody = encodeDeltaBody(dver, CLUSTER, [changed.delta], []);
  add('Delta CDS 1 changed cluster: body (once per push)', () => encodeDeltaBody(dver, CLUSTER, [changed.delta], []), 'encodeDeltaBody over cached Resource bytes');
  add('Delta CDS 1 changed cluster: withNonce (per stream)', () => withNonce(dbody, '12345'), '');
  add(
    'Delta CDS 1 changed cluster: body incl. first Any/Resource encode',
    () => {
      const e = makeEntry(CLUSTER, changed.name, changed.value, changed.version);
      return encodeDeltaBody(dver, CLUSTER, [e.delta], []);
    },
    'as after a cache change: makeEntry + Any + Resource + body',
  );
  add(
    'Delta CDS 1 changed cluster: protobufjs baseline',
    () =>
      DDR.encode(
        DDR.fromObject({
          system_version_info: dver,
          type_url: CLUSTER,
          nonce: '12345',
          resources: [{ name: changed.name, version: changed.version, resource: { type_url: CLUSTER, value: changed.value } }],
        }),
      ).finish(),
    'DeltaDiscoveryResponse.encode(fromObject(...))',
  );
  const dkey = () => setVersion([changed]);
  add('Delta push: body-cache key (setVersion of 1 entry)', () => Buffer.from(dkey()), 'computed per stream in DeltaStream.send', 100);

  // Client side: reading a full SotW CDS response.
  const cds = withNonce(encodeSotwBody(version(CLUSTER), CLUSTER, entries(CLUSTER).map((e) => e.any)), '1');
  add('Client: scan SotW CDS response (nonce/type/version)', () => {
    scanResponse(cds);
    return cds;
  }, 'bench client: protobufjs Reader, resources skipped');
  add('Client: decode SotW CDS response (DiscoveryResponse.decode)', () => {
    DR.decode(cds);
    return cds;
  }, 'Any values left as bytes, not unpacked');
  return rows;
}
