import type { RelayEvent } from '../event.js';

/**
 * A destination delivers routed events to one SIEM.
 *
 * Acknowledgement contract: `send(batch)` resolves once the whole batch counts as
 * delivered (bytes flushed on a connection that stayed healthy past the handshake, or
 * acknowledged by the peer for RELP). It retries transient faults itself with jittered
 * backoff, and rejects only when closed/destroyed or on a permanent error (`RelayError`
 * with a non-retryable code). A rejected batch is not delivered, in whole or part,
 * as far as the caller knows: it must be sent again (ids make repeats recognisable).
 */
/** A batch formatted as it is filled (Destination.begin). */
export interface DestinationBatch {
  /** Formats one event into the batch; the event is not kept. */
  push(ev: RelayEvent): void;
  /** Same contract as Destination.send for the events pushed. */
  send(): Promise<void>;
}

export interface Destination {
  readonly name: string;
  /** Connects eagerly where that makes sense; never throws for transient faults. */
  start(): Promise<void>;
  send(batch: readonly RelayEvent[]): Promise<void>;
  /**
   * The streaming form of send(): each event is formatted when pushed and dropped, so no whole
   * batch of events lives on while it is framed (a batch that outlives a scavenge is promoted, and
   * GC was 40 % of the relay's CPU). push() and send() follow begin() in the same synchronous run;
   * a second begin() abandons a batch that was never sent (its send() rejects). Absent: use
   * `openBatch` (batch.ts), which collects the events and calls send().
   */
  begin?(expected: number): DestinationBatch;
  /**
   * Takes a batch formatted and framed elsewhere (the route thread, pipeline/route-worker.ts):
   * `buf` holds `events` messages in this destination's format and framing. Same contract as
   * send(). Only stream destinations have it (one write per batch); the pipeline formats on the
   * route thread only when every destination has it.
   */
  sendFramed?(buf: Buffer, events: number): Promise<void>;
  /** With sendFramed: where buffers go once nothing refers to them any more (the route thread reuses them). */
  recycleTo?(fn: (buf: Buffer) => void): void;
  /**
   * Events of resolved sends that the destination may still have to send again: plain syslog has
   * no receiver ack, so batches written within settle_ms before a connection loss are resent
   * (replay-window.ts) — until then they are not durable, and a disk queue must not move its cursor
   * past them (a crash would lose them). The most recent events sent are the ones held. 0 after a
   * clean close; after destroy() the events it gave up stay counted. Absent: 0.
   */
  unconfirmed?(): number;
  /** One connection attempt and one test event, with a clear error (for `test-destination`). */
  probe?(event: RelayEvent): Promise<void>;
  /** Flushes, sends TLS close_notify, closes. Idempotent. */
  close(): Promise<void>;
  /** Immediate teardown; in-flight sends reject with DR_ERR_CLOSED. */
  destroy(err?: Error): void;
}
