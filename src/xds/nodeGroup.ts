/**
 * Which node group (gateway environment label) serves a client.
 * - `cluster`: node.cluster, as Envoy Gateway-style bootstraps set it.
 * - `id`: node.id, as Choreo Connect's router bootstrap does (ROUTER_LABEL).
 * - `auto` (default): node.cluster when it names a known group, else node.id when that does,
 *   else node.cluster (a group that may appear later).
 */
export type GroupFrom = 'auto' | 'cluster' | 'id';

export interface NodeIdentity {
  id: string;
  cluster: string;
}

export function nodeGroup(node: NodeIdentity, isKnown: (group: string) => boolean, from: GroupFrom): string {
  switch (from) {
    case 'cluster':
      return node.cluster || node.id;
    case 'id':
      return node.id || node.cluster;
    case 'auto':
      if (node.cluster && isKnown(node.cluster)) return node.cluster;
      if (node.id && isKnown(node.id)) return node.id;
      return node.cluster || node.id;
  }
}
