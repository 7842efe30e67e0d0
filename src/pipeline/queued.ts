import type { RelayEvent } from '../event.js';
import type { Destination } from '../destinations/destination.js';
import type { Metrics } from '../ops/metrics.js';
import type { Logger } from '../ops/logger.js';
import type { DiskQueue } from '../queue/index.js';
import type { Handoff } from './handoff.js';
import { closeAll } from './direct.js';
import { errorMessage } from '../errors.js';
import { sleep } from '../ops/backoff.js';

/**
 * Sources → disk queue → one pump per destination. `accept` resolves once the batch is fsynced
 * in the queue; each pump reads from its own cursor, sends, and acks only after `send` resolved
 * (delivered), so a dead SIEM never stalls a live one and a crash replays from the cursor.
 */
export class QueuedHandoff implements Handoff {
  #abort = new AbortController();
  /** Wakes pumps that wait for data when closing starts (sources are stopped by then). */
  #idle = new AbortController();
  #pumps: Promise<void>[] = [];
  #draining = false;

  constructor(
    private readonly queue: DiskQueue,
    private readonly destinations: readonly Destination[],
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly batchEvents = 500,
  ) {}

  async start(): Promise<void> {
    await Promise.all(this.destinations.map((d) => d.start()));
    this.#pumps = this.destinations.map((d) => this.#pump(d));
    this.#updateGauges();
  }

  async accept(events: RelayEvent[]): Promise<void> {
    if (events.length === 0) return;
    const payloads = new Array<Buffer>(events.length);
    for (let i = 0; i < events.length; i++) payloads[i] = Buffer.from(JSON.stringify(events[i]));
    await this.queue.append(payloads);
  }

  async #pump(d: Destination): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      const records = await this.queue.read(d.name, this.batchEvents);
      if (records.length === 0) {
        if (this.#draining) return;
        try {
          await this.queue.wait(d.name, this.#idle.signal);
        } catch {
          if (signal.aborted || this.#draining) return;
        }
        continue;
      }
      const events: RelayEvent[] = [];
      for (const r of records) events.push(JSON.parse(r.payload.toString('utf8')) as RelayEvent);
      try {
        await d.send(events);
      } catch (err: unknown) {
        if (signal.aborted) return;
        // send() retries transient faults itself; what reaches here needs an operator. Keep the
        // records (nothing is lost), rewind and try again later.
        this.logger.error({ destination: d.name, err: errorMessage(err) }, 'Destination refused a batch; it stays queued and is retried in 30 s.');
        this.metrics.destinationUp.set({ destination: d.name }, 0);
        this.queue.rewind(d.name);
        await sleep(30_000, signal).catch(() => undefined);
        continue;
      }
      const last = records[records.length - 1];
      if (last !== undefined) await this.queue.ack(d.name, last.seq);
      this.metrics.eventsOut.inc({ destination: d.name }, events.length);
      this.metrics.destinationUp.set({ destination: d.name }, 1);
      this.#updateGauges();
    }
  }

  #updateGauges(): void {
    const s = this.queue.stats();
    this.metrics.queueBytes.set(s.bytes);
    this.metrics.queueRecords.set(s.records);
    this.metrics.queueOldestAge.set(s.oldestAgeMs === null ? 0 : s.oldestAgeMs / 1000);
    for (const [name, c] of Object.entries(s.perConsumer)) this.metrics.destinationLag.set({ destination: name }, c.lagRecords);
  }

  /** Drains the queue to the destinations until the deadline; what is left stays on disk. */
  async close(deadline: number): Promise<void> {
    this.#draining = true;
    this.#idle.abort();
    const drained = Promise.allSettled(this.#pumps);
    const timer = new Promise<void>((r) => setTimeout(r, Math.max(0, deadline - Date.now() - 500)).unref());
    await Promise.race([drained, timer]);
    this.#abort.abort();
    await closeAll(this.destinations, Math.max(Date.now() + 200, deadline));
    await Promise.race([drained, sleep(1000)]);
    this.#updateGauges();
    await this.queue.close();
  }

  destroy(err?: Error): void {
    this.#abort.abort();
    this.#idle.abort();
    for (const d of this.destinations) d.destroy(err);
  }
}
