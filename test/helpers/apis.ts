import type { Api, EndpointSet } from '../../src/model/api';

/** Small domain-model APIs for translator tests. */

export function endpointSet(url: string, extra: Partial<EndpointSet> = {}): EndpointSet {
  const u = new URL(url);
  return {
    type: 'load_balance',
    urls: [
      {
        url,
        scheme: u.protocol === 'https:' ? 'https' : 'http',
        host: u.hostname,
        port: u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80,
        basePath: u.pathname.replace(/\/$/, ''),
      },
    ],
    ...extra,
  };
}

export function api(overrides: Partial<Api> = {}): Api {
  const name = overrides.name ?? 'PetStore';
  const version = overrides.version ?? '1.0.0';
  const context = overrides.context ?? '/petstore';
  return {
    id: `${name}-${version}`,
    name,
    version,
    context,
    basePath: `${context}/${version}`,
    vhost: 'localhost',
    type: 'HTTP',
    organization: 'carbon.super',
    labels: ['Default'],
    isDefaultVersion: false,
    lifecycleStatus: 'PUBLISHED',
    endpoints: { production: endpointSet('https://petstore.example.com/v2') },
    security: { schemes: ['oauth2'], authorizationHeader: 'Authorization', apiKeyHeader: 'apikey' },
    resources: [
      { path: '/pet/{petId}', operations: [{ method: 'GET', secured: true, scopes: [] }, { method: 'DELETE', secured: true, scopes: ['write'] }] },
      { path: '/pet/findByStatus', operations: [{ method: 'GET', secured: true, scopes: [] }] },
      { path: '/pet', operations: [{ method: 'POST', secured: true, scopes: [] }] },
    ],
    source: 'test',
    ...overrides,
  };
}
