/**
 * Frames a batch message by message into one Buffer, as each message is formatted.
 *
 * Same bytes as `frameOctetBatch` / `frameLfBatch` (frame.ts), but no array of formatted strings
 * is kept for the whole batch and no separate pass measures each one: a message is encoded
 * straight into the batch buffer and becomes garbage at once, which keeps the young generation
 * small (GC was a fifth of the relay's CPU with the two-pass framer).
 *
 * Batch buffers are recycled: the destination hands a buffer back once nothing refers to it (it
 * left the replay window), and the next batch is framed into it. Without that, each batch is a
 * fresh allocation outside the JS heap that is released only when a full GC collects its small
 * JS wrapper, long after it left the window: such garbage reached tens of MB under load.
 *
 * Octet counting needs MSG-LEN before the message, but the byte length is known only after
 * encoding. A message of `n` UTF-16 units takes between `n` and `3n` UTF-8 bytes, so it is written
 * after room for the digits of `n`; in the rare case the byte count has more digits (multi-byte
 * text crossing a power of ten) the message is moved up by the difference.
 */
import type { Framing } from './frame.js';
import { decimalDigits, escapeLineBreaks } from './frame.js';

const LF = 0x0a;
const SP = 0x20;
/** First guess of framed bytes per message, before any batch was measured. */
const INITIAL_BYTES_PER_MESSAGE = 1024;
/** Headroom over the estimate: a batch rarely needs to grow. */
const HEADROOM = 1.25;
/** A finished batch wasting more than this share of its buffer is copied to its exact size (the replay window keeps it). */
const MAX_SLACK = 0.25;
/** A spare is reused when it holds at least this share of the estimate (which has HEADROOM). */
const SPARE_FIT = 0.9;
/** Spare buffers kept for reuse; more come back only when batches shrink or the window is cut. */
const MAX_SPARES = 2;

export class FrameEncoder {
  readonly #lf: boolean;
  #buf: Buffer = Buffer.alloc(0);
  #off = 0;
  #count = 0;
  #bytesPerMessage = INITIAL_BYTES_PER_MESSAGE;
  #spares: ArrayBuffer[] = [];

  constructor(framing: Framing) {
    this.#lf = framing === 'lf';
  }

  /** Starts a new batch of about `messages` messages (any batch not finished is dropped). */
  begin(messages: number): void {
    const estimate = Math.ceil(Math.max(1, messages) * this.#bytesPerMessage * HEADROOM) + 4096;
    this.#buf = this.#take(estimate) ?? Buffer.allocUnsafe(estimate);
    this.#off = 0;
    this.#count = 0;
  }

  /** Appends one framed message. */
  push(msg: string): void {
    const text = this.#lf ? escapeLineBreaks(msg) : msg;
    // UTF-8 needs at most 3 bytes per UTF-16 unit; +8 covers MSG-LEN and SP, or LF.
    this.#reserve(text.length * 3 + 8);
    const buf = this.#buf;
    const off = this.#off;
    if (this.#lf) {
      const len = buf.write(text, off, 'utf8');
      buf[off + len] = LF;
      this.#off = off + len + 1;
    } else {
      const guess = decimalDigits(text.length);
      const len = buf.write(text, off + guess + 1, 'utf8');
      const digits = decimalDigits(len);
      if (digits !== guess) buf.copyWithin(off + digits + 1, off + guess + 1, off + guess + 1 + len);
      this.#writeLength(off, digits, len);
      this.#off = off + digits + 1 + len;
    }
    this.#count++;
  }

  /**
   * Appends one framed message given as `head + body` (CountingFormatter.split): both parts are
   * encoded in place, one after the other, so the joined string is never built nor copied.
   */
  pushSplit(head: string, body: string): void {
    if (this.#lf) {
      this.push(head + body);
      return;
    }
    const units = head.length + body.length;
    this.#reserve(units * 3 + 8);
    const buf = this.#buf;
    const off = this.#off;
    const guess = decimalDigits(units);
    const start = off + guess + 1;
    const headLen = buf.write(head, start, 'utf8');
    const len = headLen + buf.write(body, start + headLen, 'utf8');
    const digits = decimalDigits(len);
    if (digits !== guess) buf.copyWithin(off + digits + 1, start, start + len);
    this.#writeLength(off, digits, len);
    this.#off = off + digits + 1 + len;
    this.#count++;
  }

  /**
   * Appends one framed message given as `head` + the UTF-8 bytes of its body (an event read back
   * from the disk queue keeps its body's bytes, formats/types.ts): the body is copied, never decoded
   * nor encoded. The body must hold no CR or LF (JSON text has none), so LF framing needs no escape.
   */
  pushSplitBytes(head: string, body: Buffer): void {
    const text = this.#lf ? escapeLineBreaks(head) : head;
    this.#reserve(text.length * 3 + body.length + 8);
    const buf = this.#buf;
    const off = this.#off;
    if (this.#lf) {
      const headLen = buf.write(text, off, 'utf8');
      const len = headLen + body.copy(buf, off + headLen);
      buf[off + len] = LF;
      this.#off = off + len + 1;
    } else {
      const guess = decimalDigits(text.length + body.length);
      const start = off + guess + 1;
      const headLen = buf.write(text, start, 'utf8');
      const len = headLen + body.copy(buf, start + headLen);
      const digits = decimalDigits(len);
      if (digits !== guess) buf.copyWithin(off + digits + 1, start, start + len);
      this.#writeLength(off, digits, len);
      this.#off = off + digits + 1 + len;
    }
    this.#count++;
  }

  /**
   * The framed batch. The encoder forgets it: the caller owns the Buffer. `whole`: never copied to
   * a tighter buffer (the result is a view from byte 0 of a non-pooled ArrayBuffer, transferable).
   */
  finish(whole = false): Buffer {
    const used = this.#off;
    if (this.#count > 0) this.#bytesPerMessage = Math.max(16, Math.ceil(used / this.#count));
    const full = this.#buf;
    this.#buf = Buffer.alloc(0);
    this.#off = 0;
    this.#count = 0;
    if (!whole && used < full.length * (1 - MAX_SLACK)) return Buffer.from(full.subarray(0, used));
    return full.subarray(0, used);
  }

  /**
   * Takes back a Buffer that `finish` returned, once nothing else refers to it (written, settled
   * and out of the replay window). Never pass a buffer that is still in use.
   */
  recycle(buf: Buffer): void {
    const ab = buf.buffer;
    // Only whole batch buffers (own ArrayBuffer, not a slice of Node's shared pool) are worth keeping.
    if (buf.byteOffset !== 0 || ab.byteLength < 65536 || !(ab instanceof ArrayBuffer)) return;
    if (this.#spares.length >= MAX_SPARES) this.#spares.shift();
    this.#spares.push(ab);
  }

  #take(bytes: number): Buffer | undefined {
    const spares = this.#spares;
    // `bytes` carries HEADROOM over the expected size: a spare a little smaller than the estimate
    // (message sizes drift from batch to batch) still fits, and a rare overflow grows the buffer.
    const least = bytes * SPARE_FIT;
    for (let i = spares.length - 1; i >= 0; i--) {
      const ab = spares[i] as ArrayBuffer;
      if (ab.byteLength >= least && ab.byteLength <= bytes * 4) {
        spares.splice(i, 1);
        return Buffer.from(ab);
      }
    }
    return undefined;
  }

  /** MSG-LEN (`digits` decimal digits) and its SP at `off`. */
  #writeLength(off: number, digits: number, len: number): void {
    const buf = this.#buf;
    let v = len;
    for (let i = off + digits - 1; i >= off; i--) {
      buf[i] = 48 + (v % 10);
      v = Math.floor(v / 10);
    }
    buf[off + digits] = SP;
  }

  #reserve(bytes: number): void {
    const need = this.#off + bytes;
    if (need <= this.#buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(need, this.#buf.length * 2));
    this.#buf.copy(grown, 0, 0, this.#off);
    this.#buf = grown;
  }
}
