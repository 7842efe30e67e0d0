/**
 * The queue's shared bookkeeping: the ordered segment list and the seq and byte counters that
 * the writer, the readers and the space policy all look at. Mutations are synchronous, so a
 * segment is gone from the list before any await that follows its removal.
 */
import type { Segment } from './segments.js';

export class SegmentStore {
  readonly dir: string;
  /** Oldest first; the last one is the tail, the only one appended to. */
  segments: Segment[] = [];
  /** Seq the next appended record gets. */
  nextSeq = 0;
  /** Records below this seq are fsynced and visible to readers. */
  durableSeq = 0;
  /** Sum of segment file sizes. */
  diskBytes = 0;

  constructor(dir: string) {
    this.dir = dir;
  }

  tail(): Segment {
    const t = this.segments[this.segments.length - 1];
    if (t === undefined) throw new Error('disk queue has no segment');
    return t;
  }

  head(): Segment | undefined {
    return this.segments[0];
  }

  /** The segment after `seg`, if any. */
  after(seg: Segment): Segment | undefined {
    const i = this.segments.indexOf(seg);
    return i < 0 ? undefined : this.segments[i + 1];
  }

  /** The segment that holds (or would hold) `seq`: the last one starting at or before it. */
  containing(seq: number): Segment | undefined {
    let found = this.segments[0];
    for (const s of this.segments) {
      if (s.first > seq) break;
      found = s;
    }
    return found;
  }

  add(seg: Segment): void {
    this.segments.push(seg);
    this.diskBytes += seg.size;
  }

  /** Takes a segment out of the list and the byte count (the file is the caller's business). */
  remove(seg: Segment): void {
    this.segments = this.segments.filter((s) => s !== seg);
    this.diskBytes -= seg.size;
    seg.deleted = true;
  }
}
