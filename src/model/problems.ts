import type { SkippedRoute } from './api';

/**
 * Something the gateway could not serve and why: an API project that does not parse, an API
 * whose Envoy config is invalid as a whole or has nothing left to serve (quarantined: left out
 * while everything else is served), or an API served without some of its paths or operations
 * (partial).
 */
export interface Problem {
  kind: 'project' | 'quarantined' | 'partial';
  /** The label (node group) an API was translated for. */
  group?: string;
  apiId?: string;
  apiName?: string;
  apiVersion?: string;
  /** Where it came from: a file (with line where known) or an APIM revision. */
  source: string;
  reasons: string[];
  /** The paths and operations of the API that are not served, each with why. */
  skipped?: SkippedRoute[];
  since: Date;
}

/** One left-out path or operation on one line: `GET /files/{id}#copy (swagger.json:12): why`. */
export function skippedLine(s: SkippedRoute): string {
  return `${s.method ? `${s.method} ` : ''}${s.path}${s.at ? ` (${s.at})` : ''}: ${s.reason}`;
}
