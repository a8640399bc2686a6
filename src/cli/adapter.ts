import * as grpc from '@grpc/grpc-js';
import type { Server as HttpServer } from 'http';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from 'winston';
import type { Config } from '../config/config';
import { checkListen } from '../config/listen';
import { ADMIN_SERVICE, addAdminService } from '../admin/adminService';
import { startHttpHealth } from '../admin/httpHealth';
import { addReflection } from '../admin/reflection';
import { HEALTH_SERVICE } from '../envoy/grpcService';
import type { Api } from '../model/api';
import type { Problem } from '../model/problems';
import { ApimSource } from '../sources/apim/source';
import { LocalFolderSource } from '../sources/local/folder';
import { localTiers } from '../sources/local/tiers';
import { PREPARE_MODULE } from '../translate/prepare';
import { SnapshotCache } from '../xds/cache';
import { ADS_SERVICE, XdsServer, xdsChannelOptions } from '../xds/server';
import { enforcerTypesOnlyTo } from './identities';
import { Pipeline } from './pipeline';
import { serverCredentials, tlsMode } from './tls';

export interface Adapter {
  cache: SnapshotCache;
  xds: XdsServer;
  pipeline: Pipeline;
  /** The folder of API projects, when the adapter serves one. */
  source?: LocalFolderSource;
  /** API Manager, when it is the control plane. */
  apim?: ApimSource;
  /** The bound xDS port (differs from the config when that says 0). */
  port: number;
  http: HttpServer;
  stop(): Promise<void>;
}


/**
 * The adapter: snapshot cache, ADS, admin service, gRPC health and reflection on one port, and
 * HTTP health beside it. Sources (API folder, APIM) feed the pipeline that fills the cache.
 */
export async function startAdapter(config: Config, log: Logger): Promise<Adapter> {
  const { adapter } = config;
  const exposed = checkListen('adapter.host', adapter.host, config.tls);
  if (exposed) log.warn(exposed);
  const credentials = serverCredentials(config.tls, log.child({ component: 'tls' }));
  const cache = new SnapshotCache();
  let source: LocalFolderSource | undefined;
  const problems = (): Problem[] => [
    ...(source?.errors() ?? []).map((e) => ({ kind: 'project' as const, source: e.where, reasons: [e.reason], since: new Date() })),
    ...pipeline.problems(),
  ];
  const xds = new XdsServer(cache, {
    debounceMs: adapter.debounceMs,
    maxDelayMs: adapter.maxDelayMs,
    groupFrom: adapter.nodeGroupFrom,
    log: log.child({ component: 'xds' }),
    // Only mutual TLS proves who a client is; without it every client gets every type, as before.
    authorize: config.tls.caFile ? enforcerTypesOnlyTo(config.tls.enforcerIdentities) : undefined,
  });
  const pipeline = new Pipeline(cache, config, log.child({ component: 'translate' }), (...args) => xds.whenAnswered(...args));
  const server = new grpc.Server(xdsChannelOptions({ sendBytes: adapter.maxMessageSize, receiveBytes: adapter.maxReceiveMessageSize }));
  xds.addTo(server);
  addAdminService(server, xds, { problems, state: () => pipeline.current });
  const health = new HealthImplementation({ '': 'SERVING', [ADS_SERVICE]: 'SERVING', [ADMIN_SERVICE]: 'SERVING' });
  health.addToServer(server);
  addReflection(server, [ADS_SERVICE, ADMIN_SERVICE, HEALTH_SERVICE]);

  // Routers may connect before the first load: they get listeners and an empty route table.
  // Published before anything listens: the first encoding of each type is slow (protobufjs
  // builds its code then), and /health must not wait for it once it answers.
  pipeline.publish();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${adapter.host}:${adapter.xdsPort}`, credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  let ready = false;
  const http = await startHttpHealth(adapter.host, adapter.httpPort, () => ready);
  log.info('adapter listening', { xds: `${adapter.host}:${port}`, http: `${adapter.host}:${adapter.httpPort}`, tls: tlsMode(config.tls) });
  let apim: ApimSource | undefined;
  // The parser workers translate what they parse too: the event loop only adopts the result.
  const prepare = { module: PREPARE_MODULE, config, adopt: (api: Api, prepared: unknown) => pipeline.adopt(api, prepared) };
  try {
    if (config.controlPlane.enabled) {
      apim = new ApimSource(config, log.child({ component: 'sources.apim' }), (events) => pipeline.apply(events), () => pipeline.current, { prepare });
      await apim.start();
    } else if (adapter.apisDirectory) {
      source = LocalFolderSource.fromConfig(config, log.child({ component: 'sources.local' }), prepare);
      // Without APIM the tiers the projects name come from config.toml (or APIM's defaults).
      pipeline.apply([{ kind: 'Replaced', collection: 'policies', values: localTiers(config) }, ...(await source.scan()).events]);
      source.watch((events) => pipeline.apply(events));
    }
  } catch (err) {
    await apim?.close();
    xds.close();
    http.close();
    server.forceShutdown();
    throw err;
  }
  ready = true;

  return {
    cache,
    xds,
    port,
    http,
    pipeline,
    source,
    apim,
    stop: async () => {
      await source?.close();
      await apim?.close();
      xds.close();
      http.close();
      // Long-lived admin watches would hold a graceful shutdown open forever.
      const force = setTimeout(() => server.forceShutdown(), 2000);
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      clearTimeout(force);
    },
  };
}

/** What the adapter serves and how to put a router in front of it, for the startup log. */
export function servingSummary(adapter: Adapter, config: Config): string[] {
  const state = adapter.pipeline.current;
  const scheme = config.router.listenerPort > 0 ? 'http' : 'https';
  const port = config.router.listenerPort > 0 ? config.router.listenerPort : config.router.securedListenerPort;
  const lines = adapter.cache.groups().map((label) => {
    const apis = state.apisFor(label).map((a) => `${a.name} ${a.version} at ${scheme}://${a.vhost}:${port}${a.basePath}`);
    return `label ${label}: ${apis.length} API${apis.length === 1 ? '' : 's'}${apis.length ? ` (${apis.join(', ')})` : ''}`;
  });
  const problems = adapter.pipeline.problems().length + (adapter.source?.errors().length ?? 0);
  if (problems) lines.push(`${problems} problem(s) keep something from being served: apim-connect ctl problems`);
  lines.push(
    `point a router at it: envoy -c envoy/envoy-local${config.tls.certFile ? '-tls' : ''}.yaml (Delta ADS at 127.0.0.1:${adapter.port}; node.cluster names the label)`,
    'see what it serves: apim-connect ctl snapshots | ctl nodes | ctl explain GET <url>',
  );
  return lines;
}
