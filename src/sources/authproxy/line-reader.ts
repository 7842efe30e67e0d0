/**
 * Splits one file into lines by byte offset. Hot path: the complete lines of a chunk are decoded
 * with one `toString` and each line is a slice of that text (an O(1) view, not a copy); byte
 * offsets come from scanning the chunk for LF alongside, since LF is one byte and one UTF-16 unit
 * on both sides. Lines decoded one by one would be a batch of fresh strings that outlive a
 * scavenge while the batch is routed, and the GC copied and promoted every one of them. Only a
 * line that straddles two chunks is copied. Invalid UTF-8 becomes U+FFFD (the record is kept):
 * LF never occurs inside a multi-byte sequence, so decoding per chunk or per line gives the same text.
 * When `out` takes bytes (a ByteLines: the pipeline's route thread decodes each line where it
 * routes it), nothing is decoded here: each line's bytes are copied into the batch as they are.
 *
 * Offsets: `lineStart` is the first byte not yet consumed into a record (or skipped as empty or
 * over-long); it is what a checkpoint may commit. `readPos` is the next byte to read; the bytes
 * between them are a line fragment still waiting for its newline, held in memory up to
 * `maxLineBytes`. A longer line is reported once via `onOversize` and then skipped up to its
 * newline without being buffered, so a monster line neither wedges the reader nor eats memory.
 */
import type { FileHandle } from 'node:fs/promises';
import type { SourceRecord } from '../../event.js';
import type { ByteLines } from '../source.js';

/** Where drain() puts lines: records with their decoded text, or the lines' bytes as they are. */
export type LineOut = SourceRecord[] | ByteLines;

/** Bytes of an over-long line kept for the dead-letter preview. */
export const PREVIEW_BYTES = 1024;

export interface LineReaderOptions {
  maxLineBytes: number;
  /** Builds the record for one line starting at byte `start`. */
  makeRecord: (text: string, start: number) => SourceRecord;
  /** An over-long line starting at `start`; `length` is its size, or the bytes seen so far when it has no end yet. */
  onOversize: (start: number, preview: string, length: number, complete: boolean) => void;
}

export class LineReader {
  /** Next byte to read from the file. */
  readPos: number;
  /** First byte not yet turned into a record or skipped. */
  lineStart: number;
  readonly #opts: LineReaderOptions;
  #buf: Buffer | undefined;
  #pos = 0;
  /** File offset of `#buf[0]`. */
  #bufOffset = 0;
  #carry: Buffer[] = [];
  #carryLen = 0;
  #skipping = false;
  /** The decoded complete lines of the chunk from byte #textFrom up to #textTo (exclusive, ends with LF), and the next char to take. */
  #text = '';
  #textFrom = -1;
  #textTo = -1;
  #textPos = 0;

  constructor(offset: number, opts: LineReaderOptions) {
    this.readPos = offset;
    this.lineStart = offset;
    this.#opts = opts;
  }

  /** A line fragment (or the tail of an over-long line) is waiting for its newline. */
  get hasFragment(): boolean {
    return this.#carryLen > 0 || this.#skipping;
  }

  /** True when bytes read from the file are still waiting in the chunk buffer. */
  get hasBuffered(): boolean {
    return this.#buf !== undefined && this.#pos < this.#buf.length;
  }

  /** Reads the next chunk at `readPos` into `buf` (shared; drain before the next fill). Returns bytes read, 0 at EOF. */
  async fill(fh: FileHandle, buf: Buffer): Promise<number> {
    const { bytesRead } = await fh.read(buf, 0, buf.length, this.readPos);
    this.#bufOffset = this.readPos;
    this.#buf = bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
    this.#pos = 0;
    this.#dropText();
    this.readPos += bytesRead;
    return bytesRead;
  }

  /**
   * Moves complete lines from the chunk into `out` until `out` holds `max` records.
   * Returns true when it stopped because `out` is full (more lines may wait in the chunk).
   */
  drain(out: LineOut, max: number): boolean {
    const buf = this.#buf;
    if (buf === undefined) return false;
    const end = buf.length;
    let s = this.#pos;
    while (s < end) {
      if (out.length >= max) {
        this.#pos = s;
        return true;
      }
      const nl = buf.indexOf(10, s);
      if (nl === -1) {
        this.#holdFragment(buf, s, end);
        s = end;
        break;
      }
      if (this.#carryLen > 0 || this.#skipping) this.#takeLine(buf, s, nl, out);
      else this.#takeTextLine(buf, s, nl, out);
      s = nl + 1;
      this.lineStart = this.#bufOffset + s;
    }
    this.#pos = end;
    this.#buf = undefined;
    this.#dropText();
    return false;
  }

  /** A line with no fragment before it, as a slice of the chunk's decoded text (or as bytes). */
  #takeTextLine(buf: Buffer, s: number, nl: number, out: LineOut): void {
    if (nl - s > this.#opts.maxLineBytes) {
      if (s === this.#textFrom) {
        // Keep the decoded text in step: skip this line's characters too.
        this.#textPos = this.#text.indexOf('\n', this.#textPos) + 1;
        this.#textFrom = nl + 1;
      }
      this.#takeLine(buf, s, nl, out);
      return;
    }
    if (!Array.isArray(out)) {
      this.#put(out, buf, s, trimCr(buf, s, nl));
      return;
    }
    if (s !== this.#textFrom || s >= this.#textTo) {
      // Decode every complete line from here to the chunk's last LF at once.
      const last = buf.lastIndexOf(10);
      this.#text = buf.toString('utf8', s, last + 1);
      this.#textFrom = s;
      this.#textTo = last + 1;
      this.#textPos = 0;
    }
    const text = this.#text;
    const c = this.#textPos;
    const cnl = text.indexOf('\n', c);
    this.#textPos = cnl + 1;
    this.#textFrom = nl + 1;
    const e = cnl > c && text.charCodeAt(cnl - 1) === 13 ? cnl - 1 : cnl;
    if (e === c) return;
    out.push(this.#opts.makeRecord(text.slice(c, e), this.lineStart));
  }

  #dropText(): void {
    this.#text = '';
    this.#textFrom = -1;
    this.#textTo = -1;
    this.#textPos = 0;
  }

  /** Emits the held fragment as a line of its own (idle flush, or a rotated file that will not grow). */
  flushFragment(out: LineOut): void {
    if (this.#skipping) {
      this.#skipping = false;
    } else if (this.#carryLen > 0) {
      const line = this.#carry.length === 1 ? (this.#carry[0] as Buffer) : Buffer.concat(this.#carry, this.#carryLen);
      this.#put(out, line, 0, trimCr(line, 0, line.length));
    }
    this.#clearCarry();
    this.lineStart = this.readPos;
  }

  /** Forgets buffered bytes and any fragment, to read again from `offset`. */
  reset(offset: number): void {
    this.readPos = offset;
    this.lineStart = offset;
    this.#buf = undefined;
    this.#pos = 0;
    this.#skipping = false;
    this.#clearCarry();
    this.#dropText();
  }

  #takeLine(buf: Buffer, s: number, nl: number, out: LineOut): void {
    if (this.#skipping) {
      // The newline that ends an over-long line (reported when it crossed the limit).
      this.#skipping = false;
      return;
    }
    const len = this.#carryLen + (nl - s);
    if (len > this.#opts.maxLineBytes) {
      const preview = this.#preview(buf, s, nl);
      this.#clearCarry();
      this.#opts.onOversize(this.lineStart, preview, len, true);
      return;
    }
    if (this.#carryLen === 0) {
      this.#put(out, buf, s, trimCr(buf, s, nl));
    } else {
      this.#carry.push(buf.subarray(s, nl));
      const line = Buffer.concat(this.#carry, len);
      this.#clearCarry();
      this.#put(out, line, 0, trimCr(line, 0, line.length));
    }
  }

  /** Line bytes [s, e) of `src` into `out`; an empty line is no record. */
  #put(out: LineOut, src: Buffer, s: number, e: number): void {
    if (e === s) return;
    if (Array.isArray(out)) out.push(this.#opts.makeRecord(src.toString('utf8', s, e), this.lineStart));
    else out.pushBytes(src, s, e, this.lineStart);
  }

  #holdFragment(buf: Buffer, s: number, end: number): void {
    if (this.#skipping) return;
    const len = this.#carryLen + (end - s);
    if (len > this.#opts.maxLineBytes) {
      const preview = this.#preview(buf, s, end);
      this.#clearCarry();
      this.#skipping = true;
      this.#opts.onOversize(this.lineStart, preview, len, false);
      return;
    }
    // The chunk buffer is reused by the next read: keep a copy of the fragment.
    this.#carry.push(Buffer.from(buf.subarray(s, end)));
    this.#carryLen = len;
  }

  #preview(buf: Buffer, s: number, e: number): string {
    const head = this.#carryLen > 0 ? Buffer.concat([...this.#carry, buf.subarray(s, Math.min(e, s + PREVIEW_BYTES))]) : buf.subarray(s, e);
    return head.toString('utf8', 0, Math.min(head.length, PREVIEW_BYTES));
  }

  #clearCarry(): void {
    if (this.#carryLen > 0 || this.#carry.length > 0) {
      this.#carry = [];
      this.#carryLen = 0;
    }
  }
}

/** End of the line without one trailing CR (CRLF files). */
function trimCr(buf: Buffer, s: number, e: number): number {
  return e > s && buf[e - 1] === 13 ? e - 1 : e;
}
