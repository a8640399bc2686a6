import { status as GrpcStatus } from '@grpc/grpc-js';
import { CLUSTER, ENDPOINT } from '../envoy/typeUrls';
import { setVersion, type Entry } from './cache';
import { encodeSotwBody, withNonce } from './wire';
import { byName, errorDetail, lookup, pushOrder, TypeStatus, XdsStream, type ChangeBatch } from './stream';

interface SotwRequest {
  version_info: string;
  node?: { id?: string; cluster?: string; user_agent_name?: string } | null;
  resource_names: string[];
  type_url: string;
  response_nonce: string;
  error_detail?: { code?: number; message?: string } | null;
}

class SotwState extends TypeStatus {
  /** Subscribed by an empty name list (legacy wildcard) rather than by "*". */
  legacyWildcard = false;
}

/**
 * State-of-the-world ADS. Every response carries the client's whole view of a type: all
 * resources for a wildcard subscription, the requested names otherwise. Its version is the
 * content hash of exactly that view, so an unchanged view is never sent again and a NACKed one
 * is not resent until the content changes.
 */
export class SotwStream extends XdsStream<SotwState> {
  protected handle(raw: unknown): void {
    const req = raw as SotwRequest;
    if (!this.identify(req.node)) return;
    if (!req.type_url) return this.fail(GrpcStatus.INVALID_ARGUMENT, 'type_url is required');
    const found = this.typeState(req.type_url, (t) => new SotwState(t));
    if (!found) return;
    const { state, isNew } = found;

    // Only a request for the latest nonce acknowledges anything; a stale one may still change
    // the subscription, so it is not dropped.
    if (req.response_nonce && req.response_nonce === state.lastSentNonce) this.answer(state, req.response_nonce, errorDetail(req.error_detail));
    const changed = this.subscribe(state, req.resource_names, isNew);
    // The first request of each type is always answered (an empty list lets a router finish
    // initialising; an EDS answer lets a cluster finish warming), and so is any change of names.
    if (isNew || changed) this.respond(state, true);
  }

  protected onChanges(changes: ChangeBatch): void {
    const order = pushOrder(changes.has(CLUSTER) ? new Set([...changes.keys(), ENDPOINT]) : changes.keys());
    let clustersSent: string[] | undefined;
    for (const typeUrl of order) {
      const state = this.types.get(typeUrl);
      if (!state) continue;
      const names = changes.get(typeUrl);
      let relevant = false;
      if (names) for (const [name, seq] of names) if (seq > state.syncedSeq && state.covers(name)) relevant = true;
      // A changed cluster warms again and waits for its endpoints: send them even if unchanged.
      const rewarm = typeUrl === ENDPOINT && !!clustersSent?.some((n) => state.covers(n));
      if (!relevant && !rewarm) continue;
      const sent = this.respond(state, rewarm);
      if (typeUrl === CLUSTER && sent && names) clustersSent = [...names.keys()];
    }
  }

  private subscribe(state: SotwState, requested: readonly string[], isNew: boolean): boolean {
    // Envoy repeats its whole name list in every ACK: the common case is "same as before", checked
    // without building a set. (A list that repeats a name while dropping another of the same
    // count would pass as unchanged; no client sends duplicate names.)
    if (!isNew && !state.wildcard && requested.length === state.names.size && requested.every((n) => state.names.has(n))) return false;
    const star = requested.includes('*');
    const explicit = new Set(requested.filter((n) => n !== '*'));
    // An empty list is a wildcard on the first request (and stays one); after named requests it
    // means "nothing".
    const legacy = !star && requested.length === 0 && (isNew || state.legacyWildcard);
    const wildcard = star || legacy;
    state.legacyWildcard = legacy;
    const changed = wildcard !== state.wildcard || explicit.size !== state.names.size || [...explicit].some((n) => !state.names.has(n));
    if (!changed) return false;
    state.wildcard = wildcard;
    this.subscribeNames(state, explicit);
    return true;
  }

  /** Sends the current view if it differs from the last one sent (or always, when `force`). */
  private respond(state: SotwState, force: boolean): boolean {
    const { typeUrl } = state;
    const set = this.host.cache.typeSet(this.group, typeUrl);
    let version: string;
    let entries: () => Entry[];
    if (!state.wildcard) {
      const view = this.host.namedView(this.group, typeUrl, state.names);
      version = view.version;
      entries = () => view.entries;
    } else {
      const extra = [...state.names].filter((n) => !set?.entries.has(n));
      if (extra.length === 0) {
        version = set?.version ?? setVersion([]);
        entries = () => (set ? [...set.entries.values()].sort(byName) : []);
      } else {
        // "*" plus names that do not exist: only EDS answers those (with empty assignments).
        const all = [...(set?.entries.values() ?? []), ...lookup(this.host, this.group, typeUrl, extra).found].sort(byName);
        version = setVersion(all);
        entries = () => all;
      }
    }
    const seq = this.host.cache.seq;
    state.syncedSeq = seq;
    if (!force && version === state.lastSentVersion) return false;
    const body = this.host.body(`sotw|${this.group}|${typeUrl}|${version}`, () =>
      encodeSotwBody(version, typeUrl, entries().map((e) => e.any)),
    );
    const nonce = this.nonce();
    this.write(state, version, nonce, withNonce(body, nonce), seq);
    return true;
  }
}
