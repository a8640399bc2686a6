import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import type { PeerCertificate } from 'tls';
import { ENFORCER_PREFIX, messageName, TYPE_PREFIX } from '../envoy/typeUrls';
import type { XdsPeer } from '../xds/stream';

/**
 * Who may receive the enforcer's resources (backend credentials, key managers, applications, key
 * mappings): with mutual TLS, only a client whose certificate names an enforcer identity. Routers
 * and ctl hold certificates of the same CA but not that name, so they get their own types only.
 */

const ENFORCER_MESSAGES = ENFORCER_PREFIX.slice(TYPE_PREFIX.length);

/** Any type URL of an enforcer message, whatever comes before the last '/'. */
const isEnforcerType = (typeUrl: string): boolean => messageName(typeUrl).startsWith(ENFORCER_MESSAGES);

/** The URIs and DNS names in a certificate's subjectAltName (none for a certificate without one). */
function certificateNames(certificate: PeerCertificate): string[] {
  const san = new x509.X509Certificate(certificate.raw).getExtension(x509.SubjectAlternativeNameExtension);
  return (san?.names.items ?? []).filter((n) => n.type === 'url' || n.type === 'dns').map((n) => n.value);
}

/**
 * The adapter's rule for XdsServer's `authorize`: enforcer types to a certificate naming one of
 * `identities` (or to any, with "*"); every other type to every client the TLS layer let in.
 */
export function enforcerTypesOnlyTo(identities: readonly string[]): (peer: XdsPeer, typeUrl: string) => true | string {
  const anyCertificate = identities.includes('*');
  const allowed = new Set(identities);
  return (peer, typeUrl) => {
    if (!isEnforcerType(typeUrl) || anyCertificate) return true;
    if (!peer.certificate) return `${typeUrl} is only for enforcers, and this client presented no certificate`;
    const names = certificateNames(peer.certificate);
    if (names.some((n) => allowed.has(n))) return true;
    return `${typeUrl} is only for enforcers: the client certificate names ${names.length ? names.join(', ') : 'nothing'}, none of tls.enforcerIdentities`;
  };
}
