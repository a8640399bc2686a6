import { CLUSTER, LISTENER } from '../../src/envoy/typeUrls';
import type { XdsPeer } from '../../src/xds/stream';
import { AdsStream, node, startServer, type TestServer } from '../helpers/ads';
import { cluster, listener } from '../helpers/resources';

/**
 * XdsServer's `authorize` option, with no meaning of its own: asked once per stream and type with
 * who is asking; a refusal ends that stream with PERMISSION_DENIED and the reason, before anything
 * of the type is sent, and other streams go on.
 */

let srv: TestServer;
const asked: Array<{ peer: XdsPeer; typeUrl: string }> = [];
beforeEach(async () => {
  asked.length = 0;
  srv = await startServer({
    authorize: (peer, typeUrl) => {
      asked.push({ peer, typeUrl });
      return typeUrl === CLUSTER && peer.node.id !== 'trusted' ? 'clusters are for trusted nodes' : true;
    },
  });
  srv.cache.setType('Default', LISTENER, [listener('l', 'rc')]);
  srv.cache.setType('Default', CLUSTER, [cluster('c')]);
});
afterEach(() => srv.stop());

test.each(['sotw', 'delta'] as const)('%s: a refused type ends the stream with PERMISSION_DENIED and its reason; an allowed peer gets it', async (protocol) => {
  const req = (typeUrl: string, id?: string): object =>
    protocol === 'sotw' ? { ...(id ? { node: node(id, 'Default') } : {}), type_url: typeUrl, resource_names: [] } : { ...(id ? { node: node(id, 'Default') } : {}), type_url: typeUrl };
  const other = new AdsStream(srv.address, protocol);
  const refused = new AdsStream(srv.address, protocol);
  try {
    other.send(req(LISTENER, 'other'));
    refused.send(req(LISTENER, 'r'));
    expect((await refused.next()).resources.map((r) => r.name)).toEqual(['l']);
    await other.next();
    refused.send(req(CLUSTER));
    expect(await refused.ended).toMatchObject({ code: 7, details: 'clusters are for trusted nodes' });
    await refused.none();
    // one question per stream and type, with the node and no certificate on a plaintext port
    expect(asked.filter((a) => a.peer.node.id === 'r').map((a) => a.typeUrl)).toEqual([LISTENER, CLUSTER]);
    expect(asked[0].peer.certificate).toBeUndefined();
    expect(asked[0].peer.address).toMatch(/^127\.0\.0\.1:\d+$/);
    // the other stream is not touched
    srv.cache.setType('Default', LISTENER, [listener('l', 'rc'), listener('m', 'rc')]);
    expect((await other.next()).typeUrl).toBe(LISTENER);
    expect(other.status).toBeUndefined();
  } finally {
    other.close();
    refused.close();
  }
  const trusted = new AdsStream(srv.address, protocol);
  try {
    trusted.send(req(CLUSTER, 'trusted'));
    expect((await trusted.next()).resources.map((r) => r.name)).toEqual(['c']);
  } finally {
    trusted.close();
  }
});
