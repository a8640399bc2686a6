import type { Config } from '../config/config';
import { contentVersion } from '../envoy/protoWire';
import type { Api } from '../model/api';
import { fingerprint, rememberFingerprint } from '../model/keyed';
import { enforcerApi, type EnforcerTranslator } from './enforcer';
import { translateApi, type ApiOutput, type EncodedResource, type Translator } from './translate';

/**
 * Everything the adapter derives from one API alone: its router resources, its enforcer resource
 * and its fingerprint. Pure, and structured-cloneable, so a parser worker makes it beside the
 * parse (ARCHITECTURE.md rule 12) and the event loop only adopts it: for an API of a thousand
 * routes that is a few milliseconds of cloning instead of a few hundred of encoding.
 */
export interface PreparedApi {
  router: ApiOutput;
  enforcer: EncodedResource;
  print: string;
}

/** This module, as a parser worker loads it (sources/worker PrepareHook). */
export const PREPARE_MODULE = __filename.replace(/\.[jt]s$/, '');

export function prepareApi(api: Api, config: Config): PreparedApi {
  const router = translateApi(api, config);
  // Their versions too: the cache would otherwise hash every one of them on the event loop.
  const resource = (r: EncodedResource): EncodedResource => ({ name: r.name, value: r.value instanceof Uint8Array ? own(r.value) : r.value.map(own), version: r.version ?? contentVersion(r.value) });
  const framed = (f: ApiOutput['routes']): ApiOutput['routes'] => ({ bytes: own(f.bytes), digest: own(f.digest) });
  return {
    router: { ...router, clusters: router.clusters.map(resource), routes: framed(router.routes), defaultRoutes: framed(router.defaultRoutes) },
    enforcer: resource(enforcerApi(api)),
    print: fingerprint(api),
  };
}

/**
 * Bytes in a buffer of their own size. A structured clone copies a view's whole buffer, and a
 * small Buffer is a view into an 8 KiB pool: each cluster would cross, and stay, as 8 KiB.
 */
function own(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : new Uint8Array(bytes);
}

/** Gives `api` (the clone of what `prepared` was made from) its prepared parts, as if made here. */
export function adoptPrepared(api: Api, prepared: PreparedApi, translator: Translator, enforcer: EnforcerTranslator): void {
  translator.adopt(api, prepared.router);
  enforcer.adopt(api, prepared.enforcer);
  rememberFingerprint(api, prepared.print);
}
