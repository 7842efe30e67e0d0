/**
 * The live loop of one lane: a drain per cycle, `poll_interval_ms` apart. Faults never end the loop:
 * they are logged once and the next cycle retries. A 429 skips the cycle and waits out a capped,
 * jittered backoff, so a rate-limited endpoint is never hammered. Only shutdown or a refused hand-off
 * stops it.
 */
import { Backoff, sleep } from '../../ops/backoff.js';
import type { BackoffConfig } from '../../config/schema.js';
import { ErrorCodes, isRelayError } from '../../errors.js';
import { FaultLog } from './fault-log.js';
import { HandoffRejected, type Lane } from './lane.js';

export interface PollOptions {
  pollIntervalMs: number;
  rateLimitBackoff: BackoffConfig;
  signal: AbortSignal;
  random?: () => number;
}

export async function pollLane(lane: Lane, o: PollOptions): Promise<void> {
  const faults = new FaultLog(lane.logger);
  const rate = new Backoff(o.rateLimitBackoff, o.random);
  while (!o.signal.aborted) {
    let delay = o.pollIntervalMs;
    try {
      const r = await lane.drainOnce(o.signal);
      faults.ok();
      rate.reset();
      if (r.events > 0) lane.logger.debug({ events: r.events, pages: r.pages }, 'Fetched a cycle of events.');
    } catch (err: unknown) {
      if (o.signal.aborted) break;
      if (err instanceof HandoffRejected) {
        lane.logger.info('The pipeline is closing; this endpoint stops polling.');
        break;
      }
      if (isRelayError(err) && err.code === ErrorCodes.DUO_RATE_LIMIT) delay = Math.max(rate.next(), o.pollIntervalMs);
      faults.report(err);
    }
    try {
      await sleep(delay, o.signal);
    } catch {
      break;
    }
  }
}
