import * as fs from 'fs';
import * as path from 'path';
import { parseConfig } from '../../src/config/config';
import { unpackAny } from '../../src/envoy/any';
import { CLUSTER, LISTENER, ROUTE } from '../../src/envoy/typeUrls';
import type { Api } from '../../src/model/api';
import { loadProject, projectOptions } from '../../src/sources/local';
import { Translator, type LabelResources } from '../../src/translate/translate';

/**
 * Golden files: each input API is loaded from disk, translated alone (one API, one label) and
 * every produced resource rendered as proto3 JSON into test/translate/golden/<name>.json, which
 * must match byte for byte. After a deliberate change to what the translator produces:
 *
 *   UPDATE_GOLDEN=1 npx jest test/translate/golden.test.ts
 *
 * then read the diff of the golden files before committing them.
 */

const REPO = path.resolve(__dirname, '../..');
const GOLDEN_DIR = path.join(__dirname, 'golden');
const UPDATE = process.env.UPDATE_GOLDEN === '1';
const config = parseConfig('', 'test.toml');

/** Golden name → project path relative to the repository root. */
const INPUTS: ReadonlyArray<[name: string, project: string]> = [
  ['apis-petstore', 'apis/petstore'],
  ['apis-orders', 'apis/orders.yaml'],
  ['fixture-petstore-oas3', 'test/fixtures/projects/petstore-oas3'],
  ['fixture-inventory-json', 'test/fixtures/projects/inventory-json'],
  ['fixture-weather-oas3', 'test/fixtures/projects/weather-oas3.yaml'],
  ['golden-shop', 'test/fixtures/projects/golden-shop'],
  ['golden-ledger', 'test/fixtures/projects/golden-ledger'],
];

/** Loads a project with a repository-relative `source`, so no absolute path reaches the output. */
function load(project: string): Api {
  return loadProject(path.join(REPO, ...project.split('/')), projectOptions(config), project);
}

function decodeAll(out: LabelResources, typeUrl: string): Array<Record<string, unknown>> {
  return (out.resources[typeUrl] ?? []).map((r) => unpackAny({ type_url: typeUrl, value: r.value }));
}

/** The stable, readable document a golden file holds. */
function render(out: LabelResources): string {
  const doc = {
    listeners: decodeAll(out, LISTENER),
    routes: decodeAll(out, ROUTE),
    clusters: decodeAll(out, CLUSTER),
    quarantined: out.quarantined,
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

function translateAlone(project: string): LabelResources {
  return new Translator(config).translate([load(project)]);
}

describe('golden translations', () => {
  test.each(INPUTS)('%s (%s) matches its golden file', (name, project) => {
    const actual = render(translateAlone(project));
    const file = path.join(GOLDEN_DIR, `${name}.json`);
    expect(actual).not.toContain(REPO);
    if (UPDATE) {
      fs.mkdirSync(GOLDEN_DIR, { recursive: true });
      fs.writeFileSync(file, actual);
      return;
    }
    if (!fs.existsSync(file)) {
      throw new Error(
        `golden file ${path.relative(REPO, file)} is missing: create it with \`UPDATE_GOLDEN=1 npx jest test/translate/golden.test.ts\`, then read it and check it is right`,
      );
    }
    expect(actual).toBe(fs.readFileSync(file, 'utf8'));
  });

  test.each(INPUTS)('%s: translating the same input twice gives identical bytes', (_name, project) => {
    const a = translateAlone(project);
    const b = translateAlone(project);
    // Also one translator asked twice (its per-API cache) and a fresh one for the same object.
    const api = load(project);
    const t = new Translator(config);
    const c = t.translate([api]);
    const d = t.translate([api]);
    for (const other of [b, c, d]) {
      expect(Object.keys(other.resources)).toEqual(Object.keys(a.resources));
      for (const [typeUrl, list] of Object.entries(a.resources)) {
        const again = other.resources[typeUrl];
        expect(again.map((r) => r.name)).toEqual(list.map((r) => r.name));
        list.forEach((r, i) => {
          expect(Buffer.from(again[i].value).equals(Buffer.from(r.value))).toBe(true);
          expect(again[i].version).toBe(r.version);
        });
      }
      expect(other.quarantined).toEqual(a.quarantined);
      expect(render(other)).toBe(render(a));
    }
  });

  test('no stale golden files', () => {
    const expected = new Set(INPUTS.map(([name]) => `${name}.json`));
    const present = fs.existsSync(GOLDEN_DIR) ? fs.readdirSync(GOLDEN_DIR).filter((f) => f.endsWith('.json')) : [];
    const stale = present.filter((f) => !expected.has(f));
    if (UPDATE) {
      for (const f of stale) fs.unlinkSync(path.join(GOLDEN_DIR, f));
      return;
    }
    expect(stale).toEqual([]);
  });
});
