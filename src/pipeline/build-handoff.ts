import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import type { Destination } from '../destinations/destination.js';
import type { RelayMetrics as Metrics } from '../ops/relay-metrics.js';
import type { Logger } from '../ops/logger.js';
import type { Handoff } from './handoff.js';
import { DirectHandoff } from './direct.js';
import { QueuedHandoff } from './queued.js';
import { DiskQueue } from '../queue/index.js';

/**
 * The disk queue when enabled (the default), else direct delivery. Destination names are the
 * queue's consumer names: give destinations an explicit `name` so that editing the config does
 * not give a destination a new cursor.
 */
export async function buildHandoff(config: Config, destinations: Destination[], metrics: Metrics, logger: Logger): Promise<Handoff> {
  if (!config.queue.enabled) return new DirectHandoff(destinations, metrics);
  const queue = await DiskQueue.open({
    dir: join(config.state_dir, 'queue'),
    maxBytes: config.queue.max_bytes,
    segmentBytes: config.queue.segment_bytes,
    overflow: config.queue.overflow,
    consumers: destinations.map((d) => d.name),
    logger: logger.child({ component: 'queue' }),
    // The pumps frame (or copy) each batch before they read the next (QueuedHandoff).
    recycleReads: true,
  });
  return new QueuedHandoff(queue, destinations, metrics, logger, { waitOnFullDisk: config.queue.overflow === 'block' });
}
