import * as fs from 'fs';
import * as path from 'path';
import * as yaml from 'yaml';
import { ProjectDoc } from '../../../src/sources/local/document';
import { JsonPositions, memberCount, scanJson } from '../../../src/sources/local/json';
import { DEFAULT_LIMITS } from '../../../src/sources/local/limits';
import { parseProject } from '../../../src/sources/local/project';
import { errorOf, FIXTURES, memProject, OPTIONS } from './helpers';

const WEATHER_YAML = fs.readFileSync(path.join(FIXTURES, 'weather-oas3.yaml'), 'utf8');
const WEATHER = yaml.parse(WEATHER_YAML) as Record<string, unknown>;
const pretty = (v: unknown): string => JSON.stringify(v, null, 2);
const parse = (name: string, text: string) => parseProject(memProject({ [name]: text }, `apis/${name}`), OPTIONS);
const failure = (name: string, text: string): string => errorOf(() => parse(name, text)).message;

/** Runs `f` and counts the YAML parser's documents meanwhile (on the module object document.ts calls). */
function yamlDocuments<T>(f: () => T): { result: T; documents: number } {
  const spy = jest.spyOn(jest.requireActual<typeof yaml>('yaml'), 'parseDocument');
  try {
    return { result: f(), documents: spy.mock.calls.length };
  } finally {
    spy.mockRestore();
  }
}

describe('JSON definitions are parsed by JSON.parse, not the YAML parser', () => {
  test('the same API as from the YAML, without a YAML document, also for a .yaml file holding JSON', () => {
    const fromYaml = parse('weather.yaml', WEATHER_YAML);
    for (const [name, text] of [['weather.json', pretty(WEATHER)], ['weather.json', JSON.stringify(WEATHER)], ['w.yaml', `\ufeff  ${pretty(WEATHER)}`]]) {
      const { result, documents } = yamlDocuments(() => parse(name, text));
      expect(documents).toBe(0);
      expect({ ...result, source: '' }).toEqual({ ...fromYaml, source: '' });
    }
  });

  test('numbers are read as written, as the YAML path reads them: version 1.0 stays "1.0"', () => {
    const def = { ...WEATHER, info: { title: 'Weather', version: 1.0 } };
    const text = pretty(def).replace('"version": 1', '"version": 1.0');
    const { result, documents } = yamlDocuments(() => parse('w.json', text));
    expect(documents).toBe(0);
    expect(result.version).toBe('1.0');
    expect(parse('w.yaml', WEATHER_YAML.replace('version: 2.1.0', 'version: 1.0')).version).toBe('1.0');
  });

  test('a semantic error names the line of the key, found without the YAML parser', () => {
    const text = pretty(WEATHER).replace('"x-wso2-basePath": "/weather/2.1.0/"', '"x-wso2-basePath": "/weather 2.1.0"');
    const line = text.split('\n').findIndex((l) => l.includes('"/weather 2.1.0"')) + 1;
    const { result, documents } = yamlDocuments(() => errorOf(() => parse('w.json', text)));
    expect(documents).toBe(0);
    const reason = 'x-wso2-basePath: invalid base path "/weather 2.1.0" (allowed: letters, digits and ~/_.-)';
    expect(result.message).toBe(`apis/w.json:${line}: ${reason}`);
    // The same line the YAML parser gives for the same text.
    expect(failure('w.yaml', `${text}\n# yaml`)).toBe(`apis/w.yaml:${line}: ${reason}`);
  });

  test('a repeated key is refused as before, with its line; malformed JSON as before', () => {
    const text = pretty(WEATHER).replace('"x-wso2-throttling-tier": "Gold"', '"x-wso2-throttling-tier": "Gold",\n  "x-wso2-basePath": "/other"');
    const line = text.split('\n').findIndex((l) => l.includes('"/other"')) + 1;
    expect(failure('w.json', text)).toBe(`apis/w.json:${line}: malformed YAML: Map keys must be unique`);
    expect(failure('w.json', '{"openapi": "3.0.0",\n  "info": {]}')).toMatch(/^apis\/w\.json:2: malformed JSON: .* at position 32/);
  });

  test('a .json file holding YAML still parses (through the YAML parser)', () => {
    const { result, documents } = yamlDocuments(() => parse('w.json', WEATHER_YAML));
    expect(documents).toBe(1);
    expect(result.name).toBe('Weather');
  });
});

describe('scanJson and JsonPositions', () => {
  test('scanJson counts nodes and nesting as the YAML lexer does, and object members', () => {
    const text = '{"a": [1, "x\\"y", {"b": null}], "c": {"d": true}}';
    expect(scanJson(text, DEFAULT_LIMITS)).toEqual({ members: 4 });
    expect(memberCount(JSON.parse(text))).toBe(4);
    // 12 nodes (4 maps and lists, 4 keys, 4 values): a cap of 8 is passed at the 9th.
    expect(scanJson(text, { ...DEFAULT_LIMITS, maxNodes: 8 })).toEqual({ over: { reason: 'more than 8 YAML/JSON nodes (adapter.maxDefinitionNodes)', line: 1 } });
    expect(scanJson('{\n"a":\n[[[1]]]}', { ...DEFAULT_LIMITS, maxDepth: 4 })).toEqual({ over: { reason: 'nested deeper than 4 levels (adapter.maxDefinitionDepth)', line: 3 } });
    expect(memberCount(JSON.parse('{"a": 1, "a": 2}'))).toBe(1);
    expect(scanJson('{"a": 1, "a": 2}', DEFAULT_LIMITS)).toEqual({ members: 2 });
  });

  test('JsonPositions finds keys (escaped ones too) and list items, or the nearest ancestor', () => {
    const text = '{\n  "a\\"b": {\n    "list": [\n      10,\n      {"deep": 2.50}\n    ]\n  }\n}';
    const at = new JsonPositions(text);
    const line = (p: Array<string | number>): number => at.lineAt(at.find(p).at);
    expect(line(['a"b'])).toBe(2);
    expect(line(['a"b', 'list'])).toBe(3);
    expect(line(['a"b', 'list', 1])).toBe(5);
    expect(line(['a"b', 'list', 1, 'deep'])).toBe(5);
    expect(line(['a"b', 'missing', 'x'])).toBe(2);
    expect(at.find(['a"b', 'missing']).value).toBeUndefined();
    expect(at.literalAt(at.find(['a"b', 'list', 1, 'deep']).value!)).toBe('2.50');
    expect(line([])).toBe(1);
  });

  test('ProjectDoc.text reads a JSON number as written', () => {
    const doc = ProjectDoc.parse('apis/x.json', 'x.json', Buffer.from('{"v": 1.10, "n": [3e2]}'));
    expect(doc.text(['v'])).toBe('1.10');
    expect(doc.text(['n', 0])).toBe('3e2');
    expect(doc.lineOf(['n', 0])).toBe(1);
  });
});
