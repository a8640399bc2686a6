/** The emulator's tables, with the id counters APIM's database would hand out. */
import type {
  ApiRecord, ApplicationRecord, BlockingRecord, KeyManagerRecord, KeyMappingRecord, PolicyKind, PolicyRecord,
  RevokedTokenRecord, SubscriptionRecord,
} from './model';

export class EmulatorState {
  readonly apis = new Map<string, ApiRecord>();
  readonly applications = new Map<string, ApplicationRecord>();
  readonly keyMappings: KeyMappingRecord[] = [];
  readonly subscriptions = new Map<string, SubscriptionRecord>();
  readonly policies: Record<PolicyKind, Map<string, PolicyRecord>> = {
    application: new Map(),
    subscription: new Map(),
    api: new Map(),
  };
  /** By keyManagerKey(tenant, name). */
  readonly keyManagers = new Map<string, KeyManagerRecord>();
  readonly revokedTokens: RevokedTokenRecord[] = [];
  readonly blockingConditions = new Map<number, BlockingRecord>();
  readonly keyTemplates: string[] = [];
  /** Gateway environments APIM knows (deploy acks naming others get 400). */
  readonly environments = new Set<string>(['Default']);

  private readonly counters: Record<string, number> = {};

  nextId(kind: string): number {
    this.counters[kind] = (this.counters[kind] ?? 0) + 1;
    return this.counters[kind]!;
  }

  api(uuid: string): ApiRecord {
    const a = this.apis.get(uuid);
    if (!a) throw new Error(`apim-emulator: no API ${uuid}`);
    return a;
  }

  application(uuid: string): ApplicationRecord {
    const a = this.applications.get(uuid);
    if (!a) throw new Error(`apim-emulator: no application ${uuid}`);
    return a;
  }

  subscription(uuid: string): SubscriptionRecord {
    const s = this.subscriptions.get(uuid);
    if (!s) throw new Error(`apim-emulator: no subscription ${uuid}`);
    return s;
  }

  keyManager(tenant: string, name: string): KeyManagerRecord {
    const k = this.keyManagers.get(keyManagerKey(tenant, name));
    if (!k) throw new Error(`apim-emulator: no key manager ${name} in tenant ${tenant}`);
    return k;
  }

  policy(kind: PolicyKind, name: string): PolicyRecord {
    const p = this.policies[kind].get(name);
    if (!p) throw new Error(`apim-emulator: no ${kind} policy ${name}`);
    return p;
  }
}

/** Key managers are named uniquely within a tenant (APIM's AM_KEY_MANAGER: name and organization). */
export const keyManagerKey = (tenant: string, name: string): string => `${tenant}\0${name}`;
