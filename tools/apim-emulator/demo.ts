/** The scripted walk-through behind `main.ts --demo` (and `npm run demo`): each step printed as it happens. */
import type { ApimEmulator } from './emulator';

export const PETSTORE_OPENAPI = `openapi: 3.0.3
info:
  title: PetStore
  version: 1.0.0
paths:
  /pets:
    get:
      summary: List pets
      responses: { '200': { description: OK } }
      x-auth-type: Application & Application User
      x-throttling-tier: Unlimited
    post:
      summary: Add a pet
      security: [ { default: [pets:write] } ]
      responses: { '201': { description: Created } }
  /pets/{petId}:
    parameters:
      - { name: petId, in: path, required: true, schema: { type: string } }
    get:
      summary: Get one pet
      responses: { '200': { description: OK } }
  /health:
    get:
      security: []
      responses: { '200': { description: OK } }
components:
  securitySchemes:
    default: { type: oauth2, flows: { implicit: { authorizationUrl: 'https://test.com', scopes: { 'pets:write': write } } } }
security:
  - default: []
`;

export const ORDERS_OPENAPI = {
  openapi: '3.0.3',
  info: { title: 'Orders', version: '1.0.0' },
  paths: {
    '/orders': { get: { responses: { '200': { description: 'OK' } } }, post: { responses: { '201': { description: 'Created' } } } },
    '/orders/{id}': { get: { parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }], responses: { '200': { description: 'OK' } } } },
  },
};

export interface DemoOptions {
  label: string;
  vhost: string;
  stepDelayMs: number;
  print: (line: string) => void;
  /** Backend base URL the demo APIs point at. */
  backend: string;
}

export async function runDemo(emu: ApimEmulator, o: DemoOptions): Promise<void> {
  const wait = (what: string) => {
    o.print(`   ... waiting ${o.stepDelayMs} ms (${what})`);
    return new Promise((r) => setTimeout(r, o.stepDelayMs));
  };
  const step = (n: number, text: string) => o.print(`\n[${n}] ${text}`);

  step(1, 'Create the PetStore API 1.0.0 and deploy revision 1 to ' + o.label);
  const pet = await emu.createApi({
    name: 'PetStore', version: '1.0.0', context: '/petstore', openapi: PETSTORE_OPENAPI, isDefaultVersion: true,
    endpoints: { production: `${o.backend}/petstore/v1`, sandbox: `${o.backend}/petstore-sandbox/v1` },
  });
  await emu.deploy(pet, [o.label], o.vhost);
  await wait('the adapter pulls runtime-artifacts and /apis for PetStore');

  step(2, 'Create an application with keys and subscribe it to PetStore');
  const app = await emu.createApplication({ name: 'DemoApp', owner: 'admin', policy: 'Unlimited', attributes: { team: 'demo' } });
  await emu.generateKeys(app, 'PRODUCTION');
  await emu.subscribe(app, pet, 'Gold');
  await wait('subscription data reaches the adapter');

  step(3, 'Create the Orders API 1.0.0 and deploy it to ' + o.label);
  const orders = await emu.createApi({
    name: 'Orders', version: '1.0.0', context: '/orders', openapi: ORDERS_OPENAPI,
    endpoints: { production: `${o.backend}/orders/v1` },
  });
  await emu.deploy(orders, [o.label], o.vhost);
  await wait('the second API is routed');

  step(4, 'Change the Gold subscription policy to 10000 requests/min');
  await emu.updatePolicy('subscription', 'Gold', { limit: 10000 });
  await wait('the policy change is applied');

  step(5, 'Undeploy PetStore from ' + o.label);
  await emu.undeploy(pet, [o.label]);
  await wait('PetStore routes disappear');

  const published = emu.events.filter((e) => e.status === 'published').length;
  o.print(`\nDemo done: ${published} events published, ${emu.requests.length} REST calls served, ${emu.deployAcks.length} deploy acks.`);
}
