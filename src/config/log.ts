import * as winston from 'winston';

/**
 * Structured logs: JSON lines when stdout is not a terminal (containers, CI), a readable line
 * per entry when it is.
 */
export function createLogger(level: string, component: string): winston.Logger {
  const format = process.stdout.isTTY
    ? winston.format.combine(
        winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
        winston.format.colorize(),
        winston.format.printf(({ timestamp, level: lvl, message, component: c, ...meta }) => {
          const rest = Object.keys(meta).length ? ` ${JSON.stringify(meta)}` : '';
          return `${timestamp} ${lvl} [${c}] ${message}${rest}`;
        }),
      )
    : winston.format.combine(winston.format.timestamp(), winston.format.json());
  // A child (not defaultMeta) carries the component, so children of it can name their own.
  return winston.createLogger({ level, format, transports: [new winston.transports.Console()] }).child({ component });
}
