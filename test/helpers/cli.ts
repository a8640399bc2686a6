import { execFile, spawn, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';

/**
 * The real CLI as `npm start` runs it: compiled with the build's tsconfig (incrementally, into
 * .tmp/, so the tests never touch dist/), then run with node, its JSON log lines collected.
 */

const ROOT = path.join(__dirname, '..', '..');
export const BUILD = path.join(ROOT, '.tmp', 'cli-build');

let built: Promise<string> | undefined;

/** Compiles src/ once per test file; resolves to the path of cli/main.js. */
export function buildCli(): Promise<string> {
  built ??= promisify(execFile)(
    process.execPath,
    [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', BUILD, '--incremental', '--tsBuildInfoFile', `${BUILD}.tsbuildinfo`],
    { cwd: ROOT },
  ).then(() => path.join(BUILD, 'cli', 'main.js'));
  return built;
}

export type LogLine = Record<string, unknown> & { message: string };

/** A running node process whose stdout is JSON log lines. */
export class LoggingProcess {
  readonly lines: LogLine[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly proc: ChildProcess;
  private readonly waiters = new Set<() => void>();
  private readonly detached: boolean;

  /** `detached`: in a process group of its own, so a signal can go to the whole group as a terminal's Ctrl-C does. */
  constructor(args: string[], options: { detached?: boolean } = {}) {
    this.detached = !!options.detached;
    this.proc = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: this.detached });

    let partial = '';
    this.proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop()!;
      for (const p of parts) {
        try {
          this.lines.push(JSON.parse(p) as LogLine);
        } catch {
          this.lines.push({ message: p });
        }
      }
      for (const w of [...this.waiters]) w();
    });
    this.proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, signal) => resolve({ code, signal })));
    running.add(this);
    void this.exited.then(() => running.delete(this));
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** The first log line matching `test`, waiting up to `ms` for it. */
  waitForLog(test: (l: LogLine) => boolean, ms = 30_000): Promise<LogLine> {
    const found = this.lines.find(test);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no log line as expected within ${ms} ms; stderr: ${this.stderr}\nstdout: ${this.lines.map((l) => JSON.stringify(l)).join('\n')}`));
      }, ms);
      const check = (): void => {
        const l = this.lines.find(test);
        if (l) {
          done();
          resolve(l);
        }
      };
      this.waiters.add(check);
      void this.exited.then(() => {
        if (!this.waiters.has(check)) return;
        done();
        reject(new Error(`exited before the expected log line; stderr: ${this.stderr}`));
      });
    });
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    this.proc.kill(signal);
  }

  /** Sends `signal` to its whole process group (it must have been started detached). */
  killGroup(signal: NodeJS.Signals): void {
    process.kill(-this.pid, signal);
  }
}

const running = new Set<LoggingProcess>();

/** Kills whatever a test left running (a failed test must not leave a server behind). */
export async function killLeftovers(): Promise<void> {
  await Promise.all(
    [...running].map((p) => {
      p.kill('SIGKILL');
      return p.exited;
    }),
  );
}

/** Whether a process with this id exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A config file in a fresh temporary folder (relative paths in it are relative to the project). */
export function writeConfig(text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'apim-connect-cli-'));
  const file = path.join(dir, 'config.toml');
  fs.writeFileSync(file, text);
  return file;
}
