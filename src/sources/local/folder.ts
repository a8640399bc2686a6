import * as fs from 'fs';
import * as path from 'path';
import type { Logger } from 'winston';
import type { Config } from '../../config/config';
import { createLogger } from '../../config/log';
import { routeKey } from '../../model/api';
import type { Api } from '../../model/api';
import { fingerprint } from '../../model/keyed';
import type { GatewayEvent } from '../../model/state';
import { ProjectParser } from '../worker/parser';
import { ProjectError } from './errors';
import { ProjectOptions, projectOptions } from './project';

/**
 * A folder of API projects (`apis/` by default), served when there is no control plane. Each
 * direct child is one project: a folder, a .zip, or a .yaml/.yml/.json OpenAPI file.
 *
 * Projects are read and parsed on a worker thread: a big definition never stalls the event loop.
 * A symlink is followed when it resolves inside the folder (a Kubernetes ConfigMap is mounted as
 * symlinks into a hidden `..data` folder); one that leads outside, dangles or loops is reported.
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
  /** Periodic rescan, for file systems where fs.watch misses events (default 5000 ms; 0: none). */
  rescanMs?: number;
  logger?: Logger;
}

export interface ScanResult {
  events: GatewayEvent[];
  /** Errors that are new or changed since the previous scan (see errors() for all current ones). */
  errors: ProjectError[];
}

interface Entry {
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
  private readonly parser = new ProjectParser();
  private watcher?: fs.FSWatcher;
  private debounce?: NodeJS.Timeout;
  private interval?: NodeJS.Timeout;
  private running: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: LocalFolderOptions) {
    this.log = options.logger ?? createLogger('info', 'sources.local');
    this.display = options.dir.split(path.sep).join('/').replace(/\/+$/, '') || '.';
  }

  static fromConfig(config: Config, logger?: Logger): LocalFolderSource {
    return new LocalFolderSource({ ...projectOptions(config), dir: config.adapter.apisDirectory, logger });
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
      this.interval = setInterval(() => {
        // The folder may have appeared (or been replaced) since the watcher failed.
        if (!this.watcher) this.startWatcher(schedule);
        run();
      }, every);
      this.interval.unref();
    }
    run();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.debounce);
    clearInterval(this.interval);
    this.watcher?.close();
    this.watcher = undefined;
    await this.running;
    await this.parser.close();
  }

  private startWatcher(onChange: () => void): void {
    if (this.closed) return;
    try {
      // Recursive: edits inside a project folder (Definitions/swagger.yaml) must be seen too.
      const w = fs.watch(this.options.dir, { recursive: true }, onChange);
      w.on('error', (err) => {
        this.log.warn(`watching ${this.display} stopped (${err.message}); relying on periodic rescans`);
        w.close();
        if (this.watcher === w) this.watcher = undefined;
      });
      this.watcher = w;
    } catch (err) {
      this.log.debug(`cannot watch ${this.display} yet: ${(err as Error).message}`);
    }
  }

  private async scanNow(): Promise<ScanResult> {
    const undeploy: GatewayEvent[] = [];
    const deploy: GatewayEvent[] = [];
    const errors: ProjectError[] = [];
    const names = this.list();
    // All projects go to the worker at once; it reads them one after another.
    const reads = await Promise.all(names.map((name) => this.parser.project(this.options.dir, name, this.source(name), this.entries.get(name)?.hash, this.options)));

    for (const [name, entry] of [...this.entries].sort(byKey)) {
      if (names.includes(name)) continue;
      this.entries.delete(name);
      if (entry.good) {
        undeploy.push({ kind: 'ApiUndeployed', apiId: entry.good.id });
        this.log.info(`undeployed ${entry.good.name} ${entry.good.version} (${this.source(name)} removed)`);
      }
    }

    for (const [i, name] of names.entries()) {
      const before = this.entries.get(name);
      const read = reads[i];
      let candidate: Api | undefined;
      let error: ProjectError | undefined;
      if (before && before.hash === read.hash) {
        if (!before.blocked) continue;
        candidate = before.blocked;
      } else if (read.api) candidate = read.api;
      else error = read.error;

      const entry: Entry = { hash: read.hash, good: before?.good };
      if (candidate) error = this.clash(name, candidate);
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
      this.entries.set(name, entry);
    }
    return { events: [...undeploy, ...deploy], errors };
  }

  /** Two projects may not share an API id, nor a vhost and base path on a common label. */
  private clash(name: string, api: Api): ProjectError | undefined {
    for (const [other, entry] of this.entries) {
      const served = entry.good;
      if (other === name || !served) continue;
      if (served.id === api.id) return new ProjectError(this.source(name), '', `API id ${api.id} is already used by ${this.source(other)}`);
      if (routeKey(served) === routeKey(api) && served.labels.some((l) => api.labels.includes(l))) {
        return new ProjectError(this.source(name), '', `${api.vhost}${api.basePath} is already served by ${this.source(other)}`);
      }
    }
    return undefined;
  }

  /** Direct children that are projects, sorted so results are deterministic. */
  private list(): string[] {
    let children: fs.Dirent[];
    try {
      children = fs.readdirSync(this.options.dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn(`cannot read ${this.display}: ${(err as Error).message}`);
      return [];
    }
    const project = (d: fs.Dirent): boolean => d.isDirectory() || (d.isFile() && PROJECT_FILE.test(d.name));
    return children
      .filter((d) => !d.name.startsWith('.') && (project(d) || (d.isSymbolicLink() && this.linkedProject(d.name))))
      .map((d) => d.name)
      .sort();
  }

  /** A symlink to a project, or one that cannot be followed (the worker reports why). */
  private linkedProject(name: string): boolean {
    try {
      const stat = fs.statSync(path.join(this.options.dir, name));
      return stat.isDirectory() || (stat.isFile() && PROJECT_FILE.test(name));
    } catch {
      return true;
    }
  }

  private source(name: string): string {
    return `${this.display}/${name}`;
  }
}

/** A project that is a single file: a zip or a bare definition. */
const PROJECT_FILE = /\.(zip|ya?ml|json)$/i;

const byKey = <T>(a: [string, T], b: [string, T]): number => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
