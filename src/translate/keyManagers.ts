import { X509Certificate } from 'crypto';
import type { KeyManager } from '../model/access';

/**
 * A key manager as an enforcer receives it (apimconnect.enforcer.v1.KeyManager): the few fields
 * of APIM's configuration map that validating its tokens needs, and nothing else of that map
 * (client secrets, user names and passwords stay in the adapter). Pure.
 *
 * The issuer is left empty when Choreo Connect would ignore the key manager: disabled, not
 * self-validating (opaque tokens), or without an issuer.
 */
export function keyManagerResource(km: KeyManager): object {
  const out = { name: km.name, organization: km.organization };
  if (!km.enabled) return out;
  // APIM's newer event format nests the keys under additionalProperties (apim-protocol 2.4); accept both.
  const nested = km.configuration.additionalProperties;
  const c: Record<string, unknown> = isObject(nested) ? { ...km.configuration, ...nested } : km.configuration;
  if (c.self_validate_jwt !== true && c.self_validate_jwt !== 'true') return out;
  const issuer = str(c.issuer);
  if (!issuer) return out;
  const type = str(c.certificate_type)?.toUpperCase();
  const value = str(c.certificate_value);
  return {
    ...out,
    issuer,
    // CC: a JWKS certificate_value overrides jwks_endpoint.
    jwks_url: type === 'JWKS' && value ? value : str(c.jwks_endpoint),
    certificate_pem: type === 'PEM' && value ? pemFromKeyManager(value) : undefined,
    consumer_key_claim: str(c.consumer_key_claim),
    scopes_claim: str(c.scopes_claim),
  };
}

/**
 * `certificate_value` for PEM is base64 of the PEM text or of the DER certificate. We keep PEM text
 * as is; DER becomes PEM so the enforcer has one certificate format. Raw PEM (not base64) is tolerated.
 */
function pemFromKeyManager(value: string): string {
  if (value.includes('-----BEGIN')) return value;
  const bytes = Buffer.from(value.replace(/\s+/g, ''), 'base64');
  const text = bytes.toString('latin1');
  if (text.includes('-----BEGIN')) return text;
  let label = 'CERTIFICATE';
  try {
    new X509Certificate(bytes);
  } catch {
    label = 'PUBLIC KEY'; // a bare SubjectPublicKeyInfo; the enforcer reports it if it is not one either
  }
  const body = bytes.toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
