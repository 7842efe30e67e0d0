/**
 * One consumer's read position: a segment, a byte offset and the next seq, with its own file
 * handle and read buffer. Reads never go past the committed end; corrupt records are skipped
 * (resynchronising on the next valid one) and reported through `gap`.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { SEGMENT_HEADER_BYTES } from './record.js';
import { RecordScanner, type ReadBuffers, type ScannerOptions } from './scanner.js';
import { lookup, type Segment } from './segments.js';
import { buildIndex, type Gap } from './recover.js';
import type { SegmentStore } from './store.js';

/** A record as read. `seq` is a safe integer (2^53 records: centuries at a million per second). */
export interface QueueRecord {
  seq: number;
  payload: Buffer;
}

export interface ReaderHost {
  readonly store: SegmentStore;
  readonly scan: ScannerOptions;
  /** Counts and logs lost records (once per gap). */
  gap(g: Gap): void;
  closed(): boolean;
}

export class ConsumerReader {
  /** When set, the position must be moved to this seq before reading (open, rewind, drop, skip). */
  locate: number | null;
  /** Next seq to read. */
  seq: number;
  #seg: Segment | null = null;
  #scanner: RecordScanner | null = null;
  #fh: FileHandle | null = null;
  readonly #host: ReaderHost;

  readonly #pool: ReadBuffers | undefined;

  /** `pool`: recycle read buffers (DiskQueueOptions.recycleReads). */
  constructor(host: ReaderHost, start: number, pool?: ReadBuffers) {
    this.#host = host;
    this.locate = start;
    this.seq = start;
    this.#pool = pool;
  }

  /** True when records wait past the read position. */
  readable(): boolean {
    return (this.locate ?? this.seq) < this.#host.store.durableSeq;
  }

  /** True when the reader sits in `seg` (its handle must go when the segment goes). */
  inSegment(seg: Segment): boolean {
    return this.#seg === seg;
  }

  /** True when the segment under the reader was deleted (its open handle still pins the disk space). */
  onDeletedSegment(): boolean {
    return this.#seg?.deleted === true;
  }

  async read(maxRecords: number, maxBytes: number): Promise<QueueRecord[]> {
    this.#pool?.release(this.#scanner?.memory);
    const store = this.#host.store;
    const out: QueueRecord[] = [];
    let bytes = 0;
    while (out.length < maxRecords && bytes < maxBytes && !this.#host.closed()) {
      if (this.locate !== null) {
        await this.#place();
        continue;
      }
      const seg = this.#seg;
      const scanner = this.#scanner;
      if (seg === null || scanner === null || seg.deleted) {
        this.locate = Math.max(this.seq, store.head()?.first ?? this.seq);
        continue;
      }
      if (this.seq >= store.durableSeq) break;
      const r = scanner.take(seg.committed);
      if (r === 'io') {
        await scanner.fill(seg.committed);
        continue;
      }
      if (r === 'end') {
        const next = store.after(seg);
        if (!seg.sealed || next === undefined) {
          // Bytes up to the committed end gave fewer records than committed seqs: they are lost.
          this.#host.gap({ segment: seg.first, off: scanner.off, fromSeq: this.seq, toSeq: store.durableSeq });
          this.seq = store.durableSeq;
          break;
        }
        if (seg.committed < seg.size) break; // an append is still filling it
        if (next.first > this.seq) this.#host.gap({ segment: seg.first, off: scanner.off, fromSeq: this.seq, toSeq: next.first });
        await this.#openAt(next, SEGMENT_HEADER_BYTES, next.first);
        continue;
      }
      if (r === 'bad' || scanner.seq < this.seq) {
        const at = r === 'bad' ? scanner.off : scanner.recOff;
        scanner.seek(at);
        const found = await scanner.resync(seg.committed, this.seq);
        if (found.seq !== null) {
          this.#host.gap({ segment: seg.first, off: at, fromSeq: this.seq, toSeq: found.seq });
          this.seq = found.seq;
        }
        continue;
      }
      const seq = scanner.seq;
      if (seq > this.seq) this.#host.gap({ segment: seg.first, off: scanner.recOff, fromSeq: this.seq, toSeq: seq });
      out.push({ seq, payload: r });
      bytes += r.length;
      this.seq = seq + 1;
    }
    return out;
  }

  /** Releases the file handle; the next read re-opens at the current seq. */
  async drop(): Promise<void> {
    const fh = this.#fh;
    this.#fh = null;
    this.#scanner = null;
    this.#seg = null;
    if (fh !== null) await fh.close().catch(() => undefined);
  }

  /** Moves the read position to `locate` (clamped to the records on disk). */
  async #place(): Promise<void> {
    const store = this.#host.store;
    const head = store.head();
    let target = this.locate ?? this.seq;
    this.locate = null;
    if (head === undefined) return;
    target = Math.min(Math.max(target, head.first), store.durableSeq);
    const seg = store.containing(target) ?? head;
    if (target === store.durableSeq && seg.committed === seg.size) {
      await this.#openAt(seg, seg.committed, target);
      return;
    }
    if (seg.index === null) await buildIndex(seg, this.#host.scan);
    const start = lookup(seg, target);
    await this.#openAt(seg, start.off, target);
    const scanner = this.#scanner;
    if (scanner === null) return;
    // Skip the records before the target; stop on the first at or after it.
    let expected = start.seq;
    for (;;) {
      const r = scanner.take(seg.committed);
      if (r === 'end') return;
      if (r === 'io') {
        await scanner.fill(seg.committed);
        continue;
      }
      if (r === 'bad' || scanner.seq < expected) {
        scanner.seek(r === 'bad' ? scanner.off : scanner.recOff);
        const found = await scanner.resync(seg.committed, expected);
        if (found.seq === null) return;
        expected = found.seq;
        continue;
      }
      if (scanner.seq >= target) {
        scanner.seek(scanner.recOff);
        return;
      }
      expected = scanner.seq + 1;
    }
  }

  async #openAt(seg: Segment, off: number, seq: number): Promise<void> {
    if (this.#seg !== seg || this.#scanner === null) {
      await this.drop();
      this.#fh = await open(seg.path, 'r');
      this.#scanner = new RecordScanner(this.#fh, off, this.#host.scan, this.#pool);
      this.#seg = seg;
    } else {
      this.#scanner.seek(off);
    }
    this.seq = seq;
  }
}
