/** The logging the xDS layer needs; winston's logger satisfies it, tests pass a silent one. */
export interface Log {
  debug(message: string, meta?: object): void;
  info(message: string, meta?: object): void;
  warn(message: string, meta?: object): void;
  error(message: string, meta?: object): void;
}

export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };
