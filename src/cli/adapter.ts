import * as grpc from '@grpc/grpc-js';
import type { Server as HttpServer } from 'http';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from 'winston';
import type { Config } from '../config/config';
import { ADMIN_SERVICE, addAdminService } from '../admin/adminService';
import { startHttpHealth } from '../admin/httpHealth';
import { addReflection } from '../admin/reflection';
import { SnapshotCache } from '../xds/cache';
import { ADS_SERVICE, XdsServer, xdsChannelOptions } from '../xds/server';

export interface Adapter {
  cache: SnapshotCache;
  xds: XdsServer;
  /** The bound xDS port (differs from the config when that says 0). */
  port: number;
  http: HttpServer;
  stop(): Promise<void>;
}

const HEALTH_SERVICE = 'grpc.health.v1.Health';

/**
 * The adapter: snapshot cache, ADS, admin service, gRPC health and reflection on one port, and
 * HTTP health beside it. Sources (API folder, APIM) feed the cache.
 */
export async function startAdapter(config: Config, log: Logger): Promise<Adapter> {
  const { adapter } = config;
  const cache = new SnapshotCache();
  for (const label of config.controlPlane.environmentLabels) cache.ensureGroup(label);
  const xds = new XdsServer(cache, {
    debounceMs: adapter.debounceMs,
    maxDelayMs: adapter.maxDelayMs,
    groupFrom: adapter.nodeGroupFrom,
    log: log.child({ component: 'xds' }),
  });
  const server = new grpc.Server(xdsChannelOptions(adapter.maxMessageSize));
  xds.addTo(server);
  addAdminService(server, xds);
  const health = new HealthImplementation({ '': 'SERVING', [ADS_SERVICE]: 'SERVING', [ADMIN_SERVICE]: 'SERVING' });
  health.addToServer(server);
  addReflection(server, [ADS_SERVICE, ADMIN_SERVICE, HEALTH_SERVICE]);

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${adapter.host}:${adapter.xdsPort}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const http = await startHttpHealth(adapter.host, adapter.httpPort, () => true);
  log.info('adapter listening', { xds: `${adapter.host}:${port}`, http: `${adapter.host}:${adapter.httpPort}`, labels: cache.groups() });

  return {
    cache,
    xds,
    port,
    http,
    stop: async () => {
      xds.close();
      http.close();
      // Long-lived admin watches would hold a graceful shutdown open forever.
      const force = setTimeout(() => server.forceShutdown(), 2000);
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      clearTimeout(force);
    },
  };
}
