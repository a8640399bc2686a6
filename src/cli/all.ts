import { fork } from 'child_process';
import * as path from 'path';
import type { Logger } from 'winston';
import type { Config } from '../config/config';
import { servingSummary, startAdapter } from './adapter';

/**
 * `apim-connect all`: the adapter in this process, the enforcer in a child process, talking over
 * xDS on loopback as in a real deployment, so nothing the adapter does (translating, decoding a
 * big request, parsing YAML) delays a Check. A child process rather than a worker thread: a
 * worker has its own event loop but shares the process, so the adapter running out of memory
 * would take the enforcer with it, and a worker's log lines pass through this event loop. The
 * child has its own heap, writes its own logs, and stops when this process goes (its IPC channel
 * closes). Either part ending ends both.
 */

/** Parent → enforcer process. */
export type ToEnforcer = { kind: 'start'; config: Config } | { kind: 'stop' };
/** Enforcer process → parent. */
export type FromEnforcer = { kind: 'listening'; port: number };

/** How long the enforcer gets to stop before it is killed. */
const STOP_GRACE_MS = 10_000;

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Runs both parts until `stopRequested` resolves or one part ends; the process exit code. */
export async function runAll(config: Config, log: Logger, stopRequested: Promise<void>): Promise<number> {
  const adapter = await startAdapter(config, log);
  for (const line of servingSummary(adapter, config)) log.info(line);

  const child = fork(path.join(__dirname, 'enforcer-process.js'), [], {
    // A debugger flag would make the child fight this process for the inspector port.
    execArgv: process.execArgv.filter((a) => !a.startsWith('--inspect')),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let listening = false;
  child.on('message', (m: FromEnforcer) => {
    if (m.kind === 'listening') listening = true;
  });
  child.on('error', (err) => log.error('enforcer process: IPC failed', { error: err.message }));
  const send = (m: ToEnforcer): void => {
    if (child.connected) child.send(m);
  };
  send({
    kind: 'start',
    config: {
      ...config,
      enforcer: {
        ...config.enforcer,
        adapterAddress: loopbackAddress(config.adapter.host, adapter.port),
        // It must accept whatever this adapter may send.
        maxXdsMessageSize: Math.max(config.enforcer.maxXdsMessageSize, config.adapter.maxMessageSize),
      },
    },
  });
  log.info('enforcer process started', { pid: child.pid });

  const outcome = await Promise.race([stopRequested.then(() => undefined), exited]);
  let code = 0;
  if (!outcome) {
    log.info('shutting down');
    send({ kind: 'stop' });
    const kill = setTimeout(() => {
      log.warn('the enforcer process did not stop in time; killing it');
      child.kill('SIGKILL');
    }, STOP_GRACE_MS);
    await exited;
    clearTimeout(kill);
  } else {
    // A config error the enforcer found keeps its exit code (2); anything else is a failure.
    code = outcome.code ? outcome.code : 1;
    const how = outcome.signal ? `was killed (${outcome.signal})` : `exited with code ${outcome.code}`;
    log.error(`the enforcer process ${how} ${listening ? 'while serving' : 'before it was listening'}; stopping the adapter`);
  }
  await adapter.stop();
  return code;
}

/** Where a local client reaches a server bound to `host`: loopback for a wildcard address. */
export function loopbackAddress(host: string, port: number): string {
  if (host === '0.0.0.0' || host === '') return `127.0.0.1:${port}`;
  if (host === '::') return `[::1]:${port}`;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
