import { status as GrpcStatus } from '@grpc/grpc-js';
import { CLUSTER, ENDPOINT } from '../envoy/typeUrls';
import { setVersion, type Entry } from './cache';
import { encodeDeltaBody, withNonce } from './wire';
import { byName, errorDetail, lookup, pushOrder, TypeStatus, XdsStream, type ChangeBatch } from './stream';

interface DeltaRequest {
  node?: { id?: string; cluster?: string; user_agent_name?: string } | null;
  type_url: string;
  resource_names_subscribe: string[];
  resource_names_unsubscribe: string[];
  initial_resource_versions: Record<string, string>;
  response_nonce: string;
  error_detail?: { code?: number; message?: string } | null;
}

class DeltaState extends TypeStatus {
  /**
   * Names sent in answer to a request while a debounced push was pending, with the cache seq
   * they were sent at, so that push does not send them again. Cleared by the push.
   */
  sentEarly?: Map<string, number>;
}

/**
 * Incremental (Delta) ADS. The stream keeps only the subscription, not the versions the client
 * holds: the cache's change notifications say exactly which names changed, so memory per client
 * is O(subscribed names), and nothing for a wildcard subscription.
 */
export class DeltaStream extends XdsStream<DeltaState> {
  protected handle(raw: unknown): void {
    const req = raw as DeltaRequest;
    if (!this.identify(req.node)) return;
    if (!req.type_url) return this.fail(GrpcStatus.INVALID_ARGUMENT, 'type_url is required');
    const found = this.typeState(req.type_url, (t) => new DeltaState(t));
    if (!found) return;
    const { state, isNew } = found;

    if (req.response_nonce) this.answer(state, req.response_nonce, errorDetail(req.error_detail));

    const subscribe = req.resource_names_subscribe;
    if (isNew) {
      state.wildcard = subscribe.length === 0 || subscribe.includes('*');
      this.subscribeNames(state, new Set(subscribe.filter((n) => n !== '*')));
      return this.sendInitial(state, req.initial_resource_versions ?? {});
    }

    if (subscribe.length === 0 && req.resource_names_unsubscribe.length === 0) return; // an ACK or NACK only
    let wildcardAdded = false;
    const names = new Set(state.names);
    for (const n of req.resource_names_unsubscribe) {
      if (n === '*') state.wildcard = false;
      else names.delete(n);
    }
    const requested: string[] = [];
    for (const n of subscribe) {
      if (n === '*') {
        wildcardAdded = !state.wildcard;
        state.wildcard = true;
      } else {
        names.add(n);
        requested.push(n); // (re)subscribing asks for the resource again
      }
    }
    if (names.size !== state.names.size || requested.some((n) => !state.names.has(n))) this.subscribeNames(state, names);
    if (wildcardAdded) {
      const all = this.host.cache.typeSet(this.group, state.typeUrl)?.entries.keys() ?? [];
      this.sendNames(state, [...new Set([...all, ...requested])]);
    } else if (requested.length > 0) {
      this.sendNames(state, requested);
    }
  }

  protected onChanges(changes: ChangeBatch): void {
    const order = pushOrder(changes.has(CLUSTER) ? new Set([...changes.keys(), ENDPOINT]) : changes.keys());
    let clustersSent: string[] = [];
    for (const typeUrl of order) {
      const state = this.types.get(typeUrl);
      if (!state) continue;
      const entries: Entry[] = [];
      const removed: string[] = [];
      for (const [name, seq] of changes.get(typeUrl) ?? []) {
        if (seq <= state.syncedSeq || (state.sentEarly?.get(name) ?? 0) >= seq || !state.covers(name)) continue;
        const e = this.host.cache.get(this.group, typeUrl, name);
        if (e) entries.push(e);
        else removed.push(name);
      }
      state.sentEarly = undefined;
      if (typeUrl === ENDPOINT) {
        // A changed cluster warms again and waits for its endpoints: send them even if unchanged.
        const have = new Set(entries.map((e) => e.name));
        const rewarm = clustersSent.filter((n) => state.covers(n) && !have.has(n) && !removed.includes(n));
        entries.push(...lookup(this.host, this.group, ENDPOINT, rewarm).found);
      }
      if (entries.length === 0 && removed.length === 0) continue;
      this.send(state, entries.sort(byName), removed.sort(), this.host.cache.seq);
      if (typeUrl === CLUSTER) clustersSent = entries.map((e) => e.name);
    }
  }

  /** First request of a type: everything in scope that the client does not already hold. */
  private sendInitial(state: DeltaState, held: Record<string, string>): void {
    const set = this.host.cache.typeSet(this.group, state.typeUrl);
    const entries: Entry[] = [];
    if (state.wildcard && set) for (const e of set.entries.values()) if (held[e.name] !== e.version) entries.push(e);
    const explicit = [...state.names].filter((n) => !(state.wildcard && set?.entries.has(n)));
    const { found, missing } = lookup(this.host, this.group, state.typeUrl, explicit);
    for (const e of found) if (held[e.name] !== e.version) entries.push(e);
    // Names the client holds or asks for that no longer exist (EDS names are answered instead).
    const removed = new Set(missing);
    const answered = new Set(found.map((e) => e.name));
    for (const name of Object.keys(held)) {
      if (state.covers(name) && !set?.entries.has(name) && !answered.has(name)) removed.add(name);
    }
    state.syncedSeq = this.host.cache.seq;
    this.send(state, entries.sort(byName), [...removed].sort(), this.host.cache.seq);
  }

  /** Named resources on request; names that do not exist are reported removed. */
  private sendNames(state: DeltaState, names: string[]): void {
    const { found, missing } = lookup(this.host, this.group, state.typeUrl, names);
    if (this.host.pending(this.group, state.typeUrl)) {
      state.sentEarly ??= new Map();
      for (const n of names) state.sentEarly.set(n, this.host.cache.seq);
    }
    this.send(state, found.sort(byName), missing.sort(), 0);
  }

  private send(state: DeltaState, entries: Entry[], removed: string[], seq: number): void {
    const { typeUrl } = state;
    const version = this.host.cache.typeSet(this.group, typeUrl)?.version ?? setVersion([]);
    // The key names the exact content, so streams sent the same resources share one encoding:
    // a push of one change, or routers of one label connecting at once.
    const body = this.host.body(`delta|${this.group}|${typeUrl}|${version}|${setVersion(entries)}|${removed.join('\0')}`, () =>
      encodeDeltaBody(version, typeUrl, entries.map((e) => e.delta), removed),
    );
    const nonce = this.nonce();
    this.write(state, version, nonce, withNonce(body, nonce), seq);
  }
}
