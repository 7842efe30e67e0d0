/**
 * Formats events and frames them into one batch buffer, event by event (frame-encoder.ts): the
 * stream destination's batch builder, and the route thread's when it formats for the destinations
 * itself (pipeline/route-worker.ts). With a split formatter the header and body are encoded one
 * after the other and the joined message is never built.
 */
import type { RelayEvent } from '../event.js';
import type { Framing } from './frame.js';
import type { CountingFormatter, SplitMessage } from '../formats/types.js';
import { FrameEncoder } from './frame-encoder.js';

export class MessageFramer {
  readonly #format: (ev: RelayEvent) => string;
  readonly #split: ((ev: RelayEvent, out: SplitMessage) => void) | undefined;
  readonly #parts: SplitMessage = { head: '', body: '' };
  readonly #enc: FrameEncoder;
  #count = 0;

  constructor(format: (ev: RelayEvent) => string, framing: Framing) {
    this.#format = format;
    // Destination contexts type format as a plain function; the formatters of formats/ may carry `split`.
    this.#split = (format as Partial<CountingFormatter>).split;
    this.#enc = new FrameEncoder(framing);
  }

  /** Messages pushed since begin(). */
  get count(): number {
    return this.#count;
  }

  /** Starts a batch of about `expected` messages (a batch not finished is dropped). */
  begin(expected: number): void {
    this.#count = 0;
    this.#enc.begin(expected);
  }

  /** Formats and frames one event; throws what the formatter throws (the batch is then unusable). */
  push(ev: RelayEvent): void {
    const split = this.#split;
    if (split !== undefined) {
      const parts = this.#parts;
      split(ev, parts);
      if (parts.bodyBytes !== undefined) this.#enc.pushSplitBytes(parts.head, parts.bodyBytes);
      else this.#enc.pushSplit(parts.head, parts.body);
    } else this.#enc.push(this.#format(ev));
    this.#count++;
  }

  /**
   * The framed batch (the caller owns it). `whole`: never copied to a tighter buffer, so it is a
   * view from byte 0 of an ArrayBuffer of its own, which can be transferred to another thread.
   */
  finish(whole = false): Buffer {
    // The last message's parts must not live on until the next batch.
    const parts = this.#parts;
    parts.head = '';
    parts.body = '';
    parts.bodyBytes = undefined;
    return this.#enc.finish(whole);
  }

  /** Takes back a buffer that finish() returned, once nothing refers to it (FrameEncoder.recycle). */
  recycle(buf: Buffer): void {
    this.#enc.recycle(buf);
  }
}
