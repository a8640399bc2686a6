import { ConfigError } from '../config/config';
import { ApimError } from '../sources/apim/rest';
import { CtlError } from './ctl';

/** What a command that failed prints and exits with: a config, APIM or ctl error plainly (2), anything else with its stack (1). */
export function fatal(err: Error): { message: string; code: number } {
  const clear = err instanceof ConfigError || err instanceof ApimError || err instanceof CtlError;
  return { message: `apim-connect: ${clear ? err.message : (err.stack ?? err.message)}\n`, code: clear ? 2 : 1 };
}
