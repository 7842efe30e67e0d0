import type { LogKind, SourceRecord } from '../event.js';

/**
 * Hands a batch to the pipeline. The promise resolves only once every record of the
 * batch is durably handed off (in the disk queue, or delivered when there is none);
 * only then may the source move its checkpoint. It rejects when the pipeline is closing:
 * the source must then stop without committing.
 *
 * A source may emit its next batches before the previous one resolved (the tailer keeps up to
 * two in flight): the pipeline hands batches on in the order they were emitted, and the source
 * commits them in that order. When a batch is refused, those emitted behind it may still be
 * delivered; the source reads them all again from its committed offset (repeats carry the same ids).
 */
export interface Emit {
  (records: SourceRecord[]): Promise<void>;
  /**
   * Present when the pipeline takes lines as bytes (its route thread decodes each line where it
   * routes it): a source reading a file may fill a batch from `open` and hand it to `emit`, with
   * the same contract as above, and never decode the lines itself.
   */
  lines?: LineIntake;
}

/** Lines of one file as bytes, in reading order (pipeline/route-protocol.ts LineBatch). */
export interface ByteLines {
  readonly length: number;
  /** Bytes of the lines taken. */
  readonly bytes: number;
  /** Bytes [s, e) of `src` (copied) as one line that starts at byte `start` of the file. */
  pushBytes(src: Uint8Array, s: number, e: number, start: number): void;
}

export interface LineIntake {
  /** An empty batch for up to `max` lines of one file; each record's position is `prefix` + its byte offset. */
  open(max: number, prefix: string, kind: LogKind, host: string | undefined): ByteLines;
  emit(lines: ByteLines): Promise<void>;
}

/** A source of Duo records. Every component has start/close/destroy (house style 10). */
export interface Source {
  /** Stable name used in logs, metrics and checkpoint files. */
  readonly name: string;
  /** Starts reading; returns once the source is running (not when it ends). */
  start(emit: Emit): Promise<void>;
  /** Stops reading, waits for the in-flight batch, writes checkpoints. Idempotent. */
  close(): Promise<void>;
  /** Stops at once; uncommitted records are read again on the next start. */
  destroy(err?: Error): void;
}
