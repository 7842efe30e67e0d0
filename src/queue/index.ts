/**
 * # Disk queue
 *
 * A durable FIFO between the router and the destinations. Sources append routed events; each
 * destination ("consumer") reads at its own pace and acknowledges what it delivered. A record
 * leaves the disk only when every consumer acknowledged it (or `drop_oldest` sacrificed it).
 *
 * ## Files (under `dir`)
 * - `segments/<first seq, 20 digits>.seg`: append-only segment files.
 * - `cursors/<name>-<sha256 8 hex>.json`: `{"version":1,"consumer":…,"next":<seq>}` per consumer,
 *   `next` = first record not acknowledged. Replaced atomically (tmp, fsync, rename, fsync dir).
 * - `lock`: pid of the owning process; a lock whose process is gone is taken over.
 *
 * ## Byte layout (little-endian)
 * Segment header, 32 bytes:
 * ```
 *  0  u32  magic 0x53515244 ("DRQS")
 *  4  u32  version = 1
 *  8  u64  seq of the first record (equals the file name)
 * 16  f64  creation time, ms since the epoch
 * 24  u32  reserved (0)
 * 28  u32  CRC-32 of bytes 0..28
 * ```
 * then records back to back, each:
 * ```
 *  0  u32  payload length L
 *  4  u32  CRC-32 (IEEE, zlib) of bytes 8..24+L (seq, time, payload)
 *  8  u64  seq
 * 16  f64  append time, ms since the epoch (one stamp per appended batch)
 * 24  L    payload (the serialised RelayEvent, opaque here)
 * ```
 *
 * ## Invariants
 * 1. Seqs are consecutive safe integers, starting at 1, never reused: a record's seq is its
 *    identity for `ack`. A segment holds seqs [first, next segment's first).
 * 2. `append` resolves only after the batch is fsynced (fdatasync of the segment, plus the
 *    directory when a segment was created). Readers never see a record before that.
 * 3. A segment is fsynced before its successor is created, so only the newest segment can end
 *    in a torn record. A failed append is rolled back (truncate, unlink) before it rejects.
 * 4. No record spans two segments; a segment stays below `min(segmentBytes, maxBytes / 4)`,
 *    so deleting whole segments can always bring the queue under its cap.
 * 5. The sum of segment file sizes never exceeds `maxBytes`. At the cap, `block` makes append
 *    wait (until an acknowledgement frees a segment, its AbortSignal fires, or close()), and
 *    `drop_oldest` deletes the oldest segment, counting and logging (ERROR) the records some
 *    consumer had not acknowledged. A full disk (ENOSPC) rejects the append with
 *    DR_ERR_QUEUE_FULL after rolling it back; the caller retries.
 * 6. A consumer's cursor only moves forward and only on `ack`; its read position is separate
 *    (`rewind` moves it back to the cursor, e.g. after a reconnect, so unacknowledged records
 *    are delivered again: at-least-once).
 * 7. Memory is bounded whatever the backlog: per consumer one read chunk (≤ 1 MiB) and one
 *    file handle; per segment a sparse index (one entry per ≥ 64 KiB).
 *
 * ## Recovery (open)
 * The newest segment is read in full. A bad record with no valid record after it is a torn
 * tail: cut (WARN with the byte count; it was never acknowledged to a source). A bad record
 * followed by valid ones is corruption: skipped and counted (ERROR), never a crash. Older
 * segments are checked record by record when read, with the same skip-and-count rule: after a
 * bad record the reader resynchronises on the next record whose CRC and seq are valid. A
 * segment with a bad header is renamed to `.corrupt`.
 *
 * ## Use
 * `append(payloads, signal?)` from any number of callers (serialised inside); per consumer one
 * loop of `read` (never two at once) → deliver → `ack(lastSeq)`, `wait(consumer, signal)` when
 * `read` returns [], `rewind` after a failed delivery. Payloads returned by `read` are views into
 * a read chunk (never reused, so they stay valid; keeping one keeps its chunk, ≤ 1 MiB, alive).
 * `stats()` is cheap (no I/O).
 *
 * ## Files of this module
 * index.ts (this doc), disk-queue.ts (API, cap policy, cursors), writer.ts (append, fsync,
 * rollback), reader.ts (read position, skip corrupt), recover.ts (start-up scan), scanner.ts
 * (record parsing, resync), record.ts (byte layout, CRC), segments.ts, store.ts, cursors.ts,
 * lock.ts, waiters.ts, queue-errors.ts.
 *
 * ## Consumers
 * - A **new** consumer (no cursor file) starts at the current end: it receives the records
 *   appended from now on, not the backlog of others. Its cursor is written at once, so a crash
 *   right after cannot move its start.
 * - A consumer **removed** from the configuration: its cursor file stays on disk but is
 *   ignored (it holds no segment back). Re-added later, it resumes from that cursor, clamped to
 *   the oldest record still on disk.
 * - An unreadable cursor file restarts that consumer from the oldest record on disk (ERROR;
 *   duplicates, never loss).
 */
export { DiskQueue, type DiskQueueOptions, type QueueRecord, type QueueStats } from './disk-queue.js';
