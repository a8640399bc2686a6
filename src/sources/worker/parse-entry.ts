import { workerData } from 'worker_threads';
import type { Api } from '../../model/api';
import { prepareApi } from '../../translate/prepare';
import { apisFromArtifacts } from '../apim/artifacts';
import { readAndParse } from '../local/read';
import type { ArtifactsReply, ParseCall, ParseWorkerData, ProjectReply } from './parse-calls';
import { toFields } from './parse-calls';
import { serveCalls } from './thread';

const { prepareWith } = (workerData ?? {}) as ParseWorkerData;

/**
 * The parser worker's script: reads and parses API projects and runtime-artifact zips. Given a
 * config, it also prepares each parsed API (translate/prepare.ts), so that the event loop only
 * adopts the result.
 */
serveCalls((call: ParseCall): ProjectReply | ArtifactsReply => {
  if (call.kind === 'project') {
    const read = readAndParse(call.root, call.name, call.source, call.known, call.options);
    return { hash: read.hash, api: read.api, prepared: read.api && prepared(read.api), error: read.error && toFields(read.error) };
  }
  const result = apisFromArtifacts(call.zip, call.options, call.source);
  return { ...result, errors: result.errors.map(toFields), warnings: result.warnings.map(toFields) };
});

/** Undefined without a config, or when preparing fails: the event loop then does it, and reports what fails. */
function prepared(api: Api): unknown {
  if (!prepareWith) return undefined;
  try {
    return prepareApi(api, prepareWith);
  } catch {
    return undefined;
  }
}
