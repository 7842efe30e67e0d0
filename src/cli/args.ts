import { parseArgs } from 'node:util';
import { DEFAULT_CONFIG_PATH } from '../config/paths.js';
import { LOG_KINDS } from '../event.js';

export const HELP = `Usage: duo-relay <command> [options]

Collects Duo Security logs and relays them to syslog SIEMs (RFC 5424 over TCP/TLS/RELP).

Commands:
  run                      Run the relay (the systemd service runs this).
  check-config             Validate the config; print every problem with its path; exit 2 if any.
  replay [FILE|-]          Send JSON lines once through the router to every destination;
                           exit 0 only when all were delivered.
  test-destination         Send one test event to each destination and report clearly.
  backfill --since DUR     Pull history (e.g. 30d, at most 180d) from the Duo Admin API.

Options:
  -c, --config PATH        Config file (default ${DEFAULT_CONFIG_PATH}).
  -t, --type KIND          replay: the log kind of every line (${LOG_KINDS.join(', ')});
                           default: classify each line by its shape.
      --since DURATION     backfill: how far back (s, m, h, d units).
      --timeout-ms N       replay/test-destination: give up after N ms (default 120000 / 15000).
  -v, --version            Print the version.
  -h, --help               Print this help.

Exit codes: 0 ok, 1 not everything was delivered / a probe failed, 2 configuration error.
`;

/** Every command; each one reads the config. */
export const COMMANDS = ['run', 'check-config', 'replay', 'test-destination', 'backfill'] as const;

const options = {
  config: { type: 'string', short: 'c', default: DEFAULT_CONFIG_PATH },
  type: { type: 'string', short: 't' },
  since: { type: 'string' },
  'timeout-ms': { type: 'string' },
  version: { type: 'boolean', short: 'v', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export function parseCliArgs(argv: string[]): ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true; args: string[] }>> {
  return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
}

export type CliArgs = ReturnType<typeof parseCliArgs>;
