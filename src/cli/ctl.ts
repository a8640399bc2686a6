import * as grpc from '@grpc/grpc-js';
import { ADMIN_SERVICE } from '../admin/adminService';
import { serviceDefinition } from '../envoy/grpcService';
import { messageJson } from '../envoy/any';
import { messageType } from '../envoy/protos';
import { shortTypeName } from '../envoy/typeUrls';
import { skippedLine } from '../model/problems';
import { printable, printableJson } from './terminal';

/** `apim-connect ctl ...`: the admin service for people (tables) and scripts (--json). */

export interface CtlOptions {
  address: string;
  json: boolean;
  watch: boolean;
  group: string;
  /** TLS to the adapter (cli/tls); plain when absent. */
  credentials?: grpc.ChannelCredentials;
}

type Obj = Record<string, any>;

/** A call the adapter refused or never answered, said plainly (main prints it without a stack). */
export class CtlError extends Error {}

export function callError(method: string, err: grpc.ServiceError): CtlError {
  const hint =
    err.code === grpc.status.UNAVAILABLE
      ? " (is the adapter at that address? With [tls] on it wants a client certificate from its CA: the config's [tls], or --cert, --key and --ca)"
      : '';
  return new CtlError(`${method}: ${err.details || err.message}${hint}`);
}

export async function runCtl(command: string, args: string[], opts: CtlOptions, out: (line: string) => void): Promise<void> {
  const Client = grpc.makeGenericClientConstructor(serviceDefinition(ADMIN_SERVICE), 'admin');
  const client = new Client(opts.address, opts.credentials ?? grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 }) as unknown as Obj;
  try {
    switch (command) {
      case 'snapshots':
        if (opts.watch) return await watchSnapshots(client, opts, out);
        return printSnapshots((await unary(client, 'ListSnapshots', { group: opts.group }, 'ListSnapshotsResponse')).snapshots ?? [], opts, out);
      case 'nodes':
        return printNodes((await unary(client, 'ListNodes', { group: opts.group }, 'ListNodesResponse')).nodes ?? [], opts, out);
      case 'state': {
        const res = await unary(client, 'GetState', { collection: args[0] ?? '' }, 'GatewayState');
        if (args[0]) return out(printableJson(res.entries ?? [], 2));
        if (opts.json) return out(printableJson(res));
        out(`revision ${res.revision ?? 0}`);
        return table(['COLLECTION', 'ENTRIES'], Object.entries(res.counts ?? {}).map(([k, v]) => [k, String(v)]), out);
      }
      case 'problems':
        return printProblems((await unary(client, 'ListProblems', { group: opts.group }, 'ListProblemsResponse')).problems ?? [], opts, out);
      case 'dump': {
        const group = args[0] ?? opts.group;
        if (!group) throw new CtlError('usage: apim-connect ctl dump GROUP');
        return out(printableJson(await unary(client, 'GetConfigDump', { group, type_urls: [] }, 'ConfigDump'), 2));
      }
      default:
        throw new CtlError(`unknown ctl command "${command}" (snapshots [--watch], nodes, problems, state [COLLECTION], dump GROUP, explain METHOD URL)`);
    }
  } finally {
    (client as unknown as grpc.Client).close();
  }
}

/** Plain JSON of a response (timestamps as RFC 3339, Values as JSON). */
function plain(typeName: string, msg: unknown): Obj {
  return messageJson(messageType(`apimconnect.admin.v1.${typeName}`), msg as object) as Obj;
}

function unary(client: Obj, method: string, req: object, typeName: string): Promise<Obj> {
  return new Promise((resolve, reject) =>
    client[method](req, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null, res: unknown) =>
      err ? reject(callError(method, err)) : resolve(plain(typeName, res)),
    ),
  );
}

function watchSnapshots(client: Obj, opts: CtlOptions, out: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const call = client.WatchSnapshots({ group: opts.group }) as grpc.ClientReadableStream<unknown>;
    call.on('data', (msg) => printSnapshots([plain('Snapshot', msg)], opts, out));
    call.on('error', (err: grpc.ServiceError) => (err.code === grpc.status.CANCELLED ? resolve() : reject(callError('WatchSnapshots', err))));
    call.on('end', resolve);
    process.once('SIGINT', () => call.cancel());
  });
}

function printSnapshots(snapshots: Obj[], opts: CtlOptions, out: (line: string) => void): void {
  if (opts.json) return snapshots.forEach((s) => out(printableJson(s)));
  const rows = snapshots.flatMap((s) =>
    !s.types?.length
      ? [[s.group, '-', '-', '0', s.updated_at ?? '']]
      : s.types.map((t: Obj) => [s.group, shortTypeName(t.type_url), short(t.version), String(t.resource_count ?? 0), s.updated_at ?? '']),
  );
  table(['GROUP', 'TYPE', 'VERSION', 'RESOURCES', 'UPDATED'], rows, out);
}

function printNodes(nodes: Obj[], opts: CtlOptions, out: (line: string) => void): void {
  if (opts.json) return out(printableJson(nodes, 2));
  const rows = nodes.flatMap((n) =>
    (n.types?.length ? n.types : [{}]).map((t: Obj) => [
      n.node_id,
      n.group,
      `${n.stream_id}/${n.protocol}`,
      t.type_url ? shortTypeName(t.type_url) : '-',
      short(t.last_sent_version ?? ''),
      short(t.last_acked_version ?? ''),
      t.last_sent_version && t.last_sent_version === t.last_acked_version ? 'yes' : 'no',
      t.last_nack ? `${short(t.last_nack.version)}: ${t.last_nack.error}` : '',
    ]),
  );
  table(['NODE', 'GROUP', 'STREAM', 'TYPE', 'SENT', 'ACKED', 'SYNCED', 'LAST NACK'], rows, out);
}

/**
 * One row per problem, its source once. Its reasons go one per line under REASON, and so do a
 * reason's own lines (a YAML error's excerpt, a list of the routes left out of an API).
 */
function printProblems(problems: Obj[], opts: CtlOptions, out: (line: string) => void): void {
  if (opts.json) return out(printableJson(problems, 2));
  if (problems.length === 0) return out('no problems');
  // Each path or operation left out gets a row of its own, under its API's; a reason's lines each get one.
  const rows = problems.flatMap((p) => {
    const api = p.api_name ? `${p.api_name} ${p.api_version ?? ''}`.trim() : '-';
    const reasons = ((p.reasons ?? []) as string[]).flatMap((r) => r.split(/\r?\n/)).filter((l) => l.trim() !== '');
    const routes = ((p.skipped ?? []) as Obj[]).map((s) => ['route', p.group ?? '', api, s.at || p.source, skippedLine({ path: s.path, method: s.method || undefined, reason: s.reason })]);
    return [[p.kind, p.group ?? '', api, p.source, reasons], ...routes];
  });
  table(['KIND', 'GROUP', 'API', 'SOURCE', 'REASON'], rows, out);
}

const short = (v: string): string => (v.length > 12 ? v.slice(0, 12) : v) || '-';

/**
 * Every cell is escaped: node ids, versions, NACK texts and reasons come from clients and files.
 * The last cell may be a list: its lines follow one under the other in that column, the other
 * columns blank, so no line of it can pass for a row of its own.
 */
function table(header: string[], cells: Array<Array<string | string[]>>, out: (line: string) => void): void {
  const rows = cells.map((r) => r.map((c) => (typeof c === 'string' ? [c] : c.length ? c : ['']).map(printable)));
  const widths = header.map((h, i) => rows.reduce((w, r) => Math.max(w, (r[i]?.[0] ?? '').length), h.length));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  out(line(header));
  for (const r of rows) {
    const first = r.slice(0, -1).map((c) => c[0]);
    r[r.length - 1].forEach((text, k) => out(line([...(k === 0 ? first : first.map(() => '')), text])));
  }
}
