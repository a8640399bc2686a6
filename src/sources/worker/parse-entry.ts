import { apisFromArtifacts } from '../apim/artifacts';
import { readAndParse } from '../local/read';
import type { ArtifactsReply, ParseCall, ProjectReply } from './parse-calls';
import { toFields } from './parse-calls';
import { serveCalls } from './thread';

/** The parser worker's script: reads and parses API projects and runtime-artifact zips. */
serveCalls((call: ParseCall): ProjectReply | ArtifactsReply => {
  if (call.kind === 'project') {
    const read = readAndParse(call.root, call.name, call.source, call.known, call.options);
    return { hash: read.hash, api: read.api, error: read.error && toFields(read.error) };
  }
  const result = apisFromArtifacts(call.zip, call.options, call.source);
  return { ...result, errors: result.errors.map(toFields), warnings: result.warnings.map(toFields) };
});
