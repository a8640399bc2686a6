import { wholeBytes } from '../../src/envoy/protoWire';
import * as fs from 'fs';
import * as path from 'path';
import { parseConfig } from '../../src/config/config';
import { unpackAny } from '../../src/envoy/any';
import { CLUSTER, LISTENER, ROUTE } from '../../src/envoy/typeUrls';
import type { Api, EndpointSet } from '../../src/model/api';
import { loadProject, projectOptions } from '../../src/sources/local';
import { isIP } from 'net';
import { apiRef, clusterName, NOT_FOUND_ROUTE, resourceKey } from '../../src/translate/names';
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
  ['golden-quarantined', 'test/fixtures/projects/golden-quarantined'],
  ['golden-azure', 'test/fixtures/projects/golden-azure.yaml'],
];

/** Loads a project with a repository-relative `source`, so no absolute path reaches the output. */
function load(project: string): Api {
  return loadProject(path.join(REPO, ...project.split('/')), projectOptions(config), project);
}

function decodeAll(out: LabelResources, typeUrl: string): Array<Record<string, unknown>> {
  return (out.resources[typeUrl] ?? []).map((r) => unpackAny({ type_url: typeUrl, value: wholeBytes(r.value) }));
}

/**
 * For people reading the files: in every object `@type` then `name` come first (proto3 JSON puts
 * fields in field-number order, which leaves a route's name after its whole match and action).
 * Only key order changes; every other key keeps its place.
 */
function readable(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(readable);
  if (!v || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  const first = ['@type', 'name'].filter((k) => k in o);
  return Object.fromEntries([...first, ...keys.filter((k) => !first.includes(k))].map((k) => [k, readable(o[k])]));
}

/** The stable, readable document a golden file holds. */
function render(out: LabelResources): string {
  const doc = {
    listeners: decodeAll(out, LISTENER),
    routes: decodeAll(out, ROUTE),
    clusters: decodeAll(out, CLUSTER),
    quarantined: out.quarantined,
    partial: out.partial,
  };
  return `${JSON.stringify(readable(doc), null, 2)}\n`;
}

function translateAlone(project: string): LabelResources {
  return new Translator(config).translate([load(project)]);
}

type Json = Record<string, any>;

const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * What must hold in any translation, whatever the golden file says: checked on every input so a
 * wrong golden file cannot be regenerated into passing. Returns the violations found.
 */
function violations(api: Api, out: LabelResources): string[] {
  const found: string[] = [];
  const [rc] = decodeAll(out, ROUTE) as Json[];
  const clusters = decodeAll(out, CLUSTER) as Json[];
  const [listener] = decodeAll(out, LISTENER) as Json[];

  const filters = listener.filter_chains[0].filters[0].typed_config.http_filters.map((f: Json) => f.name);
  if (filters.join() !== 'envoy.filters.http.cors,envoy.filters.http.ext_authz,envoy.filters.http.router') found.push(`listener filters ${filters.join(' → ')}`);

  // Which endpoint set each cluster name stands for (api-level, then resource-level, per environment).
  const sets = new Map<string, EndpointSet>();
  for (const env of ['production', 'sandbox'] as const) {
    const set = api.endpoints[env];
    if (set) sets.set(clusterName(api, env), set);
    for (const r of api.resources) {
      const own = r.endpoints?.[env];
      if (own) sets.set(clusterName(api, env, resourceKey(api, r)), own);
    }
  }

  const names = new Set<string>();
  for (const c of clusters) {
    if (names.has(c.name)) found.push(`duplicate cluster name ${c.name}`);
    names.add(c.name);
    const set = sets.get(c.name);
    if (!set) {
      found.push(`cluster ${c.name} belongs to no endpoint set`);
      continue;
    }
    const allIps = set.urls.every((u) => isIP(u.host) !== 0);
    if (c.type !== (allIps ? 'STATIC' : 'STRICT_DNS')) found.push(`cluster ${c.name} is ${c.type}`);
    const localities = c.load_assignment.endpoints as Json[];
    const addresses = localities.flatMap((l) => l.lb_endpoints.map((e: Json) => `${e.endpoint.address.socket_address.address}:${e.endpoint.address.socket_address.port_value}`));
    if (addresses.join() !== set.urls.map((u) => `${u.host}:${u.port}`).join()) found.push(`cluster ${c.name} endpoints ${addresses.join()}`);
    if (set.type === 'failover' && localities.map((l) => l.priority ?? 0).join() !== set.urls.map((_, i) => i).join()) found.push(`cluster ${c.name}: failover URLs are not priorities 0..n`);
    if (set.type === 'load_balance' && localities.length !== 1) found.push(`cluster ${c.name}: load-balanced URLs are not one locality`);
    if ((set.urls.length > 1) !== Boolean(c.health_checks?.length)) found.push(`cluster ${c.name}: health checks ${c.health_checks ? 'with' : 'without'} several URLs`);
    const tls = c.transport_socket?.typed_config;
    const https = set.urls[0].scheme === 'https';
    if (https !== Boolean(tls)) found.push(`cluster ${c.name}: ${https ? 'https without' : 'http with'} TLS`);
    if (tls && !set.skipTlsVerify) {
      const ca = tls.common_tls_context?.validation_context?.trusted_ca;
      if (set.caCertificates?.length ? ca?.inline_string !== set.caCertificates.join('\n') : !ca?.filename) found.push(`cluster ${c.name}: wrong trusted CA`);
    }
  }

  // The environments each resource reaches: its own set per environment, else the API's.
  const reaches = (path: string, env: 'production' | 'sandbox'): boolean =>
    api.resources.filter((r) => r.path === path).some((r) => Boolean(r.endpoints?.[env] ?? api.endpoints[env]));

  for (const vh of rc.virtual_hosts as Json[]) {
    const routes = vh.routes as Json[];
    if (routes[routes.length - 1]?.name !== NOT_FOUND_ROUTE) found.push(`vhost ${vh.name} does not end with ${NOT_FOUND_ROUTE}`);
    const seen = new Set<string>();
    routes.forEach((route, i) => {
      if (seen.has(route.name)) found.push(`duplicate route name ${route.name} in vhost ${vh.name}`);
      seen.add(route.name);
      if (route.name === NOT_FOUND_ROUTE) return;
      const ref = `${apiRef(api)}:`;
      if (!String(route.name).startsWith(ref)) found.push(`route ${route.name}: unexpected name`);
      // The kinds of route named between the API's part and the resource key (`default`, `sandbox`).
      const rest = String(route.name).slice(ref.length);
      const kinds = rest.slice(0, Math.max(0, rest.indexOf('/'))).split(':').filter((k) => k !== '');
      const named = (...k: string[]): string => ref + [...k, rest.slice(rest.indexOf('/'))].join(':');
      const md = route.metadata?.filter_metadata?.['apimconnect.route'];
      if (md?.apiId !== api.id) found.push(`route ${route.name}: metadata apiId ${md?.apiId}`);
      const regex: string | undefined = route.match.safe_regex?.regex;
      if (regex !== undefined && /\./.test(regex.replace(/\\\./g, '').replace('(?:/.*)?$', ''))) found.push(`route ${route.name}: unescaped dot in ${regex}`);
      const clusterHeader = (route.match.headers as Json[]).find((h) => h.name === 'x-wso2-cluster-header');
      const sandbox = kinds.includes('sandbox');
      if (sandbox !== Boolean(clusterHeader)) found.push(`route ${route.name}: cluster header ${clusterHeader ? 'on a production' : 'missing on a sandbox'} route`);
      if (sandbox) {
        if (clusterHeader?.string_match?.exact !== route.route?.cluster) found.push(`route ${route.name}: header value is not its cluster`);
        const next = routes[i + 1];
        const path = (m: Json): string => JSON.stringify(m.safe_regex ?? m.path_separated_prefix ?? m.path_match_policy);
        if (next?.name !== named(...kinds.filter((k) => k !== 'sandbox')) || path(next.match) !== path(route.match)) {
          found.push(`route ${route.name} is not directly followed by its production route`);
        }
      } else if (reaches(md?.path, 'sandbox') && routes[i - 1]?.name !== named(...kinds, 'sandbox')) {
        found.push(`route ${route.name} has no sandbox route, though ${md?.path} has sandbox endpoints`);
      }
      const target = route.route?.cluster;
      if (target === undefined) return;
      if (!names.has(target)) found.push(`route ${route.name} sends to unknown cluster ${target}`);
      const set = sets.get(target);
      const base = kinds.includes('default') ? api.context : api.basePath;
      const backend = set?.urls[0].basePath ?? '';
      const rw = route.route.regex_rewrite;
      const want = backend === '' ? { pattern: { regex: `^${escapeRegex(base)}/?` }, substitution: '/' } : { pattern: { regex: `^${escapeRegex(base)}` }, substitution: backend };
      if (JSON.stringify(rw) !== JSON.stringify(want)) found.push(`route ${route.name}: rewrite ${JSON.stringify(rw)}, want ${JSON.stringify(want)}`);
    });
  }
  return found;
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
          expect(Buffer.from(wholeBytes(again[i].value)).equals(Buffer.from(wholeBytes(r.value)))).toBe(true);
          expect(again[i].version).toBe(r.version);
        });
      }
      expect(other.quarantined).toEqual(a.quarantined);
      expect(other.partial).toEqual(a.partial);
      expect(render(other)).toBe(render(a));
    }
  });

  test.each(INPUTS)('%s: the translation holds the invariants', (name, project) => {
    const api = load(project);
    const out = new Translator(config).translate([api]);
    if (name === 'golden-quarantined') {
      expect(out.quarantined.map((q) => q.source)).toEqual([project]);
      expect(out.resources[CLUSTER]).toEqual([]);
      return;
    }
    expect(out.quarantined).toEqual([]);
    expect(violations(api, out)).toEqual([]);
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
