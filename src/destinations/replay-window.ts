/**
 * Batches acknowledged in the last `windowMs` on the live connection, kept for a resend.
 *
 * Plain syslog has no receiver ack: a receiver that stops reading and then closes (rsyslog on
 * restart) RSTs away bytes whose write callback fired long ago. When the connection dies, every batch
 * written within the window before the death is resent first on the next connection, so a peer
 * failure noticed within the window loses nothing (duplicates carry the same event id). Only a crash
 * of the relay itself inside that window can still lose those events. Memory stays bounded by
 * `maxBytes` (oldest entries leave first), counted as the memory each entry holds: a batch framed
 * into a buffer of its own (the frame encoder's, sized with headroom and reused) holds the whole
 * ArrayBuffer, about a fifth more than its bytes.
 *
 * `onRelease` gets each buffer that leaves the window without being queued for a resend, so its
 * memory can be reused (frame-encoder.ts); nothing here refers to it afterwards.
 */
interface Entry {
  buf: Buffer;
  events: number;
  at: number;
  /** Memory it holds (heldBytes). */
  held: number;
}

/** Smaller buffers may be slices of Node's shared pool: they count their own bytes. */
const OWN_BUFFER_MIN = 65536;

/** The memory `buf` keeps alive: its whole ArrayBuffer when it is a batch buffer of its own, else its bytes. */
export function heldBytes(buf: Buffer): number {
  return buf.byteOffset === 0 && buf.buffer.byteLength >= OWN_BUFFER_MIN ? buf.buffer.byteLength : buf.length;
}

export class ReplayWindow {
  readonly windowMs: number;
  #maxBytes: number;
  #recent: Entry[] = [];
  #recentBytes = 0;
  #pending: Entry[] = [];

  readonly #onRelease: ((buf: Buffer) => void) | undefined;

  constructor(windowMs: number, maxBytes: number, onRelease?: (buf: Buffer) => void) {
    this.windowMs = windowMs;
    this.#maxBytes = maxBytes;
    this.#onRelease = onRelease;
  }

  /** A batch was acknowledged at `now` (performance.now()). */
  written(buf: Buffer, events: number, now: number): void {
    if (this.windowMs <= 0) {
      this.#onRelease?.(buf);
      return;
    }
    const held = heldBytes(buf);
    this.#recent.push({ buf, events, at: now, held });
    this.#recentBytes += held;
    this.#prune(now);
  }

  #prune(now: number): void {
    const cutoff = now - this.windowMs;
    let drop = 0;
    while (drop < this.#recent.length) {
      const e = this.#recent[drop] as Entry;
      if (e.at >= cutoff && this.#recentBytes <= this.#maxBytes) break;
      this.#recentBytes -= e.held;
      this.#onRelease?.(e.buf);
      drop++;
    }
    if (drop > 0) this.#recent.splice(0, drop);
  }

  /** The connection died at `now`: batches written within the window are queued for resending. Returns their event count. */
  connectionLost(now: number): number {
    this.#prune(now);
    let events = 0;
    for (const e of this.#recent) events += e.events;
    this.#pending.push(...this.#recent);
    this.#recent = [];
    this.#recentBytes = 0;
    return events;
  }

  /** Events written within the window at `now` plus those waiting for a resend. */
  held(now: number): number {
    this.#prune(now);
    let n = this.pendingEvents;
    for (const e of this.#recent) n += e.events;
    return n;
  }

  get pendingEvents(): number {
    let n = 0;
    for (const e of this.#pending) n += e.events;
    return n;
  }

  get pendingCount(): number {
    return this.#pending.length;
  }

  /** The first `count` pending buffers, to write ahead of the next batch. */
  pendingBuffers(count = this.#pending.length): Buffer[] {
    return this.#pending.slice(0, count).map((e) => e.buf);
  }

  /** The first `count` pending entries were written and settled again. */
  replayed(count: number): void {
    this.#pending.splice(0, count);
  }

  /** Forgets everything (destroy); returns the pending events that will not be resent. */
  clear(): number {
    const lost = this.pendingEvents;
    this.#pending = [];
    this.#recent = [];
    this.#recentBytes = 0;
    return lost;
  }
}
