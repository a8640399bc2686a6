import { SUPER_TENANT } from '../model/access';
import { JwksKeySet, type JwksOptions, type VerifyKey, publicKeyFrom } from './jwt-keys';

/** A token issuer as the config file defines it (CC's `[[enforcer.security.tokenService]]`). */
export interface IssuerDefinition {
  name: string;
  /** Matched exactly against the token's `iss`. */
  issuer: string;
  /** PEM: an X.509 certificate or a public key. */
  certificate?: string;
  jwksUrl?: string;
  consumerKeyClaim?: string;
  scopesClaim?: string;
  validateSubscription?: boolean;
  /** When set, the token's `aud` must name at least one of these. CC checks no audience. */
  audience?: string[];
}

/** What the registry resolved, swapped whole on every change. */
interface Resolved {
  /** Key-manager issuers: organization → `iss` → issuer. */
  byOrg: Map<string, Map<string, Issuer>>;
  /** The super tenant's Resident Key Manager, when it is a JWT issuer. */
  resident?: Issuer;
  /** Config-file issuers by `iss`, for every organization. */
  fromConfig: Map<string, Issuer>;
  /** `APIM APIkey` and `APIM Publisher`, by name. */
  byName: Map<string, Issuer>;
  /** Every issuer above. */
  current: Set<Issuer>;
}

/** A registered issuer: what validation needs, resolved once. Replaced (a new object) on every change. */
export interface Issuer {
  /** The issuer's name; for key managers, the KM name that key mappings refer to (C.7). */
  name: string;
  issuer: string;
  source: 'config' | 'keyManager';
  organization?: string;
  /** From the certificate, when one is configured and usable. */
  certificateKey?: VerifyKey;
  jwks?: JwksKeySet;
  consumerKeyClaim: string;
  scopesClaim: string;
  validateSubscription: boolean;
  audience?: readonly string[];
  /** Configuration that could not be used (a bad certificate, ...), for logs and diagnostics. */
  problems: string[];
}

/**
 * A key manager as the adapter serves it (apimconnect.enforcer.v1.KeyManager): only what
 * validating its tokens needs, already read from APIM's configuration by the adapter.
 */
export interface EnforcerKeyManager {
  name: string;
  organization: string;
  /** Empty: its tokens are not validated here. */
  issuer: string;
  jwks_url: string;
  certificate_pem: string;
  consumer_key_claim: string;
  scopes_claim: string;
}

export const API_KEY_ISSUER = 'APIM APIkey';
export const PUBLISHER_ISSUER = 'APIM Publisher';
/** APIM's own key manager. The super tenant's is the platform's, and the only one other organizations fall back to. */
const RESIDENT_KEY_MANAGER = 'Resident Key Manager';

interface Log {
  warn(message: string, meta?: object): unknown;
}

/**
 * (organization, `iss`) → issuer. A token is checked for an API of one organization, and only
 * these issuers may vouch for it, first found wins:
 * 1. that organization's key managers;
 * 2. the super tenant's Resident Key Manager: APIM's own, which signs every tenant's tokens when
 *    the tenants' own Resident Key Managers do not reach us (CC holds one issuer map for all);
 * 3. config-file issuers (`[[enforcer.security.tokenService]]`): the operator's, for every
 *    organization, unless one of the above claims the same `iss` (CC: a key manager replaces a
 *    config issuer of the same `iss`, and deleting it brings the config issuer back).
 * So a key manager of one organization never verifies tokens for another's APIs, whatever its
 * name or `iss`. Each change builds new maps and swaps them in one assignment: no request ever
 * sees a half-built registry, and every issuer object is new, so anything verified with an old
 * one is verified again.
 */
export class IssuerRegistry {
  private configDefs: IssuerDefinition[] = [];
  private keyManagers: EnforcerKeyManager[] = [];
  private resolved: Resolved = { byOrg: new Map(), fromConfig: new Map(), byName: new Map(), current: new Set() };
  /** JWKS sets live across rebuilds (keyed by organization, issuer and URL), so an unrelated KM event does not refetch. */
  private jwksSets = new Map<string, JwksKeySet>();
  private readonly log?: Log;

  constructor(private readonly options: { log?: Log; jwks?: JwksOptions } = {}) {
    this.log = options.log;
  }

  setConfigIssuers(list: readonly IssuerDefinition[]): void {
    this.configDefs = [...list];
    this.rebuild();
  }

  setKeyManagers(list: readonly EnforcerKeyManager[]): void {
    this.keyManagers = [...list];
    this.rebuild();
  }

  /** The issuer that vouches for tokens with this `iss` on the APIs of `organization`. */
  forIssuer(organization: string, iss: string): Issuer | undefined {
    const r = this.resolved;
    return r.byOrg.get(organization)?.get(iss) ?? (r.resident?.issuer === iss ? r.resident : undefined) ?? r.fromConfig.get(iss);
  }

  /** The issuer that signs APIM's API keys: `APIM APIkey`, else `APIM Publisher` (C.9). */
  apiKeyIssuer(): Issuer | undefined {
    return this.resolved.byName.get(API_KEY_ISSUER) ?? this.resolved.byName.get(PUBLISHER_ISSUER);
  }

  /** The issuer that signs APIM's internal keys (the Publisher's try-out keys): `APIM Publisher` (C.9). */
  internalKeyIssuer(): Issuer | undefined {
    return this.resolved.byName.get(PUBLISHER_ISSUER);
  }

  /** Whether `issuer` is still what the registry holds (a cached verification made with it stands). */
  isCurrent(issuer: Issuer): boolean {
    return this.resolved.current.has(issuer);
  }

  list(): Issuer[] {
    return [...this.resolved.current];
  }

  private rebuild(): void {
    const jwks = new Map<string, JwksKeySet>();
    const byOrg = new Map<string, Map<string, Issuer>>();
    let resident: Issuer | undefined;
    // By name, so every enforcer picks the same one when two of an organization claim one issuer.
    const kms = [...this.keyManagers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const km of kms) {
      const def = keyManagerIssuer(km);
      if (!def) continue;
      let own = byOrg.get(km.organization);
      if (!own) byOrg.set(km.organization, (own = new Map()));
      const taken = own.get(def.issuer);
      if (taken) {
        this.log?.warn('Two key managers of one organization claim one issuer; the first by name is used', {
          organization: km.organization,
          issuer: def.issuer,
          used: taken.name,
          ignored: km.name,
        });
        continue;
      }
      const issuer = this.resolve(def, 'keyManager', jwks, km.organization);
      own.set(def.issuer, issuer);
      if (km.organization === SUPER_TENANT && km.name.toLowerCase() === RESIDENT_KEY_MANAGER.toLowerCase()) resident = issuer;
    }
    const fromConfig = new Map<string, Issuer>();
    const byName = new Map<string, Issuer>();
    for (const def of this.configDefs) {
      const issuer = this.resolve(def, 'config', jwks);
      // API keys and internal keys are verified by issuer name, whatever their `iss` (C.9); CC's
      // default `APIM APIkey` entry has no `iss` of its own.
      if (def.name === API_KEY_ISSUER || def.name === PUBLISHER_ISSUER) byName.set(def.name, issuer);
      if (!def.issuer || fromConfig.has(def.issuer)) continue;
      fromConfig.set(def.issuer, issuer);
      const claimedBy = [...byOrg].filter(([, own]) => own.has(def.issuer)).map(([org, own]) => `${own.get(def.issuer)?.name} (${org})`);
      if (claimedBy.length) {
        this.log?.warn('Existing configurations will be replaced by external KeyManager configurations, for their organizations\' APIs', {
          issuer: def.issuer,
          configIssuer: def.name,
          keyManagers: claimedBy,
        });
      }
    }
    const current = new Set<Issuer>([...[...byOrg.values()].flatMap((own) => [...own.values()]), ...fromConfig.values(), ...byName.values()]);
    this.jwksSets = jwks;
    this.resolved = { byOrg, resident, fromConfig, byName, current };
  }

  private resolve(def: IssuerDefinition, source: Issuer['source'], jwks: Map<string, JwksKeySet>, organization?: string): Issuer {
    const problems: string[] = [];
    let certificateKey: VerifyKey | undefined;
    if (def.certificate) {
      try {
        certificateKey = publicKeyFrom(def.certificate);
      } catch (e) {
        problems.push(`certificate: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    let set: JwksKeySet | undefined;
    if (def.jwksUrl) {
      // Per organization too: one organization's unknown kids never spend another's refreshes.
      const id = `${organization ?? ''}\n${def.issuer}\n${def.jwksUrl}`;
      set = this.jwksSets.get(id) ?? new JwksKeySet(def.jwksUrl, { log: this.log, ...this.options.jwks });
      jwks.set(id, set);
    }
    if (!certificateKey && !set) problems.push('no usable certificate and no JWKS URL');
    if (problems.length) this.log?.warn('Issuer cannot verify every token', { issuer: def.issuer, name: def.name, problems });
    return {
      name: def.name,
      issuer: def.issuer,
      source,
      organization,
      certificateKey,
      jwks: set,
      consumerKeyClaim: def.consumerKeyClaim || 'azp',
      scopesClaim: def.scopesClaim || 'scope',
      validateSubscription: def.validateSubscription ?? true,
      audience: def.audience?.length ? [...def.audience] : undefined,
      problems,
    };
  }
}

/** A key manager as an issuer definition, or undefined when it has no issuer. KM issuers always validate subscriptions. */
export function keyManagerIssuer(km: EnforcerKeyManager): IssuerDefinition | undefined {
  if (!km.issuer) return undefined;
  return {
    name: km.name,
    issuer: km.issuer,
    certificate: km.certificate_pem || undefined,
    jwksUrl: km.jwks_url || undefined,
    consumerKeyClaim: km.consumer_key_claim || undefined,
    scopesClaim: km.scopes_claim || undefined,
    validateSubscription: true,
  };
}
