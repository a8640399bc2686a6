import * as winston from 'winston';
import { Pipeline } from '../../src/cli/pipeline';
import { parseConfig } from '../../src/config/config';
import { unpackAny } from '../../src/envoy/any';
import { ENFORCER_API, ROUTE } from '../../src/envoy/typeUrls';
import { SnapshotCache } from '../../src/xds/cache';
import { api } from '../helpers/apis';

/**
 * What the enforcers are given follows what the routers serve: a quarantined API never reaches
 * them, in the lock-step order of ARCHITECTURE.md rule 5 (enforcers learn an API before its
 * routes go live and forget it after they are gone).
 */

const LABEL = 'Default';
const config = parseConfig('', 'test.toml');

function setup(): { cache: SnapshotCache; pipeline: Pipeline; release: () => Promise<void>; waiting: () => number } {
  const cache = new SnapshotCache();
  // Every lock-step wait is held until the test releases it, so each phase can be looked at.
  const gates: Array<() => void> = [];
  const pipeline = new Pipeline(cache, config, winston.createLogger({ silent: true }), () => new Promise((resolve) => gates.push(() => resolve([]))));
  const release = async (): Promise<void> => {
    gates.shift()!();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { cache, pipeline, release, waiting: () => gates.length };
}

const enforcerApis = (cache: SnapshotCache): string[] => [...(cache.typeSet(LABEL, ENFORCER_API)?.entries.keys() ?? [])].sort();

function routedApis(cache: SnapshotCache): string[] {
  const entry = cache.get(LABEL, ROUTE, 'default');
  if (!entry) return [];
  const rc = unpackAny({ type_url: ROUTE, value: entry.value }) as { virtual_hosts: Array<{ routes: Array<{ metadata?: { filter_metadata: Record<string, { apiId: string }> } }> }> };
  const ids = rc.virtual_hosts.flatMap((vh) => vh.routes.map((r) => r.metadata?.filter_metadata['apimconnect.route']?.apiId)).filter((id): id is string => id !== undefined);
  return [...new Set(ids)].sort();
}

test('an API quarantined by the router translation is not sent to the enforcers; it is once it is served', async () => {
  const { cache, pipeline, release, waiting } = setup();
  const first = api({ id: 'first' });
  // Same vhost and base path as `first`: quarantined while `first` holds them.
  const second = api({ id: 'second', name: 'PetStore2', basePath: first.basePath });

  pipeline.apply([{ kind: 'ApiDeployed', api: first }, { kind: 'ApiDeployed', api: second }]);
  expect(pipeline.problems().map((p) => p.apiId)).toEqual(['second']);
  // Enforcers first: they know the served API only; no route is live yet.
  expect(enforcerApis(cache)).toEqual(['first']);
  expect(routedApis(cache)).toEqual([]);
  await release();
  expect(routedApis(cache)).toEqual(['first']);
  expect(enforcerApis(cache)).toEqual(['first']);
  expect(waiting()).toBe(0);

  // `first` goes: `second` is served now. The enforcers learn it before the routers route it and
  // forget `first` only after the routers have dropped its routes.
  pipeline.apply([{ kind: 'ApiUndeployed', apiId: 'first' }]);
  expect(pipeline.problems()).toEqual([]);
  expect(enforcerApis(cache)).toEqual(['first', 'second']);
  expect(routedApis(cache)).toEqual(['first']);
  await release();
  expect(routedApis(cache)).toEqual(['second']);
  expect(enforcerApis(cache)).toEqual(['first', 'second']);
  await release();
  expect(enforcerApis(cache)).toEqual(['second']);
  await pipeline.settled();
});

test('a served API that becomes quarantined is forgotten by the enforcers after the routers drop it', async () => {
  const { cache, pipeline, release } = setup();
  const good = api({ id: 'good' });
  pipeline.apply([{ kind: 'ApiDeployed', api: good }]);
  await release();
  expect([enforcerApis(cache), routedApis(cache)]).toEqual([['good'], ['good']]);

  // A port Envoy refuses: the API's config is invalid as a whole.
  const broken = api({ id: 'good', endpoints: { production: { ...good.endpoints.production!, urls: [{ ...good.endpoints.production!.urls[0], port: 70000 }] } } });
  pipeline.apply([{ kind: 'ApiDeployed', api: broken }]);
  expect(pipeline.problems().map((p) => p.apiId)).toEqual(['good']);
  // Nothing new for the enforcers: the routers drop it at once, the enforcers once they have.
  expect(routedApis(cache)).toEqual([]);
  expect(enforcerApis(cache)).toEqual(['good']);
  await release();
  expect(enforcerApis(cache)).toEqual([]);
  await pipeline.settled();
});
