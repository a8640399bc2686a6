import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ConfigError } from '../../src/config/config';
import { writeCertificates } from '../../src/cli/certs';
import { channelCredentials, ctlTlsFiles, serverCredentials, tlsMode } from '../../src/cli/tls';

/** Which files a process or ctl uses, and how unusable ones are reported (the handshakes are in test/integration/mtls.test.ts). */

const config = { certFile: '/etc/a.crt', keyFile: '/etc/a.key', caFile: '/etc/ca.crt' };

describe('ctl --cert, --key, --ca', () => {
  test('no flags: the config\'s [tls]', () => {
    expect(ctlTlsFiles({}, config)).toBe(config);
  });

  test('any flag: the flags alone, named as flags in errors', () => {
    expect(ctlTlsFiles({ ca: 'ca.crt' }, config)).toEqual({ certFile: '', keyFile: '', caFile: 'ca.crt', names: { cert: '--cert', key: '--key', ca: '--ca' } });
    expect(() => channelCredentials(ctlTlsFiles({ cert: '/nope/ctl.crt', key: '/nope/ctl.key' }, config))).toThrow(new ConfigError("--cert: ENOENT: no such file or directory, open '/nope/ctl.crt'"));
  });

  test('--cert without --key is refused', () => {
    expect(() => ctlTlsFiles({ cert: 'c.crt' }, config)).toThrow('ctl: --cert and --key: give both or neither');
  });
});

test('a certificate with the wrong key is refused at startup, naming the keys', async () => {
  const a = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-a-'));
  const b = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-b-'));
  try {
    await writeCertificates({ out: a, hosts: [], days: 1 });
    await writeCertificates({ out: b, hosts: [], days: 1 });
    const files = { certFile: path.join(a, 'adapter.crt'), keyFile: path.join(b, 'adapter.key'), caFile: path.join(a, 'ca.crt') };
    expect(() => serverCredentials(files)).toThrow(/^tls.certFile, tls.keyFile, tls.caFile: not a usable certificate, key and CA \(.*key values mismatch\)$/);
    expect(serverCredentials({ ...files, keyFile: path.join(a, 'adapter.key') })._isSecure()).toBe(true);
  } finally {
    fs.rmSync(a, { recursive: true, force: true });
    fs.rmSync(b, { recursive: true, force: true });
  }
});

test('plain without files; what a port asks for, for the log', () => {
  expect(serverCredentials({ certFile: '', keyFile: '', caFile: '' })._isSecure()).toBe(false);
  expect(channelCredentials({ certFile: '', keyFile: '', caFile: '' })._isSecure()).toBe(false);
  expect([tlsMode({ certFile: '', keyFile: '', caFile: '' }), tlsMode({ ...config, caFile: '' }), tlsMode(config)]).toEqual(['off', 'server-only', 'mutual']);
});
