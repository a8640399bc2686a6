import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { ConfigError, parseConfig } from '../../src/config/config';
import { checkListen, isLoopback } from '../../src/config/listen';
import { startAdapter } from '../../src/cli/adapter';
import { writeCertificates } from '../../src/cli/certs';
import { startEnforcer } from '../../src/cli/enforcer';
import { captureLogger } from '../helpers/rabbit';

/** Loopback by default; beyond it only with mutual TLS, or when the config says so (and the log warns). */

const off = parseConfig('', 'x').tls;
const mtls = { ...off, certFile: 'c.crt', keyFile: 'c.key', caFile: 'ca.crt' };

test('the defaults listen on loopback, without TLS', () => {
  const c = parseConfig('', 'x');
  expect([c.adapter.host, c.enforcer.host]).toEqual(['127.0.0.1', '127.0.0.1']);
  expect(c.tls).toEqual({ certFile: '', keyFile: '', caFile: '', enforcerIdentities: ['spiffe://apim-connect/enforcer'], allowInsecureNonLoopback: false });
});

test.each([
  ['127.0.0.1', true],
  ['127.8.9.10', true],
  ['::1', true],
  ['[::1]', true],
  ['::ffff:127.0.0.1', true],
  ['localhost', true],
  ['LOCALHOST', true],
  ['0.0.0.0', false],
  ['::', false],
  ['', false],
  ['10.0.0.5', false],
  ['128.0.0.1', false],
  ['adapter', false],
  ['127.0.0.1.example.com', false],
])('%j is loopback: %s', (host, loopback) => {
  expect(isLoopback(host)).toBe(loopback);
});

describe('checkListen', () => {
  test('loopback needs nothing; beyond it, mutual TLS', () => {
    expect(checkListen('adapter.host', '127.0.0.1', off)).toBeUndefined();
    expect(checkListen('adapter.host', '0.0.0.0', mtls)).toBeUndefined();
  });

  test.each([
    ['no TLS', off],
    ['TLS without a CA for clients', { ...off, certFile: 'c.crt', keyFile: 'c.key' }],
  ])('beyond loopback with %s is refused, naming the key and the ways out', (_, tls) => {
    expect(() => checkListen('enforcer.host', '0.0.0.0', tls)).toThrow(ConfigError);
    expect(() => checkListen('enforcer.host', '0.0.0.0', tls)).toThrow(
      'enforcer.host = "0.0.0.0" listens beyond loopback without mutual TLS: set tls.certFile, tls.keyFile and tls.caFile (apim-connect ctl certs makes them), listen on 127.0.0.1, or set tls.allowInsecureNonLoopback = true',
    );
  });

  test('tls.allowInsecureNonLoopback lets it, with a warning', () => {
    expect(checkListen('adapter.host', '0.0.0.0', { ...off, allowInsecureNonLoopback: true })).toMatch(/^adapter.host = "0.0.0.0" listens beyond loopback without mutual TLS \(tls.allowInsecureNonLoopback = true\)/);
  });
});

describe('the processes', () => {
  test('the adapter and the enforcer refuse to start beyond loopback without TLS, and bind nothing', async () => {
    const { logger } = captureLogger();
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '0.0.0.0', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const adapter = parseConfig(`[adapter]\nhost = "0.0.0.0"\nxdsPort = ${port}\nhttpPort = 0\napisDirectory = ""\n`, 'a.toml');
    await expect(startAdapter(adapter, logger)).rejects.toThrow(/adapter.host = "0.0.0.0" listens beyond loopback without mutual TLS/);
    const enforcer = parseConfig(`[enforcer]\nhost = "0.0.0.0"\nport = ${port}\nhttpPort = 0\n`, 'e.toml');
    await expect(startEnforcer(enforcer, logger)).rejects.toThrow(ConfigError);
    // nothing was bound: the port is still free
    await new Promise<void>((resolve, reject) => {
      const s = net.createServer().once('error', reject).listen(port, '0.0.0.0', () => s.close(() => resolve()));
    });
  });

  test('with tls.allowInsecureNonLoopback they start, and warn', async () => {
    const { logger, entries } = captureLogger();
    const config = parseConfig('[adapter]\nhost = "0.0.0.0"\nxdsPort = 0\nhttpPort = 0\napisDirectory = ""\n[tls]\nallowInsecureNonLoopback = true\n', 'a.toml');
    const adapter = await startAdapter(config, logger);
    try {
      expect(entries.filter((e) => e.level === 'warn').map((e) => e.message)).toEqual([expect.stringMatching(/^adapter.host = "0.0.0.0" listens beyond loopback without mutual TLS/)]);
    } finally {
      await adapter.stop();
    }
  });

  test('with mutual TLS they start beyond loopback without a warning', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'listen-'));
    try {
      await writeCertificates({ out: dir, hosts: [], days: 1 });
      const { logger, entries } = captureLogger();
      const config = parseConfig(
        `[enforcer]\nhost = "0.0.0.0"\nport = 0\nhttpPort = 0\nadapterAddress = "127.0.0.1:1"\n[tls]\ncertFile = "${dir}/enforcer.crt"\nkeyFile = "${dir}/enforcer.key"\ncaFile = "${dir}/ca.crt"\n`,
        'e.toml',
      );
      const enforcer = await startEnforcer(config, logger);
      await enforcer.stop();
      expect(entries.filter((e) => e.level === 'warn' && /loopback/.test(e.message))).toEqual([]);
      expect(entries.find((e) => e.message === 'enforcer listening')).toMatchObject({ tls: 'mutual' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('unusable certificate files stop startup with the key named, no stack trace', async () => {
    const { logger } = captureLogger();
    const missing = parseConfig('[adapter]\nxdsPort = 0\nhttpPort = 0\napisDirectory = ""\n[tls]\ncertFile = "/nope/a.crt"\nkeyFile = "/nope/a.key"\n', 'a.toml');
    await expect(startAdapter(missing, logger)).rejects.toThrow(new ConfigError("tls.certFile: ENOENT: no such file or directory, open '/nope/a.crt'"));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'listen-'));
    try {
      fs.writeFileSync(path.join(dir, 'a.crt'), 'not a certificate');
      fs.writeFileSync(path.join(dir, 'a.key'), 'not a key');
      const garbage = parseConfig(`[adapter]\nxdsPort = 0\nhttpPort = 0\napisDirectory = ""\n[tls]\ncertFile = "${dir}/a.crt"\nkeyFile = "${dir}/a.key"\n`, 'a.toml');
      await expect(startAdapter(garbage, logger)).rejects.toThrow(/^tls.certFile, tls.keyFile: not a usable certificate, key and CA \(/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

test.each([
  ['[tls]\ncertFile = "a.crt"', /c.toml: tls.certFile and tls.keyFile: set both or neither/],
  ['[tls]\nkeyFile = "a.key"', /c.toml: tls.certFile and tls.keyFile: set both or neither/],
  ['[tls]\ncaFile = "ca.crt"', /c.toml: tls.caFile needs tls.certFile and tls.keyFile/],
  ['[tls]\nallowInsecureNonLoopback = "yes"', /c.toml: tls.allowInsecureNonLoopback: expected true or false/],
])('[tls] %j is refused', (text, message) => {
  expect(() => parseConfig(text, 'c.toml', {})).toThrow(message);
});
