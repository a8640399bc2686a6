import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as winston from 'winston';
import type { GatewayEvent } from '../../../src/model/state';
import { LocalFolderSource } from '../../../src/sources/local/folder';
import { FIXTURES } from './helpers';

const deployed = (events: GatewayEvent[]): string[] => events.flatMap((e) => (e.kind === 'ApiDeployed' ? [`${e.api.name}@${e.api.basePath}`] : []));
const bareApi = (name: string): string =>
  `openapi: 3.0.0\ninfo: {title: ${name}, version: '1'}\nx-wso2-basePath: /${name.toLowerCase()}/1\nx-wso2-production-endpoints: {urls: ['http://127.0.0.1:1']}\npaths:\n  /a:\n    get: {}\n`;

/** Mounts files into `dir` as kubelet does a ConfigMap: a new ..data link, renamed over the old one. */
function mount(dir: string, stamp: string, files: Record<string, string>): void {
  fs.mkdirSync(path.join(dir, stamp));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, stamp, name), text);
  fs.symlinkSync(stamp, path.join(dir, '..data_tmp'));
  fs.renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
  for (const name of Object.keys(files)) if (!fs.existsSync(path.join(dir, name))) fs.symlinkSync(`..data/${name}`, path.join(dir, name));
}

describe('symlinks in the API folder', () => {
  let base: string;
  let dir: string;
  let outside: string;
  let source: LocalFolderSource;

  beforeEach(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'apis-links-'));
    dir = path.join(base, 'apis');
    outside = path.join(base, 'elsewhere');
    fs.mkdirSync(dir);
    fs.mkdirSync(outside);
    source = new LocalFolderSource({ dir, defaultVhost: 'localhost', logger: winston.createLogger({ silent: true }), rescanMs: 0 });
  });
  afterEach(async () => {
    await source.close();
    fs.rmSync(base, { recursive: true, force: true });
  });

  test('links that resolve inside the folder are followed: to a project folder, to a bare file, and files linked inside a project', async () => {
    fs.mkdirSync(path.join(dir, '.store'));
    fs.cpSync(path.join(FIXTURES, 'petstore-oas3'), path.join(dir, '.store/petstore'), { recursive: true });
    fs.symlinkSync('.store/petstore', path.join(dir, 'petstore'));
    fs.writeFileSync(path.join(dir, '.store/a.yaml'), bareApi('Alpha'));
    fs.symlinkSync(path.join(dir, '.store/a.yaml'), path.join(dir, 'alpha.yaml'));
    fs.mkdirSync(path.join(dir, 'beta'));
    fs.writeFileSync(path.join(dir, '.store/b.yaml'), bareApi('Beta'));
    fs.symlinkSync('../.store/b.yaml', path.join(dir, 'beta/openapi.yaml'));
    // A link to something that is not a project is skipped, as a plain README would be.
    fs.writeFileSync(path.join(dir, '.store/notes.txt'), 'notes');
    fs.symlinkSync('.store/notes.txt', path.join(dir, 'NOTES'));

    const { events, errors } = await source.scan();
    expect(errors).toEqual([]);
    expect(deployed(events)).toEqual(['Alpha@/alpha/1', 'Beta@/beta/1', 'PetStore@/petstore/1.0.0']);
  });

  test('a link outside the folder, a broken link and a loop are reported, naming the link; the rest deploy', async () => {
    fs.writeFileSync(path.join(outside, 'secret.yaml'), bareApi('Secret'));
    fs.symlinkSync(path.join(outside, 'secret.yaml'), path.join(dir, 'secret.yaml'));
    fs.symlinkSync('missing.yaml', path.join(dir, 'broken.yaml'));
    fs.symlinkSync('loop-b.yaml', path.join(dir, 'loop-a.yaml'));
    fs.symlinkSync('loop-a.yaml', path.join(dir, 'loop-b.yaml'));
    fs.symlinkSync('.', path.join(dir, 'self'));
    fs.mkdirSync(path.join(dir, 'inner'));
    fs.writeFileSync(path.join(dir, 'inner/openapi.yaml'), bareApi('Inner'));
    fs.symlinkSync(path.join(outside, 'secret.yaml'), path.join(dir, 'inner/extra.yaml'));
    fs.mkdirSync(path.join(dir, 'cyclic'));
    fs.writeFileSync(path.join(dir, 'cyclic/openapi.yaml'), bareApi('Cyclic'));
    fs.symlinkSync('..', path.join(dir, 'cyclic/up'));
    fs.writeFileSync(path.join(dir, 'fine.yaml'), bareApi('Fine'));

    const { events, errors } = await source.scan();
    expect(deployed(events)).toEqual(['Fine@/fine/1']);
    expect(errors.map((e) => e.message.slice(dir.length + 1)).sort()).toEqual([
      'broken.yaml: broken symlink: missing.yaml does not exist',
      'cyclic/up: symlink -> .. leads back to the folder itself; not followed',
      `inner/extra.yaml: symlink -> ${outside}/secret.yaml leads outside the watched folder; not followed`,
      'loop-a.yaml: symlink loop (-> loop-b.yaml)',
      'loop-b.yaml: symlink loop (-> loop-a.yaml)',
      `secret.yaml: symlink -> ${outside}/secret.yaml leads outside the watched folder; not followed`,
      'self: symlink -> . leads back to the folder itself; not followed',
    ]);
    expect(source.apis().some((a) => a.name === 'Secret')).toBe(false);
  });

  test('a folder within a project that links to its own parent is a loop', async () => {
    fs.mkdirSync(path.join(dir, 'p/Definitions'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'p/Definitions/openapi.yaml'), bareApi('P'));
    fs.symlinkSync('..', path.join(dir, 'p/Definitions/again'));
    const { errors } = await source.scan();
    expect(errors.map((e) => e.message)).toEqual([`${dir}/p/Definitions/again: symlink loop: this folder contains itself`]);
  });

  test("a ConfigMap mounted as the folder (Kubernetes' ..data layout) deploys, and redeploys when ..data is swapped", async () => {
    mount(dir, '..2026_12_07_10_00_00.000000001', { 'orders.yaml': bareApi('Orders'), 'billing.json': JSON.stringify({ openapi: '3.0.0', info: { title: 'Billing', version: '1' }, 'x-wso2-basePath': '/billing/1', 'x-wso2-production-endpoints': { urls: ['http://127.0.0.1:1'] }, paths: { '/a': { get: {} } } }) });
    const first = await source.scan();
    expect(first.errors).toEqual([]);
    expect(deployed(first.events)).toEqual(['Billing@/billing/1', 'Orders@/orders/1']);

    mount(dir, '..2026_12_07_10_05_00.000000002', { 'orders.yaml': bareApi('Orders').replace('/orders/1', '/orders/2'), 'billing.json': fs.readFileSync(path.join(dir, 'billing.json'), 'utf8') });
    fs.rmSync(path.join(dir, '..2026_12_07_10_00_00.000000001'), { recursive: true });
    const second = await source.scan();
    expect(second.errors).toEqual([]);
    expect(deployed(second.events)).toEqual(['Orders@/orders/2']);
  });

  test('watched, a ConfigMap swap redeploys what changed; a link back to the folder is reported, not watched in circles', async () => {
    mount(dir, '..2026_12_07_10_00_00.000000001', { 'orders.yaml': bareApi('Orders') });
    fs.symlinkSync('.', path.join(dir, 'self'));
    const watched = new LocalFolderSource({ dir, defaultVhost: 'localhost', logger: winston.createLogger({ silent: true }), debounceMs: 30, rescanMs: 0 });
    const batches: GatewayEvent[][] = [];
    const errors: string[] = [];
    let wake: () => void = () => {};
    const next = (): Promise<void> => new Promise((resolve) => (wake = resolve));
    try {
      let waiting = next();
      watched.watch(
        (events) => {
          batches.push(events);
          wake();
        },
        (e) => errors.push(...e.map((x) => x.reason)),
      );
      await waiting;
      expect(deployed(batches[0])).toEqual(['Orders@/orders/1']);
      expect(errors).toEqual(['symlink -> . leads back to the folder itself; not followed']);

      waiting = next();
      mount(dir, '..2026_12_07_10_05_00.000000002', { 'orders.yaml': bareApi('Orders').replace('/orders/1', '/orders/2') });
      fs.rmSync(path.join(dir, '..2026_12_07_10_00_00.000000001'), { recursive: true });
      await waiting;
      expect(deployed(batches[1])).toEqual(['Orders@/orders/2']);
    } finally {
      await watched.close();
    }
  });
});
