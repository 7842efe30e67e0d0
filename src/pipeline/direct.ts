import type { RelayEvent } from '../event.js';
import type { Destination } from '../destinations/destination.js';
import type { RelayMetrics as Metrics } from '../ops/relay-metrics.js';
import type { Handoff, HandoffBatch } from './handoff.js';
import { openBatch } from '../destinations/batch.js';
import { RelayError, ErrorCodes } from '../errors.js';

/**
 * No disk queue: a batch is accepted once every destination delivered it. A dead destination
 * therefore holds the sources back (their checkpoints do not move, nothing is lost); the queued
 * handoff is what lets destinations run at their own pace.
 */
export class DirectHandoff implements Handoff {
  constructor(private readonly destinations: readonly Destination[], private readonly metrics?: Metrics) {}

  async start(): Promise<void> {
    await Promise.all(this.destinations.map((d) => d.start()));
  }

  accept(events: RelayEvent[]): Promise<void> {
    const b = this.begin(events.length);
    for (const ev of events) b.push(ev);
    return b.commit();
  }

  begin(expected: number): HandoffBatch {
    const batches = this.destinations.map((d) => openBatch(d, expected));
    let count = 0;
    return {
      push: (ev: RelayEvent): void => {
        count++;
        for (const b of batches) b.push(ev);
      },
      commit: async (): Promise<void> => {
        // Nothing pushed: an open destination batch is simply abandoned (the next begin() resets it).
        if (count === 0) return;
        const n = count;
        await Promise.all(batches.map((b, i) => b.send().then(() => this.metrics?.eventsOut.inc({ destination: (this.destinations[i] as Destination).name }, n))));
      },
    };
  }

  /** Framed batches (Handoff.appendFramed): one write per destination, nothing formatted here. */
  async appendFramed(bufs: readonly Buffer[], events: number): Promise<void> {
    if (events === 0) return;
    await Promise.all(this.destinations.map((d, i) => {
      const buf = bufs[i];
      if (d.sendFramed === undefined || buf === undefined) {
        return Promise.reject(new RelayError(ErrorCodes.INTERNAL, `Destination ${d.name} was given a framed batch it cannot take (no sendFramed, or no buffer for it).`));
      }
      return d.sendFramed(buf, events).then(() => this.metrics?.eventsOut.inc({ destination: d.name }, events));
    }));
  }

  async close(deadline: number): Promise<void> {
    await closeAll(this.destinations, deadline);
  }

  destroy(err?: Error): void {
    for (const d of this.destinations) d.destroy(err);
  }
}

/** Closes every destination; whatever is still open at the deadline is destroyed. */
export async function closeAll(destinations: readonly Destination[], deadline: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()));
  });
  const closed = Promise.allSettled(destinations.map((d) => d.close())).then(() => 'closed' as const);
  const outcome = await Promise.race([closed, timeout]);
  clearTimeout(timer);
  if (outcome === 'timeout') for (const d of destinations) d.destroy();
}
