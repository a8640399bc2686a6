import * as grpc from '@grpc/grpc-js';
import { parseConfig } from '../../src/config/config';
import { createLogger } from '../../src/config/log';
import { startAdapter, type Adapter } from '../../src/cli/adapter';
import { startEnforcer, type Enforcer } from '../../src/cli/enforcer';
import { serviceDefinition } from '../../src/envoy/grpcService';

/** An adapter serving a folder of API projects, a real enforcer fed by it over xDS, and a plain ext_authz client. */
export interface Served {
  adapter: Adapter;
  enforcer: Enforcer;
  client: grpc.Client & { Check: Function };
  stop(): Promise<void>;
}

/** Starts both on free loopback ports and waits until the enforcer's view is complete. */
export async function serveFolder(apisDirectory: string): Promise<Served> {
  const config = parseConfig(
    `[adapter]\nhost = "127.0.0.1"\nxdsPort = 0\nhttpPort = 0\ndebounceMs = 0\napisDirectory = ${JSON.stringify(apisDirectory)}\n[enforcer]\nhost = "127.0.0.1"\nport = 0\nhttpPort = 0\n`,
    'test.toml',
  );
  const log = createLogger('error', 'test');
  const adapter = await startAdapter(config, log);
  const enforcer = await startEnforcer({ ...config, enforcer: { ...config.enforcer, adapterAddress: `127.0.0.1:${adapter.port}` } }, log);
  await enforcer.view.whenReady();
  const Ctor = grpc.makeGenericClientConstructor(serviceDefinition('envoy.service.auth.v3.Authorization'), 'Authorization');
  const client = new Ctor(`127.0.0.1:${enforcer.port}`, grpc.credentials.createInsecure()) as unknown as Served['client'];
  return {
    adapter,
    enforcer,
    client,
    stop: async () => {
      client.close();
      await enforcer.stop();
      await adapter.stop();
    },
  };
}
