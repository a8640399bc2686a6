import { watch as chokidar, type FSWatcher } from 'chokidar';
import * as fs from 'fs';
import * as path from 'path';
import type { Logger } from 'winston';
import type { Config } from '../../config/config';
import { createLogger } from '../../config/log';
import { routeKey } from '../../model/api';
import type { Api } from '../../model/api';
import { fingerprint } from '../../model/keyed';
import type { GatewayEvent } from '../../model/state';
import type { PrepareHook } from '../worker/parse-calls';
import { ProjectParser } from '../worker/parser';
import { ProjectError } from './errors';
import { ProjectOptions, projectOptions } from './project';
import type { ProjectRead } from './read';
import { mapLimited, pacer } from './paced';
import { projectStamp } from './stamp';

/**
 * A folder of API projects (`apis/` by default), served when there is no control plane. Each
 * direct child is one project: a folder, a .zip, or a .yaml/.yml/.json OpenAPI file.
 *
 * Projects are read and parsed on worker threads: a big definition never stalls the event loop.
 * A symlink is followed when it resolves inside the folder (a Kubernetes ConfigMap is mounted as
 * symlinks into a hidden `..data` folder); one that leads outside, dangles or loops is reported.
 *
 * The folder is watched (chokidar), and each scan first stats every project: only a project whose
 * files changed (size, times, inode) or that the watcher named is read again, so an idle folder
 * costs a few stat calls per rescan, not a read and a hash of every file.
 *
 * scan() reports what changed since the previous scan. A project that stops parsing is reported
 * as an error and its last good version KEEPS SERVING: a typo saved mid-edit should not take a
 * live API down, and the error names the file and line to fix. Once it parses again it
 * redeploys. Only a removed project (or one whose id changed) is undeployed.
 */

export interface LocalFolderOptions extends ProjectOptions {
  dir: string;
  /** Quiet period after a file-system event before rescanning (default 200 ms). */
  debounceMs?: number;
  /**
   * Periodic rescan (stat only) while the folder cannot be watched, or watching it reported an
   * error (default 5000 ms; 0: none); while it is watched, once a minute, in case an event was missed.
   */
  rescanMs?: number;
  /** Parser workers (0, the default: one per core, up to 4). */
  workers?: number;
  /**
   * Prepare (translate) each parsed API on its worker too (ARCHITECTURE.md rule 12); `adopt` gets
   * each new API with what was prepared, before it is reported.
   */
  prepare?: PrepareHook & { adopt: (api: Api, prepared: unknown) => void };
  logger?: Logger;
}

export interface ScanResult {
  events: GatewayEvent[];
  /** Errors that are new or changed since the previous scan (see errors() for all current ones). */
  errors: ProjectError[];
}

interface Entry {
  /** projectStamp of its files when last read: while it holds, they are not read again. */
  stamp: string;
  /** Content hash of the project's files; unchanged content is not parsed again. */
  hash: string;
  /** The version being served. */
  good?: Api;
  /** Parsed but held back because it clashes with another project; retried every scan. */
  blocked?: Api;
  error?: ProjectError;
}

export class LocalFolderSource {
  private readonly entries = new Map<string, Entry>();
  private readonly log: Logger;
  private readonly display: string;
  private readonly parser: ProjectParser;
  private watcher?: FSWatcher;
  /** Children the watcher named since the last scan: read again whatever their stamp says. */
  private touched = new Set<string>();
  /** Errors the watcher reported: from the first, the periodic rescan runs at its own pace. */
  private watchErrors = 0;
  private debounce?: NodeJS.Timeout;
  private interval?: NodeJS.Timeout;
  private running: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: LocalFolderOptions) {
    this.log = options.logger ?? createLogger('info', 'sources.local');
    this.display = options.dir.split(path.sep).join('/').replace(/\/+$/, '') || '.';
    this.parser = new ProjectParser({ workers: options.workers, prepare: options.prepare && { module: options.prepare.module, config: options.prepare.config } });
  }

  static fromConfig(config: Config, logger?: Logger, prepare?: LocalFolderOptions['prepare']): LocalFolderSource {
    return new LocalFolderSource({ ...projectOptions(config), dir: config.adapter.apisDirectory, workers: config.adapter.parseWorkers, prepare, logger });
  }

  /** The APIs currently served, by project name. */
  apis(): Api[] {
    return [...this.entries.values()].flatMap((e) => (e.good ? [e.good] : []));
  }

  /** Every project that currently fails, whether or not it has a good version serving. */
  errors(): ProjectError[] {
    return [...this.entries.values()].flatMap((e) => (e.error ? [e.error] : []));
  }

  /** Rescans the folder. Scans never overlap. */
  scan(): Promise<ScanResult> {
    const result = this.running.then(() => this.scanNow());
    this.running = result.catch(() => undefined);
    return result;
  }

  /**
   * Watches the folder and calls back with what changed: a scan now, then one per burst of file
   * events (debounced) and one every rescanMs. Callbacks get only non-empty lists.
   */
  watch(onEvents: (events: GatewayEvent[]) => void, onErrors: (errors: ProjectError[]) => void = () => {}): void {
    const run = (): void => {
      if (this.closed) return;
      this.scan().then(
        (r) => {
          if (this.closed) return;
          if (r.events.length) onEvents(r.events);
          if (r.errors.length) onErrors(r.errors);
        },
        (err: unknown) => this.log.error(`scan of ${this.display} failed: ${(err as Error).message}`),
      );
    };
    const schedule = (): void => {
      clearTimeout(this.debounce);
      this.debounce = setTimeout(run, this.options.debounceMs ?? 200);
    };
    this.startWatcher(schedule);
    const every = this.options.rescanMs ?? 5000;
    if (every > 0) {
      let ticks = 0;
      this.interval = setInterval(() => {
        // The folder may have appeared (or been replaced) since the watcher failed.
        if (!this.watcher) this.startWatcher(schedule);
        // While watched, stat now and then only, in case an event was missed.
        if (!this.watcher || this.watchErrors > 0 || ++ticks * every >= WATCHED_RESCAN_MS) {
          ticks = 0;
          run();
        }
      }, every);
      this.interval.unref();
    }
    run();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.debounce);
    clearInterval(this.interval);
    const watcher = this.watcher;
    this.watcher = undefined;
    await watcher?.close();
    await this.running;
    await this.parser.close();
  }

  private startWatcher(onChange: () => void): void {
    if (this.closed) return;
    try {
      if (!fs.statSync(this.options.dir).isDirectory()) return;
    } catch (err) {
      this.log.debug(`cannot watch ${this.display} yet: ${(err as Error).message}`);
      return;
    }
    // All depths (edits inside a project folder count), links not followed: whatever a link
    // inside the folder leads to is inside the folder, watched where it is; the stamps follow
    // links and tell which projects a change feeds.
    const w = chokidar(this.options.dir, { ignoreInitial: true, ignorePermissionErrors: true, followSymlinks: false });
    w.on('all', (event, changed) => {
      const child = path.relative(this.options.dir, changed).split(path.sep)[0];
      if (event === 'unlinkDir' && !child) {
        // The folder itself is gone: watch it again once it is back.
        void w.close();
        if (this.watcher === w) this.watcher = undefined;
      }
      // A hidden child (`..data`) is no project: the stamps tell which projects it feeds.
      else if (child && !child.startsWith('.')) this.touched.add(child);
      onChange();
    });
    w.on('error', (err) => {
      // Chokidar goes on watching the rest; rescan often in case this part is missed.
      if (!this.watchErrors++) this.log.warn(`watching ${this.display}: ${(err as Error).message}; rescanning every ${this.options.rescanMs ?? 5000} ms as well`);
    });
    this.watcher = w;
  }

  private async scanNow(): Promise<ScanResult> {
    const undeploy: GatewayEvent[] = [];
    const deploy: GatewayEvent[] = [];
    const errors: ProjectError[] = [];
    const touched = this.touched;
    this.touched = new Set();
    const names = await this.list();
    const stamps = await mapLimited(names, STATS_AT_ONCE, (name) => projectStamp(path.join(this.options.dir, name)));
    // Only what changed goes to the workers, a few per worker at a time: they read in parallel,
    // and their answers come back one by one, never as a burst that holds the event loop.
    const reads = await mapLimited(names, 2 * this.parser.workers, (name, i): ProjectRead | Promise<ProjectRead> => {
      const before = this.entries.get(name);
      if (before && before.stamp === stamps[i] && !touched.has(name)) return { hash: before.hash };
      return this.parser.project(this.options.dir, name, this.source(name), before?.hash, this.options);
    });

    const listed = new Set(names);
    for (const [name, entry] of [...this.entries].sort(byKey)) {
      if (listed.has(name)) continue;
      this.entries.delete(name);
      if (entry.good) {
        undeploy.push({ kind: 'ApiUndeployed', apiId: entry.good.id });
        this.log.info(`undeployed ${entry.good.name} ${entry.good.version} (${this.source(name)} removed)`);
      }
    }

    const served = new Served(this.entries);
    const pause = pacer();
    for (const [i, name] of names.entries()) {
      await pause();
      const before = this.entries.get(name);
      const read = reads[i];
      let candidate: Api | undefined;
      let error: ProjectError | undefined;
      if (before && before.hash === read.hash) {
        before.stamp = stamps[i];
        if (!before.blocked) continue;
        candidate = before.blocked;
      } else if (read.api) {
        candidate = read.api;
        if (read.prepared !== undefined) this.options.prepare?.adopt(read.api, read.prepared);
        // Parsed only when its content changed, so each note is logged once per change.
        for (const note of read.notes ?? []) this.log.warn(note.message);
      } else error = read.error;

      const entry: Entry = { stamp: stamps[i], hash: read.hash, good: before?.good };
      if (candidate) error = this.clash(name, candidate, served);
      if (error) {
        entry.error = error;
        if (candidate) entry.blocked = candidate;
        if (error.message !== before?.error?.message) {
          errors.push(error);
          this.log.warn(entry.good ? `${error.message} (the last good version of ${entry.good.name} ${entry.good.version} keeps serving)` : error.message);
        }
      } else if (candidate) {
        entry.good = candidate;
        const old = before?.good;
        if (old && old.id !== candidate.id) undeploy.push({ kind: 'ApiUndeployed', apiId: old.id });
        // Same content (a comment edited) needs no redeploy; a fixed project always redeploys.
        if (!old || old.id !== candidate.id || before?.error || fingerprint(old) !== fingerprint(candidate)) {
          deploy.push({ kind: 'ApiDeployed', api: candidate });
          this.log.info(`${old ? 'redeployed' : 'deployed'} ${candidate.name} ${candidate.version} at ${candidate.vhost}${candidate.basePath} (${this.source(name)})`);
        }
      }
      served.set(name, entry.good);
      this.entries.set(name, entry);
    }
    return { events: [...undeploy, ...deploy], errors };
  }

  /** Two projects may not share an API id, nor a vhost and base path on a common label. */
  private clash(name: string, api: Api, served: Served): ProjectError | undefined {
    const sameId = served.byId(api.id, name);
    if (sameId) return new ProjectError(this.source(name), '', `API id ${api.id} is already used by ${this.source(sameId)}`);
    const sameRoute = served.byRoute(api, name);
    if (sameRoute) return new ProjectError(this.source(name), '', `${api.vhost}${api.basePath} is already served by ${this.source(sameRoute)}`);
    return undefined;
  }

  /** Direct children that are projects, sorted so results are deterministic. */
  private async list(): Promise<string[]> {
    let children: fs.Dirent[];
    try {
      children = await fs.promises.readdir(this.options.dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn(`cannot read ${this.display}: ${(err as Error).message}`);
      return [];
    }
    const project = (d: fs.Dirent): boolean => d.isDirectory() || (d.isFile() && PROJECT_FILE.test(d.name));
    const names = await Promise.all(
      children.map(async (d) => (!d.name.startsWith('.') && (project(d) || (d.isSymbolicLink() && (await this.linkedProject(d.name)))) ? d.name : undefined)),
    );
    return names.filter((n): n is string => n !== undefined).sort();
  }

  /** A symlink to a project, or one that cannot be followed (the worker reports why). */
  private async linkedProject(name: string): Promise<boolean> {
    try {
      const stat = await fs.promises.stat(path.join(this.options.dir, name));
      return stat.isDirectory() || (stat.isFile() && PROJECT_FILE.test(name));
    } catch {
      return true;
    }
  }

  private source(name: string): string {
    return `${this.display}/${name}`;
  }
}

const WATCHED_RESCAN_MS = 60_000;
/** Projects stat'ed at once: enough to keep the file system busy, few enough to answer in a burst of a millisecond or so. */
const STATS_AT_ONCE = 32;

/** A project that is a single file: a zip or a bare definition. */
const PROJECT_FILE = /\.(zip|ya?ml|json)$/i;

const byKey = <T>(a: [string, T], b: [string, T]): number => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

/**
 * The served APIs of one scan by id and by vhost and base path, kept as the scan goes, so that
 * checking a project for clashes costs a lookup rather than a pass over every other project.
 */
class Served {
  private readonly ids = new Map<string, string>();
  private readonly routes = new Map<string, Array<{ name: string; labels: readonly string[] }>>();
  private readonly apis = new Map<string, Api>();

  constructor(entries: ReadonlyMap<string, Entry>) {
    for (const [name, e] of entries) this.set(name, e.good);
  }

  /** Records what `name` serves now (undefined: nothing). */
  set(name: string, api: Api | undefined): void {
    const old = this.apis.get(name);
    if (old === api) return;
    if (old) {
      if (this.ids.get(old.id) === name) this.ids.delete(old.id);
      const list = this.routes.get(routeKey(old))?.filter((r) => r.name !== name);
      if (list?.length) this.routes.set(routeKey(old), list);
      else this.routes.delete(routeKey(old));
      this.apis.delete(name);
    }
    if (!api) return;
    this.apis.set(name, api);
    this.ids.set(api.id, name);
    this.routes.set(routeKey(api), [...(this.routes.get(routeKey(api)) ?? []), { name, labels: api.labels }]);
  }

  /** Another project serving this id (clashes keep ids unique among served projects). */
  byId(id: string, except: string): string | undefined {
    const owner = this.ids.get(id);
    return owner === except ? undefined : owner;
  }

  /** Another project serving this vhost and base path on a label the API shares. */
  byRoute(api: Api, except: string): string | undefined {
    return this.routes.get(routeKey(api))?.find((r) => r.name !== except && r.labels.some((l) => api.labels.includes(l)))?.name;
  }
}
