import { createHash } from 'crypto';
import type { Api } from './api';

/**
 * GatewayState: everything the gateway serves, as an immutable revision. Sources produce
 * events; `apply` returns a new revision, or the same object when the event changes nothing
 * (a redeploy of identical content, an undeploy of something unknown), so consumers can skip
 * work by comparing identities.
 */

export type GatewayEvent =
  /** An API (re)deployed to the labels it names. */
  | { kind: 'ApiDeployed'; api: Api }
  /** An API removed from some labels, or from all when `labels` is absent. */
  | { kind: 'ApiUndeployed'; apiId: string; labels?: string[] };

export class GatewayState {
  private byLabel?: Map<string, Api[]>;

  private constructor(
    readonly revision: number,
    private readonly apiMap: ReadonlyMap<string, Api>,
    private readonly fingerprints: ReadonlyMap<string, string>,
  ) {}

  static empty(): GatewayState {
    return new GatewayState(0, new Map(), new Map());
  }

  get apis(): ReadonlyMap<string, Api> {
    return this.apiMap;
  }

  /** The APIs deployed to a label, ordered by id (deterministic). */
  apisFor(label: string): readonly Api[] {
    if (!this.byLabel) {
      this.byLabel = new Map();
      const sorted = [...this.apiMap.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      for (const api of sorted) {
        for (const l of api.labels) {
          let list = this.byLabel.get(l);
          if (!list) this.byLabel.set(l, (list = []));
          list.push(api);
        }
      }
    }
    return this.byLabel.get(label) ?? [];
  }

  /** Every label some API is deployed to. */
  labels(): string[] {
    return [...new Set([...this.apiMap.values()].flatMap((a) => a.labels))].sort();
  }

  apply(event: GatewayEvent): GatewayState {
    return this.applyAll([event]);
  }

  /** Applies a batch as one revision (a startup pull of thousands of APIs is one change). */
  applyAll(events: readonly GatewayEvent[]): GatewayState {
    let apis: Map<string, Api> | undefined;
    let prints: Map<string, string> | undefined;
    const write = (): [Map<string, Api>, Map<string, string>] => {
      apis ??= new Map(this.apiMap);
      prints ??= new Map(this.fingerprints);
      return [apis, prints];
    };
    for (const e of events) {
      const current = apis ?? this.apiMap;
      if (e.kind === 'ApiDeployed') {
        const print = fingerprint(e.api);
        if ((prints ?? this.fingerprints).get(e.api.id) === print) continue;
        const [a, p] = write();
        a.set(e.api.id, e.api);
        p.set(e.api.id, print);
      } else {
        const api = current.get(e.apiId);
        if (!api) continue;
        const keep = e.labels ? api.labels.filter((l) => !e.labels!.includes(l)) : [];
        if (keep.length === api.labels.length) continue;
        const [a, p] = write();
        if (keep.length === 0) {
          a.delete(e.apiId);
          p.delete(e.apiId);
        } else {
          const narrowed = { ...api, labels: keep };
          a.set(e.apiId, narrowed);
          p.set(e.apiId, fingerprint(narrowed));
        }
      }
    }
    return apis ? new GatewayState(this.revision + 1, apis, prints!) : this;
  }
}

/** A content hash of an API, independent of key order. */
export function fingerprint(api: Api): string {
  return createHash('sha256').update(stableJson(api)).digest('base64url');
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const keys = Object.keys(v).filter((k) => (v as Record<string, unknown>)[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}
