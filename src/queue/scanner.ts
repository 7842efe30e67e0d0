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

/** Buffers below this size come from Node's shared pool (or are not worth keeping): never recycled. */
const MIN_RECYCLED_BYTES = 64 * 1024;
/** Free buffers kept per consumer. */
const MAX_FREE = 2;

/**
 * Read buffers one consumer reuses (DiskQueueOptions.recycleReads): a buffer lent in an earlier
 * read() is free again once the consumer starts its next read(), except the one the scanner still
 * hands records out of. Reading a megabyte chunk into fresh memory every time made V8 run a full
 * GC every few chunks (external memory pressure).
 */
export class ReadBuffers {
  #free: Buffer[] = [];
  #lent: Buffer[] = [];

  /** A buffer of at least `n` bytes; its contents are garbage. */
  take(n: number): Buffer {
    const i = this.#free.findIndex((b) => b.length >= n);
    const buf = i >= 0 ? (this.#free.splice(i, 1)[0] as Buffer) : Buffer.allocUnsafe(n);
    this.#lent.push(buf);
    return buf;
  }

  /** A new read() begins: what earlier reads handed out is done with, except the memory of `current`. */
  release(current: ArrayBufferLike | undefined): void {
    const still: Buffer[] = [];
    for (const b of this.#lent) {
      if (b.buffer === current) still.push(b);
      else if (b.byteOffset === 0 && b.length === b.buffer.byteLength && b.length >= MIN_RECYCLED_BYTES && this.#free.length < MAX_FREE) this.#free.push(b);
    }
    this.#lent = still;
  }
}

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

  readonly #pool: ReadBuffers | undefined;

  constructor(fh: FileHandle, off: number, opts: ScannerOptions, pool?: ReadBuffers) {
    this.#fh = fh;
    this.off = off;
    this.#opts = opts;
    this.#pool = pool;
  }

  /** The memory the records still to be taken are in (ReadBuffers.release). */
  get memory(): ArrayBufferLike {
    return this.#buf.buffer;
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
    // Payloads handed out earlier are views into the old buffer: a fresh one, or one the consumer is done with.
    const buf = this.#pool?.take(n) ?? Buffer.allocUnsafe(n);
    const { bytesRead } = await this.#fh.read(buf, 0, n, this.off);
    this.#buf = bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
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
