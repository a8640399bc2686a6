import { type ChildProcess, execFile, spawn } from 'node:child_process';
import * as net from 'node:net';
import { promisify } from 'node:util';
import { freePort } from './ports';

/**
 * A private redis-server for a test (apt-get install -y redis-server): its own free port, no
 * persistence. `pause()`/`resume()` make it hang (SIGSTOP/SIGCONT: a slow Redis), `stop()` and
 * `start()` are an outage and a restart on the same port. Tests that need it fail, never skip,
 * when the binary is missing.
 */
const run = promisify(execFile);

export class TestRedis {
  private child: ChildProcess | undefined;
  private readonly killOnExit = (): void => {
    this.child?.kill('SIGKILL');
  };

  private constructor(readonly port: number) {}

  static async create(): Promise<TestRedis> {
    try {
      await run('redis-server', ['--version'], { timeout: 10_000 });
    } catch (err) {
      throw new Error(`redis-server is required for this test and was not found (${(err as Error).message}). Install it: apt-get install -y redis-server — these tests never skip.`);
    }
    const r = new TestRedis(await freePort());
    await r.start();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(timeoutMs = 10_000): Promise<void> {
    if (this.child) return;
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    this.child = child;
    process.once('exit', this.killOnExit);
    const until = Date.now() + timeoutMs;
    while (!(await answers(this.port))) {
      if (child.exitCode !== null || Date.now() > until) throw new Error(`redis-server on port ${this.port} did not start`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    process.removeListener('exit', this.killOnExit);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited;
  }
}

/** True when a PING on the port gets PONG. */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.setTimeout(500);
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d) => {
      s.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}
