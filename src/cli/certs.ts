import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import * as crypto from 'crypto';
import * as fs from 'fs';
import { isIP } from 'net';
import * as path from 'path';
import { ConfigError } from '../config/config';

/**
 * `apim-connect ctl certs --out DIR [--hosts NAME,...] [--days N]`: a private CA and, signed by
 * it, a certificate and key for each part that speaks gRPC: the adapter and the enforcer (servers,
 * and clients of the adapter), the routers and ctl (clients only). Run again over the same
 * folder, it keeps the CA and issues fresh certificates, which running processes pick up.
 */

export interface Role {
  name: string;
  /** Extended key usages: serverAuth for what listens, clientAuth for what connects. */
  server: boolean;
  client: boolean;
  /** DNS names and IP addresses in its subjectAltName. */
  hosts: string[];
  /** The roles it holds, as URIs in its subjectAltName (roleUri): what the adapter authorizes by. */
  roles: string[];
}

/** A role as a URI SAN, the identity `tls.enforcerIdentities` names ("spiffe://apim-connect/enforcer"). */
const roleUri = (role: string): string => `spiffe://apim-connect/${role}`;

/** Names the parts have in docker-compose.yaml, and this host for a router or `all` beside them. */
const LOCAL = ['localhost', '127.0.0.1', '::1'];

/**
 * The parts. The adapter may also connect: in `all` the enforcer presents the adapter's
 * certificate, and so does ctl on its host; so it holds the enforcer role too (it has all the data anyway).
 */
export function roles(extraHosts: string[] = []): Role[] {
  return [
    { name: 'adapter', server: true, client: true, hosts: ['adapter', ...LOCAL, ...extraHosts], roles: ['adapter', 'enforcer'] },
    { name: 'enforcer', server: true, client: true, hosts: ['enforcer', ...LOCAL, ...extraHosts], roles: ['enforcer'] },
    { name: 'router', server: false, client: true, hosts: ['router'], roles: ['router'] },
    { name: 'ctl', server: false, client: true, hosts: [], roles: ['ctl'] },
  ];
}

type CryptoKey = crypto.webcrypto.CryptoKey;
type CryptoKeyPair = crypto.webcrypto.CryptoKeyPair;
const { webcrypto } = crypto;
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DAY = 24 * 3600 * 1000;
x509.cryptoProvider.set(webcrypto as never);

export interface Issued {
  name: string;
  certPem: string;
  keyPem: string;
}

interface Ca {
  cert: x509.X509Certificate;
  key: CryptoKey;
}

const keyPair = (): Promise<CryptoKeyPair> => webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);

async function keyPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

/** A random positive 16-byte serial (RFC 5280: unique per CA, at most 20 bytes). */
const serial = (): string => '01' + crypto.randomBytes(15).toString('hex');

async function newCa(days: number): Promise<Ca & { keyPem: string }> {
  const keys = await keyPair();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: 'CN=apim-connect CA',
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + days * DAY),
    signingAlgorithm: ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, key: keys.privateKey, keyPem: await keyPem(keys.privateKey) };
}

/** A CA `ctl certs` made before (its P-256 key and certificate), to sign new certificates with. */
async function loadCa(certPem: string, keyPemText: string, where: string): Promise<Ca> {
  const cert = new x509.X509Certificate(certPem);
  const der = crypto.createPrivateKey(keyPemText).export({ type: 'pkcs8', format: 'der' });
  let key: CryptoKey;
  try {
    key = await webcrypto.subtle.importKey('pkcs8', der, ALG, false, ['sign']);
  } catch {
    throw new Error(`${where}: the CA key is not an EC P-256 key (make a new CA in an empty folder)`);
  }
  if (!(await cert.verify({ publicKey: cert.publicKey, signatureOnly: true }))) throw new Error(`${where}: the CA certificate is not self-signed`);
  return { cert, key };
}

async function issue(ca: Ca, role: Role, days: number): Promise<Issued> {
  const keys = await keyPair();
  const now = Date.now();
  const usages = [...(role.server ? [x509.ExtendedKeyUsage.serverAuth] : []), ...(role.client ? [x509.ExtendedKeyUsage.clientAuth] : [])];
  const names = [
    ...role.hosts.map((h) => ({ type: isIP(h) ? ('ip' as const) : ('dns' as const), value: h })),
    ...role.roles.map((r) => ({ type: 'url' as const, value: roleUri(r) })),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${role.name}`,
    issuer: ca.cert.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(Math.min(now + days * DAY, ca.cert.notAfter.getTime())),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: ca.key,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(usages, false),
      new x509.SubjectAlternativeNameExtension(names, false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  return { name: role.name, certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

export interface CertsOptions {
  out: string;
  /** More names for the adapter's and the enforcer's certificates (the hosts clients dial). */
  hosts: string[];
  /** Validity of the new certificates (a new CA gets ten times as long). */
  days: number;
}

/** Writes ca.crt (and ca.key, kept if already there) and `<role>.crt`/`<role>.key` into `out`; returns what it wrote. */
export async function writeCertificates(opts: CertsOptions): Promise<{ files: string[]; reusedCa: boolean }> {
  fs.mkdirSync(opts.out, { recursive: true });
  const caCrt = path.join(opts.out, 'ca.crt');
  const caKey = path.join(opts.out, 'ca.key');
  const reusedCa = fs.existsSync(caCrt) && fs.existsSync(caKey);
  const files: string[] = [];
  let ca: Ca;
  if (reusedCa) ca = await loadCa(fs.readFileSync(caCrt, 'utf8'), fs.readFileSync(caKey, 'utf8'), caCrt);
  else {
    const made = await newCa(opts.days * 10);
    writeAtomically(caKey, made.keyPem, 0o600);
    writeAtomically(caCrt, made.cert.toString('pem'), 0o644);
    files.push(caCrt, caKey);
    ca = made;
  }
  for (const role of roles(opts.hosts)) {
    const { certPem, keyPem: key } = await issue(ca, role, opts.days);
    // The key first: a process that sees the new certificate finds its key already there.
    const keyFile = path.join(opts.out, `${role.name}.key`);
    const certFile = path.join(opts.out, `${role.name}.crt`);
    writeAtomically(keyFile, key, 0o600);
    writeAtomically(certFile, certPem, 0o644);
    files.push(certFile, keyFile);
  }
  return { files, reusedCa };
}

/** A file replaced whole (a rename), never seen half written, with its mode set before it appears. */
function writeAtomically(file: string, text: string, mode: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text, { mode });
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, file);
}

/** A DNS name (a leading wildcard allowed) or an IP address. */
const HOST = /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$/;

/** `--out`, `--hosts`, `--days` as given on the command line → options; a bad one names its flag. */
export function certsOptions(flags: { out?: string; hosts?: string; days?: string }): CertsOptions {
  if (!flags.out) throw new ConfigError('ctl certs: --out DIR is required (the folder for ca.crt and the certificates)');
  const hosts = (flags.hosts ?? '').split(',').map((h) => h.trim()).filter(Boolean);
  const bad = hosts.find((h) => !isIP(h) && !HOST.test(h));
  if (bad !== undefined) throw new ConfigError(`ctl certs: --hosts: "${bad}" is neither a DNS name nor an IP address`);
  const days = flags.days === undefined ? 365 : Number(flags.days);
  if (!Number.isInteger(days) || days < 1 || days > 3650) throw new ConfigError(`ctl certs: --days: expected a whole number of days from 1 to 3650, got "${flags.days}"`);
  return { out: flags.out, hosts, days };
}

/** `ctl certs`: writes the files and says how to turn TLS on with them. */
export async function runCerts(opts: CertsOptions, out: (line: string) => void): Promise<void> {
  const { files, reusedCa } = await writeCertificates(opts);
  out(reusedCa ? `kept the CA in ${opts.out}; new certificates (running processes load them within seconds):` : `a new CA and certificates in ${opts.out}:`);
  for (const f of files) out(`  ${f}`);
  const file = (name: string): string => JSON.stringify(path.resolve(opts.out, name));
  out('');
  out('turn mutual TLS on in the adapter\'s config.toml (the enforcer\'s takes enforcer.crt and enforcer.key; `all` uses the adapter\'s):');
  out('  [tls]');
  out(`  certFile = ${file('adapter.crt')}`);
  out(`  keyFile = ${file('adapter.key')}`);
  out(`  caFile = ${file('ca.crt')}`);
  out(`ctl from elsewhere: apim-connect ctl --ca ${file('ca.crt')} --cert ${file('ctl.crt')} --key ${file('ctl.key')} --address HOST:18000 nodes`);
  out('routers: router.crt and router.key with ca.crt (envoy/envoy.yaml); keep ca.key off the hosts that serve.');
  out(`each certificate names its role (${roleUri('<role>')}): the adapter sends the enforcer's data only to enforcer.crt and adapter.crt (tls.enforcerIdentities).`);
}
