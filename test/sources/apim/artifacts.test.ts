import { strToU8, zipSync } from 'fflate';
import { parseConfig } from '../../../src/config/config';
import { ProjectError } from '../../../src/sources/local/errors';
import { apisFromArtifacts, deployAcks } from '../../../src/sources/apim/artifacts';
import { ProjectParser } from '../../../src/sources/worker/parser';
import { PREPARE_MODULE, prepareApi, type PreparedApi } from '../../../src/translate/prepare';

const PIZZA = 'a5b6c7d8-1111-4a2b-9c3d-0e1f2a3b4c5d';
const PIZZA_REV = '8e8e8e8e-7d7d-4c6c-9b5b-4a4a4a4a4a4a';
const SHOP = 'b1b2b3b4-2222-4a2b-9c3d-0e1f2a3b4c5d';
const SHOP_REV = '9f9f9f9f-7d7d-4c6c-9b5b-4a4a4a4a4a4a';
const OPTIONS = { defaultVhost: 'default.vhost', labels: ['Default', 'EU'] };

/** api.json as APIM writes revision artifacts (JSON, {type, version, data}). */
function apiJson(id: string, name: string, revisionId: number, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    type: 'api',
    version: 'v4.2.0',
    data: {
      id,
      name,
      context: `/${name.toLowerCase()}`,
      version: '1.0.0',
      provider: 'admin',
      lifeCycleStatus: 'PUBLISHED',
      isRevision: true,
      revisionId,
      organizationId: 'carbon.super',
      type: 'HTTP',
      endpointConfig: { endpoint_type: 'http', production_endpoints: { url: `https://${name.toLowerCase()}.internal:8443/v1` } },
      operations: [{ target: '/menu', verb: 'GET', authType: 'Any', throttlingPolicy: 'Unlimited', scopes: [] }],
      ...extra,
    },
  });
}

const SWAGGER = JSON.stringify({
  openapi: '3.0.1',
  info: { title: 'PizzaShackAPI', version: '1.0.0' },
  paths: { '/menu': { get: { responses: { '200': { description: 'OK' } } } } },
});

/** An inner project zip, files under `<Name>-<version>/` as APIM exports them. */
function project(top: string, files: Record<string, string>): Uint8Array {
  return zipSync(Object.fromEntries(Object.entries(files).map(([k, v]) => [`${top}/${k}`, strToU8(v)])));
}

const pizzaZip = (revisionId = 3): Uint8Array =>
  project('PizzaShackAPI-1.0.0', {
    'api.json': apiJson(PIZZA, 'PizzaShackAPI', revisionId),
    'Definitions/swagger.json': SWAGGER,
    // Ignored in control-plane mode, even when it disagrees with deployments.json.
    'deployment_environments.yaml': 'type: deployment_environments\nversion: v4.2.0\ndata:\n  - deploymentEnvironment: Other\n    deploymentVhost: a\n  - deploymentEnvironment: Other2\n    deploymentVhost: b\n',
  });

function deployments(list: unknown[]): string {
  return JSON.stringify({ type: 'deployments', version: 'v4.2.0', data: { deployments: list } });
}

function root(files: Record<string, Uint8Array | string>): Uint8Array {
  return zipSync(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, typeof v === 'string' ? strToU8(v) : v])));
}

function thrown(fn: () => unknown): ProjectError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ProjectError) return err;
    throw err;
  }
  throw new Error('expected a ProjectError');
}

test('two inner projects, one broken: one Api with labels, vhost, organization and revision from deployments.json, one error', () => {
  const pizzaFile = `${PIZZA}-${PIZZA_REV}.zip`;
  const shopFile = `${SHOP}-${SHOP_REV}.zip`;
  const zip = root({
    'deployments.json': deployments([
      {
        apiFile: pizzaFile,
        environments: [
          { name: 'Default', vhost: 'api.example.com' },
          { name: 'US', vhost: 'us.example.com' },
          { name: 'EU', vhost: 'api.example.com', deploymentType: 'PRODUCTION', deployedTimeStamp: 1700000000000 },
        ],
        organizationId: 'acme',
      },
      { apiFile: shopFile, environments: [{ name: 'Default', vhost: 'localhost' }], organizationId: 'carbon.super' },
    ]),
    [pizzaFile]: pizzaZip(),
    [shopFile]: strToU8('this is not a zip'),
  });

  const result = apisFromArtifacts(zip, OPTIONS, 'APIM runtime-artifacts');
  expect(result.apis).toHaveLength(1);
  const api = result.apis[0];
  expect(api).toMatchObject({
    id: PIZZA,
    name: 'PizzaShackAPI',
    version: '1.0.0',
    basePath: '/pizzashackapi/1.0.0',
    labels: ['Default', 'EU'],
    vhost: 'api.example.com',
    organization: 'acme',
    revision: '3',
    source: pizzaFile,
  });
  expect(api.endpoints.production?.urls[0].host).toBe('pizzashackapi.internal');

  expect(result.errors).toHaveLength(1);
  expect(result.errors[0]).toBeInstanceOf(ProjectError);
  expect(result.errors[0].source).toBe(shopFile);
  expect(result.errors[0].message).toMatch(/not a readable zip/);
  expect(result.warnings).toEqual([]);

  expect(result.deployments.map((d) => [d.apiFile, d.apiId, d.served.map((e) => e.name), d.api?.id])).toEqual([
    [pizzaFile, PIZZA, ['Default', 'EU'], PIZZA],
    // The id still comes from the file name, so a caller can keep the previous version.
    [shopFile, SHOP, [], undefined],
  ]);
  expect(deployAcks(result)).toEqual([
    {
      apiId: PIZZA,
      revisionId: 3,
      envInfo: [
        { name: 'Default', vhost: 'api.example.com' },
        { name: 'EU', vhost: 'api.example.com' },
      ],
    },
  ]);
  expect(deployAcks(result, new Set(['someone-else']))).toEqual([]);
});

test('file names are matched case-insensitively at the root; a listed inner zip that is missing is an error of its own', () => {
  const pizzaFile = `${PIZZA}-${PIZZA_REV}.zip`;
  const zip = root({
    'Deployments.JSON': deployments([
      { apiFile: pizzaFile.toUpperCase(), environments: [{ name: 'Default', vhost: 'localhost' }] },
      { apiFile: `${SHOP}-${SHOP_REV}.zip`, environments: [{ name: 'Default', vhost: 'localhost' }] },
    ]),
    [pizzaFile]: pizzaZip(),
    'nested/deployments.json': deployments([]),
  });
  const result = apisFromArtifacts(zip, OPTIONS, 'apim');
  expect(result.apis.map((a) => [a.id, a.labels, a.vhost, a.organization])).toEqual([[PIZZA, ['Default'], 'localhost', 'carbon.super']]);
  expect(result.errors.map((e) => e.message)).toEqual([`${SHOP}-${SHOP_REV}.zip: listed in Deployments.JSON but missing from the runtime-artifacts zip`]);
});

test('a project the parser rejects is reported with the inner zip as source, and the file inside', () => {
  const file = `${SHOP}-${SHOP_REV}.zip`;
  const broken = project('Shop-1.0.0', { 'api.yaml': 'type: api\nversion: v4.2.0\ndata:\n  version: 1.0.0\n  context: /shop\n' });
  const zip = root({ 'deployments.json': deployments([{ apiFile: file, environments: [{ name: 'EU', vhost: 'eu.example.com' }] }]), [file]: broken });
  const result = apisFromArtifacts(zip, OPTIONS, 'apim');
  expect(result.apis).toEqual([]);
  expect(result.errors).toHaveLength(1);
  expect(result.errors[0].source).toBe(file);
  expect(result.errors[0].file).toBe('Shop-1.0.0/api.yaml');
});

test('deployments only on other labels are skipped without parsing; no labels configured takes every environment', () => {
  const file = `${PIZZA}-${PIZZA_REV}.zip`;
  const zip = root({
    'deployments.json': deployments([{ apiFile: file, environments: [{ name: 'US', vhost: 'us.example.com' }, { name: 'APAC', vhost: 'us.example.com' }] }]),
    [file]: pizzaZip(),
  });
  const mine = apisFromArtifacts(zip, OPTIONS, 'apim');
  expect(mine.apis).toEqual([]);
  expect(mine.errors).toEqual([]);
  expect(mine.deployments[0].served).toEqual([]);

  const all = apisFromArtifacts(zip, { ...OPTIONS, labels: [] }, 'apim');
  expect(all.apis.map((a) => [a.labels, a.vhost])).toEqual([[['US', 'APAC'], 'us.example.com']]);
});

test('our environments on different vhosts: the vhost most of them use wins, the rest are reported and not served', () => {
  const file = `${PIZZA}-${PIZZA_REV}.zip`;
  const zip = root({
    'deployments.json': deployments([
      {
        apiFile: file,
        environments: [
          { name: 'Default', vhost: 'a.example.com' },
          { name: 'EU', vhost: 'b.example.com' },
          { name: 'EU2', vhost: 'b.example.com' },
        ],
      },
    ]),
    [file]: pizzaZip(),
  });
  const result = apisFromArtifacts(zip, { ...OPTIONS, labels: ['Default', 'EU', 'EU2'] }, 'apim');
  expect(result.apis.map((a) => [a.labels, a.vhost])).toEqual([[['EU', 'EU2'], 'b.example.com']]);
  expect(result.warnings.map((w) => w.message)).toEqual([`${file}/deployments.json: environment Default (vhost a.example.com) not served: an API has one vhost here, and EU, EU2 use b.example.com`]);
  expect(result.errors).toEqual([]);
  // A tie goes to the first listed.
  const tie = root({
    'deployments.json': deployments([{ apiFile: file, environments: [{ name: 'EU', vhost: 'b' }, { name: 'Default', vhost: 'a' }] }]),
    [file]: pizzaZip(),
  });
  expect(apisFromArtifacts(tie, OPTIONS, 'apim').apis.map((a) => [a.labels, a.vhost])).toEqual([[['EU'], 'b']]);
});

test('one API listed twice: same revision merges the labels; different revisions keep the highest and report the rest', () => {
  const a = `${PIZZA}-rev3.zip`;
  const b = `${PIZZA}-rev4.zip`;
  const same = root({
    'deployments.json': deployments([
      { apiFile: a, environments: [{ name: 'Default', vhost: 'localhost' }] },
      { apiFile: b, environments: [{ name: 'EU', vhost: 'localhost' }] },
    ]),
    [a]: pizzaZip(3),
    [b]: pizzaZip(3),
  });
  const merged = apisFromArtifacts(same, OPTIONS, 'apim');
  expect(merged.apis.map((x) => [x.labels, x.revision])).toEqual([[['Default', 'EU'], '3']]);
  expect(merged.warnings).toEqual([]);
  expect(deployAcks(merged)).toEqual([{ apiId: PIZZA, revisionId: 3, envInfo: [{ name: 'Default', vhost: 'localhost' }, { name: 'EU', vhost: 'localhost' }] }]);

  const differ = root({
    'deployments.json': deployments([
      { apiFile: a, environments: [{ name: 'Default', vhost: 'localhost' }] },
      { apiFile: b, environments: [{ name: 'EU', vhost: 'localhost' }] },
    ]),
    [a]: pizzaZip(3),
    [b]: pizzaZip(4),
  });
  const kept = apisFromArtifacts(differ, OPTIONS, 'apim');
  expect(kept.apis.map((x) => [x.labels, x.revision])).toEqual([[['EU'], '4']]);
  expect(kept.warnings.map((w) => w.reason)).toEqual([`API ${PIZZA} is listed twice (revision 3 on localhost, revision 4 on localhost); serving revision 4 on localhost on EU, not on Default`]);
  expect(deployAcks(kept)).toEqual([{ apiId: PIZZA, revisionId: 4, envInfo: [{ name: 'EU', vhost: 'localhost' }] }]);
});

test('env_properties.json is not applied, and says so for the APIs it would change', () => {
  const file = `${PIZZA}-${PIZZA_REV}.zip`;
  const zip = root({
    'deployments.json': deployments([{ apiFile: file, environments: [{ name: 'Default', vhost: 'localhost' }] }]),
    'env_properties.json': JSON.stringify({
      type: 'env_properties',
      version: 'v4.2.0',
      apis: { [PIZZA]: { Default: { envId: 'x', envName: 'Default', configs: { productionEndpoint: 'https://pizza-prod.internal:8443' } } } },
    }),
    [file]: pizzaZip(),
  });
  const result = apisFromArtifacts(zip, OPTIONS, 'apim');
  expect(result.apis[0].endpoints.production?.urls[0].host).toBe('pizzashackapi.internal');
  expect(result.warnings.map((w) => w.message)).toEqual([`apim/env_properties.json: environment-specific endpoints of API ${PIZZA} on Default are not applied (the API's own endpoints are used)`]);
});

test('a broken root throws rather than reading as "nothing deployed"', () => {
  expect(thrown(() => apisFromArtifacts(strToU8('<html/>'), OPTIONS, 'apim')).message).toMatch(/^apim: not a readable zip/);
  expect(thrown(() => apisFromArtifacts(root({ 'other.json': '{}' }), OPTIONS, 'apim')).message).toBe('apim/deployments.json: missing from the runtime-artifacts zip');
  expect(thrown(() => apisFromArtifacts(root({ 'deployments.json': '{' }), OPTIONS, 'apim')).message).toMatch(/^apim\/deployments.json: deployments.json is not valid JSON/);
  expect(thrown(() => apisFromArtifacts(root({ 'deployments.json': deployments([{ environments: [] }]) }), OPTIONS, 'apim')).message).toMatch(
    /^apim\/deployments.json: deployments.json data.deployments\[0\].apiFile: missing/,
  );
  // An environment without a vhost is served on the default vhost (APIM leaves it out for some gateways).
  const noVhost = apisFromArtifacts(root({ 'deployments.json': deployments([{ apiFile: 'x.zip', environments: [{ name: 'Default' }] }]) }), OPTIONS, 'apim');
  expect(noVhost.deployments[0].environments).toEqual([{ name: 'Default', vhost: OPTIONS.defaultVhost }]);
  // An empty list is a real "nothing".
  expect(apisFromArtifacts(root({ 'deployments.json': deployments([]) }), OPTIONS, 'apim').apis).toEqual([]);
});

test('the root size guard', () => {
  const zip = root({ 'deployments.json': deployments([]), 'big.zip': new Uint8Array(10_000) });
  expect(thrown(() => apisFromArtifacts(zip, { ...OPTIONS, maxBytes: 5000 }, 'apim')).message).toMatch(/uncompressed size exceeds 5000 bytes/);
});

test('on a parser worker given the prepare hook, each API comes back with its translation, as the event loop would make it', async () => {
  const config = parseConfig('', 'test.toml');
  const parser = new ProjectParser({ workers: 1, prepare: { module: PREPARE_MODULE, config } });
  const pizzaFile = `${PIZZA}-${PIZZA_REV}.zip`;
  try {
    const zip = root({
      'deployments.json': deployments([{ apiFile: pizzaFile, environments: [{ name: 'Default', vhost: 'localhost' }] }]),
      [pizzaFile]: pizzaZip(),
    });
    const result = await parser.artifacts(zip, OPTIONS, 'apim');
    expect(result.apis.map((a) => a.name)).toEqual(['PizzaShackAPI']);
    const [prepared] = result.prepared as PreparedApi[];
    const own = prepareApi(result.apis[0], config);
    expect(prepared.print).toBe(own.print);
    expect(Buffer.from(prepared.router.routes.bytes)).toEqual(Buffer.from(own.router.routes.bytes));
    expect(prepared.router.clusters.map((c) => c.name)).toEqual(own.router.clusters.map((c) => c.name));
    // Without the hook nothing is prepared: the event loop translates as before.
    const plain = new ProjectParser({ workers: 1 });
    try {
      expect((await plain.artifacts(zip, OPTIONS, 'apim')).prepared).toBeUndefined();
    } finally {
      await plain.close();
    }
  } finally {
    await parser.close();
  }
});
