import { type ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
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

  private constructor(
    readonly port: number,
    private readonly extraArgs: string[] = [],
  ) {}

  static async create(port?: number, extraArgs: string[] = []): Promise<TestRedis> {
    try {
      await run('redis-server', ['--version'], { timeout: 10_000 });
    } catch (err) {
      throw new Error(`redis-server is required for this test and was not found (${(err as Error).message}). Install it: apt-get install -y redis-server — these tests never skip.`);
    }
    const r = new TestRedis(port ?? (await freePort()), extraArgs);
    await r.start();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(timeoutMs = 10_000): Promise<void> {
    if (this.child) return;
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...this.extraArgs], { stdio: 'ignore' });
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

/**
 * A private Redis Cluster of `size` masters (no replicas), its slots spread by redis-cli. Each
 * node's cluster bus listens on its port + 10000, so ports are picked with that one free too.
 */
export class TestRedisCluster {
  private constructor(
    readonly nodes: TestRedis[],
    private readonly dir: string,
  ) {}

  static async create(size = 3, timeoutMs = 20_000): Promise<TestRedisCluster> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'redis-cluster-'));
    const nodes: TestRedis[] = [];
    try {
      for (let i = 0; i < size; i++) {
        const port = await clusterPort();
        nodes.push(await TestRedis.create(port, ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--dir', dir, '--cluster-node-timeout', '2000']));
      }
      await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: timeoutMs });
      const until = Date.now() + timeoutMs;
      for (const n of nodes) {
        while (!(await run('redis-cli', ['-p', String(n.port), 'cluster', 'info'])).stdout.includes('cluster_state:ok')) {
          if (Date.now() > until) throw new Error(`the Redis Cluster on ports ${nodes.map((x) => x.port).join(', ')} never became ready`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      return new TestRedisCluster(nodes, dir);
    } catch (err) {
      for (const n of nodes) await n.stop();
      fs.rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Any one node: a cluster client finds the rest. */
  get url(): string {
    return this.nodes[0]!.url;
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) await n.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

async function clusterPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port + 10_000 > 65_535) continue;
    const bus = net.createServer();
    const free = await new Promise<boolean>((resolve) => {
      bus.once('error', () => resolve(false));
      bus.listen(port + 10_000, '127.0.0.1', () => bus.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

/** True when a PING on the port gets PONG (or, from a server with a password, NOAUTH). */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.setTimeout(500);
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d) => {
      s.destroy();
      resolve(d.toString().startsWith('+PONG') || d.toString().startsWith('-NOAUTH'));
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}
