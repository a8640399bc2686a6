import type { Api, Resource } from '../model/api';

/**
 * What the enforcers of a label must know while its routers move from the routes of `live` to
 * those of `next` (ARCHITECTURE.md rule 5): every API, resource and operation of either, with
 * `next`'s settings where both have it. Returns `next` itself when the routers lose nothing, and
 * keeps each API that loses nothing as it is. Pure.
 */
export function bridgeApis(live: readonly Api[], next: readonly Api[]): readonly Api[] {
  const before = new Map(live.map((a) => [a.id, a]));
  const out = next.map((api) => {
    const old = before.get(api.id);
    before.delete(api.id);
    return old && old !== api ? bridgeApi(old, api) : api;
  });
  return before.size === 0 && out.every((a, i) => a === next[i]) ? next : [...out, ...before.values()];
}

function bridgeApi(old: Api, next: Api): Api {
  const byPath = new Map(next.resources.map((r) => [r.path, r]));
  let changed = false;
  const resources: Resource[] = [...next.resources];
  for (const was of old.resources) {
    const now = byPath.get(was.path);
    if (!now) {
      resources.push(was);
      changed = true;
      continue;
    }
    const gone = was.operations.filter((o) => !now.operations.some((n) => n.method === o.method));
    if (gone.length === 0) continue;
    resources[resources.indexOf(now)] = { ...now, operations: [...now.operations, ...gone] };
    changed = true;
  }
  return changed ? { ...next, resources } : next;
}
