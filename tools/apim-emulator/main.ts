/**
 * CLI: start the APIM emulator, optionally run the demo walk-through.
 *
 *   node build/tools/apim-emulator/main.js [--port 9443] [--username admin] [--password admin]
 *        [--amqp amqp://guest:guest@127.0.0.1:5672 | --no-amqp] [--demo] [--label Default] [--vhost localhost]
 *        [--step-delay 3000] [--backend http://127.0.0.1:7001] [--exit]
 */
import { ApimEmulator } from './emulator';
import { runDemo } from './demo';
import { maskUrl } from './publisher';

interface Args {
  port: number;
  username: string;
  password: string;
  amqp: string | false;
  demo: boolean;
  label: string;
  vhost: string;
  stepDelay: number;
  backend: string;
  exit: boolean;
}

const USAGE = `usage: apim-emulator [--port N] [--username U] [--password P] [--amqp URL | --no-amqp]
                     [--demo] [--label Default] [--vhost localhost] [--step-delay MS] [--backend URL] [--exit]`;

function parseArgs(argv: string[]): Args {
  const a: Args = {
    port: 9443, username: 'admin', password: 'admin', amqp: 'amqp://guest:guest@127.0.0.1:5672', demo: false,
    label: 'Default', vhost: 'localhost', stepDelay: 3000, backend: 'http://127.0.0.1:7001', exit: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--port': a.port = Number(value()); break;
      case '--username': a.username = value(); break;
      case '--password': a.password = value(); break;
      case '--amqp': a.amqp = value(); break;
      case '--no-amqp': a.amqp = false; break;
      case '--demo': a.demo = true; break;
      case '--label': a.label = value(); break;
      case '--vhost': a.vhost = value(); break;
      case '--step-delay': a.stepDelay = Number(value()); break;
      case '--backend': a.backend = value(); break;
      case '--exit': a.exit = true; break;
      case '-h': case '--help': console.log(USAGE); process.exit(0); break;
      default: throw new Error(`unknown argument ${flag}\n${USAGE}`);
    }
  }
  if (!Number.isInteger(a.port) || a.port < 0 || a.port > 65535) throw new Error('--port must be 0..65535');
  if (!Number.isFinite(a.stepDelay) || a.stepDelay < 0) throw new Error('--step-delay must be >= 0');
  return a;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const emu = new ApimEmulator();
  await emu.start({
    port: args.port, username: args.username, password: args.password, amqpUrl: args.amqp,
    log: (line) => console.log(line),
  });
  console.log(`APIM emulator serving ${emu.url}internal/data/v1/ (Basic ${args.username}:***)`);
  console.log(args.amqp ? `Publishing events to ${maskUrl(args.amqp)} exchange amq.topic` : 'Events are not published (--no-amqp)');
  console.log(`apim-connect config:\n  [controlPlane]\n  enabled = true\n  serviceURL = "${emu.url}"\n  username = "${args.username}"` +
    `\n  password = "<password>"\n  environmentLabels = ["${args.label}"]` +
    (args.amqp ? `\n  [controlPlane.brokerConnectionParameters]\n  eventListeningEndpoints = ["${maskUrl(args.amqp)}"]` : ''));
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await emu.stop();
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  if (args.demo) {
    await runDemo(emu, { label: args.label, vhost: args.vhost, stepDelayMs: args.stepDelay, backend: args.backend, print: (l) => console.log(l) });
  }
  if (args.exit) await stop(0);
  else console.log('\nServing until Ctrl-C.');
}

main().catch((err: unknown) => {
  console.error(`apim-emulator: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
