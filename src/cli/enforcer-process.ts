import { createLogger } from '../config/log';
import type { FromEnforcer, ToEnforcer } from './all';
import { startEnforcer, type Enforcer } from './enforcer';
import { exitWhenFlushed } from './exit';
import { fatal } from './fatal';
import { hideGrpcServerNameWarning } from './warnings';

/**
 * The enforcer part of `apim-connect all`, forked by all.ts: it starts with the config the parent
 * sends and stops when told, or when the parent is gone (the IPC channel closed), so it never
 * outlives it.
 */

hideGrpcServerNameWarning();

let enforcer: Promise<Enforcer> | undefined;
let stopping = false;

async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  // A start that failed has already reported itself.
  await enforcer?.then((e) => e.stop(), () => undefined);
  exitWhenFlushed(0);
}

function fail(err: Error): void {
  const { message, code } = fatal(err);
  process.stderr.write(message);
  exitWhenFlushed(code);
}

// Ctrl-C reaches the whole process group; the parent decides when this part stops.
process.on('SIGINT', () => undefined);
process.on('disconnect', () => void stop());
process.on('message', (m: ToEnforcer) => {
  if (m.kind === 'stop') void stop();
  else if (m.kind === 'start' && !enforcer && !stopping) {
    enforcer = startEnforcer(m.config, createLogger(m.config.log.level, 'enforcer'));
    enforcer.then((e) => process.send?.({ kind: 'listening', port: e.port } satisfies FromEnforcer), fail);
  }
});
