import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as winston from 'winston';
import { LocalFolderSource } from '../../../src/sources/local/folder';
import type { GatewayEvent } from '../../../src/model/state';
import { derivedId } from '../../../src/sources/local/project';
import { ProjectParser } from '../../../src/sources/worker/parser';
import { FIXTURES, zipFolder } from './helpers';

const PETSTORE_ID = '0d9a3c6e-1111-4b2b-8c3d-2e1f0a9b8c7d';
const WEATHER_ID = derivedId('Weather', '2.1.0');
const INVENTORY_ID = derivedId('Inventory', 'v3');

/** Events as short strings: `+id@basePath` deployed, `-id` undeployed. */
const short = (events: GatewayEvent[]): string[] =>
  events.map((e) => (e.kind === 'ApiDeployed' ? `+${e.api.id}@${e.api.basePath}` : e.kind === 'ApiUndeployed' ? `-${e.apiId}` : e.kind));

describe('LocalFolderSource', () => {
  let dir: string;
  let source: LocalFolderSource;
  const silent = winston.createLogger({ silent: true });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'apis-'));
    fs.cpSync(path.join(FIXTURES, 'petstore-oas3'), path.join(dir, 'petstore'), { recursive: true });
    fs.copyFileSync(path.join(FIXTURES, 'weather-oas3.yaml'), path.join(dir, 'weather.yaml'));
    fs.writeFileSync(path.join(dir, 'README.md'), 'not a project');
    source = new LocalFolderSource({ dir, defaultVhost: 'localhost', logger: silent, debounceMs: 30, rescanMs: 0 });
  });

  afterEach(async () => {
    await source.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const edit = (file: string, change: (text: string) => string): void => {
    const abs = path.join(dir, file);
    fs.writeFileSync(abs, change(fs.readFileSync(abs, 'utf8')));
  };

  it('deploys every project once, then reports nothing while nothing changes', async () => {
    const first = await source.scan();
    expect(short(first.events)).toEqual([`+${PETSTORE_ID}@/petstore/1.0.0`, `+${WEATHER_ID}@/weather/2.1.0`]);
    expect(first.errors).toEqual([]);
    expect(await source.scan()).toEqual({ events: [], errors: [] });
    expect(source.apis().map((a) => a.name)).toEqual(['PetStore', 'Weather']);
  });

  it('redeploys a changed project, and ignores a change that does not change the API', async () => {
    await source.scan();
    edit('weather.yaml', (t) => t.replace('x-wso2-throttling-tier: Gold', 'x-wso2-throttling-tier: Platinum'));
    const changed = await source.scan();
    expect(short(changed.events)).toEqual([`+${WEATHER_ID}@/weather/2.1.0`]);
    expect(changed.events[0].kind === 'ApiDeployed' && changed.events[0].api.throttlingTier).toBe('Platinum');
    edit('petstore/Definitions/swagger.yaml', (t) => `# a comment\n${t}`);
    expect(await source.scan()).toEqual({ events: [], errors: [] });
  });

  it('logs what a parse noted without refusing (a server it did not use), once per change', async () => {
    const warnings: string[] = [];
    const logger = winston.createLogger({ transports: [new winston.transports.Console({ silent: true })] });
    logger.on('data', (info: { level: string; message: string }) => info.level === 'warn' && warnings.push(info.message));
    const noted = new LocalFolderSource({ dir, defaultVhost: 'localhost', logger, debounceMs: 30, rescanMs: 0 });
    try {
      fs.writeFileSync(
        path.join(dir, 'servers.yaml'),
        'openapi: 3.0.0\ninfo: {title: Servers, version: 1.0.0}\nx-wso2-basePath: /servers\nservers:\n  - url: https://api.example.com/v1\n  - url: ftp://files.example.com\npaths:\n  /a: {get: {}}\n',
      );
      await noted.scan();
      expect(warnings.filter((w) => w.includes('servers.yaml'))).toEqual([expect.stringMatching(/servers\.yaml:\d+: .*not used/)]);
      await noted.scan();
      expect(warnings.filter((w) => w.includes('not used'))).toHaveLength(1);
    } finally {
      await noted.close();
    }
  });

  it('undeploys a removed project', async () => {
    await source.scan();
    fs.rmSync(path.join(dir, 'weather.yaml'));
    expect(short((await source.scan()).events)).toEqual([`-${WEATHER_ID}`]);
  });

  it('keeps serving the last good version of a broken project, and redeploys it when fixed', async () => {
    await source.scan();
    edit('petstore/api.yaml', (t) => t.replace('  name: PetStore\n', '  name: [PetStore\n'));
    const broken = await source.scan();
    expect(broken.events).toEqual([]);
    expect(broken.errors).toHaveLength(1);
    expect(broken.errors[0]).toMatchObject({ file: 'api.yaml', line: expect.any(Number) });
    expect(broken.errors[0].message).toMatch(new RegExp(`^${dir}/petstore/api\\.yaml:\\d+: malformed YAML`));
    expect(source.apis().map((a) => a.name)).toEqual(['PetStore', 'Weather']);
    expect(source.errors()).toHaveLength(1);

    // Still broken, unchanged: not reported again.
    expect(await source.scan()).toEqual({ events: [], errors: [] });

    edit('petstore/api.yaml', (t) => t.replace('  name: [PetStore\n', '  name: PetStore\n').replace('apiThrottlingPolicy: 10KPerMin', 'apiThrottlingPolicy: 20KPerMin'));
    const fixed = await source.scan();
    expect(short(fixed.events)).toEqual([`+${PETSTORE_ID}@/petstore/1.0.0`]);
    expect(fixed.errors).toEqual([]);
    expect(source.errors()).toEqual([]);
  });

  it('redeploys a project fixed back to exactly its last good content', async () => {
    await source.scan();
    const good = fs.readFileSync(path.join(dir, 'weather.yaml'), 'utf8');
    edit('weather.yaml', (t) => t.replace('x-wso2-basePath: /weather/2.1.0/', 'x-wso2-basePath: /weather 2.1.0'));
    const broken = await source.scan();
    expect(broken.errors.map((e) => [e.file, e.line, e.reason])).toEqual([
      ['weather.yaml', 5, 'x-wso2-basePath: invalid base path "/weather 2.1.0" (allowed: letters, digits and ~/_.-)'],
    ]);
    fs.writeFileSync(path.join(dir, 'weather.yaml'), good);
    expect(short((await source.scan()).events)).toEqual([`+${WEATHER_ID}@/weather/2.1.0`]);
  });

  it('undeploys the old id and deploys the new one when a project changes its id', async () => {
    await source.scan();
    edit('petstore/api.yaml', (t) => t.replace(PETSTORE_ID, 'aaaaaaaa-2222-4b2b-8c3d-2e1f0a9b8c7d'));
    expect(short((await source.scan()).events)).toEqual([`-${PETSTORE_ID}`, '+aaaaaaaa-2222-4b2b-8c3d-2e1f0a9b8c7d@/petstore/1.0.0']);
  });

  it('reads zips, reports new broken projects without events, and refuses a clashing base path until it is free', async () => {
    await source.scan();
    fs.writeFileSync(path.join(dir, 'inventory.zip'), zipFolder(path.join(FIXTURES, 'inventory-json'), 'Inventory-v3'));
    fs.writeFileSync(path.join(dir, 'broken.json'), '{"openapi": "3.0.0",');
    const added = await source.scan();
    expect(short(added.events)).toEqual([`+${INVENTORY_ID}@/v3/inventory`]);
    expect(added.errors.map((e) => [e.source.slice(dir.length), e.file])).toEqual([['/broken.json', 'broken.json']]);

    // A copy of weather under another name: same id, so it waits.
    fs.copyFileSync(path.join(dir, 'weather.yaml'), path.join(dir, 'weather-copy.yaml'));
    const clash = await source.scan();
    expect(clash.events).toEqual([]);
    expect(clash.errors.map((e) => e.reason)).toEqual([`API id ${WEATHER_ID} is already used by ${dir}/weather.yaml`]);
    expect(await source.scan()).toEqual({ events: [], errors: [] });

    fs.rmSync(path.join(dir, 'weather.yaml'));
    const moved = await source.scan();
    expect(short(moved.events)).toEqual([`-${WEATHER_ID}`, `+${WEATHER_ID}@/weather/2.1.0`]);
    expect(moved.events[1].kind === 'ApiDeployed' && moved.events[1].api.source).toBe(`${dir}/weather-copy.yaml`);
  });

  it('watches the folder: a new file is deployed after the debounce, close() stops everything', async () => {
    const batches: GatewayEvent[][] = [];
    let wake: () => void = () => {};
    const next = (): Promise<void> => new Promise((resolve) => (wake = resolve));
    let waiting = next();
    source.watch((events) => {
      batches.push(events);
      wake();
    });
    await waiting;
    expect(short(batches[0])).toEqual([`+${PETSTORE_ID}@/petstore/1.0.0`, `+${WEATHER_ID}@/weather/2.1.0`]);

    waiting = next();
    fs.writeFileSync(path.join(dir, 'inventory.zip'), zipFolder(path.join(FIXTURES, 'inventory-json'), 'x'));
    await waiting;
    expect(short(batches[1])).toEqual([`+${INVENTORY_ID}@/v3/inventory`]);

    waiting = next();
    edit('petstore/Definitions/swagger.yaml', (t) => t.replace('x-throttling-tier: Silver', 'x-throttling-tier: Gold'));
    await waiting;
    expect(short(batches[2])).toEqual([`+${PETSTORE_ID}@/petstore/1.0.0`]);

    await source.close();
    fs.rmSync(path.join(dir, 'weather.yaml'));
    await new Promise((r) => setTimeout(r, 150));
    expect(batches).toHaveLength(3);
  });

  it('reads again only the project that changed: an unchanged folder costs a stat per file, not a read', async () => {
    const reads = jest.spyOn(ProjectParser.prototype, 'project');
    const read = (): string[] => reads.mock.calls.splice(0).map((c) => c[1]);
    try {
      await source.scan();
      expect(read()).toEqual(['petstore', 'weather.yaml']);
      expect(await source.scan()).toEqual({ events: [], errors: [] });
      expect(read()).toEqual([]);

      edit('weather.yaml', (t) => t.replace('x-wso2-throttling-tier: Gold', 'x-wso2-throttling-tier: Platinum'));
      expect(short((await source.scan()).events)).toEqual([`+${WEATHER_ID}@/weather/2.1.0`]);
      expect(read()).toEqual(['weather.yaml']);

      // Touched, not changed: read again (its times changed), and found the same.
      const later = new Date(Date.now() + 60_000);
      fs.utimesSync(path.join(dir, 'petstore/api.yaml'), later, later);
      expect(await source.scan()).toEqual({ events: [], errors: [] });
      expect(read()).toEqual(['petstore']);
      expect(await source.scan()).toEqual({ events: [], errors: [] });
      expect(read()).toEqual([]);
    } finally {
      reads.mockRestore();
    }
  });

  it('watched: an idle folder is not read at all; an edit is read, alone, once the watcher reports it', async () => {
    const reads = jest.spyOn(ProjectParser.prototype, 'project');
    const read = (): string[] => reads.mock.calls.splice(0).map((c) => c[1]);
    const watched = new LocalFolderSource({ dir, defaultVhost: 'localhost', logger: silent, debounceMs: 20, rescanMs: 20 });
    try {
      const batches: GatewayEvent[][] = [];
      let wake: () => void = () => {};
      const next = (): Promise<void> => new Promise((resolve) => (wake = resolve));
      let waiting = next();
      watched.watch((events) => {
        batches.push(events);
        wake();
      });
      await waiting;
      expect(read()).toEqual(['petstore', 'weather.yaml']);
      // Many rescan periods with nothing changing: nothing is read.
      await new Promise((r) => setTimeout(r, 500));
      expect(read()).toEqual([]);

      waiting = next();
      edit('petstore/Definitions/swagger.yaml', (t) => t.replace('x-throttling-tier: Silver', 'x-throttling-tier: Gold'));
      await waiting;
      expect(short(batches[1])).toEqual([`+${PETSTORE_ID}@/petstore/1.0.0`]);
      expect(read()).toEqual(['petstore']);
    } finally {
      reads.mockRestore();
      await watched.close();
    }
  });

  it('falls back to periodic rescans, also for a folder that appears later', async () => {
    const later = path.join(dir, 'later');
    const periodic = new LocalFolderSource({ dir: later, defaultVhost: 'localhost', logger: silent, rescanMs: 50 });
    const seen = new Promise<GatewayEvent[]>((resolve) => periodic.watch(resolve));
    fs.mkdirSync(later);
    fs.copyFileSync(path.join(FIXTURES, 'weather-oas3.yaml'), path.join(later, 'w.yaml'));
    expect(short(await seen)).toEqual([`+${WEATHER_ID}@/weather/2.1.0`]);
    await periodic.close();
  });
});

describe('LocalFolderSource over the embedded apis/ folder', () => {
  it('deploys everything in apis/ with no errors', async () => {
    const source = new LocalFolderSource({ dir: path.join(__dirname, '../../../apis'), defaultVhost: 'localhost', logger: winston.createLogger({ silent: true }) });
    const { events, errors } = await source.scan();
    expect(errors).toEqual([]);
    expect(events.length).toBeGreaterThanOrEqual(2);
    expect(events.every((e) => e.kind === 'ApiDeployed')).toBe(true);
    await source.close();
  });
});
