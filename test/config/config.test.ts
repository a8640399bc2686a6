import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ConfigError, loadConfig, parseConfig } from '../../src/config/config';

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
  ])('%j is refused with the file and key', (text, message) => {
    expect(() => parseConfig(text, 'c.toml', {})).toThrow(ConfigError);
    expect(() => parseConfig(text, 'c.toml', {})).toThrow(message);
  });

  test('a missing file is an error unless optional', () => {
    const missing = path.join(os.tmpdir(), `nope-${process.pid}.toml`);
    expect(() => loadConfig(missing)).toThrow(/config file not found/);
    expect(loadConfig(missing, {}, true).adapter.xdsPort).toBe(18000);
    expect(fs.existsSync(missing)).toBe(false);
  });
});
