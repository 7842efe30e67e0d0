/**
 * The disk queue itself: append with one fsync per batch, per-consumer read positions and
 * durable cursors, segment deletion once every consumer is past, and the byte cap.
 * The format and invariants are documented in ./index.ts.
 */
import { mkdir, open, readdir, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../ops/logger.js';
import { fsyncDir } from '../ops/atomic-file.js';
import { ErrorCodes, RelayError, errorMessage, systemCode } from '../errors.js';
import { RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES, encodeRecords } from './record.js';
import { RecordScanner, type ScannerOptions } from './scanner.js';
import { approxTimeMs, createSegment, indexBatch, lookup, truncateIndex, type Segment } from './segments.js';
import { buildIndex, loadSegments, type Gap } from './recover.js';
import { CursorWriter, cursorPath, readCursor } from './cursors.js';
import { acquireQueueLock } from './lock.js';

export interface DiskQueueOptions {
  /** Queue directory (created if missing): `segments/`, `cursors/`, `lock`. */
  dir: string;
  /** Cap on the bytes of all segment files. At least 16 KiB. */
  maxBytes: number;
  /** Target segment size; clamped to [4 KiB, maxBytes / 4] so the cap can always be met by deleting whole segments. */
  segmentBytes: number;
  /** At the cap: `block` makes append wait for acknowledgements; `drop_oldest` deletes the oldest segment. */
  overflow: 'block' | 'drop_oldest';
  /** Every consumer (destination) name; each keeps its own cursor. At least one. */
  consumers: string[];
  logger: Logger;
}

/** A record as read. `seq` is a safe integer (2^53 records: centuries at a million per second). */
export interface QueueRecord {
  seq: number;
  payload: Buffer;
}

export interface QueueStats {
  /** Bytes of all segment files (what the cap limits). */
  bytes: number;
  /** Records not yet acknowledged by the slowest consumer. */
  records: number;
  /** Age of the oldest such record, to one index stride of precision; null when none waits. */
  oldestAgeMs: number | null;
  /** Records deleted by drop_oldest before every consumer acknowledged them. */
  dropped: number;
  /** Records found corrupt and skipped (recovery and reads). */
  corrupt: number;
  /** Bytes cut from a torn tail at open. */
  tornBytes: number;
  segments: number;
  perConsumer: Record<string, { lagRecords: number }>;
}

const MIN_SEGMENT_BYTES = 4096;
const READ_CHUNK_BYTES = 1024 * 1024;
const DEFAULT_READ_BYTES = 4 * 1024 * 1024;
const SCRATCH_MAX_BYTES = 4 * 1024 * 1024;

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

interface Consumer {
  readonly name: string;
  readonly writer: CursorWriter;
  /** First record not acknowledged (in memory; the writer persists it). */
  next: number;
  /** When set, the read position must be moved to this seq before reading (open, rewind, drop). */
  locate: number | null;
  seg: Segment | null;
  /** Next seq to read. */
  seq: number;
  scanner: RecordScanner | null;
  fh: FileHandle | null;
  reading: Promise<unknown> | null;
  waiters: Set<Waiter>;
}

function closedError(dir: string): RelayError {
  return new RelayError(ErrorCodes.CLOSED, `Disk queue ${dir} is closed.`);
}

/** Maps a file-system failure to a coded error naming the queue and what to do. */
function ioError(err: unknown, dir: string, doing: string): RelayError {
  if (err instanceof RelayError) return err;
  const code = systemCode(err);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new RelayError(
      ErrorCodes.QUEUE_FULL,
      `No space left on the device holding disk queue ${dir} (${code}) while ${doing}; free disk space or lower queue.max_bytes. Retry later.`,
      { cause: err },
    );
  }
  return new RelayError(ErrorCodes.QUEUE_IO, `Disk queue ${dir} failed while ${doing}: ${errorMessage(err)}; check the disk and the permissions of state_dir.`, { cause: err });
}

async function writeAll(fh: FileHandle, buf: Buffer, pos: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, pos + done);
    done += bytesWritten;
  }
}

export class DiskQueue {
  readonly #dir: string;
  readonly #segDir: string;
  readonly #cursorDir: string;
  readonly #logger: Logger;
  readonly #overflow: 'block' | 'drop_oldest';
  readonly #maxBytes: number;
  readonly #segLimit: number;
  readonly #maxPayload: number;
  readonly #chunkCap: number;
  readonly #scan: ScannerOptions;
  readonly #release: () => Promise<void>;
  readonly #consumers = new Map<string, Consumer>();
  #segments: Segment[] = [];
  #nextSeq = 0;
  #durableSeq = 0;
  #diskBytes = 0;
  #dropped = 0;
  #corrupt = 0;
  #tornBytes = 0;
  readonly #reported = new Set<string>();
  #appendChain: Promise<void> = Promise.resolve();
  #scratch: Buffer = Buffer.alloc(0);
  /** The segment an in-flight append may roll back into: reclaim must not delete it. */
  #pinned: Segment | null = null;
  readonly #spaceWaiters = new Set<Waiter>();
  #blockedSince: number | null = null;
  #closed = false;
  #closing: Promise<void> | null = null;
  #broken: RelayError | null = null;

  private constructor(opts: DiskQueueOptions, release: () => Promise<void>) {
    this.#dir = opts.dir;
    this.#segDir = join(opts.dir, 'segments');
    this.#cursorDir = join(opts.dir, 'cursors');
    this.#logger = opts.logger;
    this.#overflow = opts.overflow;
    this.#maxBytes = opts.maxBytes;
    this.#segLimit = Math.max(MIN_SEGMENT_BYTES, Math.min(opts.segmentBytes, Math.floor(opts.maxBytes / 4)));
    this.#maxPayload = this.#segLimit - SEGMENT_HEADER_BYTES - RECORD_HEADER_BYTES;
    this.#chunkCap = Math.floor(opts.maxBytes / 4);
    this.#scan = { chunkBytes: Math.min(READ_CHUNK_BYTES, this.#segLimit), maxPayload: this.#maxPayload };
    this.#release = release;
  }

  /** Opens (or creates) the queue in `opts.dir`, recovering from a crash; see ./index.ts. */
  static async open(opts: DiskQueueOptions): Promise<DiskQueue> {
    if (!Number.isSafeInteger(opts.maxBytes) || opts.maxBytes < 4 * MIN_SEGMENT_BYTES) {
      throw new RelayError(ErrorCodes.CONFIG, `Disk queue ${opts.dir}: max_bytes must be an integer of at least ${4 * MIN_SEGMENT_BYTES}, got ${opts.maxBytes}.`);
    }
    if (!Number.isSafeInteger(opts.segmentBytes) || opts.segmentBytes < 1) {
      throw new RelayError(ErrorCodes.CONFIG, `Disk queue ${opts.dir}: segment_bytes must be a positive integer, got ${opts.segmentBytes}.`);
    }
    if (opts.consumers.length === 0 || new Set(opts.consumers).size !== opts.consumers.length) {
      throw new RelayError(ErrorCodes.CONFIG, `Disk queue ${opts.dir} needs at least one consumer and unique consumer names, got ${JSON.stringify(opts.consumers)}.`);
    }
    try {
      await mkdir(join(opts.dir, 'segments'), { recursive: true, mode: 0o700 });
      await mkdir(join(opts.dir, 'cursors'), { recursive: true, mode: 0o700 });
    } catch (err: unknown) {
      throw ioError(err, opts.dir, 'creating its directories');
    }
    const release = await acquireQueueLock(opts.dir);
    const q = new DiskQueue(opts, release);
    try {
      await q.#init(opts.consumers);
    } catch (err: unknown) {
      await q.#closeHandles();
      await release();
      throw ioError(err, opts.dir, 'opening');
    }
    return q;
  }

  async #init(names: readonly string[]): Promise<void> {
    const loaded = await loadSegments(this.#segDir, this.#scan, this.#logger);
    const reads = await Promise.all(names.map((n) => readCursor(cursorPath(this.#cursorDir, n), n)));
    this.#segments = loaded.segments;
    this.#tornBytes = loaded.tornBytes;
    let nextSeq = loaded.nextSeq;
    const tail = loaded.segments[loaded.segments.length - 1];
    if (tail === undefined) {
      let first = 1;
      for (const r of reads) if (r.kind === 'ok') first = Math.max(first, r.next);
      const seg = await createSegment(this.#segDir, first, Date.now());
      await seg.fh?.datasync();
      await fsyncDir(this.#segDir);
      this.#segments = [seg];
      nextSeq = first;
    } else {
      tail.fh = loaded.tailFh;
    }
    this.#nextSeq = nextSeq;
    this.#durableSeq = nextSeq;
    this.#diskBytes = this.#segments.reduce((n, s) => n + s.size, 0);
    const head = this.#segments[0]?.first ?? nextSeq;
    for (let i = 0; i < names.length; i++) {
      const name = names[i] ?? '';
      const r = reads[i] ?? { kind: 'missing' as const };
      const writer = new CursorWriter(cursorPath(this.#cursorDir, name), name, r.kind === 'ok' ? r.next : -1);
      let next: number;
      if (r.kind === 'missing') {
        next = nextSeq;
        this.#logger.info({ consumer: name, seq: next }, 'Disk queue consumer is new; it starts with the records appended from now on.');
      } else if (r.kind === 'corrupt') {
        next = head;
        this.#logger.error(
          { consumer: name, file: writer.path, reason: r.reason },
          'Disk queue cursor file is unreadable; the consumer restarts from the oldest record on disk, so it may receive duplicates.',
        );
      } else {
        next = Math.min(Math.max(r.next, head), nextSeq);
        if (r.next < head) this.#logger.warn({ consumer: name, cursor: r.next, oldest: head }, 'Disk queue cursor points before the oldest record on disk (dropped or deleted); the consumer resumes at the oldest record.');
        if (r.next > nextSeq) this.#logger.warn({ consumer: name, cursor: r.next, next: nextSeq }, 'Disk queue cursor points past the last record (cut at recovery); the consumer resumes at the end.');
      }
      if (r.kind !== 'ok' || next !== r.next) await writer.force(next);
      this.#consumers.set(name, { name, writer, next, locate: next, seg: null, seq: next, scanner: null, fh: null, reading: null, waiters: new Set() });
    }
    for (const g of loaded.gaps) this.#gap(g);
    await this.#noteOrphanCursors(new Set(names));
    await this.#reclaim();
    const s = this.stats();
    this.#logger.info(
      { dir: this.#dir, records: s.records, bytes: s.bytes, segments: s.segments, tornBytes: s.tornBytes, corrupt: s.corrupt },
      'Disk queue opened.',
    );
  }

  /** Cursors of consumers no longer configured are kept but ignored: they do not hold segments back. */
  async #noteOrphanCursors(known: ReadonlySet<string>): Promise<void> {
    const files = await readdir(this.#cursorDir);
    const mine = new Set([...known].map((n) => cursorPath(this.#cursorDir, n)));
    for (const f of files) {
      const path = join(this.#cursorDir, f);
      if (!f.endsWith('.json') || mine.has(path)) continue;
      this.#logger.info({ file: path }, 'Disk queue ignores the cursor of a consumer that is no longer configured.');
    }
  }

  // ------------------------------------------------------------------ append

  /**
   * Appends payloads as consecutive records; resolves once they are fsynced. Large batches are
   * written in chunks of at most max_bytes / 4, each fsynced. At the cap, `block` waits for
   * acknowledgements (until `signal` aborts or close()), `drop_oldest` deletes old segments.
   * Rejects with DR_ERR_QUEUE_FULL (retry later) on ENOSPC or an aborted wait, DR_ERR_BAD_RECORD
   * for a payload over the record limit (nothing of the batch is written then).
   */
  append(payloads: readonly Buffer[], signal?: AbortSignal): Promise<void> {
    try {
      this.#assertOpen();
    } catch (err: unknown) {
      return Promise.reject(err);
    }
    for (const p of payloads) {
      if (p.length > this.#maxPayload) {
        return Promise.reject(
          new RelayError(
            ErrorCodes.BAD_RECORD,
            `A record of ${p.length} bytes exceeds the record limit of disk queue ${this.#dir} (${this.#maxPayload} bytes, from queue.segment_bytes and queue.max_bytes / 4); raise those or lower max_message_bytes.`,
          ),
        );
      }
    }
    const run = this.#appendChain.then(() => this.#appendAll(payloads, signal));
    this.#appendChain = run.catch(() => undefined);
    return run;
  }

  async #appendAll(payloads: readonly Buffer[], signal: AbortSignal | undefined): Promise<void> {
    let from = 0;
    while (from < payloads.length) {
      this.#assertOpen();
      let to = from;
      let bytes = 0;
      while (to < payloads.length) {
        const size = RECORD_HEADER_BYTES + (payloads[to]?.length ?? 0);
        if (to > from && bytes + size > this.#chunkCap) break;
        bytes += size;
        to++;
      }
      await this.#appendChunk(payloads, from, to, bytes, signal);
      from = to;
    }
  }

  async #appendChunk(payloads: readonly Buffer[], from: number, to: number, bytes: number, signal: AbortSignal | undefined): Promise<void> {
    const rolls = 1 + Math.ceil(bytes / (this.#segLimit - SEGMENT_HEADER_BYTES));
    await this.#makeRoom(bytes + rolls * SEGMENT_HEADER_BYTES, signal);
    const now = Date.now();
    const base = this.#tail();
    const created: Segment[] = [];
    this.#pinned = base;
    try {
      let i = from;
      while (i < to) {
        const tail = this.#tail();
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
        const buf = encodeRecords(payloads, i, j, this.#nextSeq, now, this.#scratchFor(n));
        if (tail.fh === null) throw new Error('tail segment has no write handle');
        await writeAll(tail.fh, buf, tail.size);
        indexBatch(tail, this.#nextSeq, tail.size, now);
        tail.size += buf.length;
        this.#diskBytes += buf.length;
        this.#nextSeq += j - i;
        i = j;
      }
      await this.#tail().fh?.datasync();
      if (created.length > 0) await fsyncDir(this.#segDir);
    } catch (err: unknown) {
      await this.#rollback(base, created);
      throw ioError(err, this.#dir, 'appending');
    } finally {
      this.#pinned = null;
    }
    for (const s of [base, ...created]) {
      s.committed = s.size;
      if (s.sealed && s.fh !== null) {
        const fh = s.fh;
        s.fh = null;
        await fh.close().catch(() => undefined);
      }
    }
    this.#durableSeq = this.#nextSeq;
    this.#wakeReaders();
  }

  /** A reusable encode buffer (appends are serialised, so one is enough); big one-off batches get their own. */
  #scratchFor(bytes: number): Buffer | undefined {
    if (bytes > SCRATCH_MAX_BYTES) return undefined;
    if (this.#scratch.length < bytes) this.#scratch = Buffer.allocUnsafe(Math.min(SCRATCH_MAX_BYTES, Math.max(bytes, 2 * this.#scratch.length)));
    return this.#scratch;
  }

  /** Seals the tail (fsynced first: only the newest segment may ever hold a torn record) and starts a new one. */
  async #roll(now: number): Promise<Segment> {
    const old = this.#tail();
    await old.fh?.datasync();
    old.sealed = true;
    const seg = await createSegment(this.#segDir, this.#nextSeq, now);
    this.#segments.push(seg);
    this.#diskBytes += seg.size;
    return seg;
  }

  /** A roll outside an append (to free a fully acknowledged tail): durable at once. */
  async #rollNow(): Promise<void> {
    const old = this.#tail();
    const seg = await this.#roll(Date.now());
    await seg.fh?.datasync();
    await fsyncDir(this.#segDir);
    if (old.fh !== null) {
      const fh = old.fh;
      old.fh = null;
      await fh.close().catch(() => undefined);
    }
  }

  /** Undoes a failed append: nothing uncommitted may stay on disk, or seqs would repeat. */
  async #rollback(base: Segment, created: Segment[]): Promise<void> {
    try {
      for (const s of created.reverse()) {
        this.#segments = this.#segments.filter((x) => x !== s);
        this.#diskBytes -= s.size;
        s.deleted = true;
        await s.fh?.close().catch(() => undefined);
        s.fh = null;
        await unlink(s.path);
      }
      base.sealed = false;
      if (base.size > base.committed) {
        await base.fh?.truncate(base.committed);
        this.#diskBytes -= base.size - base.committed;
        base.size = base.committed;
        truncateIndex(base, base.size);
      }
      this.#nextSeq = this.#durableSeq;
    } catch (err: unknown) {
      this.#broken = new RelayError(
        ErrorCodes.QUEUE_IO,
        `Disk queue ${this.#dir} could not undo a failed append (${errorMessage(err)}); restart the relay: recovery keeps every valid record.`,
        { cause: err },
      );
      this.#logger.error({ dir: this.#dir, err: errorMessage(err) }, 'Disk queue could not undo a failed append; it refuses further appends until the relay restarts.');
    }
  }

  async #makeRoom(need: number, signal: AbortSignal | undefined): Promise<void> {
    for (;;) {
      this.#assertOpen();
      await this.#reclaim();
      if (this.#diskBytes + need <= this.#maxBytes) break;
      const tail = this.#tail();
      const tailAcked = this.#minNext() >= this.#durableSeq && tail.size > SEGMENT_HEADER_BYTES;
      if (this.#overflow === 'drop_oldest' && this.#segments.length > 1) {
        await this.#dropOldest();
      } else if (tailAcked || (this.#overflow === 'drop_oldest' && tail.size > SEGMENT_HEADER_BYTES)) {
        // Everything left sits in the tail: start a new segment so the old one can go.
        await this.#rollNow();
      } else if (this.#overflow === 'drop_oldest') {
        throw new RelayError(ErrorCodes.QUEUE_FULL, `Disk queue ${this.#dir} cannot make room for ${need} bytes under max_bytes ${this.#maxBytes}.`);
      } else {
        await this.#waitForSpace(need, signal);
      }
    }
    if (this.#blockedSince !== null) {
      this.#logger.info({ dir: this.#dir, blockedMs: Date.now() - this.#blockedSince }, 'Disk queue has room again; appends resume.');
      this.#blockedSince = null;
    }
  }

  #waitForSpace(need: number, signal: AbortSignal | undefined): Promise<void> {
    if (this.#blockedSince === null) {
      this.#blockedSince = Date.now();
      const behind = [...this.#consumers.values()].filter((c) => c.next < this.#durableSeq).map((c) => c.name);
      this.#logger.warn(
        { dir: this.#dir, bytes: this.#diskBytes, maxBytes: this.#maxBytes, behind },
        'Disk queue is full (overflow: block); sources wait until the lagging destinations catch up.',
      );
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        w.reject(
          new RelayError(
            ErrorCodes.QUEUE_FULL,
            `Disk queue ${this.#dir} is full (${this.#diskBytes} of ${this.#maxBytes} bytes, ${need} more needed) and the wait was aborted; raise queue.max_bytes or fix the lagging destinations.`,
            { cause: signal?.reason },
          ),
        );
      };
      const w: Waiter = {
        resolve: () => {
          this.#spaceWaiters.delete(w);
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (err: unknown) => {
          this.#spaceWaiters.delete(w);
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      if (signal?.aborted === true) {
        onAbort();
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#spaceWaiters.add(w);
    });
  }

  async #dropOldest(): Promise<void> {
    const seg = this.#segments[0];
    const end = this.#segments[1]?.first;
    if (seg === undefined || end === undefined) return;
    const lost = Math.max(0, end - Math.max(seg.first, this.#minNext()));
    const behind: string[] = [];
    for (const c of this.#consumers.values()) {
      if (c.next < end) {
        behind.push(c.name);
        c.next = end;
      }
      if ((c.locate ?? c.seq) < end) c.locate = end;
    }
    this.#dropped += lost;
    await this.#deleteSegment(seg);
    this.#logger.error(
      { dir: this.#dir, file: seg.path, records: lost, dropped: this.#dropped, behind },
      'Disk queue is full (overflow: drop_oldest): dropped its oldest segment, losing records the listed destinations had not received; raise queue.max_bytes or fix those destinations.',
    );
  }

  /** Deletes segments every consumer is past (never the tail, never the one an append may roll back into). */
  async #reclaim(): Promise<void> {
    const min = this.#minNext();
    for (;;) {
      const first = this.#segments[0];
      const second = this.#segments[1];
      if (first === undefined || second === undefined || first === this.#pinned || second.first > min || !first.sealed) return;
      await this.#deleteSegment(first);
    }
  }

  async #deleteSegment(seg: Segment): Promise<void> {
    this.#segments = this.#segments.filter((s) => s !== seg);
    this.#diskBytes -= seg.size;
    seg.deleted = true;
    for (const c of this.#consumers.values()) if (c.seg === seg && c.reading === null) await this.#dropReader(c);
    if (seg.fh !== null) {
      await seg.fh.close().catch(() => undefined);
      seg.fh = null;
    }
    try {
      await unlink(seg.path);
    } catch (err: unknown) {
      if (systemCode(err) !== 'ENOENT') throw ioError(err, this.#dir, `deleting ${seg.path}`);
    }
    for (const w of [...this.#spaceWaiters]) w.resolve();
  }

  // ------------------------------------------------------------------ read

  /**
   * Up to `maxRecords` records (and about `maxBytes` payload bytes; at least one record when
   * any is ready) from the consumer's read position. Never waits for data: [] when none.
   * Payloads are views into a read buffer; copy them to keep them long.
   */
  async read(consumer: string, maxRecords: number, maxBytes = DEFAULT_READ_BYTES): Promise<QueueRecord[]> {
    this.#assertOpen();
    const c = this.#consumer(consumer);
    if (c.reading !== null) throw new Error(`Disk queue consumer ${consumer} already has a read in flight; reads of one consumer must not overlap.`);
    const run = this.#readInto(c, maxRecords, maxBytes);
    c.reading = run;
    try {
      return await run;
    } catch (err: unknown) {
      await this.#dropReader(c);
      c.locate = c.seq;
      throw ioError(err, this.#dir, `reading for consumer ${consumer}`);
    } finally {
      c.reading = null;
      if (c.seg?.deleted === true) await this.#dropReader(c);
    }
  }

  async #readInto(c: Consumer, maxRecords: number, maxBytes: number): Promise<QueueRecord[]> {
    const out: QueueRecord[] = [];
    let bytes = 0;
    while (out.length < maxRecords && bytes < maxBytes && !this.#closed) {
      if (c.locate !== null) {
        await this.#place(c);
        continue;
      }
      const seg = c.seg;
      const scanner = c.scanner;
      if (seg === null || scanner === null || seg.deleted) {
        c.locate = Math.max(c.seq, this.#segments[0]?.first ?? c.seq);
        continue;
      }
      if (c.seq >= this.#durableSeq) break;
      const r = scanner.take(seg.committed);
      if (r === 'io') {
        await scanner.fill(seg.committed);
        continue;
      }
      if (r === 'end') {
        const next = this.#segments[this.#segments.indexOf(seg) + 1];
        if (!seg.sealed || next === undefined) {
          // Bytes up to the committed end gave fewer records than committed seqs: they are lost.
          this.#gap({ segment: seg.first, off: scanner.off, fromSeq: c.seq, toSeq: this.#durableSeq });
          c.seq = this.#durableSeq;
          break;
        }
        if (seg.committed < seg.size) break; // an append is still filling it
        if (next.first > c.seq) this.#gap({ segment: seg.first, off: scanner.off, fromSeq: c.seq, toSeq: next.first });
        await this.#openAt(c, next, SEGMENT_HEADER_BYTES, next.first);
        continue;
      }
      if (r === 'bad' || scanner.seq < c.seq) {
        const at = r === 'bad' ? scanner.off : scanner.recOff;
        scanner.seek(at);
        const found = await scanner.resync(seg.committed, c.seq);
        if (found.seq !== null) {
          this.#gap({ segment: seg.first, off: at, fromSeq: c.seq, toSeq: found.seq });
          c.seq = found.seq;
        }
        continue;
      }
      const seq = scanner.seq;
      if (seq > c.seq) this.#gap({ segment: seg.first, off: scanner.recOff, fromSeq: c.seq, toSeq: seq });
      out.push({ seq, payload: r });
      bytes += r.length;
      c.seq = seq + 1;
    }
    return out;
  }

  /** Moves the read position to `c.locate` (clamped to the records on disk). */
  async #place(c: Consumer): Promise<void> {
    const head = this.#segments[0];
    let target = c.locate ?? c.seq;
    c.locate = null;
    if (head === undefined) return;
    target = Math.min(Math.max(target, head.first), this.#durableSeq);
    let seg = head;
    for (const s of this.#segments) if (s.first <= target) seg = s;
    if (target === this.#durableSeq && seg.committed === seg.size) {
      await this.#openAt(c, seg, seg.committed, target);
      return;
    }
    if (seg.index === null) await buildIndex(seg, this.#scan);
    const start = lookup(seg, target);
    await this.#openAt(c, seg, start.off, target);
    const scanner = c.scanner;
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

  async #openAt(c: Consumer, seg: Segment, off: number, seq: number): Promise<void> {
    if (c.seg !== seg || c.scanner === null) {
      await this.#dropReader(c);
      c.fh = await open(seg.path, 'r');
      c.scanner = new RecordScanner(c.fh, off, this.#scan);
      c.seg = seg;
    } else {
      c.scanner.seek(off);
    }
    c.seq = seq;
  }

  async #dropReader(c: Consumer): Promise<void> {
    const fh = c.fh;
    c.fh = null;
    c.scanner = null;
    c.seg = null;
    if (fh !== null) await fh.close().catch(() => undefined);
  }

  /** Resolves when the consumer has records to read; rejects on abort or close. */
  wait(consumer: string, signal?: AbortSignal): Promise<void> {
    let c: Consumer;
    try {
      this.#assertOpen();
      c = this.#consumer(consumer);
    } catch (err: unknown) {
      return Promise.reject(err);
    }
    if (this.#readable(c)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => w.reject(signal?.reason);
      const w: Waiter = {
        resolve: () => {
          c.waiters.delete(w);
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (err: unknown) => {
          c.waiters.delete(w);
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      if (signal?.aborted === true) {
        onAbort();
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      c.waiters.add(w);
    });
  }

  #readable(c: Consumer): boolean {
    return (c.locate ?? c.seq) < this.#durableSeq;
  }

  #wakeReaders(): void {
    for (const c of this.#consumers.values()) {
      if (c.waiters.size > 0 && this.#readable(c)) for (const w of [...c.waiters]) w.resolve();
    }
  }

  // ------------------------------------------------------------------ acknowledge

  /**
   * Records that the consumer is done with every record up to and including `upToSeq`, durably
   * (atomic cursor file), then deletes segments every consumer is past. Stale acks are no-ops.
   */
  async ack(consumer: string, upToSeq: number): Promise<void> {
    this.#assertOpen();
    const c = this.#consumer(consumer);
    if (!Number.isSafeInteger(upToSeq)) throw new TypeError(`Disk queue ack for ${consumer}: seq must be a safe integer, got ${upToSeq}.`);
    const next = upToSeq + 1;
    if (next > this.#durableSeq) {
      throw new RangeError(`Disk queue consumer ${consumer} acknowledged seq ${upToSeq}, beyond the last durable record ${this.#durableSeq - 1}.`);
    }
    if (next <= c.next) return;
    c.next = next;
    // Acknowledged without having been read (a skip): never hand those out again.
    if ((c.locate ?? c.seq) < next) c.locate = next;
    try {
      await c.writer.save(() => c.next);
      await this.#reclaim();
    } catch (err: unknown) {
      // A full disk must not wedge the queue: the records were delivered, so their segments may
      // go even though the cursor write failed (after a crash the stale cursor is clamped to the
      // oldest record left: duplicates, never loss). The freed space lets the retried ack succeed.
      await this.#reclaim().catch(() => undefined);
      throw ioError(err, this.#dir, `saving the cursor of ${consumer}`);
    } finally {
      // A blocked append re-checks: a fully acknowledged tail can be rolled and freed even when no segment was deleted.
      for (const w of [...this.#spaceWaiters]) w.resolve();
    }
  }

  /** Moves the read position back to the durable cursor (after a destination reconnects). */
  rewind(consumer: string): void {
    this.#assertOpen();
    const c = this.#consumer(consumer);
    c.locate = c.next;
    this.#wakeReaders();
  }

  // ------------------------------------------------------------------ inspect, close

  stats(): QueueStats {
    const min = this.#minNext();
    const records = Math.max(0, this.#durableSeq - min);
    let oldestAgeMs: number | null = null;
    if (records > 0) {
      let seg = this.#segments[0];
      for (const s of this.#segments) if (s.first <= min) seg = s;
      if (seg !== undefined) oldestAgeMs = Math.max(0, Date.now() - approxTimeMs(seg, min));
    }
    const perConsumer: Record<string, { lagRecords: number }> = {};
    for (const c of this.#consumers.values()) perConsumer[c.name] = { lagRecords: Math.max(0, this.#durableSeq - c.next) };
    return {
      bytes: this.#diskBytes,
      records,
      oldestAgeMs,
      dropped: this.#dropped,
      corrupt: this.#corrupt,
      tornBytes: this.#tornBytes,
      segments: this.#segments.length,
      perConsumer,
    };
  }

  /** Stops waits, lets the append and cursor writes in flight finish, releases files and the lock. Idempotent. */
  close(): Promise<void> {
    if (this.#closing !== null) return this.#closing;
    this.#closed = true;
    const err = closedError(this.#dir);
    for (const w of [...this.#spaceWaiters]) w.reject(err);
    for (const c of this.#consumers.values()) for (const w of [...c.waiters]) w.reject(err);
    this.#closing = (async () => {
      await this.#appendChain;
      for (const c of this.#consumers.values()) {
        await c.reading?.catch(() => undefined);
        await c.writer.idle();
      }
      await this.#closeHandles();
      await this.#release();
    })();
    return this.#closing;
  }

  async #closeHandles(): Promise<void> {
    for (const c of this.#consumers.values()) await this.#dropReader(c);
    for (const s of this.#segments) {
      if (s.fh !== null) await s.fh.close().catch(() => undefined);
      s.fh = null;
    }
  }

  // ------------------------------------------------------------------ helpers

  #assertOpen(): void {
    if (this.#closed) throw closedError(this.#dir);
    if (this.#broken !== null) throw this.#broken;
  }

  #consumer(name: string): Consumer {
    const c = this.#consumers.get(name);
    if (c === undefined) throw new RelayError(ErrorCodes.CONFIG, `Disk queue ${this.#dir} has no consumer named ${JSON.stringify(name)}; consumers are fixed when it is opened.`);
    return c;
  }

  #tail(): Segment {
    const t = this.#segments[this.#segments.length - 1];
    if (t === undefined) throw new Error('disk queue has no segment');
    return t;
  }

  #minNext(): number {
    let min = this.#durableSeq;
    for (const c of this.#consumers.values()) if (c.next < min) min = c.next;
    return min;
  }

  /** Counts and logs lost records once, however many consumers stumble on them. */
  #gap(g: Gap): void {
    if (g.toSeq <= g.fromSeq) return;
    const key = `${g.segment}:${g.fromSeq}`;
    if (this.#reported.has(key)) return;
    this.#reported.add(key);
    this.#corrupt += g.toSeq - g.fromSeq;
    this.#logger.error(
      { dir: this.#dir, segment: g.segment, offset: g.off, fromSeq: g.fromSeq, toSeq: g.toSeq, records: g.toSeq - g.fromSeq, corrupt: this.#corrupt },
      'Disk queue skipped corrupt records; they are lost for every destination.',
    );
  }
}
