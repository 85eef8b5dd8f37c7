// Logging convention: pino, JSON lines to stdout, one child logger per component.

import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: LevelWithSilent;
  /** Where log lines go; default stdout. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(component: string, options: LoggerOptions = {}): Logger {
  const level = options.level ?? ((process.env.EW_LOG_LEVEL as LevelWithSilent | undefined) || 'info');
  const base = { component };
  return options.destination ? pino({ level, base }, options.destination) : pino({ level, base });
}
