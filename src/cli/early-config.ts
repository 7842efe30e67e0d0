/**
 * Starts the config thread (config/load-thread.ts) before the CLI's own modules load.
 *
 * The thread needs ~100 ms to boot and load the validator; the relay cannot connect to its SIEM
 * before the config is known, and a new connection's first batch waits settle_ms from then on.
 * Started from main.ts ahead of the module graph, the thread boots while that graph loads
 * (~20–35 ms sooner to the first connection, measured by A/B start timelines). This module
 * imports only the argument parser and the thread launcher, so it adds nothing to that path.
 */
import { COMMANDS, parseCliArgs } from './args.js';
import { loadConfigOffThread } from '../config/load-thread.js';
import type { LoadedConfig } from '../config/load.js';

export interface EarlyConfig {
  /** The --config path the thread was started for. */
  file: string;
  /** loadConfigOffThread(file), already running. */
  loaded: Promise<LoadedConfig>;
}

/**
 * Starts reading the config when argv names a command that needs one; undefined otherwise (help,
 * version, a usage error: main() reports those itself and never waits for a config).
 */
export function startConfigEarly(argv: string[]): EarlyConfig | undefined {
  let args;
  try {
    args = parseCliArgs(argv);
  } catch {
    return undefined;
  }
  const { values, positionals } = args;
  const command = positionals[0];
  if (values.help || values.version || command === undefined || !(COMMANDS as readonly string[]).includes(command)) return undefined;
  const loaded = loadConfigOffThread(values.config);
  // main() awaits and reports it; a usage error found there first must not leave it unhandled.
  loaded.catch(() => undefined);
  return { file: values.config, loaded };
}
