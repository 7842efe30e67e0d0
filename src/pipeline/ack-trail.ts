/**
 * The batches one pump sent whose records are not yet acknowledged in the disk queue, oldest first.
 *
 * A resolved send is not always durable: a plain syslog destination keeps the batches it wrote in
 * the last settle_ms and resends them if the connection dies (Destination.unconfirmed). Those are
 * the newest events it sent. The queue cursor therefore moves only past batches older than what the
 * destination still holds; a crash before the hold clears replays them from disk (duplicates with
 * the same ids, never loss).
 */
interface SentBatch {
  last: number;
  events: number;
}

export class AckTrail {
  #batches: SentBatch[] = [];
  #head = 0;
  #events = 0;

  /** A send of `events` records ending at seq `last` resolved. */
  push(last: number, events: number): void {
    this.#batches.push({ last, events });
    this.#events += events;
  }

  /**
   * The highest seq that may be acknowledged while the destination holds its `held` newest events,
   * or undefined when no batch is clear yet. The batches it covers leave the trail.
   */
  release(held: number): number | undefined {
    let upTo: number | undefined;
    while (this.#head < this.#batches.length) {
      const b = this.#batches[this.#head] as SentBatch;
      if (this.#events - b.events < held) break;
      this.#events -= b.events;
      upTo = b.last;
      this.#head++;
    }
    if (this.#head > 64 && this.#head * 2 > this.#batches.length) {
      this.#batches = this.#batches.slice(this.#head);
      this.#head = 0;
    }
    return upTo;
  }

  /** Batches sent and not yet released. */
  get size(): number {
    return this.#batches.length - this.#head;
  }

  /** The pump rewound to the cursor: everything after it is sent again and tracked anew. */
  clear(): void {
    this.#batches = [];
    this.#head = 0;
    this.#events = 0;
  }
}
