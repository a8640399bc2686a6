import * as fs from 'fs';
import { parse } from 'smol-toml';

/**
 * config.toml: one file, sections named as in Choreo Connect where they exist. Every key has a
 * default, so a missing file section is fine; a wrong type, an unknown key or section, or an
 * unset `$env{VAR}` stops startup with the file and key named.
 */

export type GroupFrom = 'auto' | 'cluster' | 'id';

/** `[[enforcer.security.tokenService]]`, as in Choreo Connect. */
export interface TokenService {
  name: string;
  issuer: string;
  /** PEM certificate or public key file. */
  certificateFilePath: string;
  jwksURL: string;
  consumerKeyClaim: string;
  validateSubscription: boolean;
}

/** `[[throttling.policies]]`: a throttling tier served when API Manager is not the control plane. */
export interface PolicyConfig {
  kind: 'api' | 'subscription' | 'application';
  name: string;
  organization: string;
  requests: number;
  unitTime: number;
  timeUnit: 'sec' | 'min' | 'hour' | 'day';
  /** Subscription tiers: a spike limit within `burstTimeUnit` (0: none). */
  burstRequests: number;
  burstTimeUnit: 'sec' | 'min';
  stopOnQuotaReach: boolean;
}

export interface Config {
  adapter: {
    /** Address the xDS/admin gRPC server binds. */
    host: string;
    xdsPort: number;
    /** HTTP /health and /ready. */
    httpPort: number;
    /** Largest gRPC message the adapter sends (xDS responses for thousands of APIs are large). */
    maxMessageSize: number;
    /** Largest gRPC message the adapter accepts: small, so no client makes it decode megabytes. */
    maxReceiveMessageSize: number;
    /** Quiet period before a burst of changes is pushed. */
    debounceMs: number;
    /** Longest a change waits while a burst goes on. */
    maxDelayMs: number;
    /** Where a node's group (label) comes from: node.cluster, node.id, or auto. */
    nodeGroupFrom: GroupFrom;
    /**
     * Lock-step: how long a change waits for the label's enforcers to ACK before its routes go
     * live anyway (and, on undeploy, for the routers before the enforcers forget the API).
     */
    lockStepTimeoutMs: number;
    /** Folder of API projects served when the control plane is off ('' for none). */
    apisDirectory: string;
    /** Caps on each YAML/JSON file of an API project (a folder's, a zip's, APIM's artifacts). */
    maxDefinitionBytes: number;
    maxDefinitionNodes: number;
    maxDefinitionDepth: number;
    /** Worker threads that parse and translate API projects (0: one per core, up to 4). */
    parseWorkers: number;
  };
  router: {
    /** Plain HTTP listener port (0: none). */
    listenerPort: number;
    /** HTTPS listener port (0: none); needs a certificate (files or an SDS secret). */
    securedListenerPort: number;
    /** Certificate and key files, as paths on the router's host. */
    tlsCertFile: string;
    tlsKeyFile: string;
    /** Or: the name of an SDS secret the router fetches over ADS. */
    tlsSdsSecret: string;
    /** Virtual host used when an API names none. */
    defaultVhost: string;
    /** Static cluster (in the router bootstrap) that reaches the enforcer. */
    enforcerCluster: string;
    enforcerTimeoutMs: number;
    /** Upstream defaults, each overridable per endpoint. */
    routeTimeoutMs: number;
    routeIdleTimeoutMs: number;
    clusterConnectTimeoutMs: number;
    retryStatusCodes: string[];
    /** CA bundle on the router's host for backends without their own certificates. */
    trustedCaFile: string;
    /** Take the client address from the connection (an edge router); false behind a trusted proxy. */
    useRemoteAddress: boolean;
    /**
     * The HTTPS listener asks clients for a certificate (optional, any issuer) and passes it to
     * the enforcer, which checks it against each mutual-TLS API's client certificates.
     */
    mtlsApisEnabled: boolean;
    /**
     * What the router does with `%2F` / `%5C` in a path: REJECT_REQUEST (400) or
     * UNESCAPE_AND_REDIRECT (a redirect to the unescaped, normalized path).
     */
    pathWithEscapedSlashesAction: 'REJECT_REQUEST' | 'UNESCAPE_AND_REDIRECT';
    /**
     * The RE2 program size a route regex may reach: the routers' runtime value
     * `re2.max_program_size.error_level` (Envoy's default 100; raise both together). A path
     * template whose regex is larger is matched with Envoy's URI-template matcher instead.
     */
    maxRegexProgramSize: number;
    /**
     * A request whose path matches a template that does not define its method: `fallthrough`
     * (Choreo Connect's way) lets a less specific template of the API take it; `405` answers
     * 405 Method Not Allowed with `Allow`, as OpenAPI means it.
     */
    methodNotAllowed: 'fallthrough' | '405';
  };
  cors: {
    enabled: boolean;
    allowOrigins: string[];
    allowMethods: string[];
    allowHeaders: string[];
    exposeHeaders: string[];
    allowCredentials: boolean;
  };
  controlPlane: {
    enabled: boolean;
    /** APIM's base URL (https://apim:9443/). */
    serviceURL: string;
    username: string;
    password: string;
    environmentLabels: string[];
    /** Seconds between retries of a failed pull. */
    retryInterval: number;
    skipSSLVerification: boolean;
    /** Tell APIM which revisions were deployed (and undeployed). */
    sendRevisionUpdate: boolean;
    /** Seconds between full re-pulls that reconcile anything an event missed (0: only after reconnects). */
    syncInterval: number;
    /** Seconds a single REST call may take. */
    requestTimeout: number;
    brokerConnectionParameters: {
      /** Tried in order: `amqp://user:pwd@host:5672?retries='10'&connectdelay='30'`. */
      eventListeningEndpoints: string[];
      /** Milliseconds between reconnect rounds (the delay doubles up to 60 s). */
      reconnectInterval: number;
      /** Rounds before giving up (-1: never). */
      reconnectRetryCount: number;
    };
  };
  enforcer: {
    host: string;
    port: number;
    httpPort: number;
    /** The adapter's xDS address. */
    adapterAddress: string;
    /** Largest Check request the ext_authz server accepts. */
    maxReceiveMessageSize: number;
    /** Largest xDS response accepted from the adapter (at least its `adapter.maxMessageSize`). */
    maxXdsMessageSize: number;
    /** The label this enforcer serves. */
    label: string;
    security: {
      /** Token issuers besides APIM's key managers (a key manager with the same issuer wins). */
      tokenService: TokenService[];
    };
    /** The backend JWT sent upstream about each allowed caller (CC's `[enforcer.jwtGenerator]`). */
    jwtGenerator: {
      enabled: boolean;
      header: string;
      /** PEM private key (RSA, EC P-256 or Ed25519); required when enabled. */
      privateKeyPath: string;
      publicCertificatePath: string;
      /** Seconds; the token never outlives the caller's. */
      tokenTTL: number;
      claimDialect: string;
    };
    /** Where revocations persist beyond the adapter: nowhere else, or etcd. */
    revocation: {
      store: 'none' | 'etcd';
      endpoints: string[];
      keyPrefix: string;
      timeoutMs: number;
      tls: { caFile: string; certFile: string; keyFile: string };
    };
    /** Rate-limit counters: in this enforcer, or shared in Redis. */
    throttling: {
      backend: 'local' | 'redis';
      redis: {
        /** redis:// or rediss:// (TLS); for a cluster, any one node. */
        url: string;
        cluster: boolean;
        password: string;
        tlsCaFile: string;
        keyPrefix: string;
        /** How long a decision waits for Redis before the failure policy applies. */
        timeoutMs: number;
        /** local: count in this enforcer meanwhile; deny: refuse limited requests meanwhile. */
        onFailure: 'local' | 'deny';
      };
    };
  };
  /** Without API Manager: the tiers API projects may name (none given: APIM's default tiers). */
  throttling: {
    policies: PolicyConfig[];
  };
  /**
   * TLS for every gRPC port (the adapter's xDS/admin port, the enforcer's ext_authz port) and for
   * the clients of those ports (the enforcer's xDS client, ctl). PEM files, re-read when they change.
   */
  tls: {
    /** This process's certificate (its chain after it) and key; both set turn TLS on. */
    certFile: string;
    keyFile: string;
    /** The CA that signs the peers: clients must present a certificate it signed, servers too. */
    caFile: string;
    /**
     * With caFile: the client certificates (a URI or DNS name in their subjectAltName, matched
     * exactly) the adapter sends the enforcer's resources to; "*" for any certificate the CA signed.
     */
    enforcerIdentities: string[];
    /** Listen beyond loopback without mutual TLS (warned at startup). */
    allowInsecureNonLoopback: boolean;
  };
  log: {
    level: 'error' | 'warn' | 'info' | 'debug';
  };
}

type Kind = 'string' | 'int' | 'bool' | 'string[]' | 'table[]';
interface KeySpec {
  kind: Kind;
  default: unknown;
  oneOf?: readonly string[];
  min?: number;
  max?: number;
  /** table[]: the schema of each table (`[[enforcer.security.tokenService]]`). */
  item?: Schema;
  /** A password, or URLs that may carry one: an error names the value's type, never the value. */
  secret?: boolean;
}

const str = (d: string, oneOf?: readonly string[]): KeySpec => ({ kind: 'string', default: d, oneOf });
const int = (d: number, min = 0, max?: number): KeySpec => ({ kind: 'int', default: d, min, max });
const MiB = 1024 * 1024;
/** A gRPC receive limit: room for a request naming thousands of resources, never tens of MiB (ARCHITECTURE rule 10). */
const receiveLimit = (): KeySpec => int(4 * MiB, 64 * 1024, 64 * MiB);
const bool = (d: boolean): KeySpec => ({ kind: 'bool', default: d });
const strs = (d: string[]): KeySpec => ({ kind: 'string[]', default: d });
const secret = (spec: KeySpec): KeySpec => ({ ...spec, secret: true });

/** Sections and keys: a key's spec, or a nested table (`[controlPlane.brokerConnectionParameters]`). */
interface Schema {
  [key: string]: KeySpec | Schema;
}
const isSpec = (x: KeySpec | Schema): x is KeySpec => typeof (x as KeySpec).kind === 'string';

const SCHEMA: Schema = {
  adapter: {
    host: str('127.0.0.1'),
    xdsPort: int(18000),
    httpPort: int(19085),
    maxMessageSize: int(64 * MiB, 4 * MiB),
    maxReceiveMessageSize: receiveLimit(),
    debounceMs: int(50),
    maxDelayMs: int(500),
    nodeGroupFrom: str('auto', ['auto', 'cluster', 'id']),
    lockStepTimeoutMs: int(5000),
    apisDirectory: str('apis'),
    maxDefinitionBytes: int(8 * 1024 * 1024, 1024),
    maxDefinitionNodes: int(750_000, 100),
    maxDefinitionDepth: int(100, 10),
    parseWorkers: int(0, 0, 64),
  },
  router: {
    listenerPort: int(9090),
    securedListenerPort: int(0),
    tlsCertFile: str(''),
    tlsKeyFile: str(''),
    tlsSdsSecret: str(''),
    defaultVhost: str('localhost'),
    enforcerCluster: str('ext-authz'),
    enforcerTimeoutMs: int(20000, 1),
    routeTimeoutMs: int(60000),
    routeIdleTimeoutMs: int(300000),
    clusterConnectTimeoutMs: int(20000, 1),
    retryStatusCodes: strs(['504']),
    trustedCaFile: str('/etc/ssl/certs/ca-certificates.crt'),
    useRemoteAddress: bool(true),
    mtlsApisEnabled: bool(false),
    pathWithEscapedSlashesAction: str('REJECT_REQUEST', ['REJECT_REQUEST', 'UNESCAPE_AND_REDIRECT']),
    // At least what the translator's own regexes need (the seven methods' :method matcher is 32).
    maxRegexProgramSize: int(100, 32),
    methodNotAllowed: str('fallthrough', ['fallthrough', '405']),
  },
  cors: {
    enabled: bool(true),
    allowOrigins: strs(['*']),
    allowMethods: strs(['GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS']),
    allowHeaders: strs(['authorization', 'Access-Control-Allow-Origin', 'Content-Type', 'SOAPAction', 'apikey', 'Internal-Key']),
    exposeHeaders: strs([]),
    allowCredentials: bool(false),
  },
  controlPlane: {
    enabled: bool(false),
    serviceURL: str('https://apim:9443/'),
    username: str('admin'),
    password: secret(str('')),
    environmentLabels: strs(['Default']),
    retryInterval: int(5, 1),
    skipSSLVerification: bool(false),
    sendRevisionUpdate: bool(false),
    syncInterval: int(300),
    requestTimeout: int(30, 1),
    brokerConnectionParameters: {
      eventListeningEndpoints: secret(strs(["amqp://admin:admin@apim:5672?retries='10'&connectdelay='30'"])),
      reconnectInterval: int(5000, 1),
      reconnectRetryCount: { kind: 'int', default: -1, min: -1 },
    },
  },
  enforcer: {
    host: str('127.0.0.1'),
    port: int(8081),
    httpPort: int(19086),
    adapterAddress: str('127.0.0.1:18000'),
    maxReceiveMessageSize: receiveLimit(),
    maxXdsMessageSize: int(64 * MiB, 4 * MiB),
    label: str('Default'),
    security: {
      tokenService: {
        kind: 'table[]',
        default: [],
        item: {
          name: str(''),
          issuer: str(''),
          certificateFilePath: str(''),
          jwksURL: str(''),
          consumerKeyClaim: str('azp'),
          validateSubscription: bool(true),
        },
      },
    },
    jwtGenerator: {
      enabled: bool(false),
      header: str('X-JWT-Assertion'),
      privateKeyPath: str(''),
      publicCertificatePath: str(''),
      tokenTTL: int(3600, 1),
      claimDialect: str('http://wso2.org/claims'),
    },
    revocation: {
      store: str('none', ['none', 'etcd']),
      endpoints: strs(['http://127.0.0.1:2379']),
      keyPrefix: str('/apim-connect/revoked/'),
      timeoutMs: int(3000, 100),
      tls: { caFile: str(''), certFile: str(''), keyFile: str('') },
    },
    throttling: {
      backend: str('local', ['local', 'redis']),
      redis: {
        url: secret(str('redis://127.0.0.1:6379')),
        cluster: bool(false),
        password: secret(str('')),
        tlsCaFile: str(''),
        keyPrefix: str('apimconnect:rl:'),
        timeoutMs: int(50, 1),
        onFailure: str('local', ['local', 'deny']),
      },
    },
  },
  throttling: {
    policies: {
      kind: 'table[]',
      default: [],
      item: {
        kind: str('subscription', ['api', 'subscription', 'application']),
        name: str(''),
        organization: str('carbon.super'),
        requests: int(0, 1),
        unitTime: int(1, 1),
        timeUnit: str('min', ['sec', 'min', 'hour', 'day']),
        burstRequests: int(0),
        burstTimeUnit: str('sec', ['sec', 'min']),
        stopOnQuotaReach: bool(true),
      },
    },
  },
  tls: {
    certFile: str(''),
    keyFile: str(''),
    caFile: str(''),
    enforcerIdentities: strs(['spiffe://apim-connect/enforcer']),
    allowInsecureNonLoopback: bool(false),
  },
  log: {
    level: str('info', ['error', 'warn', 'info', 'debug']),
  },
};

export class ConfigError extends Error {}

/** Loads a config file; a missing file is an error unless `optional` (then defaults apply). */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env, optional = false): Config {
  if (!fs.existsSync(file)) {
    if (optional) return parseConfig('', file, env);
    throw new ConfigError(`${file}: config file not found`);
  }
  return parseConfig(fs.readFileSync(file, 'utf8'), file, env);
}

export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): Config {
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(`${file}: ${(err as Error).message}`);
  }
  const config = table(doc, SCHEMA, '', file, env) as unknown as Config;
  checkPolicies(config.throttling.policies, file);
  checkTls(config.tls, file);
  return config;
}

/** `[tls]`: a certificate comes with its key, a CA to check peers needs a certificate of our own, enforcers are named. */
function checkTls(tls: Config['tls'], file: string): void {
  if (Boolean(tls.certFile) !== Boolean(tls.keyFile)) throw new ConfigError(`${file}: tls.certFile and tls.keyFile: set both or neither`);
  if (tls.caFile && !tls.certFile) throw new ConfigError(`${file}: tls.caFile needs tls.certFile and tls.keyFile (the certificate this process presents)`);
  const ids = tls.enforcerIdentities;
  if (ids.length === 0 || ids.some((id) => !id.trim())) {
    throw new ConfigError(`${file}: tls.enforcerIdentities: expected names the enforcers' certificates carry (a URI or DNS name), or ["*"] for any certificate tls.caFile signed`);
  }
}

/** What the schema cannot say of `[[throttling.policies]]`: a name, a request count, no tier twice. */
function checkPolicies(policies: readonly PolicyConfig[], file: string): void {
  const seen = new Set<string>();
  policies.forEach((p, i) => {
    const at = `${file}: throttling.policies[${i}]`;
    if (!p.name) throw new ConfigError(`${at}.name: required`);
    if (!(p.requests > 0)) throw new ConfigError(`${at}.requests: required (at least 1)`);
    const id = `${p.kind}:${p.organization}:${p.name}`;
    if (seen.has(id)) throw new ConfigError(`${at}: a second ${p.kind} policy named "${p.name}"`);
    seen.add(id);
  });
}

/** Checks one table against its schema: unknown keys refused, defaults filled in, types checked. */
function table(given: unknown, schema: Schema, at: string, file: string, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const where = at ? `[${at}]` : 'the file';
  if (typeof given !== 'object' || given === null || Array.isArray(given)) throw new ConfigError(`${file}: ${where} must be a table`);
  for (const key of Object.keys(given)) {
    if (!(key in schema)) {
      const known = Object.keys(schema).join(', ');
      throw new ConfigError(at ? `${file}: unknown key ${at}.${key} (known: ${known})` : `${file}: unknown section [${key}] (known: ${known})`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(schema)) {
    const path = at ? `${at}.${key}` : key;
    const raw = (given as Record<string, unknown>)[key];
    if (!isSpec(spec)) out[key] = table(raw ?? {}, spec, path, file, env);
    else if (spec.kind === 'table[]') {
      if (raw !== undefined && !Array.isArray(raw)) throw new ConfigError(`${file}: ${path}: expected [[${path}]] tables`);
      out[key] = ((raw as unknown[] | undefined) ?? []).map((item, i) => table(item, spec.item!, `${path}[${i}]`, file, env));
    } else out[key] = raw === undefined ? spec.default : check(substitute(raw, path, file, env), spec, `${file}: ${path}`);
  }
  return out;
}

function check(v: unknown, spec: KeySpec, where: string): unknown {
  const got = (): string => (spec.secret ? `${kindOf(v)} (not shown: it may hold a secret)` : JSON.stringify(v));
  switch (spec.kind) {
    case 'string':
      if (typeof v !== 'string') throw new ConfigError(`${where}: expected a string, got ${got()}`);
      if (spec.oneOf && !spec.oneOf.includes(v)) throw new ConfigError(`${where}: expected one of ${spec.oneOf.join(', ')}, got "${v}"`);
      return v;
    case 'int': {
      const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
      if (typeof n !== 'number' || !Number.isInteger(n)) throw new ConfigError(`${where}: expected an integer, got ${got()}`);
      if (n < (spec.min ?? 0)) throw new ConfigError(`${where}: must be at least ${spec.min}, got ${n}`);
      if (spec.max !== undefined && n > spec.max) throw new ConfigError(`${where}: must be at most ${spec.max}, got ${n}`);
      return n;
    }
    case 'bool':
      if (v === 'true' || v === 'false') return v === 'true';
      if (typeof v !== 'boolean') throw new ConfigError(`${where}: expected true or false, got ${got()}`);
      return v;
    case 'string[]':
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new ConfigError(`${where}: expected a list of strings, got ${got()}`);
      return v;
  }
}

/** What a value is, for errors about keys whose values must not be shown. */
function kindOf(v: unknown): string {
  if (Array.isArray(v)) {
    const odd = v.find((x) => typeof x !== 'string');
    return odd === undefined ? 'a list' : `a list holding ${kindOf(odd)}`;
  }
  if (v === null) return 'null';
  return typeof v === 'object' ? 'a table' : `a ${typeof v}`;
}

/** `$env{VAR}` anywhere in any string, several per string; an unset variable is an error. */
function substitute(v: unknown, key: string, file: string, env: NodeJS.ProcessEnv): unknown {
  if (typeof v === 'string') {
    return v.replace(/\$env\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const value = env[name];
      if (value === undefined) throw new ConfigError(`${file}: ${key} uses $env{${name}}, which is not set`);
      return value;
    });
  }
  if (Array.isArray(v)) return v.map((x) => substitute(x, key, file, env));
  return v;
}

/** A URL with its password replaced, for logs (`amqp://admin:***@apim:5672`). */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
}

/** Every URL in a text (an error message that quotes one) with its password replaced. */
export function redactUrlsIn(text: string): string {
  return text.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s'"]+/gi, (u) => redactUrl(u));
}
