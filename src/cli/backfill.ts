import type { LoadedConfig } from '../config/load.js';
import type { Logger } from '../ops/logger.js';
import type { Io } from './context.js';
import { nullMetrics } from '../ops/relay-metrics.js';
import { DeadLetterFile } from '../ops/dead-letter.js';
import { Pipeline } from '../pipeline/index.js';
import { buildDestinations, buildRouter, deadLetterPath } from './build.js';
import { buildHandoff } from '../pipeline/build-handoff.js';
import { runBackfill } from '../sources/duo-api/index.js';
import { errorMessage } from '../errors.js';
import { USER_AGENT } from '../version.js';

/** `backfill --since 30d`: history from every duo-api source, through the normal pipeline and cursors. */
export async function backfill(loaded: LoadedConfig, logger: Logger, io: Io, since: string): Promise<number> {
  const { config } = loaded;
  const apis = config.sources.map((s, i) => [s, i] as const).filter(([s]) => s.type === 'duo-api');
  if (apis.length === 0) {
    io.err('backfill: the config has no duo-api source.');
    return 2;
  }
  // Nothing serves metrics during a one-off command.
  const metrics = nullMetrics();
  const deadLetters = new DeadLetterFile(deadLetterPath(config), logger);
  const destinations = buildDestinations(config, logger, metrics);
  const handoff = await buildHandoff(config, destinations, metrics, logger);
  const pipeline = new Pipeline({ router: buildRouter(config), handoff, deadLetters, metrics, logger });
  await pipeline.start([]);
  let code = 0;
  for (const [s, i] of apis) {
    if (s.type !== 'duo-api') continue;
    const skey = loaded.skeys.get(i) ?? '';
    try {
      const r = await runBackfill(s, { stateDir: config.state_dir, logger, skey, userAgent: USER_AGENT, since, emit: pipeline.emitFor(s.name ?? s.host), progress: (line) => io.err(line) });
      io.err(`backfill ${s.host}: ${r.events} events, ${r.pages} pages, ${r.requests} requests.`);
    } catch (err: unknown) {
      io.err(`backfill ${s.host}: ${errorMessage(err)}`);
      code = 1;
    }
  }
  await pipeline.close(config.shutdown_timeout_ms);
  return code;
}
