import type { AllowDecision, Subject } from '../../src/enforcer/check';
import type { EnforcerPolicy } from '../../src/enforcer/rate-limits';
import type { EnforcerApi, EnforcerApplication, EnforcerSubscription } from '../../src/enforcer/view';

/** Subjects, policies and allowed decisions for tests of the throttle stage. */

export const ORG = 'carbon.super';
export const api = (over: Partial<EnforcerApi> = {}): EnforcerApi =>
  ({
    id: 'api-1',
    name: 'PetStore',
    version: '1.0.0',
    context: '/petstore',
    base_path: '/petstore/1.0.0',
    organization: ORG,
    throttling_tier: '',
    resources: [],
    ...over,
  }) as unknown as EnforcerApi;
export const app: EnforcerApplication = { uuid: 'app-1', name: 'Shop', owner: 'alice', policy: 'App10', attributes: {}, organization: ORG } as unknown as EnforcerApplication;
export const sub: EnforcerSubscription = { uuid: 'sub-1', api_id: 'api-1', application_uuid: 'app-1', policy: 'Sub5', state: 'UNBLOCKED', organization: ORG };
export const subject = (over: Partial<Subject> = {}): Subject => ({
  api: api(),
  resource: { path: '/pets', operations: [], production_cluster: 'c', sandbox_cluster: '', production_authorization: '', sandbox_authorization: '' },
  operation: { method: 'GET', secured: true, scopes: [], throttling_tier: 'Res3' },
  keyType: 'PRODUCTION',
  user: 'alice',
  application: app,
  subscription: sub,
  ...over,
});

export const policy = (kind: string, name: string, limit: number, unitMs: number, extra: Partial<EnforcerPolicy> = {}): EnforcerPolicy => ({
  kind,
  name,
  organization: ORG,
  default_limit: { quota_type: 'requestCount', limit, unit_time_ms: unitMs },
  burst: null,
  stop_on_quota_reach: true,
  ...extra,
});
export const allowed = (s: Subject): AllowDecision => ({ allow: true, subject: s, headers: {}, headersToRemove: [], dynamicMetadata: {}, reason: 'test' });
