import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * The relay's own log: JSON lines to stderr (journald) or a file. Messages are capitalised
 * sentences ending in a period; fields stay separate. Secrets are redacted by key name.
 */
export function createLogger(opts: { level?: LevelWithSilent; file?: string | undefined } = {}): Logger {
  const destination = opts.file !== undefined ? pino.destination({ dest: opts.file, mkdir: true, sync: false }) : pino.destination(2);
  return pino(
    {
      level: opts.level ?? 'info',
      base: { pid: process.pid },
      redact: { paths: ['skey', '*.skey', 'key', '*.key', 'authorization', '*.authorization', 'headers.authorization'], censor: '[redacted]' },
    },
    destination,
  );
}

/** A logger that writes nothing (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
