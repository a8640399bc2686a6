import { ConfigError } from '../config/config';
import { ApimError } from '../sources/apim/rest';
import { CtlError } from './ctl';

/**
 * What a command that failed prints and exits with: a config, APIM or ctl error, or a command
 * line util.parseArgs refused (an unknown option), plainly (2); anything else with its stack (1).
 */
export function fatal(err: Error): { message: string; code: number } {
  const clear = err instanceof ConfigError || err instanceof ApimError || err instanceof CtlError || String((err as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS_');
  return { message: `apim-connect: ${clear ? err.message : (err.stack ?? err.message)}\n`, code: clear ? 2 : 1 };
}
