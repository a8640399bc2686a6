import { execFileSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ConfigError } from '../../src/config/config';
import { certsOptions, runCerts, writeCertificates } from '../../src/cli/certs';

/** `ctl certs`: checked with OpenSSL's own verifier and Node's X.509 parser, not with the code that made them. */

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certs-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const read = (d: string, f: string): string => fs.readFileSync(path.join(d, f), 'utf8');
const cert = (d: string, role: string): crypto.X509Certificate => new crypto.X509Certificate(read(d, `${role}.crt`));
/** `openssl verify -purpose`: sslserver needs serverAuth, sslclient clientAuth. */
function verifies(d: string, role: string, purpose: 'sslserver' | 'sslclient'): boolean {
  try {
    execFileSync('openssl', ['verify', '-CAfile', path.join(d, 'ca.crt'), '-purpose', purpose, path.join(d, `${role}.crt`)], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

describe('ctl certs', () => {
  let output: string[];
  beforeAll(async () => {
    output = [];
    await runCerts(certsOptions({ out: dir, hosts: 'gw.example.com, 10.1.2.3' }), (l) => output.push(l));
  }, 60_000);

  test('a CA and a certificate and key per role; keys readable by their owner only', () => {
    for (const f of ['ca', 'adapter', 'enforcer', 'router', 'ctl']) {
      expect(fs.statSync(path.join(dir, `${f}.crt`)).mode & 0o777).toBe(0o644);
      expect(fs.statSync(path.join(dir, `${f}.key`)).mode & 0o777).toBe(0o600);
      expect(crypto.createPrivateKey(read(dir, `${f}.key`)).asymmetricKeyDetails).toEqual({ namedCurve: 'prime256v1' });
    }
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(output.join('\n')).toContain(`certFile = ${JSON.stringify(path.join(dir, 'adapter.crt'))}`);
  });

  test('the CA: self-signed, a CA, signs certificates only', () => {
    const ca = cert(dir, 'ca');
    expect(ca.ca).toBe(true);
    expect(ca.checkIssued(ca)).toBe(true);
    expect(ca.verify(ca.publicKey)).toBe(true);
    const text = execFileSync('openssl', ['x509', '-noout', '-text', '-in', path.join(dir, 'ca.crt')], { encoding: 'utf8' });
    expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(text).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/);
  });

  test.each([
    // The adapter's certificate also names the enforcer role: `all`'s enforcer and ctl on its host connect with it.
    ['adapter', true, true, ['DNS:adapter', 'DNS:localhost', 'IP Address:127.0.0.1', 'IP Address:0:0:0:0:0:0:0:1', 'DNS:gw.example.com', 'IP Address:10.1.2.3', 'URI:spiffe://apim-connect/adapter', 'URI:spiffe://apim-connect/enforcer']],
    ['enforcer', true, true, ['DNS:enforcer', 'DNS:localhost', 'IP Address:127.0.0.1', 'IP Address:0:0:0:0:0:0:0:1', 'DNS:gw.example.com', 'IP Address:10.1.2.3', 'URI:spiffe://apim-connect/enforcer']],
    ['router', false, true, ['DNS:router', 'URI:spiffe://apim-connect/router']],
    ['ctl', false, true, ['URI:spiffe://apim-connect/ctl']],
  ])('%s: server %s, client %s, names %j', (role, server, client, names) => {
    const c = cert(dir, role);
    expect(c.subject).toBe(`CN=${role}`);
    expect(c.ca).toBe(false);
    expect(c.checkIssued(cert(dir, 'ca'))).toBe(true);
    expect(c.verify(cert(dir, 'ca').publicKey)).toBe(true);
    expect(c.checkPrivateKey(crypto.createPrivateKey(read(dir, `${role}.key`)))).toBe(true);
    expect((c.subjectAltName ?? '').split(', ').filter(Boolean)).toEqual(names);
    expect([...(c.keyUsage ?? [])].sort()).toEqual([...(server ? [SERVER_AUTH] : []), CLIENT_AUTH].sort());
    expect(verifies(dir, role, 'sslserver')).toBe(server);
    expect(verifies(dir, role, 'sslclient')).toBe(client);
    if (server) expect(c.checkHost('localhost')).toBe('localhost');
    expect(new Date(c.validTo).getTime() - Date.now()).toBeGreaterThan(364 * 24 * 3600 * 1000);
  });

  test('run again over the same folder: the CA stays, every certificate is new and signed by it', async () => {
    const before = { ca: read(dir, 'ca.crt'), caKey: read(dir, 'ca.key'), adapter: read(dir, 'adapter.crt'), key: read(dir, 'adapter.key') };
    const { reusedCa, files } = await writeCertificates({ out: dir, hosts: [], days: 30 });
    expect(reusedCa).toBe(true);
    expect(files.map((f) => path.basename(f))).not.toContain('ca.key');
    expect(read(dir, 'ca.crt')).toBe(before.ca);
    expect(read(dir, 'ca.key')).toBe(before.caKey);
    expect(read(dir, 'adapter.crt')).not.toBe(before.adapter);
    expect(read(dir, 'adapter.key')).not.toBe(before.key);
    expect(verifies(dir, 'adapter', 'sslserver')).toBe(true);
    expect(cert(dir, 'adapter').subjectAltName).not.toContain('gw.example.com');
  });

  test.each([
    [{}, /--out DIR is required/],
    [{ out: 'x', hosts: 'ok,bad host' }, /--hosts: "bad host" is neither a DNS name nor an IP address/],
    [{ out: 'x', days: '0' }, /--days: expected a whole number of days from 1 to 3650, got "0"/],
    [{ out: 'x', days: 'soon' }, /--days/],
  ])('bad flags %j are a clear error', (flags, message) => {
    expect(() => certsOptions(flags)).toThrow(ConfigError);
    expect(() => certsOptions(flags)).toThrow(message);
  });
});
