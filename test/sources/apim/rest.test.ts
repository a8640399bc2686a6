import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import type { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import * as winston from 'winston';
import { zipSync } from 'fflate';
import {
  ApimAbortedError,
  ApimAuthError,
  ApimError,
  ApimNotFoundError,
  ApimRequestError,
  ApimRestClient,
  ApimRestOptions,
  ApimRestSettings,
  ApimUnavailableError,
  gatewayLabelParam,
} from '../../../src/sources/apim/rest';

/** A fake APIM: records requests, answers with the handler of the test. */
interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}
type Handler = (req: Seen, res: http.ServerResponse, n: number) => void;

const silent = winston.createLogger({ silent: true });
const PASSWORD = 's3cret-pw';

let server: http.Server;
let base: string;
let handler: Handler;
let seen: Seen[];
const hanging = new Set<http.ServerResponse>();

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s: Seen = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(s);
      handler(s, res, seen.length);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

let clients: ApimRestClient[] = [];
beforeEach(() => {
  seen = [];
  handler = (_req, res) => json(res, 200, { count: 0, list: [] });
});
afterEach(() => {
  for (const c of clients) c.close();
  clients = [];
  for (const r of hanging) r.destroy();
  hanging.clear();
});

function client(settings: Partial<ApimRestSettings> = {}, options: ApimRestOptions = {}): ApimRestClient {
  const c = new ApimRestClient(
    { serviceURL: base, username: 'admin', password: PASSWORD, retryInterval: 5, skipSSLVerification: false, requestTimeout: 30, ...settings },
    { retryIntervalMs: 10, ackRetryDelayMs: 10, logger: silent, ...options },
  );
  clients.push(c);
  return c;
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

const NOT_FOUND = { code: 900910, message: 'No Api artifacts found for given criteria', description: 'No Api artifacts found for given criteria', moreInfo: '', error: [] };

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('requests', () => {
  test('Basic auth, internal/data/v1 under a serviceURL without trailing slash, no Accept or Content-Type on GET', async () => {
    handler = (_r, res) => json(res, 200, { count: 1, list: [{ uuid: 'a' }] });
    const body = await client().applications();
    expect(body).toEqual({ count: 1, list: [{ uuid: 'a' }] });
    expect(seen).toHaveLength(1);
    expect(seen[0].method).toBe('GET');
    expect(seen[0].url).toBe('/internal/data/v1/applications');
    expect(seen[0].headers.authorization).toBe(`Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}`);
    expect(seen[0].headers.accept).toBeUndefined();
    expect(seen[0].headers['content-type']).toBeUndefined();
  });

  test('a serviceURL with a path and a trailing slash', async () => {
    await client({ serviceURL: `${base}/apim/` }).subscriptions();
    expect(seen[0].url).toBe('/apim/internal/data/v1/subscriptions');
  });

  test('convenience methods name the endpoints APIM serves', async () => {
    const c = client();
    await c.subscriptions();
    await c.applications();
    await c.keyMappings();
    await c.applicationPolicies();
    await c.subscriptionPolicies();
    await c.apiPolicies();
    await c.keyManagers();
    await c.revokedTokens();
    await c.keyTemplates();
    await c.blockingConditions();
    expect(seen.map((s) => s.url.replace('/internal/data/v1/', ''))).toEqual([
      'subscriptions',
      'applications',
      'application-key-mappings',
      'application-policies',
      'subscription-policies',
      'api-policies',
      'keymanagers',
      'revokedjwt',
      'keyTemplates',
      'block',
    ]);
  });

  test('apis: a plain label, context and version, keys sorted and form-encoded', async () => {
    const c = client();
    await c.apis('Default');
    await c.apis('Default', { context: '/pizzashack', version: '1.0.0' });
    await c.apis('My Label');
    expect(seen.map((s) => s.url)).toEqual([
      '/internal/data/v1/apis?gatewayLabel=Default',
      '/internal/data/v1/apis?context=%2Fpizzashack&gatewayLabel=Default&version=1.0.0',
      '/internal/data/v1/apis?gatewayLabel=My+Label',
    ]);
  });

  test('a bare array (keymanagers) and an empty body', async () => {
    handler = (_r, res, n) => (n === 1 ? json(res, 200, [{ name: 'Resident Key Manager' }]) : res.writeHead(204).end());
    const c = client();
    expect(await c.keyManagers()).toEqual([{ name: 'Resident Key Manager' }]);
    expect(await c.revokedTokens()).toBeUndefined();
  });

  test('a 200 that is not JSON is a request error, not retried', async () => {
    handler = (_r, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html>maintenance</html>');
    const err = await rejection(client().applications());
    expect(err).toBeInstanceOf(ApimRequestError);
    expect(err.message).toMatch(/applications: HTTP 200 but the body is not JSON/);
    expect(seen).toHaveLength(1);
  });
});

describe('retries and errors', () => {
  test('5xx then 200: retried after retryInterval', async () => {
    handler = (_r, res, n) => (n < 3 ? json(res, n === 1 ? 500 : 503, { code: 500, message: 'boom' }) : json(res, 200, { count: 0, list: [] }));
    const retries: number[] = [];
    const started = Date.now();
    const body = await client({}, { retryIntervalMs: 50, onRetry: (_e, attempt) => retries.push(attempt) }).subscriptions();
    expect(body).toEqual({ count: 0, list: [] });
    expect(seen).toHaveLength(3);
    expect(retries).toEqual([1, 2]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
  });

  test('401 → ApimAuthError at once, naming endpoint, status and the config keys, never the password', async () => {
    handler = (_r, res) => json(res, 401, { code: 900901, message: 'Invalid Credentials', description: 'Invalid Credentials' });
    const started = Date.now();
    const err = await rejection(client({}, { retryIntervalMs: 10_000 }).subscriptions());
    expect(Date.now() - started).toBeLessThan(1000);
    expect(err).toBeInstanceOf(ApimAuthError);
    expect(err).toBeInstanceOf(ApimError);
    expect((err as ApimError).status).toBe(401);
    expect((err as ApimError).endpoint).toBe('subscriptions');
    expect(err.message).toContain('internal/data/v1/subscriptions');
    expect(err.message).toContain('HTTP 401');
    expect(err.message).toContain('Invalid Credentials');
    expect(err.message).toContain('controlPlane.username/password');
    expect(err.message).not.toContain(PASSWORD);
    expect(err.message).not.toContain(Buffer.from(`admin:${PASSWORD}`).toString('base64'));
    expect(seen).toHaveLength(1);
  });

  test('403 is an auth error too; a password in serviceURL is masked', async () => {
    handler = (_r, res) => res.writeHead(403).end();
    const err = await rejection(client({ serviceURL: base.replace('http://', `http://admin:${PASSWORD}@`) }).keyManagers());
    expect(err).toBeInstanceOf(ApimAuthError);
    expect(err.message).toContain('HTTP 403');
    expect(err.message).not.toContain(PASSWORD);
  });

  test('404 → ApimNotFoundError, 400 → ApimRequestError, neither retried', async () => {
    handler = (_r, res, n) => (n === 1 ? json(res, 404, { code: 404, message: 'Not Found' }) : json(res, 400, { code: 400, message: 'Bad Request', description: 'bad label' }));
    const c = client({}, { retryIntervalMs: 10_000 });
    const notFound = await rejection(c.subscriptionPolicies());
    expect(notFound).toBeInstanceOf(ApimNotFoundError);
    expect(notFound.message).toMatch(/subscription-policies: HTTP 404/);
    const bad = await rejection(c.apis('x'));
    expect(bad).toBeInstanceOf(ApimRequestError);
    expect(bad.message).toBe('APIM GET internal/data/v1/apis?gatewayLabel=x: HTTP 400 (400: bad label)');
    expect(seen).toHaveLength(2);
  });

  test('a redirect is not followed (it would carry the credentials): a request error naming serviceURL', async () => {
    handler = (_r, res) => res.writeHead(302, { Location: 'https://elsewhere.example/' }).end();
    const err = await rejection(client().applications());
    expect(err).toBeInstanceOf(ApimRequestError);
    expect(err.message).toMatch(/HTTP 302 redirect to https:\/\/elsewhere.example\/: fix controlPlane.serviceURL/);
  });

  test('maxAttempts bounds the retries: ApimUnavailableError with the last status', async () => {
    handler = (_r, res) => json(res, 502, { message: 'bad gateway' });
    const err = await rejection(client({}, { maxAttempts: 3 }).applications());
    expect(err).toBeInstanceOf(ApimUnavailableError);
    expect((err as ApimError).status).toBe(502);
    expect(err.message).toMatch(/applications: HTTP 502 \(bad gateway\) \(gave up after 3 attempts\)/);
    expect(seen).toHaveLength(3);
  });

  test('connection refused is retried, and named', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const retries: string[] = [];
    const err = await rejection(client({ serviceURL: `http://127.0.0.1:${port}/` }, { maxAttempts: 2, onRetry: (e) => retries.push(e.message) }).applications());
    expect(err).toBeInstanceOf(ApimUnavailableError);
    expect(err.message).toMatch(/applications: .*ECONNREFUSED/);
    expect(retries).toHaveLength(1);
  });

  test('a request that takes longer than requestTimeout is abandoned and retried', async () => {
    handler = (_r, res, n) => (n === 1 ? hanging.add(res) : json(res, 200, ['ok']));
    const started = Date.now();
    const retries: string[] = [];
    const body = await client({}, { requestTimeoutMs: 150, onRetry: (e) => retries.push(e.message) }).keyTemplates();
    expect(body).toEqual(['ok']);
    expect(retries).toEqual(['APIM GET internal/data/v1/keyTemplates: timed out after 150 ms']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  test('the timeout covers a body that trickles', async () => {
    handler = (_r, res) => {
      hanging.add(res);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('[');
    };
    const err = await rejection(client({}, { requestTimeoutMs: 100, maxAttempts: 1 }).keyTemplates());
    expect(err).toBeInstanceOf(ApimUnavailableError);
    expect(err.message).toMatch(/timed out after 100 ms/);
  });

  test('close() stops a call waiting to retry, and later calls', async () => {
    handler = (_r, res) => json(res, 500, {});
    const c = client({}, { retryIntervalMs: 60_000 });
    const pending = c.applications();
    while (seen.length === 0) await new Promise((r) => setTimeout(r, 5));
    const started = Date.now();
    c.close();
    const err = await rejection(pending);
    expect(err).toBeInstanceOf(ApimAbortedError);
    expect(Date.now() - started).toBeLessThan(500);
    expect(await rejection(c.applications())).toBeInstanceOf(ApimAbortedError);
  });

  test('a call signal stops a request in flight; the client signal closes the client', async () => {
    handler = (_r, res) => hanging.add(res);
    const c = client();
    const call = new AbortController();
    const pending = c.applications({ signal: call.signal });
    while (seen.length === 0) await new Promise((r) => setTimeout(r, 5));
    call.abort();
    expect(await rejection(pending)).toBeInstanceOf(ApimAbortedError);

    const whole = new AbortController();
    const c2 = client({}, { signal: whole.signal });
    const p2 = c2.subscriptions();
    while (seen.length < 2) await new Promise((r) => setTimeout(r, 5));
    whole.abort();
    expect(await rejection(p2)).toBeInstanceOf(ApimAbortedError);
  });
});

describe('runtime artifacts', () => {
  const zip = Buffer.from(zipSync({ 'deployments.json': Buffer.from('{}') }));
  const zipHandler: Handler = (_r, res) => res.writeHead(200, { 'Content-Type': 'application/zip', 'Content-Disposition': 'attachment; filename=apis.zip' }).end(zip);

  test('gatewayLabel is padded base64 of the labels joined by |, URL-encoded; type=Envoy; apiId for one API', async () => {
    handler = zipHandler;
    const c = client();
    expect(gatewayLabelParam(['Default'])).toBe('RGVmYXVsdA==');
    const got = await c.runtimeArtifacts(['Default']);
    expect(Buffer.isBuffer(got)).toBe(true);
    expect(got!.equals(zip)).toBe(true);
    await c.runtimeArtifacts(['Default', 'US']);
    await c.runtimeArtifacts(['Default'], 'a5b6c7d8-1111-4a2b-9c3d-0e1f2a3b4c5d');
    await c.runtimeArtifacts([]);
    expect(seen.map((s) => s.url)).toEqual([
      '/internal/data/v1/runtime-artifacts?gatewayLabel=RGVmYXVsdA%3D%3D&type=Envoy',
      '/internal/data/v1/runtime-artifacts?gatewayLabel=RGVmYXVsdHxVUw%3D%3D&type=Envoy',
      '/internal/data/v1/runtime-artifacts?apiId=a5b6c7d8-1111-4a2b-9c3d-0e1f2a3b4c5d&gatewayLabel=RGVmYXVsdA%3D%3D&type=Envoy',
      // No labels configured: no gatewayLabel, every label (as Choreo Connect).
      '/internal/data/v1/runtime-artifacts?type=Envoy',
    ]);
    expect(seen[0].headers.authorization).toMatch(/^Basic /);
  });

  test('404 "No Api artifacts found" and 204 mean nothing deployed', async () => {
    handler = (_r, res, n) => (n === 1 ? json(res, 404, NOT_FOUND) : res.writeHead(204).end());
    const c = client({}, { retryIntervalMs: 10_000 });
    expect(await c.runtimeArtifacts(['Default'])).toBeUndefined();
    expect(await c.runtimeArtifacts(['Default'], 'x')).toBeUndefined();
    expect(seen).toHaveLength(2);
  });

  test('another 404 is ApimNotFoundError; 5xx is retried; a body that is not a zip is an error', async () => {
    handler = (_r, res, n) => {
      if (n === 1) return json(res, 404, { code: 404, message: 'Resource not found' });
      if (n === 2) return json(res, 500, { message: 'db down' });
      if (n === 3) return zipHandler(_r, res, n);
      res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html/>');
    };
    const c = client();
    expect(await rejection(c.runtimeArtifacts(['Default']))).toBeInstanceOf(ApimNotFoundError);
    expect((await c.runtimeArtifacts(['Default']))!.equals(zip)).toBe(true);
    const err = await rejection(c.runtimeArtifacts(['Default']));
    expect(err).toBeInstanceOf(ApimRequestError);
    expect(err.message).toMatch(/runtime-artifacts\?gatewayLabel=RGVmYXVsdA%3D%3D&type=Envoy: HTTP 200 but the body is not a zip \(Content-Type text\/html\)/);
  });
});

describe('revision acks', () => {
  test('deploy ack: PATCH apis/deployed-revisions with a JSON array, revisionId an integer', async () => {
    handler = (_r, res) => json(res, 200, {});
    const sent = await client().ackDeployed([
      { apiId: 'a5b6', revisionId: '3', envInfo: [{ name: 'Default', vhost: 'localhost' }] },
      { apiId: 'b7c8', revisionId: 4, envInfo: [{ name: 'US', vhost: 'us.example.com' }, { name: 'EU', vhost: '' }] },
      { apiId: '', revisionId: 1, envInfo: [{ name: 'Default', vhost: 'localhost' }] },
      { apiId: 'c9d0', revisionId: '', envInfo: [{ name: 'Default', vhost: 'localhost' }] },
      { apiId: 'e1f2', revisionId: 2, envInfo: [] },
    ]);
    expect(sent).toBe(2);
    expect(seen).toHaveLength(1);
    expect(seen[0].method).toBe('PATCH');
    expect(seen[0].url).toBe('/internal/data/v1/apis/deployed-revisions');
    expect(seen[0].headers['content-type']).toBe('application/json');
    expect(JSON.parse(seen[0].body)).toEqual([
      { apiId: 'a5b6', revisionId: 3, envInfo: [{ name: 'Default', vhost: 'localhost' }] },
      { apiId: 'b7c8', revisionId: 4, envInfo: [{ name: 'US', vhost: 'us.example.com' }] },
    ]);
  });

  test('deploy ack with nothing to say sends nothing', async () => {
    expect(await client().ackDeployed([{ apiId: 'a', revisionId: 1, envInfo: [] }])).toBe(0);
    expect(await client().ackDeployed([])).toBe(0);
    expect(seen).toHaveLength(0);
  });

  test('deploy ack: 3 attempts on 5xx', async () => {
    handler = (_r, res, n) => json(res, n < 3 ? 500 : 200, {});
    await client().ackDeployed([{ apiId: 'a', revisionId: 1, envInfo: [{ name: 'Default', vhost: 'localhost' }] }]);
    expect(seen).toHaveLength(3);
    seen = [];
    handler = (_r, res) => json(res, 500, { message: 'nope' });
    const err = await rejection(client().ackDeployed([{ apiId: 'a', revisionId: 1, envInfo: [{ name: 'Default', vhost: 'localhost' }] }]));
    expect(err).toBeInstanceOf(ApimUnavailableError);
    expect(err.message).toMatch(/PATCH internal\/data\/v1\/apis\/deployed-revisions: HTTP 500 \(nope\) \(gave up after 3 attempts\)/);
    expect(seen).toHaveLength(3);
  });

  test('deploy ack: a 400 (unknown revision) is not retried', async () => {
    handler = (_r, res) => json(res, 400, { code: 400, message: 'Revision not found' });
    const err = await rejection(client().ackDeployed([{ apiId: 'a', revisionId: 9, envInfo: [{ name: 'Default', vhost: 'localhost' }] }]));
    expect(err).toBeInstanceOf(ApimRequestError);
    expect(seen).toHaveLength(1);
  });

  test('undeploy ack: POST apis/undeployed-revision, 3 attempts spaced by ackRetryDelayMs, skipped when a field is empty', async () => {
    handler = (_r, res, n) => json(res, n < 3 ? 503 : 200, {});
    const started = Date.now();
    const entry = { apiUUID: 'a5b6', revisionUUID: '8e8e', environment: 'Default' };
    expect(await client({}, { ackRetryDelayMs: 40 }).ackUndeployed(entry)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(75);
    expect(seen).toHaveLength(3);
    expect(seen[2].method).toBe('POST');
    expect(seen[2].url).toBe('/internal/data/v1/apis/undeployed-revision');
    expect(seen[2].headers['content-type']).toBe('application/json');
    expect(JSON.parse(seen[2].body)).toEqual(entry);

    seen = [];
    expect(await client().ackUndeployed({ ...entry, revisionUUID: '' })).toBe(false);
    expect(seen).toHaveLength(0);
  });
});

describe('TLS', () => {
  let dir: string | undefined;
  let tls: https.Server | undefined;
  let tlsBase = '';

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'apim-rest-'));
    // openssl makes the self-signed certificate (Debian's openssl package; present on these machines).
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
    tls = https.createServer({ key: fs.readFileSync(path.join(dir, 'key.pem')), cert: fs.readFileSync(path.join(dir, 'cert.pem')) }, (_req, res) => json(res, 200, ['tls']));
    await new Promise<void>((resolve) => tls!.listen(0, '127.0.0.1', resolve));
    tlsBase = `https://127.0.0.1:${(tls.address() as AddressInfo).port}/`;
  });

  afterAll(async () => {
    if (tls) {
      tls.closeAllConnections();
      await new Promise((resolve) => tls!.close(resolve));
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a self-signed APIM certificate fails verification (retried, with a hint) unless skipSSLVerification', async () => {
    const err = await rejection(client({ serviceURL: tlsBase }, { maxAttempts: 1 }).keyTemplates());
    expect(err).toBeInstanceOf(ApimUnavailableError);
    expect(err.message).toMatch(/skipSSLVerification/);
    expect(await client({ serviceURL: tlsBase, skipSSLVerification: true }, { maxAttempts: 1 }).keyTemplates()).toEqual(['tls']);
    expect(await client({ serviceURL: tlsBase }, { maxAttempts: 1, ca: fs.readFileSync(path.join(dir!, 'cert.pem')) }).keyTemplates()).toEqual(['tls']);
  });
});
