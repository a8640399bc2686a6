import { isIP } from 'net';
import { ConfigError, type Config } from './config';

/**
 * Rule 11 of the design: every port listens on loopback unless configured otherwise, and nothing
 * listens beyond loopback without mutual TLS unless `tls.allowInsecureNonLoopback` says so.
 */

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and localhost: addresses no other host reaches. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/** Certificate, key and the CA that signs the clients: what a port beyond loopback needs. */
const mutualTls = (tls: Config['tls']): boolean => Boolean(tls.certFile && tls.keyFile && tls.caFile);

/**
 * Whether a port the config key `key` names may listen on `host`: throws when it may not, returns
 * a warning to log when only `tls.allowInsecureNonLoopback` lets it.
 */
export function checkListen(key: string, host: string, tls: Config['tls']): string | undefined {
  if (isLoopback(host) || mutualTls(tls)) return undefined;
  const what = `${key} = "${host}" listens beyond loopback without mutual TLS`;
  if (!tls.allowInsecureNonLoopback) {
    throw new ConfigError(
      `${what}: set tls.certFile, tls.keyFile and tls.caFile (apim-connect ctl certs makes them), listen on 127.0.0.1, or set tls.allowInsecureNonLoopback = true`,
    );
  }
  return `${what} (tls.allowInsecureNonLoopback = true): anyone who reaches it can read what it serves`;
}
