/**
 * Start-up scan. Only the last segment can hold a torn record (every older one was fsynced
 * before its successor was created), so only it is read in full: a bad tail with nothing valid
 * after it is cut; a bad record with valid ones after it is corrupt, skipped and counted. Older
 * segments get their header checked here and their records checked as they are read.
 */
import { open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../ops/logger.js';
import { SEGMENT_HEADER_BYTES, decodeSegmentHeader } from './record.js';
import { RecordScanner, type ScannerOptions } from './scanner.js';
import { INDEX_STRIDE_BYTES, parseSegmentName, type IndexEntry, type Segment } from './segments.js';

/** Records known to be unreadable: seqs [fromSeq, toSeq) of the segment starting at `segment`. */
export interface Gap {
  segment: number;
  off: number;
  fromSeq: number;
  toSeq: number;
}

export interface Loaded {
  segments: Segment[];
  /** Seq the next append gets. */
  nextSeq: number;
  tornBytes: number;
  gaps: Gap[];
}

async function readHeader(path: string): Promise<{ first: number; createdMs: number; size: number } | null> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(SEGMENT_HEADER_BYTES);
    const { bytesRead } = await fh.read(buf, 0, SEGMENT_HEADER_BYTES, 0);
    const head = decodeSegmentHeader(buf.subarray(0, bytesRead));
    if (head === null) return null;
    const { size } = await fh.stat();
    return { first: head.firstSeq, createdMs: head.createdMs, size };
  } finally {
    await fh.close();
  }
}

/** Lists, checks and recovers the segments in `dir` (which must exist). */
export async function loadSegments(dir: string, opts: ScannerOptions, logger: Logger): Promise<Loaded & { tailFh: FileHandle | null }> {
  const names = (await readdir(dir))
    .map((name) => ({ name, first: parseSegmentName(name) }))
    .filter((e): e is { name: string; first: number } => e.first !== null)
    .sort((a, b) => a.first - b.first);
  const segments: Segment[] = [];
  for (let i = 0; i < names.length; i++) {
    const e = names[i];
    if (e === undefined) continue;
    const path = join(dir, e.name);
    const head = await readHeader(path);
    if (head !== null && head.first === e.first) {
      segments.push({ first: e.first, path, createdMs: head.createdMs, size: head.size, committed: head.size, sealed: true, deleted: false, index: null, fh: null });
      continue;
    }
    if (i === names.length - 1 && (await stat(path)).size <= SEGMENT_HEADER_BYTES) {
      // A crash right after creating the newest segment, before its header was durable: it held no acknowledged record.
      logger.warn({ file: path }, 'Disk queue removed a segment whose creation a crash interrupted.');
      await unlink(path);
      continue;
    }
    const next = names[i + 1]?.first;
    await rename(path, `${path}.corrupt`);
    logger.error(
      { file: path, records: next !== undefined ? next - e.first : 'unknown' },
      'Disk queue segment header is corrupt; the segment was renamed to .corrupt and its records are lost.',
    );
  }
  const tail = segments[segments.length - 1];
  if (tail === undefined) return { segments, nextSeq: 0, tornBytes: 0, gaps: [], tailFh: null };
  tail.sealed = false;
  const fh = await open(tail.path, 'r+');
  try {
    const r = await recoverTail(tail, fh, opts);
    if (r.tornBytes > 0) {
      logger.warn(
        { file: tail.path, offset: tail.size, bytes: r.tornBytes },
        'Disk queue cut a torn record from the end of its newest segment; a crash interrupted that append before it was acknowledged.',
      );
    }
    return { segments, nextSeq: r.nextSeq, tornBytes: r.tornBytes, gaps: r.gaps, tailFh: fh };
  } catch (err: unknown) {
    await fh.close().catch(() => undefined);
    throw err;
  }
}

async function recoverTail(seg: Segment, fh: FileHandle, opts: ScannerOptions): Promise<{ nextSeq: number; tornBytes: number; gaps: Gap[] }> {
  const scan = await scanSegment(seg, fh, seg.size, opts);
  seg.index = scan.index;
  let tornBytes = 0;
  if (scan.badTail !== null) {
    tornBytes = seg.size - scan.badTail;
    await fh.truncate(scan.badTail);
    await fh.datasync();
    seg.size = scan.badTail;
    seg.committed = scan.badTail;
  }
  return { nextSeq: scan.nextSeq, tornBytes, gaps: scan.gaps };
}

/**
 * Builds the sparse index of a segment from an earlier run by reading it once (needed to place
 * a cursor inside it). Corrupt records are not reported here: readers report those they reach.
 */
export async function buildIndex(seg: Segment, opts: ScannerOptions): Promise<void> {
  const fh = await open(seg.path, 'r');
  try {
    const scan = await scanSegment(seg, fh, seg.committed, opts);
    seg.index = scan.index;
  } finally {
    await fh.close();
  }
}

interface Scan {
  index: IndexEntry[];
  gaps: Gap[];
  /** Seq after the last valid record. */
  nextSeq: number;
  /** Offset of bad bytes with no valid record after them, up to `limit`; null when the segment ends cleanly. */
  badTail: number | null;
}

async function scanSegment(seg: Segment, fh: FileHandle, limit: number, opts: ScannerOptions): Promise<Scan> {
  const scanner = new RecordScanner(fh, SEGMENT_HEADER_BYTES, opts);
  const index: IndexEntry[] = [];
  const gaps: Gap[] = [];
  let expected = seg.first;
  for (;;) {
    const r = scanner.take(limit);
    if (r === 'end') return { index, gaps, nextSeq: expected, badTail: null };
    if (r === 'io') {
      await scanner.fill(limit);
      continue;
    }
    if (r === 'bad' || scanner.seq < expected) {
      const at = r === 'bad' ? scanner.off : scanner.recOff;
      scanner.seek(at);
      const found = await scanner.resync(limit, expected);
      if (found.seq === null) return { index, gaps, nextSeq: expected, badTail: at };
      gaps.push({ segment: seg.first, off: at, fromSeq: expected, toSeq: found.seq });
      expected = found.seq;
      continue;
    }
    const { seq, recOff } = scanner;
    if (seq > expected) gaps.push({ segment: seg.first, off: recOff, fromSeq: expected, toSeq: seq });
    const last = index[index.length - 1];
    if (last === undefined || recOff - last.off >= INDEX_STRIDE_BYTES) index.push({ seq, off: recOff, timeMs: scanner.timeMs });
    expected = seq + 1;
  }
}
