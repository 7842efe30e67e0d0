/**
 * Segment files: naming, creation, and the in-memory state the queue keeps per segment
 * (sizes, a sparse seq → offset index). No policy lives here.
 */
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { SEGMENT_HEADER_BYTES, encodeSegmentHeader } from './record.js';

/** Index entries are at least this many bytes apart, so a lookup scans ≤ one stride plus one batch. */
export const INDEX_STRIDE_BYTES = 64 * 1024;

export interface IndexEntry {
  seq: number;
  off: number;
  timeMs: number;
}

export interface Segment {
  /** Seq of the first record; also the file name. */
  readonly first: number;
  readonly path: string;
  readonly createdMs: number;
  /** Bytes written, committed or not. */
  size: number;
  /** Bytes readers may see: everything of batches whose fsync completed. */
  committed: number;
  /** No further appends (a newer segment exists). */
  sealed: boolean;
  deleted: boolean;
  /** Sparse seq → offset index; null until built for a segment written by an earlier run. */
  index: IndexEntry[] | null;
  /** Write handle, tail segment only. */
  fh: FileHandle | null;
}

const NAME = /^(\d{20})\.seg$/;

export function segmentName(first: number): string {
  return `${String(first).padStart(20, '0')}.seg`;
}

/** First seq encoded in a segment file name, or null for other files. */
export function parseSegmentName(name: string): number | null {
  const m = NAME.exec(name);
  if (m === null || m[1] === undefined) return null;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : null;
}

/** Creates a new, empty segment (header only; the caller fsyncs file and directory). */
export async function createSegment(dir: string, first: number, now: number): Promise<Segment> {
  const path = join(dir, segmentName(first));
  const fh = await open(path, 'wx+', 0o600);
  try {
    await fh.write(encodeSegmentHeader(first, now), 0, SEGMENT_HEADER_BYTES, 0);
  } catch (err: unknown) {
    await fh.close().catch(() => undefined);
    await unlink(path).catch(() => undefined);
    throw err;
  }
  return { first, path, createdMs: now, size: SEGMENT_HEADER_BYTES, committed: SEGMENT_HEADER_BYTES, sealed: false, deleted: false, index: [], fh };
}

/** Records a batch written at `off` in the index when it is far enough from the previous entry. */
export function indexBatch(seg: Segment, seq: number, off: number, timeMs: number): void {
  const idx = seg.index;
  if (idx === null) return;
  const last = idx[idx.length - 1];
  if (last === undefined || off - last.off >= INDEX_STRIDE_BYTES) idx.push({ seq, off, timeMs });
}

/** The last index entry at or before `seq`, or the segment start. */
export function lookup(seg: Segment, seq: number): IndexEntry {
  let best: IndexEntry = { seq: seg.first, off: SEGMENT_HEADER_BYTES, timeMs: seg.createdMs };
  const idx = seg.index;
  if (idx === null) return best;
  let lo = 0;
  let hi = idx.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const e = idx[mid];
    if (e === undefined) break;
    if (e.seq <= seq) {
      best = e;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return best;
}

/** Append time of the record at `seq`, to the index's precision (the batch stamped nearest before it). */
export function approxTimeMs(seg: Segment, seq: number): number {
  return lookup(seg, seq).timeMs;
}

/** Drops index entries for bytes that a rollback removed. */
export function truncateIndex(seg: Segment, size: number): void {
  if (seg.index === null) return;
  while (seg.index.length > 0 && (seg.index[seg.index.length - 1]?.off ?? 0) >= size) seg.index.pop();
}
