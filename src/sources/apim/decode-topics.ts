import { keys, type BlockingCondition, type BlockingType, type KeyManager, type RevokedToken, type ThrottleCondition, type ThrottleDecision } from '../../model/access';
import { base64Text, excerpt, Fields, isBase64, isRecord, parseJson, SUPER_TENANT } from './decode-json';
import { apply, ignore, type Decoded } from './decode-types';

/**
 * The keyManager, tokenRevocation and throttleData topics. Their payloadData holds plain
 * attributes (only a key manager's `value` is base64), and none of them says when it happened,
 * so their events carry no source time.
 */

const payloadOf = (body: Fields): Fields => body.child('event').child('payloadData');

// ---- keyManager ------------------------------------------------------------------------------

/**
 * `{event_type: 'key_manager_configuration', action: add|update|delete, name, type, enabled,
 * value, tenantDomain}`. `value` is base64 JSON: APIM 4.0-4.2 encode the configuration map
 * (additionalProperties) itself, newer builds the whole key manager DTO with the map under
 * `additionalProperties`. Both are accepted; a DTO is recognised by that member being an object.
 */
export function decodeKeyManager(body: Fields): Decoded {
  const p = payloadOf(body);
  const eventType = p.str('event_type');
  if (eventType.toLowerCase() !== 'key_manager_configuration') {
    return { type: eventType, actions: [ignore(`unknown keyManager event type ${eventType}`)] };
  }
  const action = p.str('action').toLowerCase();
  const type = `KEY_MANAGER_${action.toUpperCase()}`;
  const name = p.str('name');
  const organization = p.optStr('tenantDomain', 'organization') || SUPER_TENANT;
  if (action === 'delete') {
    return { type, actions: [apply({ kind: 'Deleted', collection: 'keyManagers', key: keys.keyManager({ name, organization }) })] };
  }
  if (action !== 'add' && action !== 'update') return { type, actions: [ignore(`unknown key manager action ${action}`)] };
  const value = decodeValue(p);
  const nested = value?.raw('additionalProperties');
  const dto = nested && isRecord(nested[1]) ? value : undefined;
  // The payload attributes are what APIM's stream defines; a whole DTO in `value` may stand in for them.
  const km: KeyManager = {
    name,
    type: p.optStr('type') ?? dto?.optStr('type') ?? p.str('type'),
    enabled: p.optBool('enabled') ?? dto?.optBool('enabled') ?? p.bool('enabled'),
    organization,
    configuration: dto ? dto.optObject('additionalProperties')! : (value?.plain() ?? {}),
  };
  return { type, actions: [apply({ kind: 'Upserted', collection: 'keyManagers', value: km })] };
}

/** The decoded `value`, or undefined when empty (the 4.0 sender writes "" for no properties). */
function decodeValue(p: Fields): Fields | undefined {
  const value = p.optStr('value') ?? '';
  if (value === '') return undefined;
  const text = base64Text(value, 'payloadData.value');
  return Fields.of(parseJson(text, 'payloadData.value'), 'keyManager payloadData.value', () => excerpt(text));
}

// ---- tokenRevocation -------------------------------------------------------------------------

/**
 * `{eventId, revokedToken, ttl, expiryTime, type, tenantId}`. The payload names no tenant
 * domain; the super tenant's id (-1234) is the only one we can name.
 */
export function decodeRevocation(body: Fields): Decoded {
  const p = payloadOf(body);
  const tenantId = p.optInt('tenantId');
  const domain = p.optStr('tenantDomain', 'organization');
  const organization = domain || (tenantId === undefined || tenantId === -1234 ? SUPER_TENANT : undefined);
  const tokenType = p.optStr('type');
  const token: RevokedToken = {
    id: p.str('revokedToken'),
    expiresAt: p.int('expiryTime'),
    ...(tokenType ? { tokenType } : {}),
    ...(organization ? { organization } : {}),
  };
  return { eventId: p.optStr('eventId'), type: 'TOKEN_REVOCATION', actions: [apply({ kind: 'Upserted', collection: 'revokedTokens', value: token })] };
}

// ---- throttleData ----------------------------------------------------------------------------

/** Three payload kinds on one topic, told apart by which key is present. */
export function decodeThrottleData(body: Fields): Decoded {
  const p = payloadOf(body);
  if (p.has('throttleKey')) return throttleDecision(p);
  if (p.has('blockingCondition')) return blockingCondition(p);
  if (p.has('keyTemplateValue')) return keyTemplate(p);
  return p.fail('', 'is none of throttle decision (throttleKey), blocking condition (blockingCondition) or key template (keyTemplateValue)');
}

/** A Traffic Manager decision: throttled until expiryTimeStamp, or (isThrottled=false) no longer. */
function throttleDecision(p: Fields): Decoded {
  const key = p.str('throttleKey');
  const type = 'THROTTLE_DECISION';
  if (!p.bool('isThrottled')) return { type, actions: [apply({ kind: 'Deleted', collection: 'throttleDecisions', key })] };
  const evaluated = p.optStr('evaluatedConditions');
  const conditions = evaluated ? evaluatedConditions(p, evaluated) : undefined;
  const decision: ThrottleDecision = { key, throttled: true, until: p.int('expiryTimeStamp'), ...(conditions ? { conditions } : {}) };
  return { type, actions: [apply({ kind: 'Upserted', collection: 'throttleDecisions', value: decision })] };
}

const WHERE_CONDITIONS = 'throttleData payloadData.evaluatedConditions';

/**
 * evaluatedConditions: base64 of a JSON array of objects with the lower-cased keys `ipspecific`
 * (`specificIp`), `iprange` (`startingIp`, `endingIp`), `header`, `queryparametertype` and
 * `jwtclaims` (`values`: name → regular expression), each with `invert`. APIM writes addresses as
 * JSON integers (IPv6 ones exceed 2^53), so they are quoted before parsing to keep every digit.
 */
function evaluatedConditions(p: Fields, b64: string): ThrottleCondition[] {
  if (!isBase64(b64)) p.fail('evaluatedConditions', 'is not standard padded base64');
  const text = base64Text(b64, 'payloadData.evaluatedConditions');
  const parsed = parseJson(text.replace(/("(?:specificIp|startingIp|endingIp)"\s*:\s*)(\d+)/gi, '$1"$2"'), 'payloadData.evaluatedConditions');
  if (!Array.isArray(parsed)) p.fail('evaluatedConditions', 'expected a JSON array of conditions');
  return parsed.map((c, i) => throttleCondition(Fields.of(c, `${WHERE_CONDITIONS}[${i}]`, () => excerpt(text)).lowerCased()));
}

function throttleCondition(c: Fields): ThrottleCondition {
  const out: ThrottleCondition = {};
  const address = (f: Fields, name: string): string => {
    const v = f.idStr(name.toLowerCase());
    return /^\d+$/.test(v) ? v.replace(/^0+(?=\d)/, '') : f.fail(name, `expected an address as a decimal integer, got ${JSON.stringify(v)}`);
  };
  const specific = c.raw('ipspecific');
  const range = c.raw('iprange');
  if (specific) {
    const f = c.nested(specific[1], 'ipspecific').lowerCased();
    const ip = address(f, 'specificIp');
    out.ip = { start: ip, end: ip, invert: f.optBool('invert') ?? false };
  } else if (range) {
    const f = c.nested(range[1], 'iprange').lowerCased();
    out.ip = { start: address(f, 'startingIp'), end: address(f, 'endingIp'), invert: f.optBool('invert') ?? false };
  }
  for (const [name, field] of [['header', 'header'], ['queryparametertype', 'query'], ['jwtclaims', 'jwtClaims']] as const) {
    const got = c.raw(name);
    if (!got) continue;
    const f = c.nested(got[1], name);
    const values = f.optStringMap('values') ?? {};
    for (const [k, re] of Object.entries(values)) {
      try {
        new RegExp(re);
      } catch (e) {
        f.fail(`values.${k}`, `is not a regular expression: ${(e as Error).message}`);
      }
    }
    out[field] = { values, invert: f.optBool('invert') ?? false };
  }
  return out;
}

const BLOCKING_TYPES: readonly BlockingType[] = ['API', 'APPLICATION', 'USER', 'IP', 'IPRANGE', 'SUBSCRIPTION', 'CUSTOM'];

/**
 * `{id, blockingCondition, conditionValue, state, tenantDomain}`. `state` "true" adds the
 * condition, anything else removes it. IP conditions are keyed by APIM's id (as the REST pull's
 * are); the others by type and value, as the pull has no ids for them. SUBSCRIPTION conditions
 * are kept: Choreo Connect skips them, but blocking a subscription should block it.
 */
function blockingCondition(p: Fields): Decoded {
  const type = 'BLOCKING_CONDITION';
  const raw = p.str('blockingCondition').toUpperCase();
  const kind = BLOCKING_TYPES.find((t) => t === raw);
  if (!kind) return { type, actions: [ignore(`unknown blocking condition type ${raw}`)] };
  const organization = p.optStr('tenantDomain') || SUPER_TENANT;
  const adds = p.optStr('state')?.toLowerCase() === 'true';
  const ip = kind === 'IP' || kind === 'IPRANGE';
  if (!adds && ip) {
    // Removal needs only the id; a value that no longer parses must not keep an IP blocked.
    return { type, actions: [apply({ kind: 'Deleted', collection: 'blockingConditions', key: p.idStr('id') })] };
  }
  const condition: BlockingCondition = ip ? { id: p.idStr('id'), type: kind, ...ipCondition(p, kind), organization } : { type: kind, value: p.str('conditionValue'), organization };
  const event = adds
    ? { kind: 'Upserted' as const, collection: 'blockingConditions' as const, value: condition }
    : { kind: 'Deleted' as const, collection: 'blockingConditions' as const, key: keys.blockingCondition(condition) };
  return { type, actions: [apply(event)] };
}

/** conditionValue of an IP condition is itself JSON, with keys in any case. */
function ipCondition(p: Fields, kind: 'IP' | 'IPRANGE'): Pick<BlockingCondition, 'fixedIp' | 'startingIp' | 'endingIp' | 'invert'> {
  const text = p.str('conditionValue');
  const parsed = parseJson(text, 'payloadData.conditionValue');
  return ipFields(Fields.of(parsed, 'throttleData payloadData.conditionValue', () => excerpt(text)).lowerCased(), kind);
}

/** Reads fixedip / startingip / endingip / invert from lower-cased keys. */
export function ipFields(v: Fields, kind: 'IP' | 'IPRANGE'): Pick<BlockingCondition, 'fixedIp' | 'startingIp' | 'endingIp' | 'invert'> {
  const invert = v.optBool('invert') ?? false;
  if (kind === 'IP') return { fixedIp: v.str('fixedip'), invert };
  return { startingIp: v.str('startingip'), endingIp: v.str('endingip'), invert };
}

/** A custom policy's key template: added, or removed. */
function keyTemplate(p: Fields): Decoded {
  const value = p.str('keyTemplateValue');
  const state = p.str('keyTemplateState').toLowerCase();
  const type = 'KEY_TEMPLATE';
  if (state === 'add') return { type, actions: [apply({ kind: 'Upserted', collection: 'keyTemplates', value })] };
  if (state === 'remove') return { type, actions: [apply({ kind: 'Deleted', collection: 'keyTemplates', key: value })] };
  return p.fail('keyTemplateState', `expected add or remove, got ${JSON.stringify(state)}`);
}
