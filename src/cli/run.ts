import { mkdir } from 'node:fs/promises';
import type { LoadedConfig } from '../config/load.js';
import type { Logger } from '../ops/logger.js';
import { Metrics } from '../ops/metrics.js';
import { DeadLetterFile } from '../ops/dead-letter.js';
import { startOpsServer } from '../ops/http.js';
import { Pipeline } from '../pipeline/index.js';
import { buildDestinations, buildRouter, buildSources, deadLetterPath } from './build.js';
import { buildHandoff } from '../pipeline/build-handoff.js';
import { errorMessage } from '../errors.js';
import { VERSION } from '../version.js';

/** `duo-relay run`: resolves with the exit code once the relay has stopped. */
export async function runRelay(loaded: LoadedConfig, logger: Logger, signals: NodeJS.EventEmitter = process): Promise<number> {
  const { config } = loaded;
  await mkdir(config.state_dir, { recursive: true, mode: 0o750 });
  const metrics = new Metrics({ defaultMetrics: true });
  const deadLetters = new DeadLetterFile(deadLetterPath(config), logger, (source) => metrics.deadLetters.inc({ source }));
  const destinations = buildDestinations(config, logger, metrics);
  const handoff = await buildHandoff(config, destinations, metrics, logger);
  const pipeline = new Pipeline({ router: buildRouter(config), handoff, deadLetters, metrics, logger });
  const sources = buildSources(loaded, logger, deadLetters);
  if (config.metrics_listen !== undefined) {
    await startOpsServer(config.metrics_listen, metrics, () => true);
    logger.info({ listen: config.metrics_listen }, 'Metrics and health endpoints are up.');
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) {
        logger.warn({ signal }, 'Second signal: stopping now without draining.');
        pipeline.destroy();
        resolve(1);
        return;
      }
      stopping = true;
      logger.info({ signal, timeoutMs: config.shutdown_timeout_ms }, 'Stopping: no new reads, flushing, writing checkpoints.');
      pipeline.close(config.shutdown_timeout_ms).then(
        () => {
          logger.info('Stopped cleanly.');
          resolve(0);
        },
        (err: unknown) => {
          logger.error({ err: errorMessage(err) }, 'Shutdown failed; uncommitted records are read again on the next start.');
          resolve(1);
        },
      );
    };
    signals.once('SIGTERM', () => stop('SIGTERM'));
    signals.once('SIGINT', () => stop('SIGINT'));
    pipeline.start(sources).then(
      () => logger.info({ version: VERSION, sources: sources.map((s) => s.name), destinations: destinations.map((d) => d.name) }, 'Relay started.'),
      (err: unknown) => {
        logger.error({ err: errorMessage(err) }, 'Relay failed to start.');
        pipeline.destroy();
        resolve(1);
      },
    );
  });
}
