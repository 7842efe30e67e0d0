import type { LoadedConfig } from '../config/load.js';
import { loadConfigOffThread } from '../config/load-thread.js';
import { createLogger, type Logger } from '../ops/logger.js';
import { ConfigError } from '../errors.js';

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

export const stdio: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/**
 * Loads the config or prints every problem; `undefined` means exit 2. On a thread of its own, so
 * that the validator is not resident in the running relay (config/load-thread.ts). `started`: that
 * same read of `file`, already running (cli/early-config.ts).
 */
export async function loadOrReport(file: string, io: Io, started?: Promise<LoadedConfig>): Promise<LoadedConfig | undefined> {
  try {
    const loaded = await (started ?? loadConfigOffThread(file));
    for (const w of loaded.warnings) io.err(`warning: ${w}`);
    return loaded;
  } catch (err: unknown) {
    if (err instanceof ConfigError) {
      io.err(err.message);
      return undefined;
    }
    throw err;
  }
}

export function loggerFor(loaded: LoadedConfig): Logger {
  return createLogger({ level: loaded.config.log.level, file: loaded.config.log.file });
}
