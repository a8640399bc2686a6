import { setMaxListeners } from 'events';
import axios, { AxiosInstance, AxiosResponse, isAxiosError } from 'axios';
import * as http from 'http';
import * as https from 'https';
import type { Logger } from 'winston';
import { redactUrl } from '../../config/config';
import type { Config } from '../../config/config';
import { createLogger } from '../../config/log';

/**
 * APIM's Internal Data REST API (`<serviceURL>internal/data/v1/...`), the pull side of the control
 * plane. Basic auth with controlPlane.username/password, no Accept header, JSON bodies only on
 * PATCH/POST, query keys sorted and form-encoded as Go's url.Values does.
 *
 * Failures, unlike Choreo Connect (which hangs on a 4xx during startup):
 * - network errors, timeouts and 5xx: retried every retryInterval, for ever unless maxAttempts
 *   says otherwise, until close() or the call's AbortSignal stops it (ApimAbortedError);
 * - 401/403: ApimAuthError at once; 404: ApimNotFoundError; other 4xx and 3xx: ApimRequestError.
 * List endpoints return the parsed JSON as is: decoding into domain types is the decoders' job.
 */

export type ApimRestSettings = Pick<
  Config['controlPlane'],
  'serviceURL' | 'username' | 'password' | 'retryInterval' | 'skipSSLVerification' | 'requestTimeout'
>;

export interface ApimRestOptions {
  /** Overrides retryInterval (seconds) in milliseconds, for tests. */
  retryIntervalMs?: number;
  /** Overrides requestTimeout (seconds) in milliseconds: the whole of one attempt, body included. */
  requestTimeoutMs?: number;
  /** Attempts per call before giving up with ApimUnavailableError (default: unlimited). */
  maxAttempts?: number;
  /** Attempts of a revision ack (default 3, as Choreo Connect). */
  ackAttempts?: number;
  /** Pause between ack attempts (default 2000 ms). */
  ackRetryDelayMs?: number;
  /** Stops every call of this client, like close(). */
  signal?: AbortSignal;
  /** CA certificates to trust instead of Node's bundle (PEM). */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Largest runtime-artifacts zip accepted (default 1 GiB). */
  maxArtifactBytes?: number;
  /** Called before each retry, e.g. to report the REST pull unhealthy. */
  onRetry?: (error: ApimError, attempt: number) => void;
  logger?: Logger;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Overrides the client's maxAttempts for this call. */
  maxAttempts?: number;
}

/** One entry of the deploy ack (PATCH apis/deployed-revisions). */
export interface DeployedRevision {
  apiId: string;
  /** The integer revision number of api.json (data.revisionId), not the revision UUID. */
  revisionId: number | string;
  envInfo: { name: string; vhost: string }[];
}

/** The undeploy ack (POST apis/undeployed-revision). */
export interface UndeployedRevision {
  apiUUID: string;
  revisionUUID: string;
  environment: string;
}

/** A failed call. `endpoint` is relative to internal/data/v1/ and carries the query. */
export class ApimError extends Error {
  constructor(
    readonly method: string,
    readonly endpoint: string,
    /** HTTP status, undefined for network errors, timeouts and aborts. */
    readonly status: number | undefined,
    detail: string,
  ) {
    super(`APIM ${method} internal/data/v1/${endpoint}: ${detail}`);
    this.name = new.target.name;
  }
}

/** 401/403: the credentials are wrong or lack the internal-data permission. */
export class ApimAuthError extends ApimError {}
/** 404: callers decide whether that means "nothing". */
export class ApimNotFoundError extends ApimError {}
/** Any other 4xx, a redirect, or a 2xx body that is not what the endpoint returns. */
export class ApimRequestError extends ApimError {}
/** Network errors, timeouts or 5xx on every one of maxAttempts attempts. */
export class ApimUnavailableError extends ApimError {}
/** close() was called or the call's signal fired. */
export class ApimAbortedError extends ApimError {}

const BASE = 'internal/data/v1/';
const ZIP_MAGIC = [Buffer.from('PK\x03\x04', 'latin1'), Buffer.from('PK\x05\x06', 'latin1')];
const NO_ARTIFACTS = 'No Api artifacts found';

/** A failure worth another attempt (network, timeout, 5xx). */
class Retryable {
  constructor(
    readonly error: ApimError,
    /**
     * A kept-alive connection the server had already closed (EPIPE, ECONNRESET): typical after the
     * adapter was busy for longer than APIM's idle timeout. Worth one immediate retry.
     */
    readonly staleConnection = false,
  ) {}
}

interface Request {
  method: 'GET' | 'PATCH' | 'POST';
  endpoint: string;
  query?: Record<string, string | undefined>;
  body?: unknown;
  binary?: boolean;
}

export class ApimRestClient {
  private readonly http: AxiosInstance;
  private readonly base: string;
  private readonly auth: string;
  private readonly agents: { http: http.Agent; https: https.Agent };
  private readonly closer = new AbortController();
  private readonly retryMs: number;
  private readonly timeoutMs: number;
  private readonly log: Logger;

  constructor(
    private readonly settings: ApimRestSettings,
    private readonly options: ApimRestOptions = {},
  ) {
    let url: URL;
    try {
      url = new URL(settings.serviceURL);
    } catch {
      throw new Error(`controlPlane.serviceURL is not a URL: ${redactUrl(settings.serviceURL)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`controlPlane.serviceURL must be http(s): ${redactUrl(settings.serviceURL)}`);
    // Choreo Connect's subscription client needs the trailing slash; we add it.
    this.base = settings.serviceURL.endsWith('/') ? settings.serviceURL : `${settings.serviceURL}/`;
    this.auth = `Basic ${Buffer.from(`${settings.username}:${settings.password}`, 'utf8').toString('base64')}`;
    this.retryMs = options.retryIntervalMs ?? settings.retryInterval * 1000;
    // A full pull runs a dozen calls at once, each listening to close().
    setMaxListeners(0, this.closer.signal);
    this.timeoutMs = options.requestTimeoutMs ?? settings.requestTimeout * 1000;
    this.log = options.logger ?? createLogger('info', 'sources.apim.rest');
    this.agents = {
      http: new http.Agent({ keepAlive: true }),
      https: new https.Agent({ keepAlive: true, rejectUnauthorized: !settings.skipSSLVerification, ...(options.ca && { ca: options.ca }) }),
    };
    this.http = axios.create({
      httpAgent: this.agents.http,
      httpsAgent: this.agents.https,
      // Statuses are ours to judge; redirects would carry the credentials elsewhere.
      validateStatus: () => true,
      maxRedirects: 0,
      transformResponse: (data: unknown) => data,
      maxContentLength: options.maxArtifactBytes ?? 1024 ** 3,
      maxBodyLength: Infinity,
    });
    if (options.signal) {
      if (options.signal.aborted) this.closer.abort();
      else options.signal.addEventListener('abort', () => this.close(), { once: true });
    }
  }

  static fromConfig(config: Config, options?: ApimRestOptions): ApimRestClient {
    return new ApimRestClient(config.controlPlane, options);
  }

  /** Where APIM is, without credentials, for logs. */
  get serviceURL(): string {
    return redactUrl(this.base);
  }

  /** Stops every pending and future call (they reject with ApimAbortedError). */
  close(): void {
    if (this.closer.signal.aborted) return;
    this.closer.abort();
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  /** GET internal/data/v1/<endpoint>: the parsed JSON body (undefined when empty). */
  async getJson(endpoint: string, query?: Record<string, string | undefined>, call: CallOptions = {}): Promise<unknown> {
    const req: Request = { method: 'GET', endpoint, query };
    return this.withRetries(req, call, this.retryMs, (res) => {
      if (res.status === 204) return undefined;
      this.check(req, res);
      return parseJson(req, res);
    });
  }

  subscriptions(call?: CallOptions): Promise<unknown> {
    return this.getJson('subscriptions', undefined, call);
  }
  applications(call?: CallOptions): Promise<unknown> {
    return this.getJson('applications', undefined, call);
  }
  keyMappings(call?: CallOptions): Promise<unknown> {
    return this.getJson('application-key-mappings', undefined, call);
  }
  applicationPolicies(call?: CallOptions): Promise<unknown> {
    return this.getJson('application-policies', undefined, call);
  }
  subscriptionPolicies(call?: CallOptions): Promise<unknown> {
    return this.getJson('subscription-policies', undefined, call);
  }
  apiPolicies(call?: CallOptions): Promise<unknown> {
    return this.getJson('api-policies', undefined, call);
  }
  keyManagers(call?: CallOptions): Promise<unknown> {
    return this.getJson('keymanagers', undefined, call);
  }
  revokedTokens(call?: CallOptions): Promise<unknown> {
    return this.getJson('revokedjwt', undefined, call);
  }
  keyTemplates(call?: CallOptions): Promise<unknown> {
    return this.getJson('keyTemplates', undefined, call);
  }
  blockingConditions(call?: CallOptions): Promise<unknown> {
    return this.getJson('block', undefined, call);
  }

  /** API metadata of one label (a plain label, unlike runtime-artifacts), optionally one API. */
  apis(label: string, which: { context?: string; version?: string; apiId?: string } = {}, call?: CallOptions): Promise<unknown> {
    return this.getJson('apis', { gatewayLabel: label, context: which.context, version: which.version, apiId: which.apiId }, call);
  }

  /**
   * The runtime-artifacts zip of the APIs deployed on `labels` (every label when empty), or of
   * one API. Undefined when nothing is deployed there (204, or 404 "No Api artifacts found").
   */
  async runtimeArtifacts(labels: readonly string[], apiId?: string, call: CallOptions = {}): Promise<Buffer | undefined> {
    const req: Request = {
      method: 'GET',
      endpoint: 'runtime-artifacts',
      query: { apiId: apiId || undefined, gatewayLabel: labels.length ? gatewayLabelParam(labels) : undefined, type: 'Envoy' },
      binary: true,
    };
    return this.withRetries(req, call, this.retryMs, (res) => {
      if (res.status === 204) return undefined;
      if (res.status === 404 && bodyText(res).includes(NO_ARTIFACTS)) return undefined;
      this.check(req, res);
      const data = res.data as Buffer;
      if (!ZIP_MAGIC.some((m) => data.subarray(0, 4).equals(m))) {
        throw new ApimRequestError(req.method, display(req), res.status, `HTTP ${res.status} but the body is not a zip (Content-Type ${res.headers['content-type'] ?? 'none'})`);
      }
      return data;
    });
  }

  /**
   * Deploy ack (only when controlPlane.sendRevisionUpdate): one PATCH for a batch. Entries
   * without an apiId, revision or environment are left out (APIM rejects an empty vhost).
   * Returns how many entries were sent (0: nothing sent).
   */
  async ackDeployed(entries: readonly DeployedRevision[], call: CallOptions = {}): Promise<number> {
    const body = entries
      .map((e) => ({
        apiId: e.apiId,
        revisionId: typeof e.revisionId === 'string' && /^\d+$/.test(e.revisionId.trim()) ? Number(e.revisionId.trim()) : e.revisionId,
        envInfo: e.envInfo.filter((env) => env.name && env.vhost).map((env) => ({ name: env.name, vhost: env.vhost })),
      }))
      .filter((e) => e.apiId && e.revisionId !== '' && e.revisionId !== undefined && e.revisionId !== null && e.envInfo.length);
    if (!body.length) return 0;
    await this.ack({ method: 'PATCH', endpoint: 'apis/deployed-revisions', body }, call);
    return body.length;
  }

  /** Undeploy ack; skipped (false) when a field is empty, as Choreo Connect does. */
  async ackUndeployed(entry: UndeployedRevision, call: CallOptions = {}): Promise<boolean> {
    if (!entry.apiUUID || !entry.revisionUUID || !entry.environment) return false;
    const body = { apiUUID: entry.apiUUID, revisionUUID: entry.revisionUUID, environment: entry.environment };
    await this.ack({ method: 'POST', endpoint: 'apis/undeployed-revision', body }, call);
    return true;
  }

  private async ack(req: Request, call: CallOptions): Promise<void> {
    await this.withRetries(req, { ...call, maxAttempts: call.maxAttempts ?? this.options.ackAttempts ?? 3 }, this.options.ackRetryDelayMs ?? 2000, (res) => {
      this.check(req, res);
    });
  }

  /** Runs attempts until `handle` returns or throws something other than Retryable. */
  private async withRetries<T>(req: Request, call: CallOptions, delayMs: number, handle: (res: AxiosResponse) => T): Promise<T> {
    const max = call.maxAttempts ?? this.options.maxAttempts ?? Infinity;
    for (let attempt = 1; ; attempt++) {
      let outcome: T | Retryable;
      try {
        outcome = handle(await this.send(req, call.signal));
      } catch (err) {
        if (!(err instanceof Retryable)) throw err;
        outcome = err;
      }
      if (!(outcome instanceof Retryable)) return outcome;
      const { error } = outcome;
      if (attempt >= max) {
        throw new ApimUnavailableError(req.method, display(req), error.status, `${detailOf(error)} (gave up after ${attempt} attempt${attempt === 1 ? '' : 's'})`);
      }
      if (attempt === 1 && outcome.staleConnection) continue; // on a fresh connection, at once
      this.log.warn(`${error.message}; retrying in ${formatMs(delayMs)} (attempt ${attempt + 1})`);
      this.options.onRetry?.(error, attempt);
      await this.sleep(delayMs, req, call.signal);
    }
  }

  /** One attempt, bounded by the request timeout; network failures and timeouts are Retryable. */
  private async send(req: Request, signal?: AbortSignal): Promise<AxiosResponse> {
    const stopped = (): ApimAbortedError => new ApimAbortedError(req.method, display(req), undefined, 'aborted');
    const parents = [this.closer.signal, ...(signal ? [signal] : [])];
    if (parents.some((s) => s.aborted)) throw stopped();
    const attempt = new AbortController();
    let timedOut = false;
    const onAbort = (): void => attempt.abort();
    for (const p of parents) p.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => {
      timedOut = true;
      attempt.abort();
    }, this.timeoutMs);
    try {
      const headers: Record<string, string | false> = { Authorization: this.auth, Accept: false, 'User-Agent': 'apim-connect' };
      if (req.body !== undefined) headers['Content-Type'] = 'application/json';
      return await this.http.request({
        method: req.method,
        url: this.base + BASE + display(req),
        headers,
        data: req.body === undefined ? undefined : JSON.stringify(req.body),
        responseType: req.binary ? 'arraybuffer' : 'text',
        signal: attempt.signal,
      });
    } catch (err) {
      if (timedOut) throw new Retryable(new ApimError(req.method, display(req), undefined, `timed out after ${formatMs(this.timeoutMs)}`));
      if (parents.some((s) => s.aborted)) throw stopped();
      if (isAxiosError(err) && /maxContentLength/i.test(err.message)) {
        throw new ApimRequestError(req.method, display(req), undefined, `response larger than ${this.options.maxArtifactBytes ?? 1024 ** 3} bytes`);
      }
      const code = (err as { code?: string }).code;
      throw new Retryable(new ApimError(req.method, display(req), undefined, networkDetail(err, this.settings.skipSSLVerification)), code === 'EPIPE' || code === 'ECONNRESET');
    } finally {
      clearTimeout(timer);
      for (const p of parents) p.removeEventListener('abort', onAbort);
    }
  }

  /** Throws for anything but 2xx: auth, not found, other 4xx/3xx, or Retryable for 5xx. */
  private check(req: Request, res: AxiosResponse): void {
    const { status } = res;
    if (status >= 200 && status < 300) return;
    const at = display(req);
    const why = errorDetail(res);
    if (status === 401 || status === 403) {
      throw new ApimAuthError(req.method, at, status, `HTTP ${status}${why}: check controlPlane.username/password (user ${JSON.stringify(this.settings.username)} at ${this.serviceURL})`);
    }
    if (status === 404) throw new ApimNotFoundError(req.method, at, status, `HTTP 404${why}`);
    if (status >= 500) throw new Retryable(new ApimError(req.method, at, status, `HTTP ${status}${why}`));
    if (status >= 300 && status < 400) {
      const to = res.headers.location ? ` to ${redactUrl(String(res.headers.location))}` : '';
      throw new ApimRequestError(req.method, at, status, `HTTP ${status} redirect${to}: fix controlPlane.serviceURL (${this.serviceURL})`);
    }
    throw new ApimRequestError(req.method, at, status, `HTTP ${status}${why}`);
  }

  private sleep(ms: number, req: Request, signal?: AbortSignal): Promise<void> {
    const parents = [this.closer.signal, ...(signal ? [signal] : [])];
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        for (const p of parents) p.removeEventListener('abort', stop);
      };
      const stop = (): void => {
        done();
        reject(new ApimAbortedError(req.method, display(req), undefined, 'aborted while waiting to retry'));
      };
      const timer = setTimeout(() => {
        done();
        resolve();
      }, ms);
      for (const p of parents) p.addEventListener('abort', stop, { once: true });
      if (parents.some((p) => p.aborted)) stop();
    });
  }
}

/**
 * runtime-artifacts' gatewayLabel before URL encoding: standard, padded base64 of the labels
 * joined by `|` (APIM decodes and splits on `|`). `Default` → `RGVmYXVsdA==`.
 */
export function gatewayLabelParam(labels: readonly string[]): string {
  return Buffer.from(labels.join('|'), 'utf8').toString('base64');
}

/** Keys sorted, values form-encoded, empty values left out: Go's url.Values.Encode. */
export function queryString(query: Record<string, string | undefined> = {}): string {
  const params = new URLSearchParams();
  for (const key of Object.keys(query).sort()) {
    const value = query[key];
    if (value !== undefined && value !== '') params.append(key, value);
  }
  return params.toString();
}

function display(req: Request): string {
  const qs = queryString(req.query);
  return qs ? `${req.endpoint}?${qs}` : req.endpoint;
}

function bodyText(res: AxiosResponse): string {
  const data: unknown = res.data;
  if (typeof data === 'string') return data;
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  return '';
}

function parseJson(req: Request, res: AxiosResponse): unknown {
  const text = bodyText(res);
  if (!text.trim()) return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ApimRequestError(req.method, display(req), res.status, `HTTP ${res.status} but the body is not JSON (${(err as Error).message})`);
  }
}

/** APIM's error body `{code, message, description}` as ` (900910: ...)`, or a short text. */
function errorDetail(res: AxiosResponse): string {
  const text = bodyText(res).trim();
  if (!text) return '';
  try {
    const body = JSON.parse(text) as Record<string, unknown>;
    const msg = [body.description, body.message].find((m) => typeof m === 'string' && m);
    if (msg) return ` (${body.code !== undefined ? `${String(body.code)}: ` : ''}${clip(String(msg))})`;
  } catch {
    // not JSON
  }
  if (/^\s*</.test(text)) return '';
  return ` (${clip(text)})`;
}

function networkDetail(err: unknown, skipVerify: boolean): string {
  const e = err as { code?: string; message?: string };
  const detail = e.code && !String(e.message).includes(e.code) ? `${e.code} ${e.message}` : String(e.message ?? err);
  const tls = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|TLS|SSL/i.test(`${e.code} ${e.message}`);
  return tls && !skipVerify ? `${detail} (TLS verification failed: trust APIM's CA, or set controlPlane.skipSSLVerification for development)` : detail;
}

function detailOf(error: ApimError): string {
  return error.message.replace(/^APIM \S+ \S+: /, '');
}

function clip(s: string): string {
  const one = s.replace(/\s+/g, ' ');
  return one.length > 200 ? `${one.slice(0, 200)}…` : one;
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
