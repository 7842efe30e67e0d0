import type { RelayEvent } from '../event.js';

/**
 * Where routed events go. `accept` resolves once the batch is durable in the sense of DESIGN §5:
 * delivered to every destination (direct) or appended and fsynced to the disk queue (queued).
 * Only then may a source move its checkpoint.
 */
/** A batch handed off event by event (Handoff.begin). */
export interface HandoffBatch {
  /** Takes one routed event; the handoff encodes it at once and keeps no reference to it. */
  push(ev: RelayEvent): void;
  /** Same contract as Handoff.accept for the events pushed. */
  commit(): Promise<void>;
}

export interface Handoff {
  start(): Promise<void>;
  accept(events: RelayEvent[]): Promise<void>;
  /**
   * The streaming form of accept(): the pipeline routes a record and pushes its event, which is
   * encoded (framed for a destination, or as a queue payload) and dropped before the next record is
   * routed, so events die young instead of a whole batch being promoted by the GC. push() and
   * commit() follow begin() in the same synchronous run.
   */
  begin(expected: number): HandoffBatch;
  /**
   * Takes payloads already encoded for the disk queue (pipeline/event-codec.ts) by the route
   * thread, in call order; same contract as accept(). Only the queued handoff has it.
   */
  appendEncoded?(payloads: Buffer[], release?: () => void): Promise<void>;
  /**
   * Takes a batch the route thread formatted and framed for each destination (bufs[i] for
   * destination i, `events` messages in each); same contract as accept(). Only the direct
   * handoff has it, and only when every destination takes framed batches (Destination.sendFramed).
   */
  appendFramed?(bufs: readonly Buffer[], events: number): Promise<void>;
  /** Shutdown begins: an `accept` that waits for room (full queue) gives up with DR_ERR_CLOSED so its source can stop. */
  unblock?(): void;
  /** Drains what can be drained before the deadline, then closes destinations. */
  close(deadline: number): Promise<void>;
  destroy(err?: Error): void;
}
