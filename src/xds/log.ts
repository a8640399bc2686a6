/** The logging the xDS layer needs; winston's logger satisfies it, tests pass a silent one. */
export interface Log {
  debug(message: string, meta?: object): void;
  info(message: string, meta?: object): void;
  warn(message: string, meta?: object): void;
  error(message: string, meta?: object): void;
  /** winston's: lets a hot path skip building what a debug line would say. */
  isDebugEnabled?(): boolean;
}

export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };
