import type { RelayEvent } from '../event.js';

/**
 * Where routed events go. `accept` resolves once the batch is durable in the sense of DESIGN §5:
 * delivered to every destination (direct) or appended and fsynced to the disk queue (queued).
 * Only then may a source move its checkpoint.
 */
export interface Handoff {
  start(): Promise<void>;
  accept(events: RelayEvent[]): Promise<void>;
  /** Shutdown begins: an `accept` that waits for room (full queue) gives up with DR_ERR_CLOSED so its source can stop. */
  unblock?(): void;
  /** Drains what can be drained before the deadline, then closes destinations. */
  close(deadline: number): Promise<void>;
  destroy(err?: Error): void;
}
