import { X509Certificate } from 'node:crypto';
import { unpackAny } from '../../src/envoy/any';
import { wholeBytes } from '../../src/envoy/protoWire';
import { ENFORCER_API, ENFORCER_APPLICATION, ENFORCER_KEY_MANAGER, ENFORCER_KEY_MAPPING, ENFORCER_POLICY, ENFORCER_REVOKED_TOKEN, ENFORCER_SUBSCRIPTION } from '../../src/envoy/typeUrls';
import { GatewayState, type GatewayEvent } from '../../src/model/state';
import { EnforcerTranslator } from '../../src/translate/enforcer';
import { api, endpointSet } from '../helpers/apis';
import { selfSignedCertificate } from '../helpers/certs';

const events: GatewayEvent[] = [
  { kind: 'ApiDeployed', api: api({ endpoints: { production: endpointSet('https://prod.example.com/v2'), sandbox: endpointSet('http://sbx.local/v2') } }) },
  { kind: 'ApiDeployed', api: api({ id: 'elsewhere', name: 'Elsewhere', context: '/else', labels: ['Prod'] }) },
  { kind: 'Upserted', collection: 'applications', value: { uuid: 'app-1', name: 'Shop', owner: 'alice', policy: '10PerMin', attributes: { tier: 'gold' }, organization: 'carbon.super' } },
  { kind: 'Upserted', collection: 'keyMappings', value: { consumerKey: 'ck-1', keyManager: 'Resident Key Manager', keyType: 'SANDBOX', appUuid: 'app-1', organization: 'carbon.super' } },
  { kind: 'Upserted', collection: 'subscriptions', value: { uuid: 'sub-1', apiUuid: 'PetStore-1.0.0', appUuid: 'app-1', policy: 'Gold', state: 'UNBLOCKED', organization: 'carbon.super' } },
  { kind: 'Upserted', collection: 'policies', value: { kind: 'subscription', name: 'Gold', organization: 'carbon.super', defaultLimit: { quotaType: 'requestCount', limit: 5000, unitTimeMs: 60_000 }, stopOnQuotaReach: true } },
  { kind: 'Upserted', collection: 'keyManagers', value: { name: 'Keycloak', type: 'KeyCloak', enabled: true, organization: 'carbon.super', configuration: { issuer: 'https://kc', self_validate_jwt: true } } },
  { kind: 'Upserted', collection: 'revokedTokens', value: { id: 'jti-1', expiresAt: 1_900_000_000_000, tokenType: 'JWT' } },
];

const decode = (typeUrl: string, value: Uint8Array | readonly Uint8Array[]): any => unpackAny({ type_url: typeUrl, value: value as Uint8Array });

describe('EnforcerTranslator', () => {
  const state = GatewayState.empty().applyAll(events);
  const out = new EnforcerTranslator().translate(state, 'Default');

  test('one resource per entry, named by its key; APIs of the label only', () => {
    expect(out[ENFORCER_API].map((r) => r.name)).toEqual(['PetStore-1.0.0']);
    expect(out[ENFORCER_APPLICATION].map((r) => r.name)).toEqual(['app-1']);
    expect(out[ENFORCER_KEY_MAPPING].map((r) => r.name)).toEqual(['carbon.super:ck-1:Resident Key Manager']);
    expect(out[ENFORCER_SUBSCRIPTION].map((r) => r.name)).toEqual(['sub-1']);
    expect(out[ENFORCER_POLICY].map((r) => r.name)).toEqual(['subscription:carbon.super:Gold']);
    expect(out[ENFORCER_KEY_MANAGER].map((r) => r.name)).toEqual(['carbon.super:keycloak']);
    expect(out[ENFORCER_REVOKED_TOKEN].map((r) => r.name)).toEqual(['jti-1']);
  });

  test('an API carries its resources, operations and the clusters the router translator names', () => {
    const a = decode(ENFORCER_API, out[ENFORCER_API][0].value);
    expect(a).toMatchObject({ id: 'PetStore-1.0.0', base_path: '/petstore/1.0.0', security_schemes: ['oauth2'], authorization_header: 'Authorization' });
    const pet = a.resources.find((r: { path: string }) => r.path === '/pet/{petId}');
    expect(pet.operations).toEqual([
      { method: 'GET', secured: true },
      { method: 'DELETE', secured: true, scopes: ['write'] },
    ]);
    expect(pet.production_cluster).toBe('carbon-super_localhost_PetStore_1-0-0_637a771f_prod');
    expect(pet.sandbox_cluster).toBe('carbon-super_localhost_PetStore_1-0-0_637a771f_sandbox');
  });

  test('client certificates travel as fingerprints; a backend\'s Basic credentials as the header it needs', () => {
    const pem = selfSignedCertificate('partner');
    const withBoth = api({
      clientCertificates: [{ alias: 'partner', pem, tier: 'Gold' }],
      endpoints: { production: { ...endpointSet('https://prod.example.com/v2'), basicAuth: { username: 'svc', password: 'secret' } }, sandbox: endpointSet('http://sbx.local/v2') },
    });
    const a = decode(ENFORCER_API, new EnforcerTranslator().translate(GatewayState.empty().apply({ kind: 'ApiDeployed', api: withBoth }), 'Default')[ENFORCER_API][0].value);
    expect(a.client_certificates).toEqual([{ alias: 'partner', sha256_fingerprint: new X509Certificate(pem).fingerprint256, tier: 'Gold' }]);
    expect(a.client_certificates[0].sha256_fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(JSON.stringify(a)).not.toContain('BEGIN CERTIFICATE');
    for (const r of a.resources) {
      expect(r.production_authorization).toBe(`Basic ${Buffer.from('svc:secret').toString('base64')}`);
      expect(r.sandbox_authorization).toBeUndefined();
    }
  });

  test('access data keeps the fields the enforcer reads', () => {
    expect(decode(ENFORCER_KEY_MAPPING, out[ENFORCER_KEY_MAPPING][0].value)).toEqual({ consumer_key: 'ck-1', key_manager: 'Resident Key Manager', key_type: 'SANDBOX', application_uuid: 'app-1', organization: 'carbon.super' });
    expect(decode(ENFORCER_POLICY, out[ENFORCER_POLICY][0].value)).toMatchObject({ default_limit: { quota_type: 'requestCount', limit: '5000', unit_time_ms: '60000' }, stop_on_quota_reach: true });
    expect(decode(ENFORCER_KEY_MANAGER, out[ENFORCER_KEY_MANAGER][0].value)).toEqual({ name: 'Keycloak', organization: 'carbon.super', issuer: 'https://kc' });
    expect(decode(ENFORCER_APPLICATION, out[ENFORCER_APPLICATION][0].value)).toEqual({ uuid: 'app-1', id: '0', name: 'Shop', owner: 'alice', policy: '10PerMin', attributes: { tier: 'gold' }, organization: 'carbon.super' });
  });

  describe('a key manager: only what validating its tokens needs', () => {
    const km = (configuration: Record<string, unknown>, enabled = true): { bytes: Buffer; decoded: any } => {
      const s = GatewayState.empty().apply({ kind: 'Upserted', collection: 'keyManagers', value: { name: 'IdP', type: 'KeyCloak', enabled, organization: 'carbon.super', configuration } });
      const value = new EnforcerTranslator().translate(s, 'Default')[ENFORCER_KEY_MANAGER][0].value;
      return { bytes: Buffer.from(wholeBytes(value)), decoded: decode(ENFORCER_KEY_MANAGER, value) };
    };

    test('typed fields; client secret, user name, password and everything else of the configuration stay behind', () => {
      const secrets = { client_secret: 'cs-7f3a9', client_id: 'cid-55e1', username: 'km-user-2b8c', password: 'km-pass-91d4', api_key: 'ak-0c6e' };
      const { bytes, decoded } = km({
        issuer: 'https://kc/realms/x',
        self_validate_jwt: true,
        certificate_type: 'JWKS',
        certificate_value: 'https://kc/realms/x/certs',
        jwks_endpoint: 'https://kc/ignored',
        consumer_key_claim: 'client_id',
        scopes_claim: 'scp',
        token_endpoint: 'https://kc/token',
        claim_mappings: [{ remoteClaim: 'a', localClaim: 'b' }],
        ...secrets,
      });
      expect(decoded).toEqual({ name: 'IdP', organization: 'carbon.super', issuer: 'https://kc/realms/x', jwks_url: 'https://kc/realms/x/certs', consumer_key_claim: 'client_id', scopes_claim: 'scp' });
      for (const v of [...Object.values(secrets), 'https://kc/token', 'remoteClaim', 'KeyCloak']) expect(bytes.includes(v)).toBe(false);
    });

    test('APIM\'s nested (additionalProperties) form, string booleans, and PEM as base64 of DER', () => {
      const der = new X509Certificate(selfSignedCertificate('idp')).raw.toString('base64');
      const { decoded } = km({ uuid: 'u', additionalProperties: { issuer: 'https://e', self_validate_jwt: 'true', certificate_type: 'PEM', certificate_value: der, client_secret: 'nested-secret' } });
      expect(decoded.issuer).toBe('https://e');
      expect(new X509Certificate(decoded.certificate_pem).raw.toString('base64')).toBe(der);
      expect(JSON.stringify(decoded)).not.toContain('nested-secret');
    });

    test('no issuer when CC would ignore it: disabled, not self-validating, or none given', () => {
      expect(km({ issuer: 'https://a', self_validate_jwt: true }, false).decoded).toEqual({ name: 'IdP', organization: 'carbon.super' });
      expect(km({ issuer: 'https://a', self_validate_jwt: false }).decoded.issuer).toBeUndefined();
      expect(km({ self_validate_jwt: true, jwks_endpoint: 'https://a/jwks' }).decoded).toEqual({ name: 'IdP', organization: 'carbon.super' });
    });
  });

  test('an entry that did not change is not encoded again; one that did is', () => {
    const t = new EnforcerTranslator();
    const first = t.translate(state, 'Default');
    const next = state.apply({ kind: 'Upserted', collection: 'applications', value: { uuid: 'app-2', name: 'Other', owner: 'bob', policy: 'Unlimited', attributes: {}, organization: 'carbon.super' } });
    const second = t.translate(next, 'Default');
    expect(second[ENFORCER_SUBSCRIPTION][0].value).toBe(first[ENFORCER_SUBSCRIPTION][0].value);
    expect(second[ENFORCER_APPLICATION].map((r) => r.name).sort()).toEqual(['app-1', 'app-2']);
    expect(second[ENFORCER_APPLICATION].find((r) => r.name === 'app-1')!.value).toBe(first[ENFORCER_APPLICATION][0].value);
  });
});
