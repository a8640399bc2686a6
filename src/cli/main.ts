#!/usr/bin/env node
import { parseArgs } from 'util';
import { loadConfig } from '../config/config';
import { createLogger } from '../config/log';
import { servingSummary, startAdapter } from './adapter';
import { runAll } from './all';
import { runCtl } from './ctl';
import { startEnforcer } from './enforcer';
import { certsOptions, runCerts } from './certs';
import { exitWhenFlushed } from './exit';
import { runExplain } from './explain';
import { fatal } from './fatal';
import { hideGrpcServerNameWarning } from './warnings';
import { channelCredentials, ctlTlsFiles } from './tls';

const USAGE = `usage: apim-connect <command> [--config FILE]

commands:
  adapter                 serve xDS, the admin API and health (port 18000)
  all                     the adapter, and the enforcer in a child process (what npm start runs)
  enforcer                the ext_authz enforcer (port 8081), fed by the adapter over xDS
  ctl snapshots [--watch] versions and resource counts per node group
  ctl nodes               connected xDS clients: sent, ACKed and NACKed versions per type
  ctl dump GROUP          one group's resources as JSON
  ctl problems            API projects that do not parse, APIs left out (quarantined), paths and
                          operations left out of APIs served without them (partial)
  ctl state [COLLECTION]  entries per collection (apis, applications, subscriptions, ...), or one's entries
  ctl explain METHOD URL  which route a label's router picks for a request: vhost, route, cluster,
                          rewritten path, what the enforcer is asked; "no route" and exit 1 if none
  ctl certs --out DIR     a CA and certificates for adapter, enforcer, routers and ctl (mutual TLS);
                          run again, it keeps the CA and renews the certificates

options:
  --config FILE           config.toml (default config/config.toml; defaults apply if it is absent)
  --address HOST:PORT     ctl: the adapter's admin address (default 127.0.0.1:<adapter.xdsPort>)
  --group NAME            ctl: only this node group
  --json                  ctl: JSON instead of a table
  --watch                 ctl snapshots: keep printing each change
  --label NAME            ctl explain: the gateway label (default: --group, else the first environment label)
  --route NAME            ctl explain: this RouteConfiguration instead of the one the URL's listener uses
  -H 'Name: value'        ctl explain: a request header (repeatable; Host overrides the URL's authority)
  --cert FILE --key FILE  ctl: the client certificate shown to the adapter (default: [tls] of the config)
  --ca FILE               ctl: the CA that signed the adapter's certificate (default: tls.caFile)
  --hosts NAME,...        ctl certs: more DNS names or IPs for the adapter's and enforcer's certificates
  --days N                ctl certs: validity of the certificates (default 365)
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      address: { type: 'string' },
      group: { type: 'string', default: '' },
      json: { type: 'boolean', default: false },
      watch: { type: 'boolean', default: false },
      label: { type: 'string' },
      route: { type: 'string' },
      header: { type: 'string', short: 'H', multiple: true },
      cert: { type: 'string' },
      key: { type: 'string' },
      ca: { type: 'string' },
      out: { type: 'string' },
      hosts: { type: 'string' },
      days: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return command || values.help ? 0 : 2;
  }
  const config = loadConfig(values.config ?? 'config/config.toml', process.env, values.config === undefined);

  switch (command) {
    case 'ctl': {
      const [sub, ...args] = rest;
      const print = (l: string): boolean => process.stdout.write(`${l}\n`);
      if (sub === 'certs') {
        await runCerts(certsOptions(values), print);
        return 0;
      }
      const address = values.address ?? `127.0.0.1:${config.adapter.xdsPort}`;
      const credentials = channelCredentials(ctlTlsFiles(values, config.tls));
      if (sub === 'explain') {
        const label = values.label ?? (values.group || config.controlPlane.environmentLabels[0] || 'Default');
        return runExplain(args, { address, label, json: values.json, route: values.route, headers: values.header, credentials }, print);
      }
      await runCtl(sub ?? '', args, { address, json: values.json, watch: values.watch, group: values.group, credentials }, print);
      return 0;
    }
    case 'all':
      return runAll(config, createLogger(config.log.level, command), untilSignal());
    case 'adapter': {
      const log = createLogger(config.log.level, command);
      const adapter = await startAdapter(config, log);
      for (const line of servingSummary(adapter, config)) log.info(line);
      await untilSignal();
      log.info('shutting down');
      await adapter.stop();
      return 0;
    }
    case 'enforcer': {
      const log = createLogger(config.log.level, command);
      const enforcer = await startEnforcer(config, log);
      await untilSignal();
      log.info('shutting down');
      await enforcer.stop();
      return 0;
    }
    default:
      process.stderr.write(`apim-connect: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
}

hideGrpcServerNameWarning();

main(process.argv.slice(2)).then(exitWhenFlushed, (err: Error) => {
  const { message, code } = fatal(err);
  process.stderr.write(message);
  exitWhenFlushed(code);
});
