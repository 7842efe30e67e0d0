/**
 * Sequential reader of the records in one segment file. It reads big chunks and hands out
 * payloads as views into them, so a consumer costs one chunk of memory however far behind it
 * is. Only bytes below the caller's `limit` (the committed end) are ever read or trusted.
 */
import type { FileHandle } from 'node:fs/promises';
import { RECORD_HEADER_BYTES, checkRecord, readU64 } from './record.js';

/** take() outcomes that are not a record. */
export type ScanSignal = 'io' | 'bad' | 'end';

export interface Resync {
  /** Where the unreadable bytes start and end (exclusive). */
  from: number;
  to: number;
  /** Seq of the next valid record, or null when none was found before the limit. */
  seq: number | null;
}

export interface ScannerOptions {
  chunkBytes: number;
  maxPayload: number;
}

const EMPTY = Buffer.alloc(0);
const RESYNC_WINDOW = 1024 * 1024;

export class RecordScanner {
  /** Offset of the next record to take. */
  off: number;
  /** Seq, header offset and append time of the record take() returned last (fields, not an object per record). */
  seq = 0;
  recOff = 0;
  timeMs = 0;
  readonly #fh: FileHandle;
  readonly #opts: ScannerOptions;
  #buf: Buffer = EMPTY;
  #bufStart = 0;
  /** End of the file as the last short read found it: bytes past it do not exist, whatever `limit` says. */
  #eof = Number.POSITIVE_INFINITY;

  constructor(fh: FileHandle, off: number, opts: ScannerOptions) {
    this.#fh = fh;
    this.off = off;
    this.#opts = opts;
  }

  /** Moves to `off`, keeping the buffer when it still covers that offset. */
  seek(off: number): void {
    this.off = off;
  }

  /**
   * The payload of the next record from the buffer, without I/O (its seq, offset and time are
   * then in `seq`, `recOff`, `timeMs`): 'io' = call fill(), 'bad' = the bytes at `off` are not a
   * valid record (call resync()), 'end' = `off` reached the committed end.
   */
  take(committed: number): Buffer | ScanSignal {
    const limit = Math.min(committed, this.#eof);
    const off = this.off;
    if (off >= limit) return 'end';
    if (off + RECORD_HEADER_BYTES > limit) return 'bad';
    const buf = this.#buf;
    const rel = off - this.#bufStart;
    const bufEnd = this.#bufStart + buf.length;
    if (rel < 0 || off + RECORD_HEADER_BYTES > bufEnd) return 'io';
    const len = buf.readUInt32LE(rel);
    if (len > this.#opts.maxPayload || off + RECORD_HEADER_BYTES + len > limit) return 'bad';
    if (off + RECORD_HEADER_BYTES + len > bufEnd) return 'io';
    const payload = checkRecord(buf, rel, this.#opts.maxPayload);
    if (payload === null) return 'bad';
    this.seq = readU64(buf, rel + 8);
    this.timeMs = buf.readDoubleLE(rel + 16);
    this.recOff = off;
    this.off = off + RECORD_HEADER_BYTES + len;
    return payload;
  }

  /** Reads at least the record at `off` (or its header) into a fresh buffer, never past `limit`. */
  async fill(limit: number): Promise<void> {
    let want = this.#opts.chunkBytes;
    const rel = this.off - this.#bufStart;
    if (rel >= 0 && this.off + RECORD_HEADER_BYTES <= this.#bufStart + this.#buf.length) {
      want = Math.max(want, RECORD_HEADER_BYTES + this.#buf.readUInt32LE(rel));
    }
    const n = Math.max(0, Math.min(want, limit - this.off));
    // A fresh buffer each time: payloads handed out earlier are views into the old one.
    const buf = Buffer.allocUnsafe(n);
    const { bytesRead } = await this.#fh.read(buf, 0, n, this.off);
    this.#buf = bytesRead === n ? buf : buf.subarray(0, bytesRead);
    this.#bufStart = this.off;
    // A short read means the file is shorter than its committed size (cut behind our back):
    // take() then sees the missing bytes as a bad record instead of asking for I/O forever.
    this.#eof = bytesRead < n ? this.off + bytesRead : Number.POSITIVE_INFINITY;
  }

  /**
   * Looks for the next valid record after a bad one: a CRC-valid record whose seq is at least
   * `minSeq` and could fit in the bytes scanned. Leaves `off` on it, or on `limit` when none.
   */
  async resync(limit: number, minSeq: number): Promise<Resync> {
    const from = this.off;
    const maxSeq = minSeq + Math.ceil((limit - from) / RECORD_HEADER_BYTES) + 1;
    let winStart = from + 1;
    while (winStart + RECORD_HEADER_BYTES <= limit) {
      const winLen = Math.min(RESYNC_WINDOW + RECORD_HEADER_BYTES, limit - winStart);
      const win = Buffer.allocUnsafe(winLen);
      const { bytesRead } = await this.#fh.read(win, 0, winLen, winStart);
      for (let i = 0; i + RECORD_HEADER_BYTES <= bytesRead; i++) {
        const pos = winStart + i;
        const len = win.readUInt32LE(i);
        if (len > this.#opts.maxPayload || pos + RECORD_HEADER_BYTES + len > limit) continue;
        const seq = readU64(win, i + 8);
        if (seq < minSeq || seq > maxSeq) continue;
        if (await this.#validAt(win, i, pos, len)) {
          this.off = pos;
          this.#buf = EMPTY;
          this.#bufStart = pos;
          return { from, to: pos, seq };
        }
      }
      if (bytesRead < winLen) break;
      winStart += RESYNC_WINDOW;
    }
    this.off = limit;
    this.#buf = EMPTY;
    this.#bufStart = limit;
    return { from, to: limit, seq: null };
  }

  async #validAt(win: Buffer, i: number, pos: number, len: number): Promise<boolean> {
    const size = RECORD_HEADER_BYTES + len;
    if (i + size <= win.length) return checkRecord(win.subarray(i, i + size), 0, this.#opts.maxPayload) !== null;
    const rec = Buffer.allocUnsafe(size);
    const { bytesRead } = await this.#fh.read(rec, 0, size, pos);
    return bytesRead === size && checkRecord(rec, 0, this.#opts.maxPayload) !== null;
  }
}
