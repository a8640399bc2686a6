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

export function prepareApi(api: Api, config: Config): PreparedApi {
  const router = translateApi(api, config);
  // Their versions too: the cache would otherwise hash every one of them on the event loop.
  const versioned = (r: EncodedResource): EncodedResource => ({ ...r, version: r.version ?? contentVersion(r.value) });
  return { router: { ...router, clusters: router.clusters.map(versioned) }, enforcer: versioned(enforcerApi(api)), print: fingerprint(api) };
}

/** Gives `api` (the clone of what `prepared` was made from) its prepared parts, as if made here. */
export function adoptPrepared(api: Api, prepared: PreparedApi, translator: Translator, enforcer: EnforcerTranslator): void {
  translator.adopt(api, prepared.router);
  enforcer.adopt(api, prepared.enforcer);
  rememberFingerprint(api, prepared.print);
}
