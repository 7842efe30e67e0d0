import type { RelayEvent } from '../event.js';
import type { BackoffConfig } from '../config/schema.js';
import type { Destination } from '../destinations/destination.js';
import type { RelayMetrics as Metrics } from '../ops/relay-metrics.js';
import type { Logger } from '../ops/logger.js';
import type { DiskQueue, QueueRecord } from '../queue/index.js';
import type { Handoff, HandoffBatch } from './handoff.js';
import { closeAll } from './direct.js';
import { openBatch } from '../destinations/batch.js';
import { ErrorCodes, RelayError, errorMessage, isRelayError } from '../errors.js';
import { Backoff, sleep } from '../ops/backoff.js';
import { AckTrail } from './ack-trail.js';
import { decodeEvent, PayloadBatch } from './event-codec.js';

export interface QueuedHandoffOptions {
  /** Records per `send`. @default 500 */
  batchEvents?: number;
  /** Pacing of retries after a destination refused a batch or the queue failed. @default 1 s … 30 s */
  retry?: BackoffConfig;
  /** Gauges are refreshed this often even when nothing moves (a dead SIEM). @default 1000 */
  gaugeIntervalMs?: number;
  /**
   * `overflow: block`: a full disk (ENOSPC) makes `accept` wait and retry, like the byte cap does,
   * instead of refusing the batch (which sends the source into its error backoff). @default false
   */
  waitOnFullDisk?: boolean;
}

const DEFAULT_RETRY: BackoffConfig = { min_ms: 1000, max_ms: 30_000, factor: 2, jitter: 0.5 };
/** close(): the share of the time left kept for closing destinations (close_notify) and the queue. */
const CLOSE_RESERVE_MS = 2500;
/** close(): pumps get this long to notice the abort before the queue closes under them. */
const PUMP_EXIT_MS = 250;
/** An idle pump whose destination still holds sent events looks again this often to move the cursor. */
const HELD_RECHECK_MS = 100;
/** A batch refused for a full disk is tried again after an acknowledgement, or after this long. */
const FULL_DISK_RETRY_MS = 1000;
/** close(): a destination that completed no send for this long is not waited for any more. */
const DRAIN_STALL_MS = 2000;
const DRAIN_POLL_MS = 100;

/** One destination's pump state. */
interface Lane {
  readonly d: Destination;
  /** Sent, not yet acknowledged in the queue (see ack-trail.ts). */
  readonly trail: AckTrail;
  /** The cursor writes running (never rejects); see #release. */
  acking: Promise<void>;
  /** Highest seq to acknowledge / already handed to DiskQueue.ack. */
  ackWanted: number;
  ackDone: number;
  ackRunning: boolean;
  /** Date.now() when the last cursor write finished. */
  ackedAt: number;
  /** Date.now() of the last completed send (close() stops waiting for a lane without progress). */
  progressAt: number;
  /** The pump has returned. */
  done: boolean;
}

const NO_RECORDS: QueueRecord[] = [];

/**
 * Least time between two cursor writes of one destination. A crash repeats at most what was
 * delivered in that time (same ids); without it a fast destination wrote its cursor (two fsyncs
 * and a rename) after nearly every batch.
 */
const CURSOR_WRITE_INTERVAL_MS = 100;

/**
 * Sends a pump keeps in flight: while one batch is written, the next ones are read from disk and
 * framed (the destination writes them in order). Without this the pump idled through every disk
 * read and every write callback.
 */
const SENDS_IN_FLIGHT = 3;

/** A send handed to the destination whose outcome the pump has not taken yet. */
interface InFlight {
  promise: Promise<void>;
  last: number;
  count: number;
}

/**
 * Sources → disk queue → one pump per destination. `accept` resolves once the batch is fsynced
 * in the queue; each pump reads from its own cursor, sends, and acks only after `send` resolved
 * (delivered), so a dead SIEM never stalls a live one and a crash replays from the cursor.
 *
 * A pump never gives records up: a refused batch or a queue fault rewinds the pump to its cursor
 * and retries after a backoff. The cursor moves only past batches the destination no longer holds
 * for a resend (Destination.unconfirmed: plain syslog's replay window), so a crash while a resend
 * is pending replays from disk. The cursor write of one batch overlaps the send of the next (an
 * ack costs an fsync; a crash in between only repeats a batch).
 */
export class QueuedHandoff implements Handoff {
  readonly #queue: DiskQueue;
  readonly #destinations: readonly Destination[];
  readonly #metrics: Metrics;
  readonly #logger: Logger;
  readonly #batchEvents: number;
  readonly #retry: BackoffConfig;
  readonly #gaugeIntervalMs: number;
  /** Stops the pumps (close after the drain, destroy). */
  readonly #abort = new AbortController();
  /** Wakes pumps that wait for data when closing starts (sources are stopped by then). */
  readonly #idle = new AbortController();
  /** Appends blocked on a full queue give up when the sources are told to stop. */
  readonly #appends = new AbortController();
  /** Payload bytes per event of the last batch (PayloadBatch sizing). */
  #bytesPerEvent = 1024;
  /** A batch buffer free for reuse (see begin). */
  #spare: Buffer | undefined;
  /** The last batch's append (see begin). */
  #appendTail: Promise<void> = Promise.resolve();
  #pumps: Promise<void>[] = [];
  readonly #lanes: Lane[] = [];
  #draining = false;
  #gaugeTimer: NodeJS.Timeout | undefined;
  #droppedSeen = 0;
  readonly #waitOnFullDisk: boolean;
  /** accept() calls waiting for an acknowledgement to free disk space. */
  readonly #diskWaiters = new Set<() => void>();
  #diskFullSince: number | null = null;

  constructor(queue: DiskQueue, destinations: readonly Destination[], metrics: Metrics, logger: Logger, opts: QueuedHandoffOptions = {}) {
    this.#queue = queue;
    this.#destinations = destinations;
    this.#metrics = metrics;
    this.#logger = logger;
    this.#batchEvents = opts.batchEvents ?? 500;
    this.#retry = opts.retry ?? DEFAULT_RETRY;
    this.#gaugeIntervalMs = opts.gaugeIntervalMs ?? 1000;
    this.#waitOnFullDisk = opts.waitOnFullDisk ?? false;
    // drop_oldest counts from the start of this process (the counter is a process metric).
    this.#droppedSeen = queue.stats().dropped;
  }

  async start(): Promise<void> {
    await Promise.all(this.#destinations.map((d) => d.start()));
    for (const d of this.#destinations) this.#lanes.push({ d, trail: new AckTrail(), acking: Promise.resolve(), ackWanted: 0, ackDone: 0, ackRunning: false, ackedAt: 0, progressAt: Date.now(), done: false });
    this.#pumps = this.#lanes.map((lane) =>
      this.#pump(lane).finally(() => {
        lane.done = true;
      }),
    );
    this.#updateGauges();
    this.#gaugeTimer = setInterval(() => this.#updateGauges(), this.#gaugeIntervalMs);
    this.#gaugeTimer.unref();
  }

  accept(events: RelayEvent[]): Promise<void> {
    const b = this.begin(events.length);
    for (const ev of events) b.push(ev);
    return b.commit();
  }

  begin(expected: number): HandoffBatch {
    const spare = this.#spare;
    this.#spare = undefined;
    const payloads = new PayloadBatch(expected * this.#bytesPerEvent, spare);
    let failed: unknown;
    return {
      push: (ev: RelayEvent): void => {
        if (failed !== undefined) return;
        try {
          payloads.push(ev);
        } catch (err: unknown) {
          failed = err;
        }
      },
      commit: (): Promise<void> => {
        if (failed !== undefined) return Promise.reject(failed);
        // The next batch's buffer is sized from this one's (it rarely has to grow).
        if (payloads.count > 0) this.#bytesPerEvent = Math.ceil(payloads.bytes / payloads.count) + 64;
        // Reusing the buffer keeps a megabyte per batch from being allocated outside the JS heap,
        // which V8 answers with a full GC every few batches.
        const buf = payloads.buffer;
        return this.appendEncoded(payloads.payloads(), () => {
          this.#spare = buf;
        });
      },
    };
  }

  /**
   * Payloads encoded elsewhere (the route thread, pipeline/route-thread.ts); same contract as
   * commit(). Batches are appended in the order of these calls, each after the last one's retries
   * (a source may commit the next batch before the previous one resolved). `release` runs once the
   * queue has copied the payloads into its own records: their buffer may then be written over.
   */
  appendEncoded(payloads: Buffer[], release?: () => void): Promise<void> {
    const done = this.#appendTail.then(() => this.#append(payloads));
    this.#appendTail = done.then(
      () => undefined,
      () => undefined,
    );
    return release === undefined ? done : done.then(release);
  }

  async #append(payloads: Buffer[]): Promise<void> {
    if (payloads.length === 0) return;
    if (this.#appends.signal.aborted) throw this.#closingError();
    for (;;) {
      try {
        await this.#queue.append(payloads, this.#appends.signal);
        break;
      } catch (err: unknown) {
        const full = isRelayError(err) && err.code === ErrorCodes.QUEUE_FULL;
        // A wait for space cut short by shutdown: the source must stop without committing.
        if (full && this.#appends.signal.aborted) throw this.#closingError();
        // A full disk under `block`: the failed append was rolled back, so the same batch is
        // appended again once an acknowledgement frees a segment (or a second later).
        if (!full || !this.#waitOnFullDisk) throw err;
        if (this.#diskFullSince === null) {
          this.#diskFullSince = Date.now();
          this.#logger.warn({ err: errorMessage(err) }, 'The disk holding the queue is full (overflow: block); sources wait until destinations free space.');
        }
        await this.#diskSpace();
        if (this.#appends.signal.aborted) throw this.#closingError();
      }
    }
    if (this.#diskFullSince !== null) {
      this.#logger.info({ waitedMs: Date.now() - this.#diskFullSince }, 'The disk holding the queue has room again; sources resume.');
      this.#diskFullSince = null;
    }
    this.#updateGauges();
  }

  /** Resolves after the next acknowledgement, FULL_DISK_RETRY_MS, or the start of shutdown. */
  #diskSpace(): Promise<void> {
    return new Promise<void>((resolve) => {
      const signal = this.#appends.signal;
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.#diskWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, FULL_DISK_RETRY_MS);
      if (signal.aborted) return done();
      signal.addEventListener('abort', done, { once: true });
      this.#diskWaiters.add(done);
    });
  }

  /** Sources are being stopped: a batch waiting for room in a full queue is refused (its source does not commit). */
  unblock(): void {
    this.#appends.abort();
  }

  async #pump(lane: Lane): Promise<void> {
    const { d, trail } = lane;
    const signal = this.#abort.signal;
    const backoff = new Backoff(this.#retry);
    /** Highest seq handed to send() by this process: reading it again is a replay. */
    let sentUpTo = 0;
    const inFlight: InFlight[] = [];
    /** Sends allowed in flight: one until a send succeeded (a failing destination gets one batch per retry), then SENDS_IN_FLIGHT. */
    let window = 1;
    /** Takes the oldest send's outcome. A failure pauses and rewinds: the sends after it are void (read again). */
    const settleOldest = async (): Promise<void> => {
      const f = inFlight.shift() as InFlight;
      try {
        await f.promise;
      } catch (err: unknown) {
        inFlight.length = 0;
        window = 1;
        if (signal.aborted) return;
        // send() retries transient faults itself; what reaches here needs an operator. Keep the
        // records (nothing is lost), rewind and try again later.
        this.#metrics.destinationUp.set({ destination: d.name }, 0);
        await this.#pause(lane, backoff, err, 'Destination refused a batch; it stays queued and is retried.');
        return;
      }
      backoff.reset();
      window = SENDS_IN_FLIGHT;
      lane.progressAt = Date.now();
      this.#metrics.eventsOut.inc({ destination: d.name }, f.count);
      this.#metrics.destinationUp.set({ destination: d.name }, 1);
      trail.push(f.last, f.count);
      this.#release(lane);
    };
    while (!signal.aborted) {
      if (inFlight.length >= window) {
        await settleOldest();
        continue;
      }
      let records: QueueRecord[];
      try {
        records = await this.#queue.read(d.name, this.#batchEvents);
      } catch (err: unknown) {
        if (signal.aborted || this.#isClosed(err)) break;
        inFlight.length = 0;
        window = 1;
        await this.#pause(lane, backoff, err, 'The disk queue failed to read a batch for a destination; retrying from its cursor.');
        continue;
      }
      if (records.length === 0) {
        if (inFlight.length > 0) {
          await settleOldest();
          continue;
        }
        if (this.#draining) break;
        // While the destination holds sent events, look again soon: the cursor moves once it lets go.
        const held = trail.size > 0;
        try {
          await (held ? this.#waitAtMost(d.name, HELD_RECHECK_MS) : this.#queue.wait(d.name, this.#idle.signal));
        } catch {
          if (signal.aborted || this.#draining) break;
        }
        if (held) this.#release(lane);
        continue;
      }
      // Decoded events go straight into the destination's batch and are dropped (Destination.begin).
      // A destination without that streaming form gets events of their own bytes: the payloads'
      // memory may be reused by the next read (DiskQueueOptions.recycleReads).
      const batch = openBatch(d, records.length);
      const own = d.begin === undefined;
      let replayed = 0;
      for (let i = 0; i < records.length; i++) {
        const r = records[i] as QueueRecord;
        if (r.seq <= sentUpTo) replayed++;
        batch.push(decodeEvent(own ? Buffer.from(r.payload) : r.payload));
      }
      const count = records.length;
      const last = (records[count - 1] as QueueRecord).seq;
      records = NO_RECORDS;
      if (last > sentUpTo) sentUpTo = last;
      if (replayed > 0) this.#metrics.replayed.inc({ destination: d.name }, replayed);
      const promise = batch.send();
      // Its outcome is taken by settleOldest, or ignored once a rewind made it void.
      promise.catch(() => undefined);
      inFlight.push({ promise, last, count });
    }
    // Stopped: sends that still complete are acknowledged (close() waits for them), so a clean
    // stop does not repeat them on the next start.
    while (inFlight.length > 0) {
      const f = inFlight.shift() as InFlight;
      try {
        await f.promise;
      } catch {
        break;
      }
      trail.push(f.last, f.count);
      this.#release(lane);
    }
    await lane.acking;
  }

  /**
   * Waits for records for at most `ms` (or until closing starts). An explicit timer, not
   * AbortSignal.any(AbortSignal.timeout()): Node holds such a timeout signal only weakly and a GC
   * can drop it before it fires, leaving the pump parked for good.
   */
  async #waitAtMost(consumer: string, ms: number): Promise<void> {
    const ac = new AbortController();
    const stop = (): void => ac.abort();
    const idle = this.#idle.signal;
    if (idle.aborted) return;
    idle.addEventListener('abort', stop, { once: true });
    const timer = setTimeout(stop, ms);
    try {
      await this.#queue.wait(consumer, ac.signal);
    } finally {
      clearTimeout(timer);
      idle.removeEventListener('abort', stop);
    }
  }

  /**
   * Acknowledges the sent batches the destination no longer holds for a resend. Never waits: one
   * cursor write runs at a time and folds in whatever was released meanwhile, so the pump sends on
   * while the cursor is fsynced (a crash in between only repeats what the file had not caught up on).
   */
  #release(lane: Lane): void {
    const upTo = lane.trail.release(lane.d.unconfirmed?.() ?? 0);
    if (upTo === undefined) return;
    if (upTo > lane.ackWanted) lane.ackWanted = upTo;
    if (lane.ackRunning) return;
    lane.ackRunning = true;
    lane.acking = this.#ackLoop(lane);
  }

  async #ackLoop(lane: Lane): Promise<void> {
    try {
      while (lane.ackWanted > lane.ackDone) {
        // At most one cursor write per CURSOR_WRITE_INTERVAL_MS (each is two fsyncs and a rename);
        // none is held back once closing starts.
        const wait = lane.ackedAt + CURSOR_WRITE_INTERVAL_MS - Date.now();
        if (wait > 0 && !this.#idle.signal.aborted) await sleep(wait, this.#idle.signal).catch(() => undefined);
        const upTo = lane.ackWanted;
        lane.ackDone = upTo;
        try {
          await this.#queue.ack(lane.d.name, upTo);
          lane.ackedAt = Date.now();
          this.#updateGauges();
          for (const wake of [...this.#diskWaiters]) wake();
        } catch (err: unknown) {
          // The in-memory cursor moved already; only its file lags (a crash repeats, never loses).
          if (!this.#isClosed(err)) this.#logger.warn({ destination: lane.d.name, err: errorMessage(err) }, 'Could not save a destination cursor; a restart may repeat the batch.');
        }
      }
    } finally {
      lane.ackRunning = false;
    }
  }

  /** Logs, rewinds the destination to its cursor and waits out the backoff (or the abort). */
  async #pause(lane: Lane, backoff: Backoff, err: unknown, msg: string): Promise<void> {
    const d = lane.d;
    const waitMs = backoff.next();
    lane.trail.clear();
    this.#logger.error({ destination: d.name, err: errorMessage(err), code: isRelayError(err) ? err.code : undefined, retryInMs: waitMs }, msg);
    this.#metrics.errors.inc({ component: d.name, code: isRelayError(err) ? err.code : 'unknown' });
    try {
      this.#queue.rewind(d.name);
    } catch {
      // Closed: the pump stops at the top of its loop.
    }
    await sleep(waitMs, this.#abort.signal).catch(() => undefined);
  }

  #isClosed(err: unknown): boolean {
    return isRelayError(err) && err.code === ErrorCodes.CLOSED;
  }

  #closingError(): RelayError {
    return new RelayError(ErrorCodes.CLOSED, 'The relay is shutting down; the batch was not queued and its source must not commit it.');
  }

  #updateGauges(): void {
    let s;
    try {
      s = this.#queue.stats();
    } catch {
      return;
    }
    this.#metrics.queueBytes.set(s.bytes);
    this.#metrics.queueRecords.set(s.records);
    this.#metrics.queueOldestAge.set(s.oldestAgeMs === null ? 0 : s.oldestAgeMs / 1000);
    if (s.dropped > this.#droppedSeen) {
      this.#metrics.dropped.inc(s.dropped - this.#droppedSeen);
      this.#droppedSeen = s.dropped;
    }
    for (const [name, c] of Object.entries(s.perConsumer)) this.#metrics.destinationLag.set({ destination: name }, c.lagRecords);
  }

  /**
   * Drains the queue to the destinations until shortly before the deadline, then closes them
   * (TLS close_notify) and the queue. What was not delivered stays on disk for the next start.
   */
  async close(deadline: number): Promise<void> {
    this.#draining = true;
    this.#appends.abort();
    this.#idle.abort();
    const drained = Promise.allSettled(this.#pumps);
    let allDone = false;
    void drained.then(() => (allDone = true));
    const reserve = Math.min(CLOSE_RESERVE_MS, Math.max(0, deadline - Date.now()) * 0.4);
    const drainUntil = deadline - reserve;
    const started = Date.now();
    for (const lane of this.#lanes) lane.progressAt = started;
    // Drain while some destination makes progress; one whose send hangs (SIEM down, backing off)
    // is not waited for until the deadline: its records stay queued for the next start.
    let stalled = false;
    while (!allDone && Date.now() < drainUntil) {
      await Promise.race([drained, sleep(Math.min(DRAIN_POLL_MS, Math.max(0, drainUntil - Date.now())))]);
      const now = Date.now();
      if (!allDone && this.#lanes.every((l) => l.done || now - l.progressAt >= DRAIN_STALL_MS)) {
        stalled = true;
        break;
      }
    }
    if (!allDone) {
      const s = this.#queue.stats();
      this.#logger.warn(
        { records: s.records, lag: s.perConsumer, reason: stalled ? 'destinations not accepting' : 'deadline' },
        'Stopping with records undelivered; they stay in the disk queue for the next start.',
      );
    }
    this.#abort.abort();
    await closeAll(this.#destinations, Math.max(Date.now() + 100, deadline - PUMP_EXIT_MS));
    await Promise.race([drained, sleep(Math.max(0, Math.min(PUMP_EXIT_MS, deadline - Date.now())))]);
    // A destination closed cleanly holds nothing any more: its last batches are delivered.
    for (const lane of this.#lanes) this.#release(lane);
    for (const lane of this.#lanes) await lane.acking;
    this.#stopGauges();
    this.#updateGauges();
    await this.#queue.close();
  }

  destroy(err?: Error): void {
    this.#abort.abort();
    this.#idle.abort();
    this.#appends.abort();
    this.#stopGauges();
    for (const d of this.#destinations) d.destroy(err);
  }

  #stopGauges(): void {
    if (this.#gaugeTimer !== undefined) clearInterval(this.#gaugeTimer);
    this.#gaugeTimer = undefined;
  }
}
