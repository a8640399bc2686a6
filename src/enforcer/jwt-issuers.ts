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

interface Log {
  warn(message: string, meta?: object): unknown;
}

/**
 * `iss` → issuer. Two inputs merged as CC's KeyManagerHolder.updateIssuerMap does (reference F):
 * key-manager issuers first, then each config issuer whose `issuer` string no KM has claimed (a KM
 * replaces it, with a warning). Both inputs are kept, so deleting a KM brings the config issuer back.
 * Each change builds a new map and swaps it in one assignment: no request ever sees a half-built map.
 */
export class IssuerRegistry {
  private configDefs: IssuerDefinition[] = [];
  private keyManagers: EnforcerKeyManager[] = [];
  private byIss = new Map<string, Issuer>();
  /** Config issuers by name: API keys are verified by issuer name, whatever their `iss` (C.9). */
  private byName = new Map<string, Issuer>();
  /** JWKS sets live across rebuilds (keyed by issuer and URL), so an unrelated KM event does not refetch. */
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

  forIssuer(iss: string): Issuer | undefined {
    return this.byIss.get(iss);
  }

  /** The issuer that signs APIM's API keys: `APIM APIkey`, else `APIM Publisher` (C.9). */
  apiKeyIssuer(): Issuer | undefined {
    return this.byName.get(API_KEY_ISSUER) ?? this.byName.get(PUBLISHER_ISSUER);
  }

  /** The issuer that signs APIM's internal keys (the Publisher's try-out keys): `APIM Publisher` (C.9). */
  internalKeyIssuer(): Issuer | undefined {
    return this.byName.get(PUBLISHER_ISSUER);
  }

  /** Whether `issuer` is still what the registry holds (a cached verification made with it stands). */
  isCurrent(issuer: Issuer): boolean {
    return this.byIss.get(issuer.issuer) === issuer || this.byName.get(issuer.name) === issuer;
  }

  list(): Issuer[] {
    return [...this.byIss.values()];
  }

  private rebuild(): void {
    const next = new Map<string, Issuer>();
    const jwks = new Map<string, JwksKeySet>();
    for (const km of this.keyManagers) {
      const def = keyManagerIssuer(km);
      if (!def) continue;
      if (next.has(def.issuer)) {
        this.log?.warn('Two key managers claim one issuer; the later one is used', { issuer: def.issuer, keyManager: km.name });
      }
      next.set(def.issuer, this.resolve(def, 'keyManager', jwks, km.organization));
    }
    const byName = new Map<string, Issuer>();
    for (const def of this.configDefs) {
      if (def.name === API_KEY_ISSUER || def.name === PUBLISHER_ISSUER) {
        // CC's default `APIM APIkey` entry has no `iss` of its own: it is found only by name.
        const issuer = this.resolve(def, 'config', jwks);
        byName.set(def.name, issuer);
        if (def.issuer && !next.has(def.issuer)) next.set(def.issuer, issuer);
        continue;
      }
      if (next.has(def.issuer)) {
        this.log?.warn('Existing configurations will be replaced by external KeyManager configurations', {
          issuer: def.issuer,
          configIssuer: def.name,
          keyManager: next.get(def.issuer)?.name,
        });
        continue;
      }
      next.set(def.issuer, this.resolve(def, 'config', jwks));
    }
    this.jwksSets = jwks;
    this.byIss = next;
    this.byName = byName;
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
      const id = `${def.issuer}\n${def.jwksUrl}`;
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
