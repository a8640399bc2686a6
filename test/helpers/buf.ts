import { spawn } from 'child_process';
import * as path from 'path';

/** buf (from devDependencies) as a real gRPC reflection client. */
const BUF = path.resolve(__dirname, '..', '..', 'node_modules', '.bin', 'buf');

export interface BufRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `buf curl --protocol grpc --http2-prior-knowledge ARGS`, optionally feeding stdin; killed after `ms`. */
export function bufCurl(args: string[], stdin?: string, ms = 15_000): Promise<BufRun> {
  const t0 = Date.now();
  return new Promise<BufRun>((resolve, reject) => {
    const child = spawn(BUF, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    });
    child.stdin.end(stdin);
  });
}

/** A call that must succeed: exit 0, nothing on stderr; returns stdout. */
export async function bufCurlOk(args: string[], stdin?: string): Promise<string> {
  const r = await bufCurl(args, stdin);
  expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: '' });
  return r.stdout;
}
