import * as fs from 'fs';
import * as grpc from '@grpc/grpc-js';
import * as os from 'os';
import * as path from 'path';
import { parseConfig } from '../../src/config/config';
import { createLogger } from '../../src/config/log';
import { serviceDefinition } from '../../src/envoy/grpcService';
import { CLUSTER, ROUTE } from '../../src/envoy/typeUrls';
import { startAdapter, type Adapter } from '../../src/cli/adapter';
import { AdsStream, node, type Response } from '../helpers/ads';

/**
 * The local folder source end to end: projects are added, changed, removed, broken and fixed
 * in a watched folder while a raw Delta ADS client is subscribed; it must see exactly the
 * expected adds, updates and removals, and a broken project must keep its last good version.
 */

function definition(title: string, basePath: string, backend: string, paths = ['/items', '/items/{id}']): string {
  return [
    "swagger: '2.0'",
    `info: { title: ${title}, version: v1 }`,
    `x-wso2-basePath: ${basePath}`,
    'x-wso2-production-endpoints:',
    `  urls: [${backend}]`,
    'paths:',
    ...paths.flatMap((p) => [`  ${p}:`, '    get:', "      responses: { '200': { description: ok } }"]),
    '',
  ].join('\n');
}

let dir: string;
let adapter: Adapter;
let stream: AdsStream;
let admin: grpc.Client;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'apis-'));
  fs.writeFileSync(path.join(dir, 'books.yaml'), definition('Books', '/books/v1', 'http://books.internal:8080/api'));
  const config = parseConfig(
    `[adapter]\nhost = "127.0.0.1"\nxdsPort = 0\nhttpPort = 0\ndebounceMs = 0\napisDirectory = ${JSON.stringify(dir)}\n`,
    'test.toml',
  );
  adapter = await startAdapter(config, createLogger('error', 'test'));
  const Admin = grpc.makeGenericClientConstructor(serviceDefinition('apimconnect.admin.v1.AdminService'), 'admin');
  admin = new Admin(`127.0.0.1:${adapter.port}`, grpc.credentials.createInsecure());
  stream = new AdsStream(`127.0.0.1:${adapter.port}`, 'delta');
});

afterAll(async () => {
  stream?.close();
  admin?.close();
  await adapter?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const names = (r: Response): string[] => r.resources.map((x) => x.name).sort();
const ack = (r: Response): void => stream.send({ type_url: r.typeUrl, response_nonce: r.nonce });
const BOOKS = 'carbon-super_localhost_Books_v1_c584c7c2_prod';
const MUSIC = 'carbon-super_localhost_Music_v1_419b9cdb_prod';

/** The next pushes of CDS and RDS after a change (each type at most once per push). */
async function nextPush(): Promise<Record<string, Response>> {
  const first = await stream.next(8000);
  ack(first);
  const got: Record<string, Response> = { [first.typeUrl]: first };
  // the other type, if it changed too, follows at once
  try {
    const second = await stream.next(300);
    ack(second);
    got[second.typeUrl] = second;
  } catch {
    // only one type changed
  }
  return got;
}

function routesOf(r: Response): string[] {
  return (r.resources[0].body.virtual_hosts as Array<{ routes: Array<{ name: string }> }>).flatMap((v) => v.routes.map((x) => x.name));
}

function problems(): Promise<Array<{ kind: string; source: string; reasons: string[] }>> {
  return new Promise((resolve, reject) =>
    (admin as unknown as Record<string, Function>).ListProblems({}, (err: Error | null, res: { problems: Array<{ kind: string; source: string; reasons: string[] }> }) =>
      err ? reject(err) : resolve(res.problems),
    ),
  );
}

test('add, change, remove, break and fix API projects while a router is subscribed', async () => {
  stream.send({ node: node('router-1', 'Default'), type_url: CLUSTER });
  stream.send({ type_url: ROUTE, resource_names_subscribe: ['default'] });
  const [c0, r0] = [await stream.next(), await stream.next()];
  ack(c0);
  ack(r0);
  expect(names(c0)).toEqual([BOOKS]);
  expect(routesOf(r0)).toEqual(['carbon-super_localhost_Books_v1_c584c7c2:/items', 'carbon-super_localhost_Books_v1_c584c7c2:/items/{id}', 'not-found', 'not-found']);

  // add a project: only its cluster is new; the route table gains its routes
  fs.writeFileSync(path.join(dir, 'music.yaml'), definition('Music', '/music/v1', 'http://music.internal:8080'));
  let push = await nextPush();
  expect(names(push[CLUSTER])).toEqual([MUSIC]);
  expect(push[CLUSTER].removed).toEqual([]);
  // (base paths of one length are ordered by API id: Music's derived id sorts first)
  expect(routesOf(push[ROUTE])).toEqual(['carbon-super_localhost_Music_v1_419b9cdb:/items', 'carbon-super_localhost_Music_v1_419b9cdb:/items/{id}', 'carbon-super_localhost_Books_v1_c584c7c2:/items', 'carbon-super_localhost_Books_v1_c584c7c2:/items/{id}', 'not-found', 'not-found']);

  // change a backend: that one cluster is updated, the route table does not change
  const booksVersion = c0.resources[0].version;
  fs.writeFileSync(path.join(dir, 'books.yaml'), definition('Books', '/books/v1', 'http://books.internal:9090/api'));
  push = await nextPush();
  expect(Object.keys(push)).toEqual([CLUSTER]);
  expect(names(push[CLUSTER])).toEqual([BOOKS]);
  expect(push[CLUSTER].resources[0].version).not.toBe(booksVersion);

  // remove a project: its cluster is removed by name and its routes go
  fs.rmSync(path.join(dir, 'music.yaml'));
  push = await nextPush();
  expect(push[CLUSTER].resources).toEqual([]);
  expect(push[CLUSTER].removed).toEqual([MUSIC]);
  expect(routesOf(push[ROUTE])).toEqual(['carbon-super_localhost_Books_v1_c584c7c2:/items', 'carbon-super_localhost_Books_v1_c584c7c2:/items/{id}', 'not-found', 'not-found']);

  // break a project: nothing is pushed, its last good version keeps serving, the problem is listed
  fs.writeFileSync(path.join(dir, 'books.yaml'), "swagger: '2.0'\ninfo: { title: Books\n");
  await expectEventually(async () => (await problems()).some((p) => p.kind === 'project' && /books\.yaml/.test(p.source)));
  await stream.none(500);
  const [problem] = (await problems()).filter((p) => p.kind === 'project');
  expect(problem.source).toMatch(/books\.yaml:\d+$/);
  expect(adapter.cache.get('Default', CLUSTER, BOOKS)).toBeDefined();

  // fix it (with a new resource): pushed again, the problem is gone
  fs.writeFileSync(path.join(dir, 'books.yaml'), definition('Books', '/books/v1', 'http://books.internal:9090/api', ['/items', '/items/{id}', '/authors']));
  push = await nextPush();
  expect(Object.keys(push)).toEqual([ROUTE]);
  expect(routesOf(push[ROUTE])).toEqual(['carbon-super_localhost_Books_v1_c584c7c2:/authors', 'carbon-super_localhost_Books_v1_c584c7c2:/items', 'carbon-super_localhost_Books_v1_c584c7c2:/items/{id}', 'not-found', 'not-found']);
  expect(await problems()).toEqual([]);
}, 60_000);

async function expectEventually(cond: () => Promise<boolean>, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
