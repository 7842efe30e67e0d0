import { mkdir } from 'node:fs/promises';
import type { LoadedConfig } from '../config/load.js';
import type { Logger } from '../ops/logger.js';
import { nullMetrics, type RelayMetrics } from '../ops/relay-metrics.js';
import { DeadLetterFile } from '../ops/dead-letter.js';
import { Pipeline } from '../pipeline/index.js';
import { buildDestinations, buildRouteThread, buildRouter, buildSources, deadLetterPath } from './build.js';
import { buildHandoff } from '../pipeline/build-handoff.js';
import { errorMessage } from '../errors.js';
import { VERSION } from '../version.js';

/** Grace past shutdown_timeout_ms before a stuck shutdown is cut short (a bug, never the normal path). */
const HARD_EXIT_GRACE_MS = 1000;

/**
 * `duo-relay run`: resolves with the exit code once the relay has stopped.
 *
 * `exit` ends the process at once: the second signal, and the safety net when shutdown overruns
 * its deadline or something keeps the event loop alive after a clean stop. It defaults to
 * process.exit only when the signals are the process's own (in-process tests pass an emitter).
 */
export async function runRelay(
  loaded: LoadedConfig,
  logger: Logger,
  signals: NodeJS.EventEmitter = process,
  exit: ((code: number) => void) | undefined = signals === process ? (code) => process.exit(code) : undefined,
): Promise<number> {
  const { config } = loaded;
  await mkdir(config.state_dir, { recursive: true, mode: 0o750 });
  // prom-client and the HTTP server are loaded only when someone can read the metrics.
  const served = config.metrics_listen !== undefined ? new (await import('../ops/metrics.js')).Metrics({ defaultMetrics: true }) : undefined;
  const metrics: RelayMetrics = served ?? nullMetrics();
  const deadLetters = new DeadLetterFile(deadLetterPath(config), logger, (source) => metrics.deadLetters.inc({ source }));
  const destinations = buildDestinations(config, logger, metrics);
  const handoff = await buildHandoff(config, destinations, metrics, logger);
  const routeThread = await buildRouteThread(config, logger, destinations);
  const pipeline = new Pipeline({ router: buildRouter(config), handoff, deadLetters, metrics, logger, ...(routeThread !== undefined ? { routeThread } : {}) });
  const sources = await buildSources(loaded, logger, deadLetters);
  if (config.metrics_listen !== undefined && served !== undefined) {
    const { startOpsServer } = await import('../ops/http.js');
    await startOpsServer(config.metrics_listen, served, () => true);
    logger.info({ listen: config.metrics_listen }, 'Metrics and health endpoints are up.');
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    let done = false;
    const finish = (code: number, hard: boolean): void => {
      if (done) return;
      done = true;
      resolve(code);
      if (exit === undefined) return;
      // Pending log lines first (the file destination is asynchronous), with a bound.
      const end = (): void => exit(code);
      if (hard) {
        setTimeout(end, 200).unref();
        logger.flush(end);
      } else {
        // A clean stop leaves nothing running; a handle someone forgot must not hold the exit.
        setTimeout(end, HARD_EXIT_GRACE_MS).unref();
      }
    };
    const stop = (signal: string): void => {
      if (stopping) {
        logger.warn({ signal }, 'Second signal: stopping now without draining; queued records are delivered on the next start.');
        pipeline.destroy();
        finish(1, true);
        return;
      }
      stopping = true;
      logger.info({ signal, timeoutMs: config.shutdown_timeout_ms }, 'Stopping: no new reads, flushing, writing checkpoints.');
      setTimeout(() => {
        if (done) return;
        logger.error({ timeoutMs: config.shutdown_timeout_ms }, 'Shutdown overran its deadline; exiting now. Uncommitted records are read again on the next start.');
        pipeline.destroy();
        finish(1, true);
      }, config.shutdown_timeout_ms + HARD_EXIT_GRACE_MS).unref();
      pipeline.close(config.shutdown_timeout_ms).then(
        () => {
          logger.info('Stopped cleanly.');
          finish(0, false);
        },
        (err: unknown) => {
          logger.error({ err: errorMessage(err) }, 'Shutdown failed; uncommitted records are read again on the next start.');
          finish(1, false);
        },
      );
    };
    // on, not once: a second signal must reach stop() (and never Node's default handler).
    signals.on('SIGTERM', () => stop('SIGTERM'));
    signals.on('SIGINT', () => stop('SIGINT'));
    pipeline.start(sources).then(
      () => logger.info({ version: VERSION, sources: sources.map((s) => s.name), destinations: destinations.map((d) => d.name) }, 'Relay started.'),
      (err: unknown) => {
        logger.error({ err: errorMessage(err) }, 'Relay failed to start.');
        pipeline.destroy();
        finish(1, true);
      },
    );
  });
}
