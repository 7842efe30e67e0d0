/**
 * The disk queue itself: the append path with its byte cap, per-consumer cursors and read
 * positions, segment deletion once every consumer is past. The format and invariants are
 * documented in ./index.ts; writing is in writer.ts, reading in reader.ts.
 */
import { mkdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../ops/logger.js';
import { fsyncDir } from '../ops/atomic-file.js';
import { ErrorCodes, RelayError, systemCode } from '../errors.js';
import { RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES } from './record.js';
import { ReadBuffers, type ScannerOptions } from './scanner.js';
import { approxTimeMs, createSegment, type Segment } from './segments.js';
import { loadSegments, type Gap } from './recover.js';
import { highestCursor, loadCursors, type CursorWriter } from './cursors.js';
import { closedError, ioError } from './queue-errors.js';
import { WaiterSet } from './waiters.js';
import { acquireQueueLock } from './lock.js';
import { SegmentStore } from './store.js';
import { SegmentWriter, closeWriteHandle } from './writer.js';
import { ConsumerReader, type QueueRecord, type ReaderHost } from './reader.js';

export type { QueueRecord };

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
  /**
   * Payloads of a read() stay valid only until the same consumer's next read(), and their memory
   * is reused. For consumers that are done with a batch before they read the next (the queued
   * handoff frames each batch first); it spares a megabyte of fresh memory per chunk read.
   */
  recycleReads?: boolean;
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

interface Consumer {
  readonly name: string;
  readonly writer: CursorWriter;
  /** First record not acknowledged (in memory; the writer persists it). */
  next: number;
  readonly reader: ConsumerReader;
  reading: Promise<unknown> | null;
  readonly waiters: WaiterSet;
}

export class DiskQueue {
  readonly #dir: string;
  readonly #cursorDir: string;
  readonly #recycleReads: boolean;
  readonly #logger: Logger;
  readonly #overflow: 'block' | 'drop_oldest';
  readonly #maxBytes: number;
  readonly #segLimit: number;
  readonly #maxPayload: number;
  readonly #chunkCap: number;
  readonly #release: () => Promise<void>;
  readonly #store: SegmentStore;
  readonly #writer: SegmentWriter;
  readonly #host: ReaderHost;
  readonly #consumers = new Map<string, Consumer>();
  #dropped = 0;
  #corrupt = 0;
  #tornBytes = 0;
  readonly #reported = new Set<string>();
  #appendChain: Promise<void> = Promise.resolve();
  readonly #spaceWaiters = new WaiterSet();
  #blockedSince: number | null = null;
  #closed = false;
  #closing: Promise<void> | null = null;

  private constructor(opts: DiskQueueOptions, release: () => Promise<void>) {
    this.#dir = opts.dir;
    this.#cursorDir = join(opts.dir, 'cursors');
    this.#logger = opts.logger;
    this.#overflow = opts.overflow;
    this.#recycleReads = opts.recycleReads === true;
    this.#maxBytes = opts.maxBytes;
    this.#segLimit = Math.max(MIN_SEGMENT_BYTES, Math.min(opts.segmentBytes, Math.floor(opts.maxBytes / 4)));
    this.#maxPayload = this.#segLimit - SEGMENT_HEADER_BYTES - RECORD_HEADER_BYTES;
    this.#chunkCap = Math.floor(opts.maxBytes / 4);
    this.#release = release;
    this.#store = new SegmentStore(join(opts.dir, 'segments'));
    this.#writer = new SegmentWriter(this.#store, this.#segLimit, opts.logger);
    const scan: ScannerOptions = { chunkBytes: Math.min(READ_CHUNK_BYTES, this.#segLimit), maxPayload: this.#maxPayload };
    this.#host = { store: this.#store, scan, gap: (g) => this.#gap(g), closed: () => this.#closed };
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
    const store = this.#store;
    const loaded = await loadSegments(store.dir, this.#host.scan, this.#logger);
    for (const seg of loaded.segments) store.add(seg);
    this.#tornBytes = loaded.tornBytes;
    let nextSeq = loaded.nextSeq;
    const tail = loaded.segments[loaded.segments.length - 1];
    if (tail === undefined) {
      const first = Math.max(1, await highestCursor(this.#cursorDir, names));
      const seg = await createSegment(store.dir, first, Date.now());
      await seg.fh?.datasync();
      await fsyncDir(store.dir);
      store.add(seg);
      nextSeq = first;
    } else {
      tail.fh = loaded.tailFh;
    }
    store.nextSeq = nextSeq;
    store.durableSeq = nextSeq;
    for (const c of await loadCursors(this.#cursorDir, names, store.head()?.first ?? nextSeq, nextSeq, this.#logger)) {
      this.#consumers.set(c.name, { ...c, reader: new ConsumerReader(this.#host, c.next, this.#recycleReads ? new ReadBuffers() : undefined), reading: null, waiters: new WaiterSet() });
    }
    for (const g of loaded.gaps) this.#gap(g);
    await this.#reclaim();
    const s = this.stats();
    this.#logger.info(
      { dir: this.#dir, records: s.records, bytes: s.bytes, segments: s.segments, tornBytes: s.tornBytes, corrupt: s.corrupt },
      'Disk queue opened.',
    );
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
      // Room for the records plus the header of every segment they may start.
      const rolls = 1 + Math.ceil(bytes / (this.#segLimit - SEGMENT_HEADER_BYTES));
      await this.#makeRoom(bytes + rolls * SEGMENT_HEADER_BYTES, signal);
      try {
        await this.#writer.write(payloads, from, to);
      } catch (err: unknown) {
        throw ioError(err, this.#dir, 'appending');
      }
      this.#wakeReaders();
      from = to;
    }
  }

  async #makeRoom(need: number, signal: AbortSignal | undefined): Promise<void> {
    const store = this.#store;
    for (;;) {
      this.#assertOpen();
      await this.#reclaim();
      if (store.diskBytes + need <= this.#maxBytes) break;
      const tail = store.tail();
      const tailAcked = this.#minNext() >= store.durableSeq && tail.size > SEGMENT_HEADER_BYTES;
      if (this.#overflow === 'drop_oldest' && store.segments.length > 1) {
        await this.#dropOldest();
      } else if (tailAcked || (this.#overflow === 'drop_oldest' && tail.size > SEGMENT_HEADER_BYTES)) {
        // Everything left sits in the tail: start a new segment so the old one can go.
        await this.#writer.rollNow().catch((err: unknown) => Promise.reject(ioError(err, this.#dir, 'starting a segment')));
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
      const behind = [...this.#consumers.values()].filter((c) => c.next < this.#store.durableSeq).map((c) => c.name);
      this.#logger.warn(
        { dir: this.#dir, bytes: this.#store.diskBytes, maxBytes: this.#maxBytes, behind },
        'Disk queue is full (overflow: block); sources wait until the lagging destinations catch up.',
      );
    }
    return this.#spaceWaiters.park(
      signal,
      (reason) =>
        new RelayError(
          ErrorCodes.QUEUE_FULL,
          `Disk queue ${this.#dir} is full (${this.#store.diskBytes} of ${this.#maxBytes} bytes, ${need} more needed) and the wait was aborted; raise queue.max_bytes or fix the lagging destinations.`,
          { cause: reason },
        ),
    );
  }

  async #dropOldest(): Promise<void> {
    const seg = this.#store.segments[0];
    const end = this.#store.segments[1]?.first;
    if (seg === undefined || end === undefined) return;
    const lost = Math.max(0, end - Math.max(seg.first, this.#minNext()));
    const behind: string[] = [];
    for (const c of this.#consumers.values()) {
      if (c.next < end) {
        behind.push(c.name);
        c.next = end;
      }
      if ((c.reader.locate ?? c.reader.seq) < end) c.reader.locate = end;
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
      const first = this.#store.segments[0];
      const second = this.#store.segments[1];
      if (first === undefined || second === undefined || first === this.#writer.pinned || second.first > min || !first.sealed) return;
      await this.#deleteSegment(first);
    }
  }

  async #deleteSegment(seg: Segment): Promise<void> {
    this.#store.remove(seg);
    for (const c of this.#consumers.values()) if (c.reader.inSegment(seg) && c.reading === null) await c.reader.drop();
    await closeWriteHandle(seg);
    try {
      await unlink(seg.path);
    } catch (err: unknown) {
      if (systemCode(err) !== 'ENOENT') throw ioError(err, this.#dir, `deleting ${seg.path}`);
    }
    this.#spaceWaiters.wakeAll();
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
    const run = c.reader.read(maxRecords, maxBytes);
    c.reading = run;
    try {
      return await run;
    } catch (err: unknown) {
      await c.reader.drop();
      c.reader.locate = c.reader.seq;
      throw ioError(err, this.#dir, `reading for consumer ${consumer}`);
    } finally {
      c.reading = null;
      if (c.reader.onDeletedSegment()) await c.reader.drop();
    }
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
    if (c.reader.readable()) return Promise.resolve();
    return c.waiters.park(signal, (reason) => reason);
  }

  #wakeReaders(): void {
    for (const c of this.#consumers.values()) {
      if (c.waiters.size > 0 && c.reader.readable()) c.waiters.wakeAll();
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
    if (next > this.#store.durableSeq) {
      throw new RangeError(`Disk queue consumer ${consumer} acknowledged seq ${upToSeq}, beyond the last durable record ${this.#store.durableSeq - 1}.`);
    }
    if (next <= c.next) return;
    c.next = next;
    // Acknowledged without having been read (a skip): never hand those out again.
    if ((c.reader.locate ?? c.reader.seq) < next) c.reader.locate = next;
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
      this.#spaceWaiters.wakeAll();
    }
  }

  /** Moves the read position back to the durable cursor (after a destination reconnects). */
  rewind(consumer: string): void {
    this.#assertOpen();
    const c = this.#consumer(consumer);
    c.reader.locate = c.next;
    this.#wakeReaders();
  }

  // ------------------------------------------------------------------ inspect, close

  stats(): QueueStats {
    const store = this.#store;
    const min = this.#minNext();
    const records = Math.max(0, store.durableSeq - min);
    let oldestAgeMs: number | null = null;
    if (records > 0) {
      const seg = store.containing(min);
      if (seg !== undefined) oldestAgeMs = Math.max(0, Date.now() - approxTimeMs(seg, min));
    }
    const perConsumer: Record<string, { lagRecords: number }> = {};
    for (const c of this.#consumers.values()) perConsumer[c.name] = { lagRecords: Math.max(0, store.durableSeq - c.next) };
    return {
      bytes: store.diskBytes,
      records,
      oldestAgeMs,
      dropped: this.#dropped,
      corrupt: this.#corrupt,
      tornBytes: this.#tornBytes,
      segments: store.segments.length,
      perConsumer,
    };
  }

  /** Stops waits, lets the append and cursor writes in flight finish, releases files and the lock. Idempotent. */
  close(): Promise<void> {
    if (this.#closing !== null) return this.#closing;
    this.#closed = true;
    const err = closedError(this.#dir);
    this.#spaceWaiters.rejectAll(err);
    for (const c of this.#consumers.values()) c.waiters.rejectAll(err);
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
    for (const c of this.#consumers.values()) await c.reader.drop();
    for (const s of this.#store.segments) await closeWriteHandle(s);
  }

  // ------------------------------------------------------------------ helpers

  #assertOpen(): void {
    if (this.#closed) throw closedError(this.#dir);
    if (this.#writer.broken !== null) throw this.#writer.broken;
  }

  #consumer(name: string): Consumer {
    const c = this.#consumers.get(name);
    if (c === undefined) throw new RelayError(ErrorCodes.CONFIG, `Disk queue ${this.#dir} has no consumer named ${JSON.stringify(name)}; consumers are fixed when it is opened.`);
    return c;
  }

  #minNext(): number {
    let min = this.#store.durableSeq;
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
