import * as fs from 'node:fs';
import * as path from 'node:path';
import * as amqp from 'amqplib';
import { unzipSync, strFromU8 } from 'fflate';
import YAML from 'yaml';
import {
  ApimEmulator, apiEvent, apiPolicyEvent, applicationEvent, applicationPolicyEvent, blockingEnvelope, deployEvent,
  envelopeText, keyManagerEnvelope, keyManagerEnvelopeNewer, keyMappingEvent, keyTemplateEnvelope, notificationEnvelope,
  revocationEnvelope, subscriptionEvent, subscriptionPolicyEvent, throttleDecisionEnvelope, type PublishedEvent,
} from '../../tools/apim-emulator';

/**
 * The APIM emulator against a real RabbitMQ: every state change must reach a plain amqplib consumer
 * bound like Choreo Connect (amq.topic, the four routing keys) in APIM's envelope, pass the same shape
 * checks as the reference samples, and show up in the REST view.
 */

const AMQP_URL = process.env['APIM_EMULATOR_TEST_AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
/** Copies of reference/samples 01-10 (the AMQP envelopes), kept beside the emulator. */
const SAMPLES = path.join(__dirname, '../../tools/apim-emulator/samples');
const ROUTING_KEYS = ['notification', 'keyManager', 'tokenRevocation', 'throttleData'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

// ------------------------------------------------------------------------------------------ shape checks
// Written from the protocol notes (§2), independently of the emulator's builders; applied to the
// samples and to what the emulator publishes alike.

type T = 'string' | 'number' | 'int' | 'boolean' | 'string[]' | 'int[]' | 'array' | 'object';
const BASE: [string, T][] = [['eventId', 'string'], ['timeStamp', 'int'], ['type', 'string'], ['tenantId', 'int'], ['tenantDomain', 'string']];
const API_EVENT: [string, T][] = [
  ['apiName', 'string'], ['apiId', 'int'], ['uuid', 'string'], ['apiVersion', 'string'], ['apiContext', 'string'],
  ['apiProvider', 'string'], ['apiType', 'string'], ['apiStatus', 'string'], ['securityScheme', 'string'], ['action', 'string'],
];
const DEPLOY_EVENT: [string, T][] = [
  ['apiId', 'int'], ['uuid', 'string'], ['name', 'string'], ['version', 'string'], ['provider', 'string'], ['apiType', 'string'],
  ['gatewayLabels', 'string[]'], ['associatedApis', 'array'], ['context', 'string'],
];
const APP_EVENT: [string, T][] = [
  ['uuid', 'string'], ['applicationId', 'int'], ['applicationName', 'string'], ['tokenType', 'string'],
  ['applicationPolicy', 'string'], ['groupId', 'string'], ['attributes', 'object'], ['subscriber', 'string'],
];
const KEY_EVENT: [string, T][] = [
  ['applicationUUID', 'string'], ['applicationId', 'int'], ['consumerKey', 'string'], ['keyType', 'string'], ['keyManager', 'string'],
];
const SUB_EVENT: [string, T][] = [
  ['subscriptionId', 'int'], ['subscriptionUUID', 'string'], ['apiId', 'int'], ['apiUUID', 'string'], ['applicationId', 'int'],
  ['applicationUUID', 'string'], ['policyId', 'string'], ['subscriptionState', 'string'],
];
const POLICY_HEAD: [string, T][] = [['policyId', 'int'], ['policyName', 'string'], ['quotaType', 'string']];
const POLICY_EVENT: Record<string, [string, T][]> = {
  APPLICATION: [...POLICY_HEAD, ['policyType', 'string']],
  SUBSCRIPTION: [
    ...POLICY_HEAD, ['subscriberCount', 'int'], ['rateLimitCount', 'int'], ['rateLimitTimeUnit', 'string'],
    ['stopOnQuotaReach', 'boolean'], ['graphQLMaxDepth', 'int'], ['graphQLMaxComplexity', 'int'], ['policyType', 'string'],
  ],
  API: [...POLICY_HEAD, ['addedConditionGroupIds', 'int[]'], ['deletedConditionGroupIds', 'int[]'], ['policyType', 'string']],
};

function typeOk(v: unknown, t: T): boolean {
  switch (t) {
    case 'string': return typeof v === 'string';
    case 'number': return typeof v === 'number';
    case 'int': return Number.isInteger(v);
    case 'boolean': return typeof v === 'boolean';
    case 'string[]': return Array.isArray(v) && v.every((x) => typeof x === 'string');
    case 'int[]': return Array.isArray(v) && v.every((x) => Number.isInteger(x));
    case 'array': return Array.isArray(v);
    case 'object': return v !== null && typeof v === 'object' && !Array.isArray(v);
  }
}

/** Keys must be a subsequence of `spec` (Gson order; optional fields may be absent) with the right types, no nulls. */
function checkFields(obj: Record<string, unknown>, spec: [string, T][], required: string[]): void {
  const keys = Object.keys(obj);
  const order = spec.map(([k]) => k);
  expect(keys.filter((k) => !order.includes(k))).toEqual([]);
  expect(keys).toEqual(order.filter((k) => keys.includes(k)));
  for (const k of required) expect(keys).toContain(k);
  for (const [k, t] of spec) {
    if (k in obj) {
      if (!typeOk(obj[k], t)) throw new Error(`field ${k}: ${JSON.stringify(obj[k])} is not ${t}`);
    }
  }
}

function eventSpec(eventType: string, e: Record<string, unknown>): { spec: [string, T][]; required: string[] } {
  const req = (s: [string, T][], optional: string[] = []) => s.map(([k]) => k).filter((k) => !optional.includes(k));
  let spec: [string, T][];
  let optional: string[] = [];
  if (eventType === 'DEPLOY_API_IN_GATEWAY' || eventType === 'REMOVE_API_FROM_GATEWAY') spec = DEPLOY_EVENT;
  else if (eventType.startsWith('API_')) {
    spec = API_EVENT;
    optional = ['securityScheme', 'action'];
  } else if (eventType.startsWith('APPLICATION_REGISTRATION') || eventType === 'REMOVE_APPLICATION_KEYMAPPING') spec = KEY_EVENT;
  else if (eventType.startsWith('APPLICATION_')) spec = APP_EVENT;
  else if (eventType.startsWith('SUBSCRIPTIONS_')) spec = SUB_EVENT;
  else if (eventType.startsWith('POLICY_')) spec = POLICY_EVENT[String(e['policyType'])]!;
  else throw new Error(`unexpected eventType ${eventType}`);
  return { spec: [...spec, ...BASE], required: [...req(spec, optional), ...BASE.map(([k]) => k)] };
}

/** notification envelope → decoded event, asserting every rule of §2.1. */
function decodeNotification(body: unknown): { eventType: string; timestamp: number; event: Record<string, unknown>; b64: string } {
  const env = body as { event: { payloadData: Record<string, unknown> } };
  expect(Object.keys(env)).toEqual(['event']);
  expect(Object.keys(env.event)).toEqual(['payloadData']);
  const pd = env.event.payloadData;
  expect(Object.keys(pd)).toEqual(['eventType', 'timestamp', 'event']);
  expect(typeof pd['eventType']).toBe('string');
  expect(Number.isInteger(pd['timestamp'])).toBe(true);
  const b64 = pd['event'] as string;
  expect(b64).toMatch(B64);
  const json = Buffer.from(b64, 'base64').toString('utf8');
  expect(Buffer.from(json, 'utf8').toString('base64')).toBe(b64); // canonical, padded standard base64
  const event = JSON.parse(json) as Record<string, unknown>;
  expect(json).not.toContain('null'); // Gson drops nulls (no sample value contains the word)
  expect(json).not.toMatch(/[<>&=']/); // Gson is HTML-safe
  expect(event['type']).toBe(pd['eventType']);
  expect(event['timeStamp']).toBe(pd['timestamp']);
  expect(event['eventId']).toMatch(UUID);
  const { spec, required } = eventSpec(pd['eventType'] as string, event);
  checkFields(event, spec, required);
  return { eventType: pd['eventType'] as string, timestamp: pd['timestamp'] as number, event, b64 };
}

function payloadOf(body: unknown): Record<string, unknown> {
  const env = body as { event: { payloadData: Record<string, unknown> } };
  expect(Object.keys(env)).toEqual(['event']);
  expect(Object.keys(env.event)).toEqual(['payloadData']);
  return env.event.payloadData;
}

function checkKeyManager(body: unknown, newer = false): { pd: Record<string, unknown>; value: Record<string, unknown> } {
  const pd = payloadOf(body);
  const spec: [string, T][] = [['event_type', 'string'], ['action', 'string'], ['name', 'string'], ['type', 'string'],
    ['enabled', 'boolean'], ['value', 'string'], ['tenantDomain', 'string'], ...(newer ? [['tokenType', 'string'] as [string, T]] : [])];
  checkFields(pd, spec, spec.map(([k]) => k));
  expect(pd['event_type']).toBe('key_manager_configuration');
  expect(['add', 'update', 'delete']).toContain(pd['action']);
  expect(pd['value']).toMatch(B64);
  return { pd, value: JSON.parse(Buffer.from(pd['value'] as string, 'base64').toString('utf8')) as Record<string, unknown> };
}

function checkRevocation(body: unknown): Record<string, unknown> {
  const pd = payloadOf(body);
  const spec: [string, T][] = [['eventId', 'string'], ['revokedToken', 'string'], ['ttl', 'string'], ['expiryTime', 'int'], ['type', 'string'], ['tenantId', 'int']];
  checkFields(pd, spec, spec.map(([k]) => k));
  return pd;
}

function checkThrottle(body: unknown): { kind: 'decision' | 'blocking' | 'keyTemplate'; pd: Record<string, unknown> } {
  const pd = payloadOf(body);
  if ('throttleKey' in pd) {
    checkFields(pd, [['throttleKey', 'string'], ['isThrottled', 'boolean'], ['expiryTimeStamp', 'int'], ['evaluatedConditions', 'string']],
      ['throttleKey', 'isThrottled', 'expiryTimeStamp']);
    if ('evaluatedConditions' in pd) expect(Array.isArray(JSON.parse(Buffer.from(pd['evaluatedConditions'] as string, 'base64').toString()))).toBe(true);
    return { kind: 'decision', pd };
  }
  if ('blockingCondition' in pd) {
    const spec: [string, T][] = [['id', 'int'], ['blockingCondition', 'string'], ['conditionValue', 'string'], ['state', 'string'], ['tenantDomain', 'string']];
    checkFields(pd, spec, spec.map(([k]) => k));
    expect(['true', 'false']).toContain(pd['state']);
    if (pd['blockingCondition'] === 'IP' || pd['blockingCondition'] === 'IPRANGE') JSON.parse(pd['conditionValue'] as string);
    return { kind: 'blocking', pd };
  }
  checkFields(pd, [['keyTemplateValue', 'string'], ['keyTemplateState', 'string']], ['keyTemplateValue', 'keyTemplateState']);
  expect(['add', 'remove']).toContain(pd['keyTemplateState']);
  return { kind: 'keyTemplate', pd };
}

// ------------------------------------------------------------------------------------------ samples

function sample(name: string): Record<string, any> {
  const file = fs.readdirSync(SAMPLES).find((f) => f.startsWith(name));
  if (!file) throw new Error(`sample ${name} missing in ${SAMPLES}`);
  return JSON.parse(fs.readFileSync(path.join(SAMPLES, file), 'utf8')) as Record<string, any>;
}

function notificationSamples(): { name: string; body: any; decoded: Record<string, any> }[] {
  const out: { name: string; body: any; decoded: Record<string, any> }[] = [];
  const add = (name: string, s: any) => out.push({ name, body: s.body, decoded: s['decodedPayloadData.event'] });
  add('01', sample('01'));
  add('02', sample('02'));
  add('03', sample('03'));
  for (const [k, v] of Object.entries(sample('04'))) add(`04 ${k}`, v);
  for (const [k, v] of Object.entries(sample('05'))) add(`05 ${k}`, v);
  for (const [k, v] of Object.entries(sample('06'))) add(`06 ${k}`, v);
  for (const [k, v] of Object.entries(sample('07'))) add(`07 ${k}`, v);
  return out;
}

/** Rebuilds a sample's event with the emulator's builder for its class. */
function rebuild(d: Record<string, any>): Record<string, unknown> {
  const t = d['type'] as string;
  if (t === 'DEPLOY_API_IN_GATEWAY' || t === 'REMOVE_API_FROM_GATEWAY') return deployEvent(d as any);
  if (t.startsWith('API_')) return apiEvent(d as any);
  if (t.startsWith('APPLICATION_REGISTRATION') || t === 'REMOVE_APPLICATION_KEYMAPPING') return keyMappingEvent(d as any);
  if (t.startsWith('APPLICATION_')) return applicationEvent(d as any);
  if (t.startsWith('SUBSCRIPTIONS_')) return subscriptionEvent(d as any);
  if (d['policyType'] === 'API') return apiPolicyEvent(d as any);
  if (d['policyType'] === 'SUBSCRIPTION') return subscriptionPolicyEvent(d as any);
  return applicationPolicyEvent(d as any);
}

describe('samples: shape checks and byte-compatibility of the emulator builders', () => {
  it.each(notificationSamples().map((s) => [s.name, s] as const))('notification sample %s', (_n, s) => {
    const decoded = decodeNotification(s.body);
    expect(decoded.event).toEqual(s.decoded);
    const env = notificationEnvelope(rebuild(s.decoded));
    expect(env).toEqual(s.body); // same envelope, and the base64 string is byte-identical
    expect(JSON.parse(envelopeText(env))).toEqual(s.body);
  });

  it('keyManager samples (4.0 and newer value formats)', () => {
    const s = sample('08');
    const old = checkKeyManager(s['body_APIM_4_0_style']);
    expect(old.value).toEqual(s['decoded_value_APIM_4_0_style']);
    const p = s['body_APIM_4_0_style'].event.payloadData;
    expect(keyManagerEnvelope({ ...p, configuration: s['decoded_value_APIM_4_0_style'] })).toEqual(s['body_APIM_4_0_style']);
    const newer = checkKeyManager(s['body_newer_APIM_style'], true);
    expect(newer.value).toEqual(s['decoded_value_newer_APIM_style']);
    const n = s['body_newer_APIM_style'].event.payloadData;
    const dv = s['decoded_value_newer_APIM_style'];
    expect(keyManagerEnvelopeNewer({ ...n, uuid: dv.uuid, configuration: dv.additionalProperties })).toEqual(s['body_newer_APIM_style']);
  });

  it('tokenRevocation and throttleData samples', () => {
    const r = sample('09');
    for (const k of ['body_from_CC_unit_test', 'body_jwt_example']) {
      const pd = checkRevocation(r[k]);
      expect(revocationEnvelope(pd as any)).toEqual(r[k]);
    }
    const t = sample('10');
    const kinds = ['throttleDecision_consumedByEnforcer', 'throttleDecision_resourceLevel', 'blockingCondition_IP', 'blockingCondition_IPRANGE', 'blockingCondition_API', 'keyTemplate']
      .map((k) => {
        const { kind, pd } = checkThrottle(t[k]);
        const again = kind === 'decision' ? throttleDecisionEnvelope(pd as any)
          : kind === 'blocking' ? blockingEnvelope(pd as any) : keyTemplateEnvelope(pd['keyTemplateValue'] as string, pd['keyTemplateState'] as any);
        expect(again).toEqual(t[k]);
        expect(Object.keys(again.event.payloadData)).toEqual(Object.keys(t[k].event.payloadData));
        return kind;
      });
    expect(kinds).toEqual(['decision', 'decision', 'blocking', 'blocking', 'blocking', 'keyTemplate']);
  });
});

// ------------------------------------------------------------------------------------------ live

interface Received { routingKey: string; text: string; body: unknown; properties: amqp.MessageProperties }

let conn: amqp.ChannelModel;
let emu: ApimEmulator;
const received: Received[] = [];
const waiters: (() => void)[] = [];

/** The broker's copy of a published event (matched by its JMS message id, so other publishers on amq.topic don't interfere). */
async function delivered(e: PublishedEvent, timeoutMs = 3000): Promise<Received> {
  const id = e.properties.messageId;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = received.find((x) => x.properties.messageId === id);
    if (r) return r;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`event ${e.routingKey} ${id} was not delivered within ${timeoutMs} ms`);
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, left);
      waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

/** Events published since `from` (index into emu.events), each received and decoded as a notification. */
async function notifications(from: number): Promise<ReturnType<typeof decodeNotification>[]> {
  const evs = emu.events.slice(from);
  const out = [];
  for (const e of evs) {
    expect(e.routingKey).toBe('notification');
    const r = await delivered(e);
    expect(r.routingKey).toBe('notification');
    expect(r.text).toBe(e.text);
    out.push(decodeNotification(r.body));
  }
  return out;
}

async function rest(endpoint: string, init: { method?: string; auth?: string | null; body?: unknown } = {}) {
  const headers: Record<string, string> = {};
  const auth = init.auth === undefined ? 'admin:s3cret' : init.auth;
  if (auth !== null) headers['Authorization'] = `Basic ${Buffer.from(auth).toString('base64')}`;
  if (init.body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${emu.url}internal/data/v1/${endpoint}`, {
    method: init.method ?? 'GET', headers, ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const buf = Buffer.from(await res.arrayBuffer());
  const type = res.headers.get('content-type') ?? '';
  return { status: res.status, type, buf, json: type.includes('json') ? (JSON.parse(buf.toString('utf8')) as any) : undefined };
}

const b64labels = (...labels: string[]) => encodeURIComponent(Buffer.from(labels.join('|')).toString('base64'));

const OPENAPI = `openapi: 3.0.3
info: { title: PetStore, version: 1.0.0 }
paths:
  /pets:
    get:
      x-throttling-tier: 10KPerMin
      responses: { '200': { description: ok } }
    post:
      security: [ { default: ['pets:write'] } ]
      responses: { '201': { description: created } }
  /health:
    get:
      security: []
      responses: { '200': { description: ok } }
`;

function unzipArtifacts(buf: Buffer): { deployments: any; inner: Record<string, Record<string, string>> } {
  const root = unzipSync(new Uint8Array(buf));
  expect(Object.keys(root)).toContain('deployments.json');
  const deployments = JSON.parse(strFromU8(root['deployments.json']!));
  const inner: Record<string, Record<string, string>> = {};
  for (const [name, data] of Object.entries(root)) {
    if (!name.endsWith('.zip')) continue;
    inner[name] = Object.fromEntries(Object.entries(unzipSync(data)).map(([n, d]) => [n, strFromU8(d)]));
  }
  return { deployments, inner };
}

describe('ApimEmulator against RabbitMQ', () => {
  beforeAll(async () => {
    try {
      conn = await amqp.connect(AMQP_URL, { timeout: 3000 });
    } catch (err) {
      throw new Error(`RabbitMQ is not reachable at ${AMQP_URL.replace(/\/\/.*@/, '//guest:***@')} (${(err as Error).message}). ` +
        'This test needs a running broker (e.g. `rabbitmq-server -detached`); it does not skip.');
    }
    conn.on('error', () => undefined);
    const ch = await conn.createChannel();
    // Bound like Choreo Connect: server-named auto-delete queue on amq.topic, manual ack.
    await ch.assertExchange('amq.topic', 'topic', { durable: true });
    const q = await ch.assertQueue('', { durable: false, autoDelete: true, exclusive: false });
    for (const key of ROUTING_KEYS) await ch.bindQueue(q.queue, 'amq.topic', key);
    await ch.consume(q.queue, (m) => {
      if (!m) return;
      const text = m.content.toString('utf8');
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      received.push({ routingKey: m.fields.routingKey, text, body, properties: m.properties });
      ch.ack(m);
      for (const w of waiters.splice(0)) w();
    }, { consumerTag: `apim-emulator-test-${process.pid}`, noAck: false });
    emu = await ApimEmulator.start({ port: 0, username: 'admin', password: 's3cret', amqpUrl: AMQP_URL });
  }, 15000);

  afterAll(async () => {
    await emu?.stop();
    await conn?.close().catch(() => undefined);
  });

  it('serves REST only with Basic auth, and its url ends with a slash', async () => {
    expect(emu.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect((await rest('applications', { auth: null })).status).toBe(401);
    const wrong = await rest('applications', { auth: 'admin:nope' });
    expect(wrong.status).toBe(401);
    expect(wrong.json.code).toBe(900901);
    const ok = await rest('applications');
    expect(ok.status).toBe(200);
    expect(ok.json).toEqual({ count: 0, list: [], pagination: null });
    expect((await rest('nothing-here')).status).toBe(404);
  });

  it('APIs: create, deploy (revisions, labels), artifacts zip, /apis, lifecycle, default version, acks, undeploy', async () => {
    let mark = emu.events.length;
    const uuid = await emu.createApi({
      name: 'PetStore', version: '1.0.0', context: '/petstore', openapi: OPENAPI,
      endpoints: { production: 'http://prod.internal:8080/v1', sandbox: 'http://sbx.internal:8080/v1' },
    });
    const rev1 = await emu.deploy(uuid, ['Default']);
    const [created, deployed] = await notifications(mark);
    expect(created!.eventType).toBe('API_CREATE');
    expect(created!.event).toMatchObject({ apiName: 'PetStore', apiVersion: '1.0.0', apiContext: '/petstore/1.0.0', uuid, tenantId: -1234 });
    expect(deployed!.eventType).toBe('DEPLOY_API_IN_GATEWAY');
    expect(deployed!.event).toMatchObject({
      uuid, name: 'PetStore', version: '1.0.0', provider: 'admin', apiType: 'HTTP', gatewayLabels: ['Default'],
      associatedApis: [], context: '/petstore/1.0.0', tenantId: 0, tenantDomain: 'carbon.super',
    });
    expect(rev1.revisionId).toBe(1);

    // /apis by label, by context+version, and a miss.
    const byLabel = await rest('apis?gatewayLabel=Default');
    expect(byLabel.json.count).toBe(1);
    expect(byLabel.json.list[0]).toMatchObject({
      uuid, apiId: deployed!.event['apiId'], provider: 'admin', name: 'PetStore', version: '1.0.0', context: '/petstore/1.0.0',
      policy: null, apiType: 'HTTP', status: 'PUBLISHED', isDefaultVersion: false, organization: 'carbon.super', apiPolicies: [],
    });
    expect(byLabel.json.list[0].urlMappings).toContainEqual({
      authScheme: 'Any', throttlingPolicy: '10KPerMin', httpMethod: 'GET', urlPattern: '/pets', scopes: [], operationPolicies: [],
    });
    expect((await rest(`apis?context=${encodeURIComponent('/petstore/1.0.0')}&gatewayLabel=Default&version=1.0.0`)).json.count).toBe(1);
    expect((await rest('apis?gatewayLabel=US')).json).toEqual({ count: 0, list: [], pagination: null });

    // runtime-artifacts as CC asks for it after DEPLOY.
    const art = await rest(`runtime-artifacts?apiId=${uuid}&gatewayLabel=${b64labels('Default')}&type=Envoy`);
    expect(art.status).toBe(200);
    expect(art.type).toBe('application/zip');
    const { deployments, inner } = unzipArtifacts(art.buf);
    expect(deployments).toEqual({
      type: 'deployments', version: 'v4.2.0',
      data: { deployments: [{ apiFile: `${uuid}-${rev1.revisionUUID}.zip`, environments: [{ name: 'Default', vhost: 'localhost' }], organizationId: 'carbon.super' }] },
    });
    const files = inner[`${uuid}-${rev1.revisionUUID}.zip`]!;
    expect(Object.keys(files).sort()).toEqual(['PetStore-1.0.0/Definitions/swagger.yaml', 'PetStore-1.0.0/api.yaml', 'PetStore-1.0.0/deployment_environments.yaml']);
    const apiYaml = YAML.parse(files['PetStore-1.0.0/api.yaml']!);
    expect(apiYaml).toMatchObject({
      type: 'api', version: 'v4.2.0',
      data: {
        id: uuid, name: 'PetStore', context: '/petstore', version: '1.0.0', revisionId: 1, isDefaultVersion: false,
        lifeCycleStatus: 'PUBLISHED', type: 'HTTP', organizationId: 'carbon.super', endpointImplementationType: 'ENDPOINT',
        endpointConfig: { endpoint_type: 'http', production_endpoints: { url: 'http://prod.internal:8080/v1' }, sandbox_endpoints: { url: 'http://sbx.internal:8080/v1' } },
        securityScheme: ['oauth2', 'oauth_basic_auth_api_key_mandatory'],
      },
    });
    expect(apiYaml.data.operations.map((o: any) => `${o.verb} ${o.target} ${o.authType} ${o.scopes.join(',')}`)).toEqual([
      'GET /pets Application & Application User ', 'POST /pets Application & Application User pets:write', 'GET /health None ',
    ]);
    expect(YAML.parse(files['PetStore-1.0.0/Definitions/swagger.yaml']!).paths['/pets']).toBeDefined();
    expect(YAML.parse(files['PetStore-1.0.0/deployment_environments.yaml']!).data).toEqual([
      { displayOnDevportal: true, deploymentEnvironment: 'Default', deploymentVhost: 'localhost' },
    ]);

    // A new revision to a second label: two inner zips when both labels are asked for.
    await emu.updateApi(uuid, { endpoints: { production: 'http://prod2.internal:8080/v1' } });
    const rev2 = await emu.deploy(uuid, ['US'], 'us.example.com');
    expect(rev2.revisionId).toBe(2);
    const both = unzipArtifacts((await rest(`runtime-artifacts?gatewayLabel=${b64labels('Default', 'US')}&type=Envoy`)).buf);
    expect(both.deployments.data.deployments.map((d: any) => [d.apiFile, d.environments])).toEqual([
      [`${uuid}-${rev1.revisionUUID}.zip`, [{ name: 'Default', vhost: 'localhost' }]],
      [`${uuid}-${rev2.revisionUUID}.zip`, [{ name: 'US', vhost: 'us.example.com' }]],
    ]);
    const us = YAML.parse(both.inner[`${uuid}-${rev2.revisionUUID}.zip`]!['PetStore-1.0.0/api.yaml']!);
    expect(us.data.revisionId).toBe(2);
    expect(us.data.endpointConfig.production_endpoints.url).toBe('http://prod2.internal:8080/v1');
    expect((await rest(`runtime-artifacts?gatewayLabel=${b64labels('Default')}&type=Other`)).status).toBe(400);

    // Lifecycle and default version.
    mark = emu.events.length;
    await emu.changeLifecycle(uuid, 'BLOCKED');
    await emu.setDefaultVersion(uuid);
    const [lc, def] = await notifications(mark);
    expect(lc!.event).toMatchObject({ type: 'API_LIFECYCLE_CHANGE', apiStatus: 'BLOCKED', securityScheme: 'oauth2,oauth_basic_auth_api_key_mandatory' });
    expect(def!.event).toMatchObject({ type: 'API_UPDATE', action: 'DEFAULT_VERSION', apiStatus: 'BLOCKED', uuid });
    const meta = (await rest('apis?gatewayLabel=Default')).json.list[0];
    expect([meta.status, meta.isDefaultVersion]).toEqual(['BLOCKED', true]);
    const art2 = unzipArtifacts((await rest(`runtime-artifacts?apiId=${uuid}&gatewayLabel=${b64labels('Default')}&type=Envoy`)).buf);
    expect(YAML.parse(Object.values(art2.inner)[0]!['PetStore-1.0.0/api.yaml']!).data).toMatchObject({ isDefaultVersion: true, lifeCycleStatus: 'BLOCKED', revisionId: 1 });

    // Revision acks are recorded; unknown revisions are refused like APIM does.
    const ack = [{ apiId: uuid, revisionId: 1, envInfo: [{ name: 'Default', vhost: 'localhost' }] }];
    expect((await rest('apis/deployed-revisions', { method: 'PATCH', body: ack })).status).toBe(200);
    expect((await rest('apis/deployed-revisions', { method: 'PATCH', body: [{ ...ack[0], revisionId: 99 }] })).status).toBe(400);
    expect(emu.deployAcks).toEqual([expect.objectContaining(ack[0])]);
    const un = { apiUUID: uuid, revisionUUID: rev2.revisionUUID, environment: 'US' };
    expect((await rest('apis/undeployed-revision', { method: 'POST', body: un })).status).toBe(200);
    expect(emu.undeployAcks).toEqual([expect.objectContaining(un)]);

    // Undeploy everywhere: REMOVE event, then nothing to pull (404 900910).
    mark = emu.events.length;
    await emu.undeploy(uuid, ['Default', 'US']);
    const [removed] = await notifications(mark);
    expect(removed!.event).toMatchObject({ type: 'REMOVE_API_FROM_GATEWAY', gatewayLabels: ['Default', 'US'], uuid, tenantId: 0 });
    const none = await rest(`runtime-artifacts?apiId=${uuid}&gatewayLabel=${b64labels('Default')}&type=Envoy`);
    expect(none.status).toBe(404);
    expect(none.json).toMatchObject({ code: 900910, message: 'No Api artifacts found for given criteria' });
    await expect(emu.undeploy(uuid, ['Default'])).rejects.toThrow(/not deployed/);
  });

  it('applications, keys and subscriptions', async () => {
    const api = await emu.createApi({ name: 'Orders', version: '2.0.0', context: '/orders/2.0.0', openapi: { openapi: '3.0.3', paths: { '/o': { get: {} } } }, endpoints: { production: 'http://o' } });
    const mark = emu.events.length;
    const app = await emu.createApplication({ name: 'PizzaApp', owner: 'admin', policy: 'Unlimited', attributes: { 'cost-center': '42' } });
    await emu.updateApplication(app, { policy: '10PerMin' });
    const key = await emu.generateKeys(app, 'PRODUCTION');
    const sub = await emu.subscribe(app, api, 'Gold');
    await emu.updateSubscription(sub, 'BLOCKED');
    const blockMsg = emu.events[emu.events.length - 1]!;
    expect(blockMsg.routingKey).toBe('throttleData');
    const notif = emu.events.slice(mark, emu.events.length - 1);
    const evs = [];
    for (const e of notif) evs.push(decodeNotification((await delivered(e)).body));
    expect(evs.map((e) => e.eventType)).toEqual(['APPLICATION_CREATE', 'APPLICATION_UPDATE', 'APPLICATION_REGISTRATION_CREATE', 'SUBSCRIPTIONS_CREATE', 'SUBSCRIPTIONS_UPDATE']);
    const appId = evs[0]!.event['applicationId'];
    expect(evs[0]!.event).toMatchObject({ uuid: app, applicationName: 'PizzaApp', tokenType: 'JWT', applicationPolicy: 'Unlimited', groupId: '', attributes: { 'cost-center': '42' }, subscriber: 'admin' });
    expect(evs[1]!.event['applicationPolicy']).toBe('10PerMin');
    expect(evs[2]!.event).toMatchObject({ applicationUUID: app, applicationId: appId, consumerKey: key, keyType: 'PRODUCTION', keyManager: 'Resident Key Manager' });
    expect(evs[3]!.event).toMatchObject({ apiUUID: api, applicationUUID: app, applicationId: appId, policyId: 'Gold', subscriptionState: 'UNBLOCKED', subscriptionUUID: sub });
    expect(evs[4]!.event['subscriptionState']).toBe('BLOCKED');
    expect(checkThrottle((await delivered(blockMsg)).body)).toMatchObject({ kind: 'blocking', pd: { blockingCondition: 'SUBSCRIPTION', state: 'true' } });

    expect((await rest('applications')).json.list).toContainEqual({
      uuid: app, id: appId, name: 'PizzaApp', subName: 'admin', policy: '10PerMin', tokenType: 'JWT', groupIds: [],
      attributes: { 'cost-center': '42' }, organization: 'carbon.super',
    });
    expect((await rest('application-key-mappings')).json.list).toContainEqual({ applicationId: appId, applicationUUID: app, consumerKey: key, keyType: 'PRODUCTION', keyManager: 'Resident Key Manager' });
    expect((await rest(`application-key-mappings?consumerKey=${key}`)).json.count).toBe(1);
    const subs = (await rest('subscriptions')).json.list;
    expect(subs).toContainEqual({
      subscriptionUUID: sub, subscriptionId: evs[3]!.event['subscriptionId'], policyId: 'Gold', apiUUID: api,
      apiId: evs[3]!.event['apiId'], applicationUUID: app, appId, subscriptionState: 'BLOCKED',
    });

    const mark2 = emu.events.length;
    await emu.unsubscribe(sub);
    await emu.removeKeys(app, 'PRODUCTION');
    await emu.generateKeys(app, 'SANDBOX');
    await emu.deleteApplication(app);
    expect((await notifications(mark2)).map((e) => e.eventType)).toEqual([
      'SUBSCRIPTIONS_DELETE', 'REMOVE_APPLICATION_KEYMAPPING', 'APPLICATION_REGISTRATION_CREATE', 'REMOVE_APPLICATION_KEYMAPPING', 'APPLICATION_DELETE',
    ]);
    expect((await rest('applications')).json.count).toBe(0);
    expect((await rest('subscriptions')).json.count).toBe(0);
    expect((await rest('application-key-mappings')).json.count).toBe(0);
  });

  it('policies of the three kinds', async () => {
    const seeded = (await rest('subscription-policies')).json;
    expect(seeded.list.map((p: any) => p.name)).toEqual(expect.arrayContaining(['Gold', 'Silver', 'Bronze', 'Unlimited']));
    const mark = emu.events.length;
    const appPol = await emu.addPolicy({ type: 'application', name: '5PerMin', limit: 5 });
    await emu.addPolicy({ type: 'subscription', name: 'Platinum', limit: 9000, stopOnQuotaReach: false });
    await emu.addPolicy({ type: 'api', name: '1KPerMin', limit: 1000, conditionGroupIds: [12] });
    await emu.updatePolicy('subscription', 'Platinum', { limit: 9500 });
    await emu.updatePolicy('api', '1KPerMin', { conditionGroupIds: [13] });
    await emu.deletePolicy('application', '5PerMin');
    const evs = await notifications(mark);
    expect(evs.map((e) => `${e.eventType} ${e.event['policyType']} ${e.event['policyName']}`)).toEqual([
      'POLICY_CREATE APPLICATION 5PerMin', 'POLICY_CREATE SUBSCRIPTION Platinum', 'POLICY_CREATE API 1KPerMin',
      'POLICY_UPDATE SUBSCRIPTION Platinum', 'POLICY_UPDATE API 1KPerMin', 'POLICY_DELETE APPLICATION 5PerMin',
    ]);
    expect(evs[0]!.event['policyId']).toBe(appPol);
    expect(evs[1]!.event).toMatchObject({ quotaType: 'requestCount', stopOnQuotaReach: false, rateLimitTimeUnit: 'NA' });
    expect(evs[4]!.event).toMatchObject({ addedConditionGroupIds: [13], deletedConditionGroupIds: [12] });

    const subPols = (await rest('subscription-policies?policyName=Platinum')).json;
    expect(subPols.list).toEqual([expect.objectContaining({
      name: 'Platinum', tenantId: -1234, tenantDomain: 'carbon.super', quotaType: 'requestCount', stopOnQuotaReach: false,
      defaultLimit: { quotaType: 'requestCount', requestCount: { timeUnit: 'min', unitTime: 1, requestCount: 9500 }, bandwidth: null, eventCount: null },
    })]);
    expect((await rest('application-policies')).json.list.map((p: any) => p.name)).not.toContain('5PerMin');
    expect((await rest('api-policies')).json.list).toContainEqual(expect.objectContaining({ name: '1KPerMin' }));
  });

  it('key managers, token revocation, blocking conditions, throttle decisions, key templates', async () => {
    const mark = emu.events.length;
    const config = { issuer: 'https://kc.example.com/realms/apim', self_validate_jwt: true, certificate_type: 'JWKS', certificate_value: 'https://kc.example.com/certs?a=b' };
    await emu.addKeyManager({ name: 'Keycloak', type: 'KeyCloak', configuration: config });
    await emu.updateKeyManager('Keycloak', { enabled: false });
    await emu.deleteKeyManager('Keycloak');
    await emu.revokeToken('jti-1', 1700007200000);
    const ipId = await emu.addBlockingCondition('IP', { fixedIp: '192.168.10.20' });
    await emu.addBlockingCondition('API', '/petstore/1.0.0');
    await emu.removeBlockingCondition(ipId);
    await emu.throttle('/petstore/1.0.0:1.0.0_default', 1700007260000, { evaluatedConditions: [{ header: { values: { 'x-tier': 'free' }, invert: false } }] });
    await emu.addKeyTemplate('$userId$apiContext$apiVersion');
    await emu.removeKeyTemplate('$userId$apiContext$apiVersion');
    await emu.addKeyTemplate('$userId');
    const got = [];
    for (const e of emu.events.slice(mark)) got.push(await delivered(e));
    expect(got.map((g) => g.routingKey)).toEqual(['keyManager', 'keyManager', 'keyManager', 'tokenRevocation', ...Array(7).fill('throttleData')]);

    const km = got.slice(0, 3).map((g) => checkKeyManager(g.body));
    expect(km.map((k) => [k.pd['action'], k.pd['enabled']])).toEqual([['add', true], ['update', false], ['delete', false]]);
    expect(km[0]!.value).toEqual(config);
    expect(Buffer.from(km[0]!.pd['value'] as string, 'base64').toString()).toContain('certs?a\\u003db'); // Gson HTML-safe

    expect(checkRevocation(got[3]!.body)).toMatchObject({ revokedToken: 'jti-1', ttl: '5000', expiryTime: 1700007200000, type: 'JWT', tenantId: -1234 });
    const th = got.slice(4).map((g) => checkThrottle(g.body));
    expect(th.map((t) => t.kind)).toEqual(['blocking', 'blocking', 'blocking', 'decision', 'keyTemplate', 'keyTemplate', 'keyTemplate']);
    expect(th[0]!.pd).toEqual({ id: ipId, blockingCondition: 'IP', conditionValue: '{"fixedIp":"192.168.10.20","invert":false}', state: 'true', tenantDomain: 'carbon.super' });
    expect(th[2]!.pd).toMatchObject({ id: ipId, state: 'false' });
    expect(th[3]!.pd).toMatchObject({ throttleKey: '/petstore/1.0.0:1.0.0_default', isThrottled: true, expiryTimeStamp: 1700007260000 });
    expect(th[5]!.pd).toEqual({ keyTemplateValue: '$userId$apiContext$apiVersion', keyTemplateState: 'remove' });

    const kms = (await rest('keymanagers')).json;
    expect(Array.isArray(kms)).toBe(true);
    expect(kms.map((k: any) => k.name)).toEqual(['Resident Key Manager']);
    expect(kms[0]).toMatchObject({ type: 'default', enabled: true, tenantDomain: 'carbon.super', configuration: { self_validate_jwt: true } });
    expect((await rest('revokedjwt')).json).toEqual([{ jwt_signature: 'jti-1', expiry_time: 1700007200000 }]);
    expect((await rest('keyTemplates')).json).toEqual(['$userId']);
    expect((await rest('block')).json).toEqual({ api: ['/petstore/1.0.0'], application: [], ip: [], user: [], custom: [], subscription: [] });
  });

  it('tenants: their APIs, applications, keys, subscriptions and key managers carry their domain; key manager names are unique per tenant', async () => {
    emu.addTenant('beta.com');
    expect(() => emu.addTenant('beta.com')).toThrow(/exists/);
    await expect(emu.createApplication({ name: 'Nowhere', owner: 'x', policy: 'Unlimited', tenant: 'nowhere.com' })).rejects.toThrow(/no tenant nowhere.com/);
    const config = { issuer: 'https://idp.example.com/token', self_validate_jwt: true };
    const kmMark = emu.events.length;
    await emu.addKeyManager({ name: 'Corp IdP', configuration: config });
    await emu.addKeyManager({ name: 'Corp IdP', configuration: config, tenant: 'beta.com' });
    await expect(emu.addKeyManager({ name: 'Corp IdP', tenant: 'beta.com' })).rejects.toThrow(/exists in tenant beta.com/);
    const kmEvents = [];
    for (const e of emu.events.slice(kmMark)) kmEvents.push(checkKeyManager((await delivered(e)).body).pd);
    expect(kmEvents.map((pd) => [pd['name'], pd['tenantDomain']])).toEqual([['Corp IdP', 'carbon.super'], ['Corp IdP', 'beta.com']]);

    const mark = emu.events.length;
    const api = await emu.createApi({ name: 'BetaApi', version: '1.0.0', context: '/beta', openapi: OPENAPI, endpoints: { production: 'http://beta' }, tenant: 'beta.com' });
    await emu.deploy(api, ['Default']);
    const app = await emu.createApplication({ name: 'BetaApp', owner: 'ben', policy: 'Unlimited', tenant: 'beta.com' });
    await emu.generateKeys(app, 'PRODUCTION', 'Corp IdP', 'ck-beta');
    await emu.subscribe(app, api);
    const evs = await notifications(mark);
    expect(evs.map((e) => [e.eventType, e.event['tenantDomain'], e.event['tenantId']])).toEqual([
      ['API_CREATE', 'beta.com', 1], ['DEPLOY_API_IN_GATEWAY', 'beta.com', 0], ['APPLICATION_CREATE', 'beta.com', 1],
      ['APPLICATION_REGISTRATION_CREATE', 'beta.com', 1], ['SUBSCRIPTIONS_CREATE', 'beta.com', 1],
    ]);

    const kms = (await rest('keymanagers')).json as Array<Record<string, unknown>>;
    expect(kms.filter((k) => k['name'] === 'Corp IdP').map((k) => k['tenantDomain'])).toEqual(['carbon.super', 'beta.com']);
    expect((await rest('applications')).json.list).toContainEqual(expect.objectContaining({ uuid: app, organization: 'beta.com' }));
    expect((await rest('apis?context=/beta/1.0.0&version=1.0.0')).json.list).toEqual([expect.objectContaining({ uuid: api, organization: 'beta.com' })]);
    const art = unzipArtifacts((await rest(`runtime-artifacts?apiId=${api}&gatewayLabel=${b64labels('Default')}&type=Envoy`)).buf);
    expect(art.deployments.data.deployments[0].organizationId).toBe('beta.com');
    expect(YAML.parse(Object.values(art.inner)[0]!['BetaApi-1.0.0/api.yaml']!).data.organizationId).toBe('beta.com');

    await emu.deleteKeyManager('Corp IdP', 'beta.com');
    expect(((await rest('keymanagers')).json as Array<Record<string, unknown>>).filter((k) => k['name'] === 'Corp IdP').map((k) => k['tenantDomain'])).toEqual(['carbon.super']);
    await emu.deleteKeyManager('Corp IdP');
    await emu.deleteApplication(app);
    await emu.deleteApi(api);
  });

  it('message properties look like a JMS TextMessage; pause drops or holds events; REST faults and delays', async () => {
    const e = await emu.publishRaw('throttleData', { event: { payloadData: { keyTemplateValue: 'x', keyTemplateState: 'add' } } });
    const r = await delivered(e);
    expect(r.properties).toMatchObject({ contentType: 'text/plain', deliveryMode: 2, priority: 4 });
    expect(r.properties.messageId).toMatch(/^ID:/);

    emu.pauseEvents('drop');
    await emu.revokeToken('lost', 1);
    const lost = emu.events[emu.events.length - 1]!;
    emu.pauseEvents('hold');
    await emu.revokeToken('late', 2);
    const held = emu.events[emu.events.length - 1]!;
    expect([lost.status, held.status]).toEqual(['dropped', 'held']);
    await emu.resumeEvents();
    expect(checkRevocation((await delivered(held)).body)['revokedToken']).toBe('late');
    await expect(delivered(lost, 300)).rejects.toThrow(/not delivered/);
    expect((await rest('revokedjwt')).json.map((t: any) => t.jwt_signature)).toEqual(['jti-1', 'lost', 'late']);

    emu.failRest(503, 2, 'applications');
    expect((await rest('applications')).status).toBe(503);
    expect((await rest('keymanagers')).status).toBe(200);
    expect((await rest('applications')).status).toBe(503);
    expect((await rest('applications')).status).toBe(200);
    emu.failRest(401, Infinity);
    expect((await rest('block')).status).toBe(401);
    emu.clearRestFaults();
    emu.slowRest(250, 'block');
    const t0 = Date.now();
    expect((await rest('block')).status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(240);
    emu.clearRestFaults();
    expect(emu.requests.filter((q) => q.endpoint === 'applications').map((q) => q.status).slice(-3)).toEqual([503, 503, 200]);
  });
});
