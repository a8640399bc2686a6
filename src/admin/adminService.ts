import { status as GrpcStatus, type sendUnaryData, type Server, type ServerUnaryCall, type ServerWritableStream } from '@grpc/grpc-js';
import { jsonToValue } from '../envoy/any';
import { serviceDefinition } from '../envoy/grpcService';
import type { Problem } from '../model/problems';
import { COLLECTIONS, GatewayState, type CollectionName } from '../model/state';
import type { SnapshotCache } from '../xds/cache';
import type { XdsServer } from '../xds/server';
import type { TypeStatus, XdsStream } from '../xds/stream';
import { Explainer, ExplainError } from './explain';
import { resourceForOps, stateEntryForOps } from './opsView';

export const ADMIN_SERVICE = 'apimconnect.admin.v1.AdminService';

type GroupRequest = { group: string };
type DumpRequest = { group: string; type_urls: string[] };
type ExplainRequest = { group: string; method: string; url: string; headers: Record<string, string>; route_config: string };

/**
 * Registers apimconnect.admin.v1.AdminService: read-only views of the cache, the streams and
 * problems. State entries and resources go out as opsView shows them: no secret's value.
 */
export interface AdminSources {
  problems?: () => readonly Problem[];
  state?: () => GatewayState;
}

export function addAdminService(server: Server, xds: XdsServer, sources: AdminSources = {}): void {
  const problems = sources.problems ?? (() => []);
  const cache = xds.cache;
  const explainer = new Explainer(cache);
  server.addService(serviceDefinition(ADMIN_SERVICE), {
    ListSnapshots: (call: ServerUnaryCall<GroupRequest, object>, done: sendUnaryData<object>) => {
      done(null, { snapshots: groupsOf(cache, call.request.group).map((g) => snapshot(cache, g)) });
    },
    WatchSnapshots: (call: ServerWritableStream<GroupRequest, object>) => {
      const only = call.request.group;
      for (const g of groupsOf(cache, only)) call.write(snapshot(cache, g));
      const unwatch = cache.watch((change) => {
        if (!only || change.group === only) call.write(snapshot(cache, change.group));
      });
      call.on('cancelled', unwatch);
      call.on('close', unwatch);
      call.on('error', unwatch);
    },
    ListNodes: (call: ServerUnaryCall<GroupRequest, object>, done: sendUnaryData<object>) => {
      const only = call.request.group;
      done(null, { nodes: xds.streams().filter((s) => !only || s.group === only).map(nodeStream) });
    },
    ListProblems: (call: ServerUnaryCall<GroupRequest, object>, done: sendUnaryData<object>) => {
      const only = call.request.group;
      done(null, {
        problems: problems()
          .filter((p) => !only || !p.group || p.group === only)
          .map((p) => ({
            kind: p.kind,
            group: p.group ?? '',
            api_id: p.apiId ?? '',
            api_name: p.apiName ?? '',
            api_version: p.apiVersion ?? '',
            source: p.source,
            reasons: p.reasons,
            since: timestamp(p.since),
            skipped: (p.skipped ?? []).map((s) => ({ path: s.path, method: s.method ?? '', at: s.at ?? '', reason: s.reason })),
          })),
      });
    },
    GetState: (call: ServerUnaryCall<{ collection: string }, object>, done: sendUnaryData<object>) => {
      const state = sources.state?.() ?? GatewayState.empty();
      const { collection } = call.request;
      const names = ['apis', ...COLLECTIONS] as const;
      if (collection && !(names as readonly string[]).includes(collection)) {
        return done({ code: GrpcStatus.INVALID_ARGUMENT, details: `no collection "${collection}" (known: ${names.join(', ')})` });
      }
      const counts = Object.fromEntries([['apis', state.apis.size], ...COLLECTIONS.map((c) => [c, state.collection(c).size])]);
      const entries =
        collection === 'apis' ? [...state.apis.values()] : collection ? [...state.collection(collection as CollectionName).values()] : [];
      done(null, { revision: state.revision, counts, entries: entries.map((e) => jsonToValue(stateEntryForOps(collection as CollectionName | 'apis', e))) });
    },
    GetConfigDump: (call: ServerUnaryCall<DumpRequest, object>, done: sendUnaryData<object>) => {
      const { group, type_urls } = call.request;
      if (!cache.hasGroup(group)) return done({ code: GrpcStatus.NOT_FOUND, details: `no node group "${group}"` });
      const types = cache.typeSets(group).filter((t) => type_urls.length === 0 || type_urls.includes(t.typeUrl));
      try {
        done(null, {
          group,
          types: types.map((t) => ({
            type_url: t.typeUrl,
            version: t.version,
            resources: [...t.entries.values()]
              .sort((a, b) => (a.name < b.name ? -1 : 1))
              .map((e) => ({ name: e.name, version: e.version, resource: jsonToValue(resourceForOps({ type_url: t.typeUrl, value: e.value })) })),
          })),
        });
      } catch (err) {
        done({ code: GrpcStatus.INTERNAL, details: `cannot decode resources of "${group}": ${(err as Error).message}` });
      }
    },
    Explain: (call: ServerUnaryCall<ExplainRequest, object>, done: sendUnaryData<object>) => {
      const { group, method, url, headers, route_config } = call.request;
      try {
        const { listener, host, explanation } = explainer.explain({ group, method, url, headers, routeConfig: route_config || undefined });
        // Through JSON first: a field the explanation leaves undefined is absent, not null.
        done(null, { listener, host, explanation: jsonToValue(JSON.parse(JSON.stringify(explanation))) });
      } catch (err) {
        if (!(err instanceof ExplainError)) return done({ code: GrpcStatus.INTERNAL, details: `cannot explain on "${group}": ${(err as Error).message}` });
        done({ code: err.kind === 'invalid' ? GrpcStatus.INVALID_ARGUMENT : GrpcStatus.NOT_FOUND, details: err.message });
      }
    },
  });
}

function groupsOf(cache: SnapshotCache, only: string): string[] {
  return only ? (cache.hasGroup(only) ? [only] : []) : cache.groups();
}

function snapshot(cache: SnapshotCache, group: string): object {
  const types = cache.typeSets(group);
  const updated = types.reduce<Date | undefined>((d, t) => (!d || t.updatedAt > d ? t.updatedAt : d), undefined);
  return {
    group,
    types: types.map((t) => ({ type_url: t.typeUrl, version: t.version, resource_count: t.entries.size })),
    updated_at: updated && timestamp(updated),
  };
}

function nodeStream(s: XdsStream): object {
  return {
    node_id: s.node?.id ?? '',
    cluster: s.node?.cluster ?? '',
    user_agent: s.node?.userAgent ?? '',
    group: s.group,
    stream_id: s.id,
    protocol: s.protocol,
    peer: s.peer,
    connected_at: timestamp(s.connectedAt),
    types: [...s.types.values()].map(typeStatus),
  };
}

function typeStatus(t: TypeStatus): object {
  return {
    type_url: t.typeUrl,
    wildcard: t.wildcard,
    subscribed: t.names.size,
    last_sent_version: t.lastSentVersion,
    last_sent_nonce: t.lastSentNonce,
    last_sent_at: t.lastSentAt && timestamp(t.lastSentAt),
    last_acked_version: t.lastAckedVersion,
    last_acked_at: t.lastAckedAt && timestamp(t.lastAckedAt),
    last_nack: t.lastNack && { version: t.lastNack.version, nonce: t.lastNack.nonce, error: t.lastNack.error, at: timestamp(t.lastNack.at) },
    responses_sent: t.responsesSent,
  };
}

function timestamp(d: Date): object {
  const ms = d.getTime();
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}
