import { type ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports';

/**
 * A private etcd for a test file: its own free ports and a temporary data directory, started from
 * the `etcd` binary (apt-get install -y etcd-server). Tests that need it fail — never skip — when
 * the binary is missing. `stop()` then `start()` again is an outage and a restart with the same
 * data and ports; `destroy()` stops it and removes the data.
 */
const run = promisify(execFile);
const ETCD = process.env.ETCD_BIN ?? 'etcd';

export async function requireEtcd(): Promise<string> {
  try {
    const { stdout } = await run(ETCD, ['--version'], { timeout: 10_000 });
    return stdout.split('\n')[0];
  } catch (err) {
    throw new Error(
      `the etcd binary is required for this test and was not found or does not run (${(err as Error).message}). ` +
        'Install it: apt-get install -y etcd-server — these tests never skip.',
    );
  }
}

function healthy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/health', timeout: 1000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(res.statusCode === 200 && /"health"\s*:\s*"true"/.test(body)));
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}

export class TestEtcd {
  private child: ChildProcess | undefined;
  private output = '';
  private readonly killOnExit = (): void => {
    this.child?.kill('SIGKILL');
  };

  private constructor(
    readonly dataDir: string,
    readonly clientPort: number,
    readonly peerPort: number,
  ) {}

  /** Starts a fresh etcd (retrying on other ports if the chosen ones were taken meanwhile). */
  static async create(): Promise<TestEtcd> {
    await requireEtcd();
    let last: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'apim-connect-etcd-'));
      const etcd = new TestEtcd(dir, await freePort(), await freePort());
      try {
        await etcd.start();
        return etcd;
      } catch (err) {
        last = err;
        await etcd.destroy();
      }
    }
    throw last;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.clientPort}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Starts etcd on this instance's ports and data directory; resolves once /health says true. */
  async start(timeoutMs = 15_000): Promise<void> {
    if (this.child) return;
    const client = `http://127.0.0.1:${this.clientPort}`;
    const peer = `http://127.0.0.1:${this.peerPort}`;
    this.output = '';
    const child = spawn(
      ETCD,
      [
        '--name', 'n1',
        '--data-dir', this.dataDir,
        '--listen-client-urls', client,
        '--advertise-client-urls', client,
        '--listen-peer-urls', peer,
        '--initial-advertise-peer-urls', peer,
        '--initial-cluster', `n1=${peer}`,
        '--logger', 'zap',
        '--log-level', 'warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const keep = (b: Buffer): void => {
      this.output = (this.output + b.toString()).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let exited: string | undefined;
    child.once('exit', (code, signal) => {
      exited = `etcd exited (code ${code}, signal ${signal})`;
      if (this.child === child) this.child = undefined;
    });
    this.child = child;
    process.once('exit', this.killOnExit);
    const until = Date.now() + timeoutMs;
    while (!(await healthy(this.clientPort))) {
      if (exited || Date.now() > until) {
        await this.stop();
        throw new Error(`${exited ?? `etcd not healthy within ${timeoutMs} ms`} on ${client}:\n${this.output}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGTERM (SIGKILL after 5 s); resolves once the process is gone. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    process.removeListener('exit', this.killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(force);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }

  async destroy(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}
