import { X509Certificate } from 'crypto';

/** What a decision needs from the client certificate the router passed. */
export interface PeerCertificate {
  /** SHA-256 of the DER, colon-separated upper-case hex (as the adapter names client certificates). */
  fingerprint256: string;
  validFrom: number;
  validTo: number;
  subject: string;
}

/** Distinct certificates kept parsed; beyond it the memo starts over (clients reuse few certificates). */
const MAX_REMEMBERED = 1024;

/**
 * Parses the peer certificate Envoy passes with `include_peer_certificate` (`source.certificate`,
 * a URL-encoded PEM). Memoized: a client sends the same certificate on every request.
 */
export class PeerCertificates {
  private readonly parsed = new Map<string, PeerCertificate | Error>();

  /** The certificate, or an Error saying why it is not one. */
  parse(encoded: string): PeerCertificate | Error {
    let hit = this.parsed.get(encoded);
    if (!hit) {
      if (this.parsed.size >= MAX_REMEMBERED) this.parsed.clear();
      hit = parsePeerCertificate(encoded);
      this.parsed.set(encoded, hit);
    }
    return hit;
  }
}

function parsePeerCertificate(encoded: string): PeerCertificate | Error {
  try {
    const x = new X509Certificate(decodeURIComponent(encoded));
    return { fingerprint256: x.fingerprint256, validFrom: Date.parse(x.validFrom), validTo: Date.parse(x.validTo), subject: x.subject.replace(/\n/g, ', ') };
  } catch (e) {
    return new Error(`the client certificate does not parse (${(e as Error).message})`);
  }
}
