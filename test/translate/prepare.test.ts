import * as path from 'path';
import { parseConfig } from '../../src/config/config';
import { contentVersion } from '../../src/envoy/protoWire';
import { ENFORCER_API } from '../../src/envoy/typeUrls';
import type { Api } from '../../src/model/api';
import { fingerprint } from '../../src/model/keyed';
import { loadProject } from '../../src/sources/local/project';
import { EnforcerTranslator } from '../../src/translate/enforcer';
import { adoptPrepared, prepareApi } from '../../src/translate/prepare';
import { Translator } from '../../src/translate/translate';

const FIXTURES = path.join(__dirname, '../fixtures/projects');
const config = parseConfig('[cors]\nenabled = true\n', 'test.toml');
const load = (name: string): Api => loadProject(path.join(FIXTURES, name), { defaultVhost: 'localhost' }, `apis/${name}`);

/** Resources as comparable values: names, bytes, versions (the cache's where a producer gave none). */
function comparable(resources: Record<string, Array<{ name: string; value: Uint8Array | readonly Uint8Array[]; version?: string }>>): unknown {
  return Object.fromEntries(
    Object.entries(resources).map(([type, list]) => [
      type,
      list.map((r) => ({ name: r.name, bytes: Buffer.concat(r.value instanceof Uint8Array ? [r.value] : r.value).toString('base64'), version: r.version ?? contentVersion(r.value) })),
    ]),
  );
}

describe('an API prepared on a worker', () => {
  test('gives, once adopted by its structured clone, the very resources and fingerprint the event loop would make', () => {
    const apis = ['petstore-oas3', 'weather-oas3.yaml', 'inventory-json'].map(load);
    const own = { router: new Translator(config), enforcer: new EnforcerTranslator() };
    const adopted = { router: new Translator(config), enforcer: new EnforcerTranslator() };
    // What crosses from a worker is a structured clone, of the API and of what was prepared.
    const clones = apis.map((api) => structuredClone({ api, prepared: prepareApi(api, config) }));
    for (const { api, prepared } of clones) adoptPrepared(api, prepared, adopted.router, adopted.enforcer);
    const cloned = clones.map((c) => c.api);

    const mine = own.router.translate(apis);
    const theirs = adopted.router.translate(cloned);
    expect(theirs.quarantined).toEqual(mine.quarantined);
    expect(comparable(theirs.resources)).toEqual(comparable(mine.resources));
    expect(comparable({ [ENFORCER_API]: adopted.enforcer.apis(cloned) })).toEqual(comparable({ [ENFORCER_API]: own.enforcer.apis(apis) }));
    expect(cloned.map(fingerprint)).toEqual(apis.map(fingerprint));
  });

  test('fingerprints are digests, not copies, and still tell content apart', () => {
    const api = load('weather-oas3.yaml');
    expect(fingerprint(api)).toMatch(/^[\w-]{43}$/);
    expect(fingerprint({ ...api, throttlingTier: 'Platinum' })).not.toBe(fingerprint(api));
    expect(fingerprint(structuredClone(api))).toBe(fingerprint(api));
  });
});
