import type { Application, BlockingCondition, BlockingType, KeyManager, KeyMapping, PolicyKind, RevokedToken, Subscription, ThrottlePolicy } from '../../model/access';
import { DecodeError, excerpt, Fields, parseJson, SUPER_TENANT } from './decode-json';
import { burst, rateLimit } from './decode-limits';
import { keyType } from './decode-notification';
import { ipFields } from './decode-topics';

/**
 * Decoders for the responses of APIM's Internal Data REST API (`/internal/data/v1/...`) and the
 * runtime-artifacts `deployments.json`. Each takes the parsed JSON (a string or Buffer is parsed
 * first) and is strict about what it needs: an error names the endpoint and the list index.
 * Unknown fields are ignored, since newer APIM keeps adding them.
 */

export interface RestOptions {
  /**
   * The organization of entries whose DTO names none: the tenant the pull ran as (APIM scopes
   * REST data to the Basic-auth user's tenant). Default `carbon.super`.
   */
  organization?: string;
}

/** One API as `/apis` describes it (the API's metadata, apart from its artifact). */
export interface ApiMetadata {
  uuid: string;
  name: string;
  version: string;
  /** Versioned context, as `/apis` gives it (`/pizzashack/1.0.0`). */
  context: string;
  isDefaultVersion: boolean;
  /** Lifecycle status: PUBLISHED, BLOCKED, ... */
  status: string;
  /** API-level throttling policy, where one is set. */
  policy?: string;
  apiType: string;
}

/** One inner zip of a runtime-artifacts download and where it goes. */
export interface Deployment {
  /** `<apiUUID>-<revision>.zip`, at the root of the outer zip. */
  apiFile: string;
  /** `vhost` is '' where APIM gave none (the label's default vhost applies). */
  environments: { name: string; vhost: string }[];
  organization: string;
}

const orgOf = (f: Fields, opts: RestOptions): string => f.optStr('organization', 'tenantDomain') || opts.organization || SUPER_TENANT;

/**
 * Every decoder, wrapped so that even a bug in it reaches the caller as a DecodeError: a bad
 * response must not look like a failed connection, or the other way round.
 */
function guarded<A extends [unknown, ...unknown[]], R>(endpoint: string, decode: (...args: A) => R): (...args: A) => R {
  return (...args) => {
    try {
      return decode(...args);
    } catch (e) {
      if (e instanceof DecodeError) throw e;
      throw new DecodeError(`${endpoint}: internal decoder error: ${e instanceof Error ? e.message : String(e)}`, excerptOf(args[0]));
    }
  };
}

/** The JSON of a response: given parsed, or as text. */
function json(input: unknown, endpoint: string): unknown {
  if (typeof input === 'string') return parseJson(input, endpoint);
  if (Buffer.isBuffer(input)) return parseJson(input.toString('utf8'), endpoint);
  return input;
}

function excerptOf(v: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(v);
  } catch {
    // A cyclic or BigInt value cannot come from JSON; describe it rather than fail differently.
  }
  return excerpt(text ?? String(v));
}

/** The items of a `{count, list, pagination}` response, each with its own field reader. */
function listItems(input: unknown, endpoint: string): Fields[] {
  const body = Fields.of(json(input, endpoint), `GET ${endpoint}`, () => excerptOf(input));
  const list = body.optList('list') ?? body.fail('list', 'missing');
  return items(list, `GET ${endpoint} list`);
}

/** The items of a bare array response. */
function arrayItems(input: unknown, endpoint: string): Fields[] {
  const value = json(input, endpoint);
  if (!Array.isArray(value)) throw new DecodeError(`GET ${endpoint}: expected a JSON array`, excerptOf(value));
  return items(value, `GET ${endpoint}`);
}

function items(list: unknown[], where: string): Fields[] {
  return list.map((item, i) => Fields.of(item, `${where}[${i}]`, () => excerptOf(item)));
}

function subscriptions(input: unknown, opts: RestOptions = {}): Subscription[] {
  return listItems(input, '/subscriptions').map((f) => {
    const id = f.optInt('subscriptionId');
    return {
      uuid: f.str('subscriptionUUID'),
      ...(id !== undefined ? { id } : {}),
      apiUuid: f.str('apiUUID'),
      appUuid: f.str('applicationUUID'),
      policy: f.str('policyId'),
      state: f.str('subscriptionState'),
      organization: orgOf(f, opts),
    };
  });
}

function applications(input: unknown, opts: RestOptions = {}): Application[] {
  return listItems(input, '/applications').map((f) => {
    const id = f.optInt('id');
    const tokenType = f.optStr('tokenType');
    return {
      uuid: f.str('uuid'),
      ...(id !== undefined ? { id } : {}),
      name: f.str('name'),
      owner: f.str('subName'),
      policy: f.str('policy'),
      ...(tokenType ? { tokenType } : {}),
      attributes: f.optStringMap('attributes') ?? {},
      organization: orgOf(f, opts),
    };
  });
}

function keyMappings(input: unknown, opts: RestOptions = {}): KeyMapping[] {
  return listItems(input, '/application-key-mappings').map((f) => ({
    consumerKey: f.str('consumerKey'),
    keyManager: f.str('keyManager'),
    keyType: keyType(f),
    appUuid: f.str('applicationUUID'),
    organization: orgOf(f, opts),
  }));
}

/** A policy DTO's common part: name, id, organization and its default limit. */
function policy(f: Fields, kind: PolicyKind, opts: RestOptions): ThrottlePolicy {
  const id = f.optInt('id');
  const limit = f.raw('defaultLimit');
  return {
    kind,
    name: f.str('name'),
    ...(id !== undefined ? { id } : {}),
    organization: orgOf(f, opts),
    ...(limit ? { defaultLimit: rateLimit(f.nested(limit[1], 'defaultLimit'), f.optStr('quotaType')) } : {}),
  };
}

function applicationPolicies(input: unknown, opts: RestOptions = {}): ThrottlePolicy[] {
  return listItems(input, '/application-policies').map((f) => policy(f, 'application', opts));
}

/** Subscription policies add spike arrest (burst) and whether to stop at the quota. */
function subscriptionPolicies(input: unknown, opts: RestOptions = {}): ThrottlePolicy[] {
  return listItems(input, '/subscription-policies').map((f) => {
    const out = policy(f, 'subscription', opts);
    const spike = burst(f);
    const stop = f.optBool('stopOnQuotaReach');
    return { ...out, ...(spike ? { burst: spike } : {}), ...(stop !== undefined ? { stopOnQuotaReach: stop } : {}) };
  });
}

/** `/api-policies`: only the default limit is kept; conditional groups have no place in the model yet. */
function apiPolicies(input: unknown, opts: RestOptions = {}): ThrottlePolicy[] {
  return listItems(input, '/api-policies').map((f) => policy(f, 'api', opts));
}

/** A bare array; `configuration` is the key manager's additionalProperties map. */
function keyManagers(input: unknown, opts: RestOptions = {}): KeyManager[] {
  return arrayItems(input, '/keymanagers').map((f) => ({
    name: f.str('name'),
    type: f.str('type'),
    enabled: f.bool('enabled'),
    organization: orgOf(f, opts),
    configuration: f.optObject('configuration', 'additionalProperties') ?? {},
  }));
}

/**
 * APIM 4.0-4.2 answer a bare array of `{jwt_signature, expiry_time}`; newer builds an object
 * whose `revokedJWTList` holds them. Its consumer-key and subject revocations
 * (`revokedJWTConsumerKeyList`, `revokedJWTSubjectEntityList`) revoke every token issued before
 * a time, which RevokedToken cannot say; they are not returned here.
 */
function revokedTokens(input: unknown, opts: RestOptions = {}): RevokedToken[] {
  const value = json(input, '/revokedjwt');
  let list: unknown[];
  let where = 'GET /revokedjwt';
  if (Array.isArray(value)) list = value;
  else {
    const body = Fields.of(value, where, () => excerptOf(value));
    list = body.optList('revokedJWTList') ?? [];
    where += ' revokedJWTList';
  }
  // The list names no tenant: the tokens are those of the tenant the pull ran as.
  const organization = opts.organization || SUPER_TENANT;
  return items(list, where).map((f) => ({ id: f.str('jwt_signature'), expiresAt: f.int('expiry_time'), organization }));
}

/** Key templates belong to no tenant; `_opts` keeps the decoders' signatures alike. */
function keyTemplates(input: unknown, _opts: RestOptions = {}): string[] {
  const value = json(input, '/keyTemplates');
  if (!Array.isArray(value)) throw new DecodeError('GET /keyTemplates: expected a JSON array of strings', excerptOf(value));
  return value.map((t, i) => {
    if (typeof t !== 'string' || t === '') throw new DecodeError(`GET /keyTemplates[${i}]: expected a non-empty string`, excerptOf(t));
    return t;
  });
}

/** `/block` members holding plain values, and the condition type each is. */
const VALUE_CONDITIONS: [string, BlockingType][] = [
  ['api', 'API'],
  ['application', 'APPLICATION'],
  ['user', 'USER'],
  ['custom', 'CUSTOM'],
  ['subscription', 'SUBSCRIPTION'],
];

/** `{api, application, ip, user, custom, subscription}`: only enabled conditions are listed. */
function blockingConditions(input: unknown, opts: RestOptions = {}): BlockingCondition[] {
  const value = json(input, '/block');
  const body = Fields.of(value, 'GET /block', () => excerptOf(value));
  const organization = opts.organization || SUPER_TENANT;
  const out: BlockingCondition[] = [];
  for (const [member, type] of VALUE_CONDITIONS) {
    (body.optList(member) ?? []).forEach((v, i) => {
      if (typeof v !== 'string' || v === '') throw new DecodeError(`GET /block ${member}[${i}]: expected a non-empty string`, excerptOf(v));
      out.push({ type, value: v, organization });
    });
  }
  for (const f of items(body.optList('ip') ?? [], 'GET /block ip')) {
    const raw = f.str('type').toUpperCase();
    if (raw !== 'IP' && raw !== 'IPRANGE') f.fail('type', `expected IP or IPRANGE, got ${JSON.stringify(raw)}`);
    const kind = raw as 'IP' | 'IPRANGE';
    // The DTO's keys are matched case-insensitively, as for IP conditions from events.
    out.push({ id: f.idStr('id'), type: kind, ...ipFields(f.lowerCased(), kind), organization: orgOf(f, opts) });
  }
  return out;
}

/** `/apis`: the metadata of the APIs deployed on a label (or the one asked for). */
/** `_opts`: /apis names each API's organization, which the metadata does not keep. */
function apiMetadata(input: unknown, _opts: RestOptions = {}): ApiMetadata[] {
  return listItems(input, '/apis').map((f) => {
    const policyName = f.optStr('policy');
    return {
      uuid: f.str('uuid'),
      name: f.str('name'),
      version: f.str('version'),
      context: f.str('context'),
      isDefaultVersion: f.optBool('isDefaultVersion') ?? false,
      status: f.str('status'),
      ...(policyName ? { policy: policyName } : {}),
      apiType: f.optStr('apiType') || 'HTTP',
    };
  });
}

/** The runtime-artifacts zip's `deployments.json`: `{type, version, data: {deployments: [...]}}`. */
function deployments(input: unknown, opts: RestOptions = {}): Deployment[] {
  const value = json(input, 'deployments.json');
  const root = Fields.of(value, 'deployments.json', () => excerptOf(value));
  const list = root.child('data').optList('deployments') ?? root.fail('data.deployments', 'missing');
  return items(list, 'deployments.json data.deployments').map((f) => {
    const apiFile = f.str('apiFile');
    // Inner zips sit at the root of the outer one; a path here could only be a trick.
    if (/[/\\]|^\.\.?$/.test(apiFile)) f.fail('apiFile', `must be a file name at the zip root, got ${JSON.stringify(apiFile)}`);
    const environments = items(f.optList('environments') ?? f.fail('environments', 'missing'), `${f.where}.environments`).map((env) => ({
      name: env.str('name'),
      vhost: env.optStr('vhost') ?? '',
    }));
    return { apiFile, environments, organization: f.optStr('organizationId', 'organization') || opts.organization || SUPER_TENANT };
  });
}

export const restSubscriptions = guarded('/subscriptions', subscriptions);
export const restApplications = guarded('/applications', applications);
export const restKeyMappings = guarded('/application-key-mappings', keyMappings);
export const restApplicationPolicies = guarded('/application-policies', applicationPolicies);
export const restSubscriptionPolicies = guarded('/subscription-policies', subscriptionPolicies);
export const restApiPolicies = guarded('/api-policies', apiPolicies);
export const restKeyManagers = guarded('/keymanagers', keyManagers);
export const restRevokedTokens = guarded('/revokedjwt', revokedTokens);
export const restKeyTemplates = guarded('/keyTemplates', keyTemplates);
export const restBlockingConditions = guarded('/block', blockingConditions);
export const restApiMetadata = guarded('/apis', apiMetadata);
export const restDeployments = guarded('deployments.json', deployments);
