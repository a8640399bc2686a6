/**
 * Something the gateway could not serve and why: an API project that does not parse, or an
 * API whose Envoy config is invalid (quarantined: left out while everything else is served).
 */
export interface Problem {
  kind: 'project' | 'quarantined';
  /** The label (node group) a quarantined API was left out of. */
  group?: string;
  apiId?: string;
  apiName?: string;
  apiVersion?: string;
  /** Where it came from: a file (with line where known) or an APIM revision. */
  source: string;
  reasons: string[];
  since: Date;
}
