import { SET, resourceForOps, stateEntryForOps } from '../../src/admin/opsView';
import { packAny } from '../../src/envoy/any';
import { CLUSTER, ENFORCER_API, ROUTE, SECRET } from '../../src/envoy/typeUrls';
import { api, endpointSet } from '../helpers/apis';

/** What ops see of resources and state entries: a secret's presence, never its value. */

describe('resources', () => {
  test('fields Envoy marks sensitive show as set, also inside nested Anys', () => {
    const secret = resourceForOps(packAny(SECRET, { name: 'tls', tls_certificate: { certificate_chain: { inline_string: 'CHAIN' }, private_key: { inline_string: 'PRIVATE-KEY-77' } } }));
    expect(secret).toEqual({ name: 'tls', tls_certificate: { certificate_chain: { inline_string: 'CHAIN' }, private_key: SET } });
    const cluster = resourceForOps(
      packAny(CLUSTER, {
        name: 'c',
        transport_socket: {
          name: 'envoy.transport_sockets.tls',
          typed_config: {
            '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
            common_tls_context: { tls_certificates: [{ certificate_chain: { inline_string: 'CHAIN' }, private_key: { inline_string: 'PRIVATE-KEY-78' }, password: { inline_string: 'KEY-PASS-79' } }] },
          },
        },
      }),
    );
    const text = JSON.stringify(cluster);
    expect(text).not.toMatch(/PRIVATE-KEY-78|KEY-PASS-79/);
    expect(text).toContain('"private_key":"<set>"');
    expect(text).toContain('CHAIN');
  });

  test('our backend credentials show as set; an unset one stays absent', () => {
    const resource = { path: '/a', production_cluster: 'p', production_authorization: 'Basic c3ZjOnMzY3JldA==' };
    expect(resourceForOps(packAny(ENFORCER_API, { id: 'x', resources: [resource] }))).toEqual({ id: 'x', resources: [{ path: '/a', production_cluster: 'p', production_authorization: SET }] });
  });

  test('the ext_authz context we put on routes stays readable (ctl explain shows it)', () => {
    const route = resourceForOps(
      packAny(ROUTE, {
        name: 'r',
        virtual_hosts: [
          {
            name: 'v',
            domains: ['*'],
            routes: [
              {
                match: { prefix: '/' },
                route: { cluster: 'c' },
                typed_per_filter_config: {
                  'envoy.filters.http.ext_authz': {
                    '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute',
                    check_settings: { context_extensions: { basePath: '/a/1', method: 'GET' } },
                  },
                },
              },
            ],
          },
        ],
      }),
    );
    expect(JSON.stringify(route)).toContain('"context_extensions":{"basePath":"/a/1","method":"GET"}');
  });
});

describe('state entries', () => {
  test("an API's Basic passwords, its own and its resources', show as set", () => {
    const withSecrets = api({
      endpoints: { production: endpointSet('http://p.internal', { basicAuth: { username: 'svc', password: 'pw-1' } }), sandbox: endpointSet('http://s.internal') },
    });
    withSecrets.resources[0] = { ...withSecrets.resources[0]!, endpoints: { sandbox: endpointSet('http://r.internal', { basicAuth: { username: 'r', password: 'pw-2' } }) } };
    const shown = stateEntryForOps('apis', withSecrets) as typeof withSecrets;
    expect(shown.endpoints.production!.basicAuth).toEqual({ username: 'svc', password: SET });
    expect(shown.endpoints.sandbox).toEqual(withSecrets.endpoints.sandbox);
    expect(shown.resources[0]!.endpoints!.sandbox!.basicAuth).toEqual({ username: 'r', password: SET });
    expect(JSON.stringify(shown)).not.toMatch(/pw-1|pw-2/);
    expect(withSecrets.endpoints.production!.basicAuth!.password).toBe('pw-1'); // the state itself is untouched
  });

  test("a key manager's configuration: public keys and true/false as they are, anything else as set, nested too", () => {
    const km = {
      name: 'k',
      type: 'KeyCloak',
      enabled: true,
      organization: 'o',
      configuration: {
        issuer: 'https://kc',
        self_validate_jwt: true,
        token_endpoint: 'https://svc:tok-pw@kc/token',
        client_secret: 'cs-1',
        Username: 'admin',
        api_key: 12345,
        unknown_new_field: 'maybe-secret',
        claim_mappings: [{ remoteClaim: 'a', localClaim: 'b' }],
        additionalProperties: { client_secret: 'cs-2', consumer_key_claim: 'azp', enable_token_hash: false },
      },
    };
    expect((stateEntryForOps('keyManagers', km) as typeof km).configuration).toEqual({
      issuer: 'https://kc',
      self_validate_jwt: true,
      token_endpoint: 'https://svc:***@kc/token',
      client_secret: SET,
      Username: SET,
      api_key: SET,
      unknown_new_field: SET,
      claim_mappings: [{ remoteClaim: 'a', localClaim: 'b' }],
      additionalProperties: { client_secret: SET, consumer_key_claim: 'azp', enable_token_hash: false },
    });
  });

  test('other collections as they are', () => {
    const app = { uuid: 'a', name: 'Shop', owner: 'alice@example.com', policy: 'Unlimited', attributes: {}, organization: 'o' };
    expect(stateEntryForOps('applications', app)).toBe(app);
  });
});
