import * as fs from 'fs';
import { hostname } from 'os';
import type { Logger } from 'winston';
import type { Log } from '../xds/log';
import { ConfigError, type Config } from '../config/config';
import { checkListen } from '../config/listen';
import { startHttpHealth } from '../admin/httpHealth';
import { addReflection } from '../admin/reflection';
import { BackendJwtIssuer } from '../enforcer/backend-jwt';
import { IssuerRegistry, JwtValidator } from '../enforcer/jwt';
import { EtcdRevocationStore, etcdStoreOptions, RevocationSet } from '../enforcer/revocations';
import { LocalCounters, type Counters } from '../enforcer/counters';
import { RedisCounters } from '../enforcer/redis-counters';
import { startEnforcerServer } from '../enforcer/server';
import { Throttle } from '../enforcer/throttle';
import { EnforcerView } from '../enforcer/view';
import { ENFORCER_KEY_MANAGER, ENFORCER_REVOKED_TOKEN } from '../envoy/typeUrls';
import { channelCredentials, serverCredentials, tlsMode } from './tls';

export interface Enforcer {
  port: number;
  view: EnforcerView;
  stop(): Promise<void>;
}

/**
 * The enforcer process: its view of the adapter (Delta xDS), the token issuers (config.toml and
 * APIM's key managers), revoked tokens (from the adapter, and etcd when configured), and the
 * ext_authz server. It serves once its first complete view has arrived (health says so).
 */
export async function startEnforcer(config: Config, log: Logger): Promise<Enforcer> {
  const { enforcer } = config;
  const exposed = checkListen('enforcer.host', enforcer.host, config.tls);
  if (exposed) log.warn(exposed);
  // Files the config names are read first: a bad one stops startup before anything connects.
  const tlsLog = log.child({ component: 'enforcer.tls' });
  const credentials = { server: serverCredentials(config.tls, tlsLog), client: channelCredentials(config.tls, tlsLog) };
  const backendJwt = backendJwtIssuer(enforcer.jwtGenerator);
  const throttleLog = log.child({ component: 'enforcer.throttle' });
  const limitCounters = counters(enforcer.throttling, throttleLog);
  const registry = new IssuerRegistry({ log });
  registry.setConfigIssuers(
    enforcer.security.tokenService.map((ts, i) => ({
      name: ts.name,
      issuer: ts.issuer,
      certificate: ts.certificateFilePath ? readConfigFile(`enforcer.security.tokenService[${i}].certificateFilePath`, ts.certificateFilePath) : undefined,
      jwksUrl: ts.jwksURL || undefined,
      consumerKeyClaim: ts.consumerKeyClaim,
      validateSubscription: ts.validateSubscription,
    })),
  );
  const jwt = new JwtValidator(registry);
  const view = new EnforcerView({
    address: enforcer.adapterAddress,
    label: enforcer.label,
    nodeId: `enforcer-${hostname()}-${process.pid}`,
    credentials: credentials.client,
    log: log.child({ component: 'enforcer.xds' }),
  });
  const revoked = new RevocationSet();
  const storeOptions = etcdStoreOptions(enforcer.revocation);
  const store = storeOptions ? new EtcdRevocationStore(storeOptions, revoked, log.child({ component: 'enforcer.revocations' })) : undefined;
  if (store) await store.start();

  view.onChange((c) => {
    if (c.typeUrl === ENFORCER_KEY_MANAGER) registry.setKeyManagers(view.keyManagers());
    if (c.typeUrl === ENFORCER_REVOKED_TOKEN) {
      for (const name of c.updated) {
        const t = view.entry(ENFORCER_REVOKED_TOKEN, name) as { id: string; expires_at_ms: number; token_type: string } | undefined;
        if (!t) continue;
        const token = { id: t.id, expiresAt: Number(t.expires_at_ms), tokenType: t.token_type || undefined };
        if (revoked.add(token)) void store?.persist(token);
      }
    }
  });

  // Start counting in Redis when it is there; without it the failure policy applies until it is.
  await limitCounters.whenReady?.(2000);
  const throttle = new Throttle({
    blocking: () => view.blocking(),
    policy: (kind, organization, name) => view.policy(kind, organization, name),
    policyGeneration: () => view.policyGeneration,
    decisions: view.decisions,
    counters: limitCounters,
    log: throttleLog,
  });
  const server = await startEnforcerServer({
    host: enforcer.host,
    port: enforcer.port,
    credentials: credentials.server,
    view,
    jwt,
    revoked,
    backendJwt,
    throttle,
    // Generic tools (grpcurl, buf curl) find Check and health without schema files.
    register: (s, services) => addReflection(s, services),
    maxReceiveMessageBytes: enforcer.maxReceiveMessageSize,
    log: log.child({ component: 'enforcer' }),
  });
  const http = await startHttpHealth(enforcer.host, enforcer.httpPort, () => view.ready);
  log.info('enforcer listening', { grpc: `${enforcer.host}:${server.port}`, adapter: enforcer.adapterAddress, label: enforcer.label, tls: tlsMode(config.tls) });
  return {
    port: server.port,
    view,
    stop: async () => {
      http.close();
      await server.stop();
      view.close();
      await store?.close();
      await limitCounters.close?.();
      revoked.stop();
    },
  };
}

/** `[enforcer.throttling]` → the counters: local, or Redis with the local ones as its fallback. */
function counters(t: Config['enforcer']['throttling'], log: Log): Counters {
  const local = new LocalCounters();
  if (t.backend === 'local') return local;
  const { redis } = t;
  return new RedisCounters(
    {
      url: redis.url,
      cluster: redis.cluster,
      password: redis.password || undefined,
      tlsCa: redis.tlsCaFile ? readConfigFile('enforcer.throttling.redis.tlsCaFile', redis.tlsCaFile) : undefined,
      keyPrefix: redis.keyPrefix,
      timeoutMs: redis.timeoutMs,
      onFailure: redis.onFailure,
      log,
    },
    local,
  );
}

/** `[enforcer.jwtGenerator]` → the backend JWT issuer, or undefined when off. A missing or unusable key stops startup. */
function backendJwtIssuer(g: Config['enforcer']['jwtGenerator']): BackendJwtIssuer | undefined {
  if (!g.enabled) return undefined;
  if (!g.privateKeyPath) throw new ConfigError('enforcer.jwtGenerator.privateKeyPath: required when enforcer.jwtGenerator.enabled is true');
  try {
    return new BackendJwtIssuer({
      headerName: g.header,
      privateKeyPem: readConfigFile('enforcer.jwtGenerator.privateKeyPath', g.privateKeyPath),
      certificatePem: g.publicCertificatePath ? readConfigFile('enforcer.jwtGenerator.publicCertificatePath', g.publicCertificatePath) : undefined,
      ttlSeconds: g.tokenTTL,
      claimDialect: g.claimDialect,
    });
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`enforcer.jwtGenerator: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** A file a config key names; unreadable, it stops startup with the key named. */
function readConfigFile(key: string, file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`${key}: ${e instanceof Error ? e.message : String(e)}`);
  }
}
