import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import * as protobuf from 'protobufjs';
import { HEALTH_SERVICE, serviceDefinition } from '../envoy/grpcService';
import { messageType } from '../envoy/protos';
import type { Log } from '../xds/log';
import type { BackendJwtIssuer } from './backend-jwt';
import { RATE_LIMIT_HEADERS, type CheckRequestLike, type Decision, type DecideDeps, type RateLimitState, decide, internalError } from './check';
import type { JwtValidator } from './jwt';
import { PeerCertificates } from './peer-certificate';
import type { RevocationSet } from './revocations';
import type { Throttle } from './throttle';
import type { EnforcerView } from './view';

/**
 * The enforcer's gRPC server: Envoy's ext_authz `envoy.service.auth.v3.Authorization/Check`,
 * answered by `decide()`, and gRPC health, NOT_SERVING until the view has its first full set.
 */

export const AUTHORIZATION_SERVICE = 'envoy.service.auth.v3.Authorization';

export interface EnforcerServerOptions {
  host: string;
  port: number;
  /** TLS for the port (see cli/tls); plain when absent. */
  credentials?: grpc.ServerCredentials;
  view: EnforcerView;
  jwt: JwtValidator;
  revoked: RevocationSet;
  backendJwt?: BackendJwtIssuer;
  /** Blocking conditions and rate limits, after authentication; none when absent. */
  throttle?: Throttle;
  /** Adds services on the same port (gRPC reflection), told the names this server serves. */
  register?: (server: grpc.Server, services: string[]) => void;
  /** Largest Check request decoded (default 4 MiB): a huge one is refused before it costs anything. */
  maxReceiveMessageBytes?: number;
  log: Log;
}

export interface EnforcerServer {
  port: number;
  stop(): Promise<void>;
}

/** google.rpc.Code for an HTTP deny status, as CC maps it (C.13). */
export function grpcCodeFor(status: number): number {
  if (status === 401) return grpc.status.UNAUTHENTICATED;
  if (status === 403) return grpc.status.PERMISSION_DENIED;
  if (status === 409) return grpc.status.RESOURCE_EXHAUSTED;
  return grpc.status.INTERNAL;
}

type JsValue = null | boolean | number | string | JsValue[] | { [k: string]: JsValue };

/**
 * A google.protobuf.Value as toObject gives it → a JS value. protobufjs's built-in Struct types
 * have camelCase fields (stringValue) whatever keepCase says; snake_case is accepted too.
 */
function fromValue(v: Record<string, unknown> | undefined): JsValue {
  if (!v) return null;
  const get = (camel: string, snake: string): unknown => v[camel] ?? v[snake];
  const str = get('stringValue', 'string_value');
  if (str !== undefined) return str as string;
  const num = get('numberValue', 'number_value');
  if (num !== undefined) return num as number;
  const bool = get('boolValue', 'bool_value');
  if (bool !== undefined) return bool as boolean;
  const struct = get('structValue', 'struct_value');
  if (struct !== undefined) return fromStruct(struct as Record<string, unknown>);
  const list = get('listValue', 'list_value') as { values?: Array<Record<string, unknown>> } | undefined;
  if (list !== undefined) return (list.values ?? []).map(fromValue);
  return null;
}

export function fromStruct(s: Record<string, unknown> | undefined): { [k: string]: JsValue } {
  const out: { [k: string]: JsValue } = {};
  for (const [k, v] of Object.entries((s?.fields ?? {}) as Record<string, Record<string, unknown>>)) out[k] = fromValue(v);
  return out;
}

/** A flat string map → a google.protobuf.Struct plain object. */
export function toStruct(m: Record<string, string>): object {
  return { fields: Object.fromEntries(Object.entries(m).map(([k, v]) => [k, { stringValue: v }])) };
}

let checkRequestType: protobuf.Type | undefined;

/** The decoded protobufjs CheckRequest → the plain shape decide() reads. */
export function checkRequestFrom(msg: unknown): CheckRequestLike {
  checkRequestType ??= messageType('envoy.service.auth.v3.CheckRequest');
  const obj = checkRequestType.toObject(msg as protobuf.Message, { longs: Number, enums: String, bytes: String }) as CheckRequestLike & {
    attributes?: { route_metadata_context?: { filter_metadata?: Record<string, unknown> } };
  };
  const fm = obj.attributes?.route_metadata_context?.filter_metadata;
  if (fm) for (const [ns, s] of Object.entries(fm)) fm[ns] = fromStruct(s as Record<string, unknown>);
  // bytes: String gives base64; header_map raw_value is bytes.
  for (const h of obj.attributes?.request?.http?.header_map?.headers ?? []) {
    if (typeof h.raw_value === 'string') h.raw_value = Buffer.from(h.raw_value, 'base64');
  }
  return obj;
}

/**
 * Encoded CheckResponses by decision content: the same few answers (one per cluster and
 * credential kind, one per denial) repeat across requests, so each is encoded once. Bounded; a
 * full memo starts over. The rate-limit headers of an allowed request (counts new on every
 * request) are not part of the memo: the memoised `ok_response` body is framed again with them
 * written after it by hand (fields may come in any order; repeated ones are concatenated).
 */
export class ResponseEncoder {
  /** The whole response; for an allowed one also the rest without `ok_response`, and that body. */
  private readonly encoded = new Map<string, { whole: Buffer; rest?: Buffer; ok?: Buffer }>();
  private readonly byObject = new WeakMap<Decision, Buffer>();
  private readonly type = messageType('envoy.service.auth.v3.CheckResponse');
  private readonly okType = messageType('envoy.service.auth.v3.OkHttpResponse');
  private readonly okField = this.type.fields.ok_response!.id;
  private readonly responseHeadersField = this.okType.fields.response_headers_to_add!.id;
  /** Each rate-limit header's `response_headers_to_add` entry up to its value, and what follows the value. */
  private readonly rateLimitFraming = rateLimitFraming(this.responseHeadersField);
  constructor(private readonly maxEntries = 4096) {}

  encode(d: Decision): Buffer {
    // A refusal handed out again as the same object (a throttled client) is answered as before.
    const same = d.allow ? undefined : this.byObject.get(d);
    if (same) return same;
    const bytes = this.encodeContent(d);
    if (!d.allow) this.byObject.set(d, bytes);
    return bytes;
  }

  private encodeContent(d: Decision): Buffer {
    const key = responseKey(d);
    let hit = this.encoded.get(key);
    if (!hit) {
      const whole = checkResponseFor(d.allow ? { ...d, rateLimit: undefined } : d) as { ok_response?: object };
      hit = { whole: this.bytes(this.type, whole) };
      if (whole.ok_response) Object.assign(hit, { rest: this.bytes(this.type, { ...whole, ok_response: undefined }), ok: this.bytes(this.okType, whole.ok_response) });
      if (this.encoded.size >= this.maxEntries) this.encoded.clear();
      this.encoded.set(key, hit);
    }
    if (!d.allow || !d.rateLimit || !hit.ok || !hit.rest) return hit.whole;
    return this.withRateLimit(hit.rest, hit.ok, d.rateLimit);
  }

  /**
   * The response with `ok_response` = the memoised body plus the three rate-limit headers, in one
   * buffer. Every length inside a header entry is under 128 (short names, digits), so one byte.
   */
  private withRateLimit(rest: Buffer, ok: Buffer, rl: RateLimitState): Buffer {
    const values = [String(rl.limit), String(rl.remaining), String(rl.resetSeconds)];
    const framing = this.rateLimitFraming;
    let extra = 0;
    for (let i = 0; i < 3; i++) extra += framing[i]!.head.length + 1 + values[i]!.length + framing[i]!.tail.length;
    const okLength = ok.length + extra;
    const out = Buffer.allocUnsafe(rest.length + 1 + varintLength(okLength) + okLength);
    let at = rest.copy(out, 0);
    out[at++] = (this.okField << 3) | 2;
    for (let n = okLength; ; n >>>= 7) {
      if (n < 0x80) {
        out[at++] = n;
        break;
      }
      out[at++] = (n & 0x7f) | 0x80;
    }
    at += ok.copy(out, at);
    for (let i = 0; i < 3; i++) {
      const { head, tail } = framing[i]!;
      const v = values[i]!;
      at += head.copy(out, at);
      // The value's length, and the lengths of the two messages around it, grow with the value.
      out[at - head.length + 1] += v.length;
      out[at - head.length + 3] += v.length;
      out[at++] = v.length;
      at += out.write(v, at, 'latin1');
      at += tail.copy(out, at);
    }
    return out;
  }

  private bytes(type: protobuf.Type, value: object): Buffer {
    const u8 = type.encode(type.fromObject(value)).finish();
    return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
  }

}

const varintLength = (n: number): number => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4);

/**
 * A `response_headers_to_add` entry (HeaderValueOption: the header, overwriting) for each
 * rate-limit header, encoded with an empty value by protobufjs itself and split where the value
 * goes: `head` ends with the value's tag, `tail` is the append action. The entry's and the
 * header's lengths (bytes 1 and 3 of `head`) are then the empty value's plus the value's.
 */
function rateLimitFraming(field: number): Array<{ head: Buffer; tail: Buffer }> {
  const option = messageType('envoy.config.core.v3.HeaderValueOption');
  return RATE_LIMIT_HEADERS.map((key) => {
    const entry = option.encode(option.fromObject({ header: { key, value: '' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' })).finish();
    // entry = [header tag, len, key tag, key len, key..., value tag, value len 0][append tag, action]
    const valueEnd = 2 + 2 + key.length + 1;
    const framed = Buffer.concat([Buffer.from([(field << 3) | 2, entry.length]), entry]);
    if (entry.length >= 0x60 || entry[valueEnd] !== 0) throw new Error(`unexpected HeaderValueOption framing for ${key}`);
    return { head: framed.subarray(0, 2 + valueEnd), tail: framed.subarray(2 + valueEnd + 1) };
  });
}

/** Everything checkResponseFor() reads from a decision, and nothing else (not the reason). */
function responseKey(d: Decision): string {
  let key = d.allow ? `A\0${d.headersToRemove.join('\0')}\0\0${(d.queryParamsToRemove ?? []).join('\0')}` : `D\0${d.status}\0${d.code}\0${d.body}`;
  for (const k in d.headers) key += `\0\0${k}\0${d.headers[k]}`;
  for (const k in d.dynamicMetadata) key += `\0\0\0${k}\0${d.dynamicMetadata[k]}`;
  return key;
}

/** A Decision → a CheckResponse plain object. */
export function checkResponseFor(d: Decision): object {
  const header = (key: string, value: string): object => ({ header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' });
  if (d.allow) {
    return {
      status: { code: grpc.status.OK },
      ok_response: {
        headers: Object.entries(d.headers).map(([k, v]) => header(k, v)),
        headers_to_remove: d.headersToRemove,
        query_parameters_to_remove: d.queryParamsToRemove ?? [],
        response_headers_to_add: d.rateLimit ? [d.rateLimit.limit, d.rateLimit.remaining, d.rateLimit.resetSeconds].map((v, i) => header(RATE_LIMIT_HEADERS[i]!, String(v))) : [],
      },
      dynamic_metadata: toStruct(d.dynamicMetadata),
    };
  }
  return {
    status: { code: grpcCodeFor(d.status), message: d.code },
    denied_response: {
      status: { code: d.status },
      headers: Object.entries(d.headers).map(([k, v]) => header(k, v)),
      body: d.body,
    },
    dynamic_metadata: toStruct(d.dynamicMetadata),
  };
}

export async function startEnforcerServer(options: EnforcerServerOptions): Promise<EnforcerServer> {
  const { view, jwt, revoked, backendJwt, throttle, log } = options;
  const deps: DecideDeps = { view, jwt, revoked, backendJwt, certificates: new PeerCertificates() };
  const responses = new ResponseEncoder();
  const server = new grpc.Server({ 'grpc.max_receive_message_length': options.maxReceiveMessageBytes ?? 4 * 1024 * 1024 });

  // Allowed and throttled checks log at debug: the hot path skips even building the line when it is off.
  const debug = log.isDebugEnabled?.() ?? true;
  const logDecision = (d: Decision, req: CheckRequestLike): void => {
    if (!debug && (d.allow || d.status === 429)) return;
    const http = req.attributes?.request?.http;
    // Without the query: an API key may travel in it.
    const meta = { method: http?.method, path: http?.path?.replace(/\?.*$/s, ''), requestId: http?.id, reason: d.reason };
    if (d.allow) log.debug('check allowed', meta);
    else if (d.status >= 500) log.error('check denied', { ...meta, status: d.status, code: d.code });
    // Throttled requests are expected traffic: a flood of them must not become a flood of log lines.
    else if (d.status === 429) log.debug('check throttled', { ...meta, status: d.status, code: d.code });
    else log.info('check denied', { ...meta, status: d.status, code: d.code });
  };

  server.addService(serviceDefinition(AUTHORIZATION_SERVICE), {
    Check(call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>): void {
      let req: CheckRequestLike = {};
      const reply = (d: Decision): void => {
        logDecision(d, req);
        callback(null, responses.encode(d));
      };
      const failed = (e: unknown): void => reply(internalError(`unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`));
      try {
        req = checkRequestFrom(call.request);
        const clientIp = req.attributes?.source?.address?.socket_address?.address ?? '';
        // The throttle stage runs on allowed decisions only: denials count against no quota.
        const next = (d: Decision): Decision | Promise<Decision> => (d.allow && throttle ? throttle.apply(d, clientIp, Date.now(), req) : d);
        const d = decide(req, deps);
        const out = d instanceof Promise ? d.then(next) : next(d);
        if (out instanceof Promise) out.then(reply, failed);
        else reply(out);
      } catch (e) {
        failed(e);
      }
    },
  });

  const health = new HealthImplementation({ '': 'NOT_SERVING', [AUTHORIZATION_SERVICE]: 'NOT_SERVING' });
  health.addToServer(server);
  options.register?.(server, [AUTHORIZATION_SERVICE, HEALTH_SERVICE]);
  let stopped = false;
  const serving = (): void => {
    if (stopped) return;
    health.setStatus('', 'SERVING');
    health.setStatus(AUTHORIZATION_SERVICE, 'SERVING');
    log.info('enforcer serving: view ready');
  };
  if (view.ready) serving();
  else view.whenReady().then(serving, (e: unknown) => log.error('enforcer view never became ready', { error: String(e) }));

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${options.host}:${options.port}`, options.credentials ?? grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );

  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        stopped = true;
        health.setStatus('', 'NOT_SERVING');
        health.setStatus(AUTHORIZATION_SERVICE, 'NOT_SERVING');
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 1000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
