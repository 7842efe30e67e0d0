import { parseCliArgs, HELP, COMMANDS } from './args.js';
import type { EarlyConfig } from './early-config.js';
import { stdio, loadOrReport, loggerFor, type Io } from './context.js';
import { LOG_KINDS, type LogKind } from '../event.js';
import { VERSION } from '../version.js';
import { errorMessage } from '../errors.js';

function isKind(v: string): v is LogKind {
  return (LOG_KINDS as readonly string[]).includes(v);
}

function timeoutArg(v: string | undefined, def: number): number | undefined {
  if (v === undefined) return def;
  const n = Number(v);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/**
 * The CLI as a function: argv in, exit code out (0 ok, 1 not delivered/failed, 2 usage or config error).
 * `early`: the config read main.ts started for the same argv (early-config.ts).
 */
export async function main(argv: string[], io: Io = stdio, early?: EarlyConfig): Promise<number> {
  let args;
  try {
    args = parseCliArgs(argv);
  } catch (err: unknown) {
    io.err(`${errorMessage(err)}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = args;
  if (values.version) {
    io.out(VERSION);
    return 0;
  }
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === 'help') {
    io.out(HELP);
    return command === undefined && !values.help ? 2 : 0;
  }
  if (!(COMMANDS as readonly string[]).includes(command)) {
    io.err(`Unknown command "${command}". Commands: ${COMMANDS.join(', ')}.`);
    return 2;
  }
  if (values.type !== undefined && !isKind(values.type)) {
    io.err(`--type ${values.type}: expected one of ${LOG_KINDS.join(', ')}.`);
    return 2;
  }
  // `run` loads its modules on this thread while the config is validated on its own (start-up time).
  const runModule = command === 'run' ? import('./run.js') : undefined;
  runModule?.catch(() => undefined);
  const loaded = await loadOrReport(values.config, io, early?.file === values.config ? early.loaded : undefined);
  if (loaded === undefined) return 2;
  // Each command's modules load when it runs (start-up time and memory of the long-running `run`).
  if (command === 'check-config') return (await import('./check.js')).describeConfig(loaded, io);
  const logger = loggerFor(loaded);
  switch (command) {
    case 'run':
      return (await (runModule ?? import('./run.js'))).runRelay(loaded, logger);
    case 'replay': {
      const file = rest[0];
      const timeoutMs = timeoutArg(values['timeout-ms'], 120_000);
      if (file === undefined || timeoutMs === undefined) {
        io.err('replay: give a FILE (or - for stdin), and --timeout-ms as a positive integer.');
        return 2;
      }
      const { replay } = await import('./replay.js');
      const opts: Parameters<typeof replay>[3] = { file, timeoutMs };
      if (values.type !== undefined && isKind(values.type)) opts.kind = values.type;
      return replay(loaded, logger, io, opts);
    }
    case 'test-destination': {
      const timeoutMs = timeoutArg(values['timeout-ms'], 15_000);
      if (timeoutMs === undefined) return 2;
      return (await import('./check.js')).testDestinations(loaded, logger, io, timeoutMs);
    }
    default: {
      if (values.since === undefined || !/^\d+[smhd]$/.test(values.since)) {
        io.err('backfill: --since DURATION is required, e.g. --since 30d (at most 180d).');
        return 2;
      }
      return (await import('./backfill.js')).backfill(loaded, logger, io, values.since);
    }
  }
}
