import { execFile, spawn } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/**
 * The real RE2 (libre2 through test/helpers/re2size.cc), to check src/envoy/re2.ts against.
 * The helper is compiled on first use and cached in the temp dir under the hash of its source.
 * A machine without g++ or libre2 fails the tests that use it (never skips them): CI installs both.
 */

const SOURCE = path.join(__dirname, 're2size.cc');
const INSTALL_HINT = 'install the compiler and RE2 with: apt-get install -y g++ libre2-dev';

let binary: Promise<string> | undefined;

/** The compiled helper's path (compiled at most once per source version and machine). */
function helperBinary(): Promise<string> {
  binary ??= (async () => {
    const source = await fs.promises.readFile(SOURCE);
    const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
    const bin = path.join(os.tmpdir(), `apim-connect-re2size-${hash}`);
    if (fs.existsSync(bin)) return bin;
    // Build beside it and rename, so parallel jest workers never run a half-written binary.
    const tmp = `${bin}.${process.pid}.tmp`;
    await new Promise<void>((resolve, reject) => {
      execFile('g++', ['-O1', '-std=c++17', '-o', tmp, SOURCE, '-lre2'], (err, _stdout, stderr) => {
        if (!err) return resolve();
        const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'g++ not found' : `g++ failed:\n${stderr}`;
        reject(new Error(`cannot build the RE2 test helper (${why})\n${INSTALL_HINT}`));
      });
    });
    await fs.promises.rename(tmp, bin);
    return bin;
  })();
  return binary;
}

/** Runs the helper with `lines` on stdin; returns the value of each output line (one per answer). */
async function runHelper(args: string[], lines: string[], expected: number): Promise<string[]> {
  for (const l of lines) if (l.includes('\n')) throw new Error(`RE2 helper input cannot contain a newline: ${JSON.stringify(l)}`);
  const bin = await helperBinary();
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (c) => resolve({ code: c, stdout: out, stderr: err }));
    child.stdin.end(lines.map((l) => `${l}\n`).join(''));
  });
  const answers = stdout.split('\n').slice(0, -1);
  if (code !== 0 || answers.length !== expected) throw new Error(`RE2 helper failed (exit ${code}): ${stderr}`);
  return answers;
}

/** Parses "kind\tvalue"; an "error" line throws RE2's message for `pattern`. */
function answer(line: string, kind: string, pattern: string): string {
  const [k, value] = line.split('\t', 2);
  if (k === 'error') throw new Error(`RE2 rejects ${JSON.stringify(pattern)}: ${value}`);
  if (k !== kind) throw new Error(`unexpected RE2 helper output: ${line}`);
  return value;
}

/** `RE2::ProgramSize()` of each pattern, compiled as Envoy compiles safe_regex. */
export async function realRe2ProgramSizes(patterns: string[]): Promise<number[]> {
  const lines = await runHelper([], patterns, patterns.length);
  return lines.map((l, i) => Number(answer(l, 'size', patterns[i])));
}

/** `RE2::FullMatch(text, pattern)` for each [pattern, text] pair. */
export async function realRe2FullMatches(pairs: Array<[pattern: string, text: string]>): Promise<boolean[]> {
  const lines = await runHelper(['--full-match'], pairs.flat(), pairs.length);
  return lines.map((l, i) => answer(l, 'match', pairs[i][0]) === '1');
}
