import { workerData } from 'worker_threads';
import type { Config } from '../../config/config';
import type { Api } from '../../model/api';
import { apisFromArtifacts } from '../apim/artifacts';
import { readAndParse } from '../local/read';
import type { ArtifactsReply, ParseCall, ParseWorkerData, ProjectReply } from './parse-calls';
import { toFields } from './parse-calls';
import { serveCalls } from './thread';

const { prepare } = (workerData ?? {}) as ParseWorkerData;
const prepareApi = prepare && (require(prepare.module) as { prepareApi: (api: Api, config: Config) => unknown }).prepareApi;

/**
 * The parser worker's script: reads and parses API projects and runtime-artifact zips. Given a
 * prepare hook, it also prepares each parsed API with it, so that the event loop only adopts the
 * result.
 */
serveCalls((call: ParseCall): ProjectReply | ArtifactsReply => {
  if (call.kind === 'project') {
    const read = readAndParse(call.root, call.name, call.source, call.known, call.options);
    return { hash: read.hash, api: read.api, prepared: read.api && prepared(read.api), error: read.error && toFields(read.error), notes: read.notes?.map(toFields) };
  }
  const result = apisFromArtifacts(call.zip, call.options, call.source);
  return { ...result, errors: result.errors.map(toFields), warnings: result.warnings.map(toFields), ...(prepare ? { prepared: result.apis.map(prepared) } : {}) };
});

/** Undefined without a hook, or when preparing fails: the event loop then does it, and reports what fails. */
function prepared(api: Api): unknown {
  if (!prepare || !prepareApi) return undefined;
  try {
    return prepareApi(api, prepare.config);
  } catch {
    return undefined;
  }
}
