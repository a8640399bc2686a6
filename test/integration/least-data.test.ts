import { generateKeyPairSync, randomUUID } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as grpc from '@grpc/grpc-js';
import { ADMIN_SERVICE } from '../../src/admin/adminService';
import { startAdapter, type Adapter } from '../../src/cli/adapter';
import { runCtl } from '../../src/cli/ctl';
import { startEnforcer, type Enforcer } from '../../src/cli/enforcer';
import { parseConfig, type Config } from '../../src/config/config';
import { ENFORCER_TYPES } from '../../src/enforcer/view';
import { messageJson, unpackAny } from '../../src/envoy/any';
import { serviceDefinition } from '../../src/envoy/grpcService';
import { messageType } from '../../src/envoy/protos';
import { ENFORCER_API, ENFORCER_KEY_MANAGER } from '../../src/envoy/typeUrls';
import { DeltaXdsClient } from '../../src/xds/client';
import { ApimEmulator } from '../../tools/apim-emulator';
import { mintJwt } from '../helpers/jwt';
import { captureLogger, type LogEntry } from '../helpers/rabbit';

/**
 * No secret for the asking. Secrets are planted where they really arrive (a backend's Basic
 * password in an API project or in APIM, a key manager's client secret, user name and password
 * through state events or APIM's events, APIM's own password, a credential in a backend URL),
 * then every admin RPC is called over gRPC, `ctl` prints what it prints, an enforcer-typed xDS
 * client takes everything an enforcer is sent, and the logs are kept: none may hold a planted
 * secret's value. Meanwhile the real enforcer still validates that key manager's tokens and still
 * sends the backend its credentials.
 */

const AMQP = process.env.APIM_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const tag = (what: string): string => `${what}-${randomUUID().slice(0, 8)}`;
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pemB64 = Buffer.from(rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string).toString('base64');
const kmSecrets = (): Record<string, string> => ({ client_secret: tag('km-client-secret'), username: tag('km-user'), password: tag('km-password') });
/** Not a secret (tokens carry it), but nothing an enforcer reads either. */
const kmUnused = (): Record<string, string> => ({ client_id: tag('km-client-id'), token_endpoint: `https://${tag('idp')}.example.com/token` });
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** The secrets of one scenario, with the forms they would take if they leaked (a Basic header is base64). */
function forms(secrets: Record<string, string>, backend: { user: string; password: string }): string[] {
  const header = basic(backend.user, backend.password);
  return [...Object.values(secrets), backend.password, header.slice('Basic '.length)];
}

function expectNoSecret(where: string, text: string, secrets: readonly string[]): void {
  for (const s of secrets) if (text.includes(s)) throw new Error(`${where} reveals the secret ${s}: ${text.slice(Math.max(0, text.indexOf(s) - 600), text.indexOf(s) + 100)}`);
}

// ---- the admin service, as any client with the address sees it --------------------------------------

type Obj = Record<string, any>;

/** Every admin RPC's answer, as JSON text, by RPC (GetConfigDump and GetState once per group and collection). */
async function adminAnswers(address: string): Promise<Map<string, string>> {
  const Client = grpc.makeGenericClientConstructor(serviceDefinition(ADMIN_SERVICE), 'admin');
  const client = new Client(address, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 }) as unknown as Obj & grpc.Client;
  const json = (typeName: string, msg: unknown): Obj => messageJson(messageType(`apimconnect.admin.v1.${typeName}`), msg as object) as Obj;
  const unary = (method: string, req: object, typeName: string): Promise<Obj> =>
    new Promise((resolve, reject) => client[method](req, (err: grpc.ServiceError | null, res: unknown) => (err ? reject(err) : resolve(json(typeName, res)))));
  const out = new Map<string, string>();
  try {
    const snapshots = await unary('ListSnapshots', { group: '' }, 'ListSnapshotsResponse');
    out.set('ListSnapshots', JSON.stringify(snapshots));
    out.set(
      'WatchSnapshots',
      await new Promise<string>((resolve, reject) => {
        const call = client.WatchSnapshots({ group: '' }) as grpc.ClientReadableStream<unknown>;
        call.once('data', (m) => {
          resolve(JSON.stringify(json('Snapshot', m)));
          call.cancel();
        });
        call.on('error', (e: grpc.ServiceError) => e.code !== grpc.status.CANCELLED && reject(e));
      }),
    );
    out.set('ListNodes', JSON.stringify(await unary('ListNodes', { group: '' }, 'ListNodesResponse')));
    out.set('ListProblems', JSON.stringify(await unary('ListProblems', { group: '' }, 'ListProblemsResponse')));
    const state = await unary('GetState', { collection: '' }, 'GatewayState');
    out.set('GetState', JSON.stringify(state));
    for (const collection of Object.keys(state.counts)) out.set(`GetState ${collection}`, JSON.stringify(await unary('GetState', { collection }, 'GatewayState')));
    for (const s of snapshots.snapshots as Obj[]) out.set(`GetConfigDump ${s.group}`, JSON.stringify(await unary('GetConfigDump', { group: s.group, type_urls: [] }, 'ConfigDump')));
  } finally {
    client.close();
  }
  return out;
}

/** What `apim-connect ctl` prints for each of its commands. */
async function ctlOutput(address: string, group: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const commands: Array<[string, string[]]> = [['snapshots', []], ['nodes', []], ['problems', []], ['state', []], ['state', ['apis']], ['state', ['keyManagers']], ['state', ['applications']], ['dump', [group]]];
  for (const [command, args] of commands) {
    const lines: string[] = [];
    await runCtl(command, args, { address, json: false, watch: false, group: '' }, (l) => lines.push(l));
    out.set(`ctl ${command} ${args.join(' ')}`, lines.join('\n'));
  }
  return out;
}

/** Everything the adapter sends an enforcer of `label`, as the raw bytes of each resource, by type. */
async function asAnEnforcer(address: string, label: string): Promise<Map<string, Buffer[]>> {
  const client = new DeltaXdsClient<Buffer>({
    address,
    node: { id: tag('spy'), cluster: label },
    typeUrls: ENFORCER_TYPES,
    decode: Object.fromEntries(ENFORCER_TYPES.map((t) => [t, (v: Uint8Array) => Buffer.from(v)])),
  });
  try {
    await client.whenReady();
    return new Map(ENFORCER_TYPES.map((t) => [t, [...client.entries(t).values()].map((h) => h.value)]));
  } finally {
    client.close();
  }
}

// ---- the enforcer deciding -------------------------------------------------------------------------

const CheckResponse = messageType('envoy.service.auth.v3.CheckResponse');

async function checker(port: number) {
  const Ctor = grpc.makeGenericClientConstructor(serviceDefinition('envoy.service.auth.v3.Authorization'), 'Authorization');
  const client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & { Check: Function };
  /** The status (200: allowed) and the headers set upstream, for a bearer token. */
  const check = (apiId: string, requestPath: string, template: string, token: string): Promise<{ status: number; upstream: Record<string, string> }> =>
    new Promise((resolve, reject) =>
      client.Check(
        {
          attributes: {
            request: { http: { method: 'GET', path: requestPath, host: 'localhost', headers: { ':method': 'GET', authorization: `Bearer ${token}` } } },
            route_metadata_context: { filter_metadata: { 'apimconnect.route': { fields: { apiId: { stringValue: apiId }, path: { stringValue: template } } } } },
          },
        },
        (err: Error | null, res: unknown) => {
          if (err) return reject(err);
          const r = CheckResponse.toObject(res as never, { defaults: false }) as Obj;
          const upstream = Object.fromEntries(((r.ok_response?.headers ?? []) as Obj[]).map((h) => [h.header.key, h.header.value]));
          resolve({ status: r.denied_response?.status.code ?? 200, upstream });
        },
      ),
    );
  const until = async (want: number, ...args: Parameters<typeof check>): Promise<Awaited<ReturnType<typeof check>>> => {
    const end = Date.now() + 15_000;
    for (;;) {
      const r = await check(...args);
      if (r.status === want) return r;
      if (Date.now() > end) throw new Error(`the enforcer answers ${r.status}, not ${want}`);
      await new Promise((res) => setTimeout(res, 25));
    }
  };
  return { until, close: () => client.close() };
}

async function eventually(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`not in time: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The checks every scenario makes once its secrets are in: admin, ctl, what an enforcer gets, logs. */
async function expectNoSecretAnywhere(a: Adapter, label: string, secrets: string[], notForEnforcers: string[], logs: LogEntry[], backendHeader: string): Promise<Map<string, string>> {
  const address = `127.0.0.1:${a.port}`;
  const answers = await adminAnswers(address);
  expect([...answers.keys()]).toEqual(expect.arrayContaining(['ListSnapshots', 'WatchSnapshots', 'ListNodes', 'ListProblems', 'GetState apis', 'GetState keyManagers', `GetConfigDump ${label}`]));
  for (const [rpc, text] of answers) expectNoSecret(`AdminService/${rpc}`, text, secrets);
  for (const [command, text] of await ctlOutput(address, label)) expectNoSecret(command, text, secrets);

  // An enforcer gets the backend's credentials (it sets them upstream) and none of the key manager's.
  const sent = await asAnEnforcer(address, label);
  const everything = Buffer.concat([...sent.values()].flat());
  for (const s of notForEnforcers) expect(everything.includes(s)).toBe(false);
  const apis = sent.get(ENFORCER_API)!.map((b) => unpackAny({ type_url: ENFORCER_API, value: b }) as Obj);
  expect(apis.flatMap((x) => x.resources.map((r: Obj) => r.production_authorization))).toContain(backendHeader);

  expectNoSecret('the logs', logs.map((e) => JSON.stringify(e)).join('\n'), secrets);
  return answers;
}

// ---- a folder of API projects, a key manager as a state event -----------------------------------------

describe('without APIM: an API project and state events', () => {
  const backend = { user: 'svc-user', password: tag('backend-password') };
  const urlPassword = tag('url-password');
  const queryKey = `${tag('h')}.${tag('query-key')}.${tag('s')}`;
  const km = kmSecrets();
  const unused = kmUnused();
  const ISS = 'https://idp.example.com/oauth2/token';
  let dir: string;
  let adapter: Adapter;
  let enforcer: Enforcer;
  const { logger, entries } = captureLogger();

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'least-data-'));
    fs.mkdirSync(path.join(dir, 'secure', 'Definitions'), { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'secure', 'api.yaml'),
      `type: api\nversion: v4.2.0\ndata:\n  name: Secure\n  context: /secure\n  version: 1.0.0\n  securityScheme: [oauth2]\n  endpointConfig:\n    endpoint_type: http\n` +
        `    production_endpoints:\n      url: http://secure.internal:8080/api\n` +
        `    endpoint_security:\n      production:\n        enabled: true\n        type: BASIC\n        username: ${backend.user}\n        password: ${backend.password}\n` +
        `  operations:\n    - target: /items\n      verb: GET\n      authType: Application & Application User\n      throttlingPolicy: Unlimited\n`,
    );
    fs.writeFileSync(path.join(dir, 'secure', 'Definitions', 'swagger.yaml'), `openapi: 3.0.1\ninfo: {title: Secure, version: 1.0.0}\npaths:\n  /items:\n    get: {responses: {'200': {description: ok}}}\n`);
    // A backend URL with a password in it is refused; the reason must not repeat the password.
    fs.writeFileSync(
      path.join(dir, 'leaky.yaml'),
      `openapi: 3.0.1\ninfo: {title: Leaky, version: v1}\nx-wso2-basePath: /leaky/v1\nx-wso2-production-endpoints:\n  urls: ['http://svc:${urlPassword}@leaky.internal/api']\npaths:\n  /a:\n    get: {responses: {'200': {description: ok}}}\n`,
    );
    const config = parseConfig(
      `[adapter]\nhost = "127.0.0.1"\nxdsPort = 0\nhttpPort = 0\ndebounceMs = 0\napisDirectory = ${JSON.stringify(dir)}\n[enforcer]\nhost = "127.0.0.1"\nport = 0\nhttpPort = 0\n`,
      'test.toml',
    );
    adapter = await startAdapter(config, logger.child({ component: 'adapter' }));
    enforcer = await startEnforcer({ ...config, enforcer: { ...config.enforcer, adapterAddress: `127.0.0.1:${adapter.port}` } }, logger.child({ component: 'enforcer' }));
  });

  afterAll(async () => {
    await enforcer?.stop();
    await adapter?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('no admin answer, ctl output, enforcer resource or log line holds a secret; the enforcer still validates and sends the credentials', async () => {
    const api = [...adapter.pipeline.current.apis.values()].find((x) => x.name === 'Secure')!;
    expect(api.endpoints.production?.basicAuth?.password).toBe(backend.password);
    const org = api.organization;
    adapter.pipeline.apply([
      {
        kind: 'Upserted',
        collection: 'keyManagers',
        value: { name: 'IdP', type: 'custom', enabled: true, organization: org, configuration: { issuer: ISS, self_validate_jwt: true, certificate_type: 'PEM', certificate_value: pemB64, ...km, ...unused } },
      },
      { kind: 'Upserted', collection: 'applications', value: { uuid: 'app-1', name: 'Shop', owner: 'alice@example.com', policy: 'Unlimited', attributes: {}, organization: org } },
      { kind: 'Upserted', collection: 'keyMappings', value: { consumerKey: 'ck-1', keyManager: 'IdP', keyType: 'PRODUCTION', appUuid: 'app-1', organization: org } },
      { kind: 'Upserted', collection: 'subscriptions', value: { uuid: 'sub-1', apiUuid: api.id, appUuid: 'app-1', policy: 'Unlimited', state: 'UNBLOCKED', organization: org } },
    ]);
    const { until, close } = await checker(enforcer.port);
    try {
      const token = mintJwt({ iss: ISS, sub: 'alice', azp: 'ck-1', jti: tag('jti'), exp: Math.floor(Date.now() / 1000) + 600 }, rsa.privateKey);
      const allowed = await until(200, api.id, '/secure/1.0.0/items', '/items', token);
      expect(allowed.upstream.authorization).toBe(basic(backend.user, backend.password));
      // A denied request is logged, its query (here an API key) left out.
      await until(401, api.id, `/secure/1.0.0/items?apikey=${queryKey}`, '/items', 'not.a.token');
    } finally {
      close();
    }
    expect(entries.some((e) => e.message === 'check denied' && e.path === '/secure/1.0.0/items')).toBe(true);

    const secrets = [...forms(km, backend), urlPassword, queryKey];
    const answers = await expectNoSecretAnywhere(adapter, 'Default', secrets, [...Object.values(km), ...Object.values(unused)], entries, basic(backend.user, backend.password));

    // What ops see instead: that each secret is set, and everything else as it is.
    const apis = JSON.parse(answers.get('GetState apis')!).entries as Obj[];
    expect(apis.find((x) => x.name === 'Secure')!.endpoints.production.basicAuth).toEqual({ username: backend.user, password: '<set>' });
    const kms = JSON.parse(answers.get('GetState keyManagers')!).entries as Obj[];
    expect(kms[0].configuration).toEqual({ issuer: ISS, self_validate_jwt: true, certificate_type: 'PEM', certificate_value: pemB64, client_secret: '<set>', username: '<set>', password: '<set>', client_id: '<set>', token_endpoint: unused.token_endpoint });
    const dump = JSON.parse(answers.get('GetConfigDump Default')!).types as Obj[];
    const enforcerApi = dump.find((t) => t.type_url === ENFORCER_API)!.resources.find((r: Obj) => r.resource.name === 'Secure').resource;
    expect(enforcerApi.resources[0].production_authorization).toBe('<set>');
    const kmResource = dump.find((t) => t.type_url === ENFORCER_KEY_MANAGER)!.resources[0].resource;
    expect(kmResource).toMatchObject({ name: 'IdP', issuer: ISS, certificate_pem: expect.stringContaining('BEGIN PUBLIC KEY') });
    expect(JSON.parse(answers.get('ListProblems')!).problems.map((p: Obj) => p.reasons.join(' '))).toEqual([expect.stringContaining('endpoint URLs may not carry credentials: "http://svc:***@leaky.internal/api"')]);
  }, 60_000);
});

// ---- APIM: its REST API and its events on the real broker --------------------------------------------

describe('following APIM', () => {
  const APIM_USER = 'admin';
  const APIM_PASSWORD = tag('apim-password');
  const backend = { user: 'apim-svc', password: tag('apim-backend-password') };
  const km = kmSecrets();
  const unused = kmUnused();
  const ISS = `https://${tag('partner')}.example.com/oauth2/token`;
  const KM = tag('Partner IdP');
  const label = tag('ld');
  let emulator: ApimEmulator;
  let adapter: Adapter;
  let enforcer: Enforcer;
  const { logger, entries } = captureLogger();

  beforeAll(async () => {
    emulator = new ApimEmulator();
    await emulator.start({ username: APIM_USER, password: APIM_PASSWORD, amqpUrl: AMQP });
  });

  afterAll(async () => {
    await enforcer?.stop();
    await adapter?.stop();
    await emulator.stop();
  });

  function config(): Config {
    return parseConfig(
      `[adapter]\nhost = "127.0.0.1"\nxdsPort = 0\nhttpPort = 0\ndebounceMs = 0\napisDirectory = ""\n` +
        `[controlPlane]\nenabled = true\nserviceURL = "${emulator.url}"\nusername = "${APIM_USER}"\npassword = "${APIM_PASSWORD}"\n` +
        `environmentLabels = ["${label}"]\nretryInterval = 1\nsyncInterval = 0\n` +
        `[controlPlane.brokerConnectionParameters]\neventListeningEndpoints = ["${AMQP}?retries='2'&connectdelay='1'"]\nreconnectInterval = 200\n` +
        `[enforcer]\nhost = "127.0.0.1"\nport = 0\nhttpPort = 0\nlabel = "${label}"\n`,
      'test.toml',
    );
  }

  test('secrets APIM holds reach no admin answer, ctl output, log line or (but for the backend\'s) enforcer resource; tokens of its key manager still validate', async () => {
    const cfg = config();
    adapter = await startAdapter(cfg, logger.child({ component: 'adapter' }));
    enforcer = await startEnforcer({ ...cfg, enforcer: { ...cfg.enforcer, adapterAddress: `127.0.0.1:${adapter.port}` } }, logger.child({ component: 'enforcer' }));

    const apiId = await emulator.createApi({
      name: 'Vault',
      version: '1.0.0',
      context: '/vault',
      openapi: { openapi: '3.0.1', info: { title: 'Vault', version: '1.0.0' }, paths: { '/items': { get: { responses: { '200': { description: 'ok' } } } } } },
      endpoints: {},
      endpointConfig: {
        endpoint_type: 'http',
        production_endpoints: { url: 'http://vault.internal:8080/api' },
        endpoint_security: { production: { enabled: true, type: 'BASIC', username: backend.user, password: backend.password } },
      },
    });
    await emulator.deploy(apiId, [label]);
    await emulator.addKeyManager({ name: KM, type: 'custom', configuration: { issuer: ISS, self_validate_jwt: true, certificate_type: 'PEM', certificate_value: pemB64, ...km, ...unused } });
    const app = await emulator.createApplication({ name: 'VaultApp', owner: 'bob@example.com', policy: 'Unlimited' });
    await emulator.generateKeys(app, 'PRODUCTION', KM, 'ck-vault');
    await emulator.subscribe(app, apiId);
    // A key manager event that does not decode, its configuration (with the secrets) inside: logged, never shown.
    const broken = Buffer.from(`${JSON.stringify({ issuer: ISS, ...km })},`).toString('base64');
    await emulator.publishRaw('keyManager', JSON.stringify({ event: { payloadData: { event_type: 'key_manager_configuration', action: 'add', name: 'Broken', type: 'custom', enabled: true, value: broken } } }));

    await enforcer.view.whenReady();
    const { until, close } = await checker(enforcer.port);
    try {
      const token = mintJwt({ iss: ISS, sub: 'bob', azp: 'ck-vault', jti: tag('jti'), exp: Math.floor(Date.now() / 1000) + 600 }, rsa.privateKey);
      const allowed = await until(200, apiId, '/vault/1.0.0/items', '/items', token);
      expect(allowed.upstream.authorization).toBe(basic(backend.user, backend.password));
    } finally {
      close();
    }
    await eventually(() => entries.some((e) => JSON.stringify(e).includes('payloadData.value is not valid JSON')), 'the broken key manager event is logged');

    await expectNoSecretAnywhere(adapter, label, [...forms(km, backend), APIM_PASSWORD, broken.slice(0, 40)], [...Object.values(km), ...Object.values(unused)], entries, basic(backend.user, backend.password));
  }, 60_000);
});
