import type { CorsPolicy } from '../../model/api';
import { ProjectDoc, isRecord } from './document';
import type { PathSeg } from './errors';

/** API-level policies shared by api.yaml and the x-wso2-* extensions: CORS and security schemes. */

/** APIM's own defaults for a CORS block that leaves a list out. */
const CORS_DEFAULTS = {
  origins: ['*'],
  methods: ['GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS'],
  headers: ['authorization', 'Access-Control-Allow-Origin', 'Content-Type', 'SOAPAction', 'apikey', 'Internal-Key'],
};

/** api.yaml `corsConfiguration` and `x-wso2-cors` use the same field names. */
export function corsPolicy(doc: ProjectDoc, path: readonly PathSeg[]): CorsPolicy | undefined {
  const v = doc.get(path);
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v)) return doc.fail(path, 'expected a map');
  const list = (key: string, fallback: string[]): string[] => {
    const raw = v[key];
    if (raw === undefined || raw === null) return fallback;
    if (typeof raw === 'string') return raw.split(',').map((s) => s.trim()).filter(Boolean);
    if (!Array.isArray(raw) || raw.some((s) => typeof s !== 'string')) return doc.fail([...path, key], 'expected a list of strings');
    return raw as string[];
  };
  const flag = (key: string, fallback: boolean): boolean => {
    const raw = v[key];
    if (raw === undefined || raw === null) return fallback;
    if (typeof raw !== 'boolean') return doc.fail([...path, key], `expected true or false, got ${JSON.stringify(raw)}`);
    return raw;
  };
  return {
    // A CORS block that does not say otherwise is meant to be on.
    enabled: flag('corsConfigurationEnabled', true),
    allowOrigins: list('accessControlAllowOrigins', CORS_DEFAULTS.origins),
    allowMethods: list('accessControlAllowMethods', CORS_DEFAULTS.methods).map((m) => m.toUpperCase()),
    allowHeaders: list('accessControlAllowHeaders', CORS_DEFAULTS.headers),
    exposeHeaders: list('accessControlExposeHeaders', []),
    allowCredentials: flag('accessControlAllowCredentials', false),
  };
}

/** APIM's securityScheme values, in the order we keep them. */
const SCHEMES = ['oauth2', 'api_key', 'basic_auth', 'mutualssl', 'mutualssl_mandatory', 'oauth_basic_auth_api_key_mandatory'];
const REAL_SCHEMES = ['oauth2', 'api_key', 'basic_auth', 'mutualssl'];

/** What APIM gives a new API: OAuth2 only, and application security mandatory. */
export const DEFAULT_SCHEMES = ['oauth2', 'oauth_basic_auth_api_key_mandatory'];

/**
 * Validates a security scheme list. An unknown name is an error rather than ignored: dropping a
 * misspelt scheme could leave an API with weaker (or no) security than its author meant.
 */
export function securitySchemes(doc: ProjectDoc, path: readonly PathSeg[], raw: unknown): string[] {
  if (!Array.isArray(raw)) return doc.fail(path, 'expected a list of security schemes');
  const names = raw.map((s, i) => {
    const name = typeof s === 'string' ? s.trim().toLowerCase() : '';
    if (!SCHEMES.includes(name)) return doc.fail([...path, i], `unknown security scheme ${JSON.stringify(s)} (known: ${SCHEMES.join(', ')})`);
    return name;
  });
  if (names.length === 0) return DEFAULT_SCHEMES;
  if (!names.some((n) => REAL_SCHEMES.includes(n))) return doc.fail(path, `no usable scheme: add one of ${REAL_SCHEMES.join(', ')}`);
  return SCHEMES.filter((s) => names.includes(s));
}

/**
 * `x-wso2-application-security: {security-types: [oauth2, api_key], optional: false}` and
 * `x-wso2-mutual-ssl: mandatory | optional`, as APIM securityScheme values. Undefined when neither is set.
 */
export function extensionSchemes(doc: ProjectDoc): string[] | undefined {
  const app = doc.get(['x-wso2-application-security']);
  const mtls = doc.text(['x-wso2-mutual-ssl'])?.toLowerCase();
  if (app === undefined && mtls === undefined) return undefined;
  let names: string[] = [...DEFAULT_SCHEMES];
  if (app !== undefined) {
    if (!isRecord(app)) return doc.fail(['x-wso2-application-security'], 'expected a map with security-types');
    const typesPath = ['x-wso2-application-security', 'security-types'];
    const types = app['security-types'];
    if (!Array.isArray(types)) return doc.fail(typesPath, 'expected a list (oauth2, api_key, basic_auth)');
    names = types.map((t, i) => {
      const name = String(t).toLowerCase().replace(/^apikey$/, 'api_key');
      if (!['oauth2', 'api_key', 'basic_auth'].includes(name)) return doc.fail([...typesPath, i], `unknown application security type ${JSON.stringify(t)}`);
      return name;
    });
    if (app.optional !== true) names.push('oauth_basic_auth_api_key_mandatory');
  }
  if (mtls !== undefined) {
    if (mtls !== 'mandatory' && mtls !== 'optional') return doc.fail(['x-wso2-mutual-ssl'], `expected mandatory or optional, got ${JSON.stringify(mtls)}`);
    names.push('mutualssl');
    if (mtls === 'mandatory') names.push('mutualssl_mandatory');
  }
  if (!names.some((n) => REAL_SCHEMES.includes(n))) return doc.fail(['x-wso2-application-security'], 'no security type given');
  return SCHEMES.filter((s) => names.includes(s));
}
