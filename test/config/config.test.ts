import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ConfigError, loadConfig, parseConfig, redactUrl } from '../../src/config/config';

describe('config.toml', () => {
  test('defaults apply to everything not given', () => {
    const c = parseConfig('', 'c.toml');
    expect(c.adapter.xdsPort).toBe(18000);
    expect(c.adapter.nodeGroupFrom).toBe('auto');
    expect(c.controlPlane.environmentLabels).toEqual(['Default']);
    expect(c.enforcer.port).toBe(8081);
  });

  test('the shipped config/config.toml loads and matches the defaults', () => {
    expect(loadConfig(path.join(__dirname, '..', '..', 'config', 'config.toml'))).toEqual(parseConfig('', 'x'));
  });

  test('$env{VAR} works anywhere in a string, several times', () => {
    const c = parseConfig('[adapter]\nhost = "$env{H}"\n[controlPlane]\nenvironmentLabels = ["$env{A}-$env{B}", "x"]\n', 'c.toml', { H: '127.0.0.1', A: 'eu', B: 'prod' });
    expect(c.adapter.host).toBe('127.0.0.1');
    expect(c.controlPlane.environmentLabels).toEqual(['eu-prod', 'x']);
  });

  test.each([
    ['[adapter]\nhost = "$env{NOPE}"', /c.toml: adapter.host uses \$env\{NOPE\}, which is not set/],
    ['[adapter]\nxdsPort = "many"', /c.toml: adapter.xdsPort: expected an integer, got "many"/],
    ['[adapter]\nxdsport = 1', /unknown key adapter.xdsport/],
    ['[adaptor]\n', /unknown section \[adaptor\]/],
    ['[adapter]\nnodeGroupFrom = "label"', /expected one of auto, cluster, id/],
    ['[controlPlane]\nenabled = 1', /controlPlane.enabled: expected true or false/],
    ['[controlPlane]\nenvironmentLabels = "Default"', /expected a list of strings/],
    ['[adapter\n', /c.toml: /],
    ['[tls]\nenforcerIdentities = []', /c.toml: tls.enforcerIdentities: expected names the enforcers' certificates carry .* or \["\*"\]/],
    ['[tls]\nenforcerIdentities = ["spiffe://apim-connect/enforcer", " "]', /c.toml: tls.enforcerIdentities: /],
  ])('%j is refused with the file and key', (text, message) => {
    expect(() => parseConfig(text, 'c.toml', {})).toThrow(ConfigError);
    expect(() => parseConfig(text, 'c.toml', {})).toThrow(message);
  });

  test('nested tables: [controlPlane.brokerConnectionParameters]', () => {
    const c = parseConfig("[controlPlane]\nenabled = true\n[controlPlane.brokerConnectionParameters]\neventListeningEndpoints = ['amqp://u:$env{PW}@h:5672']\n", 'c.toml', { PW: 'secret' });
    expect(c.controlPlane.enabled).toBe(true);
    expect(c.controlPlane.brokerConnectionParameters.eventListeningEndpoints).toEqual(['amqp://u:secret@h:5672']);
    expect(c.controlPlane.brokerConnectionParameters.reconnectRetryCount).toBe(-1);
    expect(() => parseConfig('[controlPlane.brokerConnectionParameters]\nendpoints = []', 'c.toml', {})).toThrow(/unknown key controlPlane.brokerConnectionParameters.endpoints/);
    expect(() => parseConfig('[controlPlane]\nretryInterval = 0', 'c.toml', {})).toThrow(/controlPlane.retryInterval: must be at least 1/);
  });

  test('gRPC limits: sending may be large, receiving stays within a few MiB', () => {
    const c = parseConfig('', 'c.toml');
    expect([c.adapter.maxMessageSize, c.adapter.maxReceiveMessageSize]).toEqual([64 * 1024 * 1024, 4 * 1024 * 1024]);
    expect([c.enforcer.maxReceiveMessageSize, c.enforcer.maxXdsMessageSize]).toEqual([4 * 1024 * 1024, 64 * 1024 * 1024]);
    expect(parseConfig('[adapter]\nmaxReceiveMessageSize = 8388608', 'c.toml').adapter.maxReceiveMessageSize).toBe(8388608);
    expect(() => parseConfig('[adapter]\nmaxReceiveMessageSize = 134217728', 'c.toml', {})).toThrow(/c.toml: adapter.maxReceiveMessageSize: must be at most 67108864, got 134217728/);
    expect(() => parseConfig('[enforcer]\nmaxReceiveMessageSize = 1024', 'c.toml', {})).toThrow(/enforcer.maxReceiveMessageSize: must be at least 65536/);
    expect(() => parseConfig('[enforcer]\nmaxXdsMessageSize = 1048576', 'c.toml', {})).toThrow(/enforcer.maxXdsMessageSize: must be at least 4194304/);
  });

  test('credentials in URLs are masked for logs', () => {
    expect(redactUrl("amqp://admin:s3cr3t@apim:5672?retries='10'")).toBe("amqp://admin:***@apim:5672?retries='10'");
    expect(redactUrl('https://apim:9443/')).toBe('https://apim:9443/');
  });

  test('a password or credential-bearing URL of the wrong type is named, its value never shown', () => {
    const cases: Array<[string, RegExp]> = [
      ['[controlPlane]\npassword = 918273', /controlPlane\.password: expected a string, got a number \(not shown/],
      ['[controlPlane.brokerConnectionParameters]\neventListeningEndpoints = ["amqp://u:918273@h", 5]', /eventListeningEndpoints: expected a list of strings, got a list holding a number/],
      ['[enforcer.throttling.redis]\npassword = { pin = 918273 }', /redis\.password: expected a string, got a table/],
      ['[enforcer.throttling.redis]\nurl = ["redis://:918273@h"]', /redis\.url: expected a string, got a list/],
    ];
    for (const [text, message] of cases) {
      let error: unknown;
      try {
        parseConfig(text, 'c.toml', {});
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain('918273');
    }
    // Other keys still show what they got.
    expect(() => parseConfig('[controlPlane]\nretryInterval = "soon"', 'c.toml', {})).toThrow('controlPlane.retryInterval: expected an integer, got "soon"');
  });

  test('a missing file is an error unless optional', () => {
    const missing = path.join(os.tmpdir(), `nope-${process.pid}.toml`);
    expect(() => loadConfig(missing)).toThrow(/config file not found/);
    expect(loadConfig(missing, {}, true).adapter.xdsPort).toBe(18000);
    expect(fs.existsSync(missing)).toBe(false);
  });
});
