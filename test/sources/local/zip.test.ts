import { strToU8, zipSync } from 'fflate';
import { apisFromArtifacts } from '../../../src/sources/apim/artifacts';
import { readProjectZip } from '../../../src/sources/local/files';
import { parseProject } from '../../../src/sources/local/project';
import { unzipBounded, ZipError } from '../../../src/sources/local/zip';
import { errorOf, OPTIONS } from './helpers';

const DEFINITION = "openapi: 3.0.0\ninfo: {title: Z, version: '1'}\nx-wso2-basePath: /z/1\nx-wso2-production-endpoints: {urls: ['http://127.0.0.1:1']}\npaths:\n  /a:\n    get: {}\n";

/** Rewrites the uncompressed size of `name` in the central directory (and the local header too, if `local`). */
function lie(zip: Uint8Array, name: string, size: number, local = false): Uint8Array {
  const b = Buffer.from(zip);
  let hits = 0;
  for (let i = 0; i + 46 < b.length; i++) {
    if (b.readUInt32LE(i) === 0x02014b50 && b.toString('latin1', i + 46, i + 46 + b.readUInt16LE(i + 28)) === name) {
      b.writeUInt32LE(size, i + 24);
      hits++;
    }
    if (local && b.readUInt32LE(i) === 0x04034b50 && b.toString('latin1', i + 30, i + 30 + b.readUInt16LE(i + 26)) === name) b.writeUInt32LE(size, i + 22);
  }
  expect(hits).toBe(1);
  return new Uint8Array(b);
}

const zip = (files: Record<string, string | Uint8Array>, level: 0 | 6 = 6): Uint8Array =>
  zipSync(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, typeof v === 'string' ? strToU8(v) : v])), { level });

describe('zips that lie about their sizes', () => {
  test('an honest zip reads as before', () => {
    const api = parseProject(readProjectZip(zip({ 'Z-1/openapi.yaml': DEFINITION }), 'apis/z.zip'), OPTIONS);
    expect(api.name).toBe('Z');
  });

  test('an entry that inflates bigger than its declared size is refused, naming the entry (not "expected an OpenAPI definition")', () => {
    // Declared 40 bytes: fflate alone would hand back the first 40 bytes of the definition.
    const lying = lie(zip({ 'Z-1/openapi.yaml': DEFINITION }), 'Z-1/openapi.yaml', 40);
    expect(errorOf(() => readProjectZip(lying, 'apis/z.zip')).message).toBe(
      'apis/z.zip/Z-1/openapi.yaml: inflates to more than the 40 bytes the zip declares for it (the zip lies about its sizes)',
    );
    // The local header agreeing with the lie changes nothing: the central directory is read, the data checked.
    expect(errorOf(() => readProjectZip(lie(zip({ 'Z-1/openapi.yaml': DEFINITION }), 'Z-1/openapi.yaml', 40, true), 'apis/z.zip')).message).toMatch(/inflates to more than the 40 bytes/);
  });

  test('an entry that inflates smaller than declared, or a stored entry whose sizes disagree, is refused', () => {
    const bigger = lie(zip({ 'openapi.yaml': DEFINITION }), 'openapi.yaml', DEFINITION.length + 500);
    expect(errorOf(() => readProjectZip(bigger, 'apis/z.zip')).message).toBe(
      `apis/z.zip/openapi.yaml: inflates to ${DEFINITION.length} bytes, not the ${DEFINITION.length + 500} the zip declares for it (the zip lies about its sizes)`,
    );
    const stored = lie(zip({ 'openapi.yaml': DEFINITION }, 0), 'openapi.yaml', 10);
    expect(errorOf(() => readProjectZip(stored, 'apis/z.zip')).message).toMatch(/^apis\/z\.zip\/openapi\.yaml: inflates to more than the 10 bytes/);
  });

  test('a zip bomb is refused from its declared sizes, before it is inflated; a lying one stops at its declared size', () => {
    // Two entries declaring 40 MiB each: over the 64 MiB a project may unpack to, so nothing is inflated.
    const bomb = lie(lie(zip({ 'a.yaml': 'a', 'b.yaml': 'b' }), 'a.yaml', 40 * 1024 * 1024), 'b.yaml', 40 * 1024 * 1024);
    expect(errorOf(() => readProjectZip(bomb, 'apis/bomb.zip')).message).toBe('apis/bomb.zip: not a readable zip: uncompressed size exceeds 67108864 bytes');
    // 16 MiB of zeros (16 KiB packed) declared as 1 KiB: inflation stops after 1 KiB + 1 byte.
    const small = lie(zip({ 'a.yaml': new Uint8Array(16 * 1024 * 1024) }), 'a.yaml', 1024);
    expect(small.length).toBeLessThan(64 * 1024);
    expect(() => unzipBounded(small, { maxBytes: 2048 })).toThrow(new ZipError('inflates to more than the 1024 bytes the zip declares for it (the zip lies about its sizes)', 'a.yaml'));
  });

  test('APIM runtime-artifact zips: a lying root entry fails the pull by name; a lying inner zip fails only its API', () => {
    const inner = zip({ 'Z-1/api.yaml': 'type: api\ndata:\n  name: Z\n  version: 1\n  context: /z\n  endpointConfig: {production_endpoints: {url: "http://127.0.0.1:1"}}\n  operations: [{target: /a, verb: GET}]\n' });
    const deployments = JSON.stringify({ type: 'deployments', data: { deployments: [{ apiFile: 'z.zip', environments: [{ name: 'Default', vhost: 'localhost' }] }] } });
    const options = { defaultVhost: 'localhost', labels: ['Default'] };
    expect(apisFromArtifacts(zip({ 'deployments.json': deployments, 'z.zip': inner }), options, 'apim').apis.map((a) => a.name)).toEqual(['Z']);

    const rootLie = lie(zip({ 'deployments.json': deployments, 'z.zip': inner }), 'deployments.json', 20);
    expect(() => apisFromArtifacts(rootLie, options, 'apim')).toThrow('apim/deployments.json: inflates to more than the 20 bytes the zip declares for it (the zip lies about its sizes)');
    const innerLie = apisFromArtifacts(zip({ 'deployments.json': deployments, 'z.zip': lie(inner, 'Z-1/api.yaml', 30) }), options, 'apim');
    expect(innerLie.apis).toEqual([]);
    expect(innerLie.errors.map((e) => e.message)).toEqual(['z.zip/Z-1/api.yaml: inflates to more than the 30 bytes the zip declares for it (the zip lies about its sizes)']);
  });

  test('what is not a zip, or is cut short, says so', () => {
    expect(errorOf(() => readProjectZip(strToU8('not a zip'), 'apis/x.zip')).message).toBe('apis/x.zip: not a readable zip: no end of central directory (not a zip?)');
    const honest = zip({ 'openapi.yaml': DEFINITION });
    // Drop the first bytes: the directory now points at the wrong places.
    expect(errorOf(() => readProjectZip(honest.subarray(10), 'apis/x.zip')).message).toMatch(/^apis\/x\.zip(\/openapi\.yaml)?: /);
  });
});
