/**
 * Where reading starts in a file the tailer has no record of, on its first scan.
 *
 * - `resume` (a valid checkpoint exists): the file appeared since the checkpoint was written,
 *   so all of it is new: byte 0.
 * - `first-run` (no checkpoint): rotated files are history from before the relay was installed
 *   and are skipped; the live file starts at `start_at`: `beginning` (default) = byte 0,
 *   `end` = after its last complete line (a half-written last line is not cut in two).
 * - `after-corrupt` (the checkpoint was unreadable): no offsets are known. Files written to
 *   since the bad checkpoint was last written (mtime ≥ its mtime − 2 s) are read from byte 0,
 *   so nothing written after the last good state is lost (the re-sent head of those files
 *   carries the same event ids); files older than that are skipped as already sent. This
 *   bounds the repeat to the files touched since the crash instead of a full re-send.
 */
import { open } from 'node:fs/promises';
import type { Candidate } from './discovery.js';

export type StartMode =
  | { kind: 'resume' }
  | { kind: 'first-run'; startAt: 'beginning' | 'end' }
  | { kind: 'after-corrupt'; checkpointMtimeMs: number };

/** mtime granularity and clock steps between the relay's last write and the log's. */
export const CORRUPT_MTIME_SLACK_MS = 2000;

export async function initialOffset(mode: StartMode, c: Candidate, maxLineBytes: number): Promise<number> {
  switch (mode.kind) {
    case 'resume':
      return 0;
    case 'first-run':
      if (c.suffix > 0) return c.size;
      return mode.startAt === 'beginning' ? 0 : lastLineEnd(c.path, c.size, maxLineBytes);
    case 'after-corrupt': {
      const mtimeMs = Number(c.mtimeNs / 1_000_000n);
      if (mtimeMs >= mode.checkpointMtimeMs - CORRUPT_MTIME_SLACK_MS) return 0;
      return c.suffix > 0 ? c.size : lastLineEnd(c.path, c.size, maxLineBytes);
    }
  }
}

/** Offset just after the last LF before `size`, looking back at most `limit` bytes (else `size`). */
export async function lastLineEnd(path: string, size: number, limit: number): Promise<number> {
  if (size === 0) return 0;
  const fh = await open(path, 'r');
  try {
    const step = 64 * 1024;
    const buf = Buffer.alloc(step);
    let end = size;
    // Bounded by `limit`: a file without a newline that far back is taken as read to its end.
    while (end > 0 && size - end < limit) {
      const start = Math.max(0, end - step);
      const { bytesRead } = await fh.read(buf, 0, end - start, start);
      const nl = buf.subarray(0, bytesRead).lastIndexOf(10);
      if (nl !== -1) return start + nl + 1;
      end = start;
    }
    return end === 0 ? 0 : size;
  } finally {
    await fh.close();
  }
}
