/**
 * Appends records to the tail segment: encode, write, fsync, then commit (make them visible).
 * A failed write is rolled back (truncate, unlink) before it is reported, so no uncommitted byte
 * stays on disk to be mistaken for a record later.
 */
import { unlink, type FileHandle } from 'node:fs/promises';
import type { Logger } from '../ops/logger.js';
import { fsyncDir } from '../ops/atomic-file.js';
import { ErrorCodes, RelayError, errorMessage } from '../errors.js';
import { RECORD_HEADER_BYTES, encodeRecords } from './record.js';
import { createSegment, indexBatch, truncateIndex, type Segment } from './segments.js';
import type { SegmentStore } from './store.js';

/** Encode buffers up to this size are kept for reuse; bigger one-off batches get their own. */
const SCRATCH_MAX_BYTES = 4 * 1024 * 1024;

async function writeAll(fh: FileHandle, buf: Buffer, pos: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, pos + done);
    done += bytesWritten;
  }
}

export class SegmentWriter {
  readonly #store: SegmentStore;
  readonly #segLimit: number;
  readonly #logger: Logger;
  #scratch: Buffer = Buffer.alloc(0);
  /** The segment an in-flight append may roll back into: it must not be deleted meanwhile. */
  pinned: Segment | null = null;
  /** Set when a rollback itself failed: the on-disk state is unknown until a restart recovers it. */
  broken: RelayError | null = null;

  constructor(store: SegmentStore, segLimit: number, logger: Logger) {
    this.#store = store;
    this.#segLimit = segLimit;
    this.#logger = logger;
  }

  /** Writes payloads[from, to) (which fit the cap: the caller made room), fsyncs and commits them. */
  async write(payloads: readonly Buffer[], from: number, to: number): Promise<void> {
    const store = this.#store;
    const now = Date.now();
    const base = store.tail();
    const created: Segment[] = [];
    this.pinned = base;
    try {
      let i = from;
      while (i < to) {
        const tail = store.tail();
        let j = i;
        let n = 0;
        while (j < to) {
          const size = RECORD_HEADER_BYTES + (payloads[j]?.length ?? 0);
          if (tail.size + n + size > this.#segLimit) break;
          n += size;
          j++;
        }
        if (j === i) {
          created.push(await this.#roll(now));
          continue;
        }
        const buf = encodeRecords(payloads, i, j, store.nextSeq, now, this.#scratchFor(n));
        if (tail.fh === null) throw new Error('tail segment has no write handle');
        await writeAll(tail.fh, buf, tail.size);
        indexBatch(tail, store.nextSeq, tail.size, now);
        tail.size += buf.length;
        store.diskBytes += buf.length;
        store.nextSeq += j - i;
        i = j;
      }
      await store.tail().fh?.datasync();
      if (created.length > 0) await fsyncDir(store.dir);
    } catch (err: unknown) {
      await this.#rollback(base, created);
      throw err;
    } finally {
      this.pinned = null;
    }
    for (const s of [base, ...created]) {
      s.committed = s.size;
      if (s.sealed) await closeWriteHandle(s);
    }
    store.durableSeq = store.nextSeq;
  }

  /** Starts a new tail outside an append (so a fully acknowledged tail can be deleted); durable at once. */
  async rollNow(): Promise<void> {
    const old = this.#store.tail();
    const seg = await this.#roll(Date.now());
    await seg.fh?.datasync();
    await fsyncDir(this.#store.dir);
    await closeWriteHandle(old);
  }

  /** Seals the tail (fsynced first: only the newest segment may ever hold a torn record) and starts a new one. */
  async #roll(now: number): Promise<Segment> {
    const old = this.#store.tail();
    await old.fh?.datasync();
    old.sealed = true;
    const seg = await createSegment(this.#store.dir, this.#store.nextSeq, now);
    this.#store.add(seg);
    return seg;
  }

  #scratchFor(bytes: number): Buffer | undefined {
    if (bytes > SCRATCH_MAX_BYTES) return undefined;
    if (this.#scratch.length < bytes) this.#scratch = Buffer.allocUnsafe(Math.min(SCRATCH_MAX_BYTES, Math.max(bytes, 2 * this.#scratch.length)));
    return this.#scratch;
  }

  /** Undoes a failed append: nothing uncommitted may stay on disk, or seqs would repeat. */
  async #rollback(base: Segment, created: Segment[]): Promise<void> {
    const store = this.#store;
    try {
      for (const s of created.reverse()) {
        store.remove(s);
        await s.fh?.close().catch(() => undefined);
        s.fh = null;
        await unlink(s.path);
      }
      base.sealed = false;
      if (base.size > base.committed) {
        await base.fh?.truncate(base.committed);
        store.diskBytes -= base.size - base.committed;
        base.size = base.committed;
        truncateIndex(base, base.size);
      }
      store.nextSeq = store.durableSeq;
    } catch (err: unknown) {
      this.broken = new RelayError(
        ErrorCodes.QUEUE_IO,
        `Disk queue ${store.dir} could not undo a failed append (${errorMessage(err)}); restart the relay: recovery keeps every valid record.`,
        { cause: err },
      );
      this.#logger.error({ dir: store.dir, err: errorMessage(err) }, 'Disk queue could not undo a failed append; it refuses further appends until the relay restarts.');
    }
  }
}

export async function closeWriteHandle(s: Segment): Promise<void> {
  const fh = s.fh;
  if (fh === null) return;
  s.fh = null;
  await fh.close().catch(() => undefined);
}
