import * as grpc from '@grpc/grpc-js';
import * as fs from 'fs';
import * as tls from 'tls';
import { ConfigError } from '../config/config';
import type { Log } from '../xds/log';

/**
 * TLS for our gRPC servers and clients from PEM files ([tls] in config.toml, or ctl's flags),
 * re-read when the files change: grpc-js's certificate-provider credentials hand every update to
 * the server's `setSecureContext` and to each new client connection, so a renewed certificate is
 * served without a restart (connections already open keep the one they started with).
 */

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** The CA that signs the peers; a client without one trusts the system's CAs. */
  caFile: string;
  /** What names each file in errors: config keys (default) or command-line flags. */
  names?: { cert: string; key: string; ca: string };
}

type CaListener = grpc.experimental.CaCertificateUpdateListener;
type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;

interface Pem {
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

const CONFIG_NAMES = { cert: 'tls.certFile', key: 'tls.keyFile', ca: 'tls.caFile' };
/** How often watched files are checked for a change. */
const POLL_MS = 1000;
const messageOf = (e: unknown): string => (typeof (e as Error)?.message === 'string' ? (e as Error).message : String(e));

/**
 * The files as a grpc-js certificate provider. Read when made (an unusable set stops startup with
 * the file named); polled while anything listens. A changed set that makes a TLS context replaces
 * the last one; one that does not (a certificate written before its key) is logged and the last
 * good set stays in use until the files are right.
 */
export class WatchedCertificates implements grpc.experimental.CertificateProvider {
  private current: Pem;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private readonly names: { cert: string; key: string; ca: string };
  private watching = false;
  private pending?: NodeJS.Timeout;

  constructor(
    private readonly files: TlsFiles,
    private readonly log?: Log,
  ) {
    this.names = files.names ?? CONFIG_NAMES;
    this.current = this.read();
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    this.startWatching();
    process.nextTick(listener, { caCertificate: this.current.ca });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
    this.maybeStopWatching();
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    this.startWatching();
    const { cert, key } = this.current;
    process.nextTick(listener, cert && key ? { certificate: cert, privateKey: key } : null);
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
    this.maybeStopWatching();
  }

  /** Reads the three files and proves they make a TLS context; throws a ConfigError naming the file. */
  private read(): Pem {
    const file = (name: string, path: string): Buffer => {
      try {
        return fs.readFileSync(path);
      } catch (e) {
        throw new ConfigError(`${name}: ${messageOf(e)}`);
      }
    };
    const { certFile, keyFile, caFile } = this.files;
    const pem: Pem = {
      ca: caFile ? file(this.names.ca, caFile) : Buffer.from(tls.rootCertificates.join('\n')),
      cert: certFile ? file(this.names.cert, certFile) : undefined,
      key: keyFile ? file(this.names.key, keyFile) : undefined,
    };
    try {
      tls.createSecureContext({ ca: pem.ca, cert: pem.cert, key: pem.key });
    } catch (e) {
      const which = [certFile && this.names.cert, keyFile && this.names.key, caFile && this.names.ca].filter(Boolean).join(', ');
      throw new ConfigError(`${which}: not a usable certificate, key and CA (${messageOf(e)})`);
    }
    return pem;
  }

  private reload(): void {
    let next: Pem;
    try {
      next = this.read();
    } catch (e) {
      this.log?.warn('TLS files changed but are not usable; the previous certificate stays in use', { error: (e as Error).message });
      return;
    }
    const same = (a?: Buffer, b?: Buffer): boolean => (a && b ? a.equals(b) : a === b);
    if (same(next.ca, this.current.ca) && same(next.cert, this.current.cert) && same(next.key, this.current.key)) return;
    this.current = next;
    this.log?.info('TLS certificate reloaded', { certFile: this.files.certFile, caFile: this.files.caFile });
    for (const l of this.caListeners) l({ caCertificate: next.ca });
    if (next.cert && next.key) for (const l of this.identityListeners) l({ certificate: next.cert, privateKey: next.key });
  }

  private paths(): string[] {
    return [this.files.certFile, this.files.keyFile, this.files.caFile].filter(Boolean);
  }

  /** A change to any file is picked up a moment later, so a certificate and key written one after the other load together. */
  private readonly changed = (curr: fs.Stats, prev: fs.Stats): void => {
    if (curr.mtimeMs === prev.mtimeMs && curr.ino === prev.ino && curr.size === prev.size) return;
    clearTimeout(this.pending);
    this.pending = setTimeout(() => this.reload(), 100);
  };

  private startWatching(): void {
    if (this.watching) return;
    this.watching = true;
    // Polling follows renames and symlink swaps (Kubernetes Secrets), which fs.watch loses.
    for (const p of this.paths()) fs.watchFile(p, { interval: POLL_MS, persistent: false }, this.changed);
  }

  private maybeStopWatching(): void {
    if (!this.watching || this.caListeners.size > 0 || this.identityListeners.size > 0) return;
    this.watching = false;
    clearTimeout(this.pending);
    for (const p of this.paths()) fs.unwatchFile(p, this.changed);
  }
}

/** A server speaks TLS when it has a certificate and key. */
const serverTls = (t: TlsFiles): boolean => Boolean(t.certFile && t.keyFile);

/**
 * Credentials for a server: plain without a certificate; TLS with one; mutual TLS (a client
 * certificate signed by the CA required) with a CA too.
 */
export function serverCredentials(files: TlsFiles, log?: Log): grpc.ServerCredentials {
  if (!serverTls(files)) return grpc.ServerCredentials.createInsecure();
  const certs = new WatchedCertificates(files, log);
  // grpc-js's .d.ts names these two the other way round; its code takes the identity first.
  return grpc.experimental.createCertificateProviderServerCredentials(certs, files.caFile ? certs : null, Boolean(files.caFile));
}

/** Credentials for a client: TLS when any file is given (the server checked against the CA, our certificate presented). */
export function channelCredentials(files: TlsFiles, log?: Log): grpc.ChannelCredentials {
  if (!files.certFile && !files.keyFile && !files.caFile) return grpc.credentials.createInsecure();
  const certs = new WatchedCertificates(files, log);
  return grpc.experimental.createCertificateProviderChannelCredentials(certs, files.certFile ? certs : null);
}

/** For the startup log: what a server's port asks of its clients. */
export function tlsMode(files: TlsFiles): 'mutual' | 'server-only' | 'off' {
  if (!serverTls(files)) return 'off';
  return files.caFile ? 'mutual' : 'server-only';
}

/**
 * ctl's TLS to the adapter: `--cert`, `--key`, `--ca` when any is given, else the config's [tls]
 * (on the adapter's host that is its own certificate, which may also connect as a client).
 */
export function ctlTlsFiles(flags: { cert?: string; key?: string; ca?: string }, config: TlsFiles): TlsFiles {
  if (!flags.cert && !flags.key && !flags.ca) return config;
  if (Boolean(flags.cert) !== Boolean(flags.key)) throw new ConfigError('ctl: --cert and --key: give both or neither');
  return { certFile: flags.cert ?? '', keyFile: flags.key ?? '', caFile: flags.ca ?? '', names: { cert: '--cert', key: '--key', ca: '--ca' } };
}
