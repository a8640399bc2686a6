import { ConfigError } from '../config/config';
import { ApimError } from '../sources/apim/rest';

/** What a command that failed prints and exits with: a config or APIM error plainly (2), anything else with its stack (1). */
export function fatal(err: Error): { message: string; code: number } {
  const clear = err instanceof ConfigError || err instanceof ApimError;
  return { message: `apim-connect: ${clear ? err.message : (err.stack ?? err.message)}\n`, code: clear ? 2 : 1 };
}
