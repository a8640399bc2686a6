import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as winston from 'winston';
import { parseConfig } from '../../../src/config/config';
import { LocalFolderSource } from '../../../src/sources/local/folder';
import { DEFAULT_LIMITS, type DefinitionLimits } from '../../../src/sources/local/limits';
import { parseProject, projectOptions } from '../../../src/sources/local/project';
import { errorOf, memProject, OPTIONS } from './helpers';

/** A bare OpenAPI file that parses; `extra` goes under the one operation, indented for it. */
const bare = (extra = ''): string =>
  `openapi: 3.0.0\ninfo: {title: Big, version: '1'}\nx-wso2-basePath: /big/1\nx-wso2-production-endpoints: {urls: ['http://127.0.0.1:1']}\npaths:\n  /a:\n    get:\n      responses: {'200': {description: ok}}\n${extra}`;
const LINES_BEFORE_EXTRA = 8;

const fail = (text: string, limits?: Partial<DefinitionLimits>, name = 'big.yaml'): string =>
  errorOf(() => parseProject(memProject({ [name]: text }, `apis/${name}`), { ...OPTIONS, limits: { ...DEFAULT_LIMITS, ...limits } })).message;

describe('caps on each definition file', () => {
  test('the defaults and the config keys that change them', () => {
    expect(DEFAULT_LIMITS).toEqual({ maxBytes: 8 * 1024 * 1024, maxNodes: 750_000, maxDepth: 100 });
    const config = parseConfig('[adapter]\nmaxDefinitionBytes = 2048\nmaxDefinitionNodes = 500\nmaxDefinitionDepth = 20\n', 'test.toml');
    expect(projectOptions(config).limits).toEqual({ maxBytes: 2048, maxNodes: 500, maxDepth: 20 });
    expect(() => parseConfig('[adapter]\nmaxDefinitionDepth = 2\n', 'test.toml')).toThrow(/adapter\.maxDefinitionDepth/);
  });

  test('a file over the byte cap is refused before it is parsed, naming the file once', () => {
    const text = bare(`      x-pad: '${'x'.repeat(5000)}'\n`);
    expect(fail(text, { maxBytes: 4096 })).toMatch(/^apis\/big\.yaml: 5\.\d KiB is over the 4 KiB limit for one file \(adapter\.maxDefinitionBytes\)$/);
    // api.yaml and the definition of a project are capped alike.
    const project = memProject({ 'api.yaml': `type: api\ndata:\n  name: X\n  pad: '${'y'.repeat(5000)}'\n`, 'Definitions/swagger.yaml': bare() }, 'apis/p');
    expect(errorOf(() => parseProject(project, { ...OPTIONS, limits: { ...DEFAULT_LIMITS, maxBytes: 4096 } })).message).toMatch(/^apis\/p\/api\.yaml: .* over the 4 KiB limit/);
  });

  test('more nodes than the cap, in YAML or JSON, is refused with the line where it went over', () => {
    const list = `      x-list:\n${'        - 1\n'.repeat(200)}`;
    expect(fail(bare(list), { maxNodes: 100 })).toMatch(/^apis\/big\.yaml:\d+: more than 100 YAML\/JSON nodes \(adapter\.maxDefinitionNodes\)$/);
    const json = JSON.stringify({ openapi: '3.0.0', x: Array(200).fill(1) });
    expect(fail(json, { maxNodes: 100 }, 'big.json')).toBe('apis/big.json:1: more than 100 YAML/JSON nodes (adapter.maxDefinitionNodes)');
  });

  test('the default node cap stops a flat list of 800 000 items under the byte cap', () => {
    const text = bare(`      x-list: [${'1,'.repeat(800_000)}1]\n`);
    expect(text.length).toBeLessThan(DEFAULT_LIMITS.maxBytes);
    expect(fail(text)).toMatch(/: more than 750000 YAML\/JSON nodes/);
  });

  test('nesting deeper than the cap is reported as such, not as a stack overflow: flow, block and JSON', () => {
    const flow = bare(`      x-deep: ${'['.repeat(5000)}${']'.repeat(5000)}\n`);
    expect(fail(flow)).toBe(`apis/big.yaml:${LINES_BEFORE_EXTRA + 1}: nested deeper than 100 levels (adapter.maxDefinitionDepth)`);
    let block = '';
    for (let i = 0; i < 1500; i++) block += `${' '.repeat(6 + 2 * i)}k${i}:\n`;
    const blockError = fail(bare(block));
    expect(blockError).toMatch(/^apis\/big\.yaml:\d+: nested deeper than 100 levels \(adapter\.maxDefinitionDepth\)$/);
    const line = Number(/:(\d+):/.exec(blockError)![1]);
    expect(line).toBeGreaterThan(LINES_BEFORE_EXTRA + 90);
    expect(line).toBeLessThan(LINES_BEFORE_EXTRA + 100);
    const json = `{"openapi": "3.0.0", "x": ${'{"a":'.repeat(20000)}1${'}'.repeat(20000)}}`;
    expect(fail(json, {}, 'deep.json')).toBe('apis/deep.json:1: nested deeper than 100 levels (adapter.maxDefinitionDepth)');
    // Within the cap, deep nesting is fine.
    expect(parseProject(memProject({ 'ok.yaml': bare(`      x-deep: ${'['.repeat(60)}${']'.repeat(60)}\n`) }), OPTIONS).name).toBe('Big');
  });

  test('aliases: a billion-laughs file is refused, and so is one whose aliases expand past the node or depth cap', () => {
    const laughs = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (const [prev, name] of [...'abcdefgh'].map((c, i, all) => [c, all[i + 1]]).slice(0, 7)) laughs.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(', ')}]`);
    expect(fail(bare(laughs.map((l) => `      x-${l}\n`).join('')))).toBe('apis/big.yaml: too many aliases: they would expand past the limit of 100 (an alias bomb?)');

    // Within yaml's alias budget, but 20 copies of 10 000 items is 200 000 nodes.
    const wide = `      x-items: &items [${Array(10_000).fill('1').join(', ')}]\n      x-copies: [${Array(20).fill('*items').join(', ')}]\n`;
    expect(fail(bare(wide), { maxNodes: 100_000 })).toBe('apis/big.yaml: more than 100000 YAML/JSON nodes once aliases are expanded (adapter.maxDefinitionNodes)');
    // 60 levels, aliased 60 levels deep: 120 once expanded, though no line of the text nests past 64.
    const nested = `      x-a: &a ${'['.repeat(60)}1${']'.repeat(60)}\n      x-b: ${'['.repeat(60)}*a${']'.repeat(60)}\n`;
    expect(fail(bare(nested))).toBe('apis/big.yaml: nested deeper than 100 levels (adapter.maxDefinitionDepth)');
  });
});

describe('caps through the folder source (parsed on its worker)', () => {
  let dir: string;
  let source: LocalFolderSource;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'apis-caps-'));
    source = new LocalFolderSource({ dir, defaultVhost: 'localhost', logger: winston.createLogger({ silent: true }), rescanMs: 0 });
  });
  afterEach(async () => {
    await source.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a 40 MB bare YAML is refused by name at the default byte cap; the other projects deploy', async () => {
    fs.writeFileSync(path.join(dir, 'huge.yaml'), bare(`      x-pad: [${'"xxxxxxxxxxxxxxxxx",'.repeat(2_000_000)}"x"]\n`));
    fs.writeFileSync(path.join(dir, 'small.yaml'), bare().replace(/Big/, 'Small').replace('/big/1', '/small/1'));
    const started = Date.now();
    const { events, errors } = await source.scan();
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(events.map((e) => e.kind === 'ApiDeployed' && e.api.name)).toEqual(['Small']);
    expect(errors.map((e) => e.message)).toEqual([`${dir}/huge.yaml: 38.1 MiB is over the 8 MiB limit for one file (adapter.maxDefinitionBytes)`]);
  });

  test('a deep YAML is reported as too deep, with its line', async () => {
    fs.writeFileSync(path.join(dir, 'deep.yaml'), bare(`      x-deep: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`));
    const { errors } = await source.scan();
    expect(errors.map((e) => e.message)).toEqual([`${dir}/deep.yaml:${LINES_BEFORE_EXTRA + 1}: nested deeper than 100 levels (adapter.maxDefinitionDepth)`]);
  });
});
