/** A pino logger whose JSON lines are kept for assertions (level, msg and the bound fields). */
import { pino, type Logger } from 'pino';

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export function capture(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines };
}
