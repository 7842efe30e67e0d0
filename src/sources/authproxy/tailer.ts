/**
 * The authproxy tailer: follows `authevents.log` by name across rename rotations, copytruncate,
 * delete+recreate and restarts, and hands lines to the pipeline with at-least-once delivery.
 *
 * One loop, one step at a time (no overlapping reads):
 * 1. scan: `stat` the live name and `.1`…`.N` (discovery.ts); tracker.ts reads the head of any
 *    file that is new or changed and matches the files against the known ones (reconcile.ts);
 * 2. read: oldest first (files deleted while still open, then `.N` … `.1`, then the live file),
 *    each from its read position to EOF, through a file handle, in chunks (line-reader.ts);
 * 3. hand off: `batch_lines` lines per `emit()`; a file's committed offset moves only after that
 *    emit resolved, and the checkpoint (checkpoint.ts) is written after it in the background.
 * A rotated file is thus drained to its end before the newer file is read. The loop sleeps
 * `poll_interval_ms` between scans unless the directory watch (watcher.ts) wakes it earlier.
 */
import type { SourceRecord, DeadLetter } from '../../event.js';
import type { AuthproxySourceConfig } from '../../config/schema.js';
import { ErrorCodes, RelayError, errorMessage, isRelayError } from '../../errors.js';
import { Backoff } from '../../ops/backoff.js';
import type { Logger } from '../../ops/logger.js';
import type { ByteLines, Emit, Source } from '../source.js';
import { Checkpointer, checkpointPath, loadCheckpoint } from './checkpoint.js';
import { discover, type Candidate, type DiscoveryProblem } from './discovery.js';
import { LineReader, type LineOut } from './line-reader.js';
import { FileTracker, type Tracked } from './tracker.js';
import { DirWatcher } from './watcher.js';

/**
 * Batches handed to the pipeline and not yet finished while the next is read: the pipeline's waits
 * (route thread, fsync, socket write) overlap the reading of what follows, and the route thread
 * has the next batch as soon as it is done with one (with one in flight it idled a third of the
 * time). Committed in order (#settle) as soon as they finish. A crash reads them again.
 */
export const MAX_IN_FLIGHT = 2;
/** batch_lines when unset: the disk queue's default (one fsync per batch); build.ts sets DIRECT_BATCH_LINES without the queue. */
export const QUEUED_BATCH_LINES = 1000;
/**
 * batch_lines when unset and there is no disk queue: with the route thread formatting one batch
 * while the main thread writes the one before, halves keep both busier (bench: ~+8 % events/s and
 * ~3 MB less peak RSS than 1000).
 */
export const DIRECT_BATCH_LINES = 500;

/**
 * Read size per `read()`; also the shared chunk buffer's size. Without the route thread a chunk's
 * lines are decoded into one string (line-reader.ts): at 256 KiB that string is freed by the
 * young-generation GC as soon as its lines are routed, where a 1 MiB one sat in the old generation
 * until the next full GC (a few MB of RSS, no measurable speed difference).
 */
export const CHUNK_BYTES = 256 * 1024;
/**
 * A batch is handed off once it holds this many bytes of lines, whatever batch_lines says: a file
 * of long lines (max_line_bytes is 1 MiB by default) would otherwise make a batch of up to 1 GiB,
 * and the relay would be killed by its MemoryMax, restarted, and killed again on the same lines.
 */
export const MAX_BATCH_BYTES = 4 * 1024 * 1024;
/** After this much from one scan, scan again (rotation checks stay timely under load). */
const MAX_BYTES_PER_SCAN = 32 * 1024 * 1024;
/** A fragment at the end of a rotated file is emitted after this idle time (unless partial_line_flush_ms is set). */
export const ROTATED_FRAGMENT_IDLE_MS = 5000;
/** close() waits this long for the emit in flight, then writes what is committed. */
const CLOSE_WAIT_MS = 30_000;

export interface TailerContext {
  stateDir: string;
  logger: Logger;
  deadLetter: (d: DeadLetter) => void;
  hostname: string;
}

/** A batch handed to the pipeline and the offset its file commits once the pipeline has it. */
interface InFlight {
  p: Promise<void>;
  t: Tracked;
  offset: number;
  /** The pipeline is done with it (either way): #settle will not wait. */
  done: boolean;
}

/** Thrown inside the loop to stop it without committing (pipeline closing, destroyed). */
class Halt extends Error {}

/** The pipeline refused a batch for another reason: it is read again after a backoff. */
class Refused extends Error {}

/** Retry pacing after errors (refused batches, I/O faults); the poll interval is the floor. */
const RETRY_MAX_MS = 30_000;

/** Bytes of lines in a batch (UTF-16 units of a record's text: as many bytes for ASCII, never more than thrice). */
function batchBytes(b: LineOut): number {
  if (!Array.isArray(b)) return b.bytes;
  let n = 0;
  for (let i = 0; i < b.length; i++) n += (b[i] as SourceRecord).text?.length ?? 0;
  return n;
}

export class AuthproxyTailer implements Source {
  readonly name: string;
  readonly #cfg: AuthproxySourceConfig;
  readonly #ctx: TailerContext;
  readonly #log: Logger;
  readonly #host: string;
  readonly #checkpointFile: string;
  readonly #checkpointer: Checkpointer;
  readonly #files: FileTracker;
  readonly #chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  readonly #watcher: DirWatcher;
  /** Lines read and not yet emitted, all of one file (#batchKey): records, or bytes when the pipeline takes them (Emit.lines). */
  #batch: LineOut | undefined;
  #batchKey = '';
  /** Batches emitted and not yet committed, oldest first (see #handOff). */
  #inFlight: InFlight[] = [];
  #emit: Emit | undefined;
  #started = false;
  #stopping = false;
  #destroyed = false;
  #loop: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #wakeFn: (() => void) | undefined;
  #woken = false;
  #problem: string | undefined;
  #liveMissingLogged = false;
  #lastError: string | undefined;

  constructor(cfg: AuthproxySourceConfig, ctx: TailerContext) {
    this.name = cfg.name;
    this.#cfg = cfg;
    this.#ctx = ctx;
    this.#log = ctx.logger.child({ source: cfg.name, path: cfg.path });
    this.#host = cfg.hostname ?? ctx.hostname;
    this.#checkpointFile = checkpointPath(ctx.stateDir, cfg.name);
    this.#files = new FileTracker({ cfg, log: this.#log, newReader: (key, offset) => this.#newReader(key, offset) });
    this.#checkpointer = new Checkpointer(this.#checkpointFile, () => this.#files.snapshot(), this.#log, cfg.checkpoint_interval_ms);
    this.#watcher = new DirWatcher(cfg.path, () => this.#wake());
  }

  async start(emit: Emit): Promise<void> {
    if (this.#started || this.#stopping) {
      throw new RelayError(ErrorCodes.CLOSED, `The authproxy source "${this.name}" was already started or closed; create a new one.`);
    }
    this.#started = true;
    this.#emit = emit;
    const loaded = await loadCheckpoint(this.#checkpointFile, this.#log);
    if (loaded.status === 'missing') {
      this.#files.begin({ kind: 'first-run', startAt: this.#cfg.start_at }, []);
      this.#log.info({ start_at: this.#cfg.start_at }, 'No checkpoint yet: first run.');
    } else if (loaded.status === 'corrupt') {
      this.#files.begin({ kind: 'after-corrupt', checkpointMtimeMs: loaded.mtimeMs }, []);
      this.#log.error(
        { code: ErrorCodes.CHECKPOINT, reason: loaded.reason, kept_as: loaded.keptAs, checkpoint_mtime: new Date(loaded.mtimeMs).toISOString() },
        'The authproxy checkpoint is corrupt; files written to since it was last saved are read again from their start (repeats carry the same event ids), older files are skipped.',
      );
    } else if (loaded.data.path !== this.#cfg.path) {
      this.#files.begin({ kind: 'first-run', startAt: this.#cfg.start_at }, []);
      this.#log.warn({ checkpoint_path: loaded.data.path }, 'The checkpoint belongs to another log path; starting as on a first run.');
    } else {
      this.#files.begin({ kind: 'resume' }, loaded.data.files);
    }
    this.#watcher.ensure();
    this.#loop = this.#run();
  }

  close(): Promise<void> {
    this.#closing ??= this.#doClose();
    return this.#closing;
  }

  destroy(err?: Error): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#stopping = true;
    if (err !== undefined) this.#log.warn({ err: err.message }, 'Authproxy source destroyed.');
    this.#watcher.close();
    this.#wake();
    this.#files.closeAll();
  }

  async #doClose(): Promise<void> {
    this.#stopping = true;
    this.#wake();
    this.#watcher.close();
    if (this.#loop !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        this.#loop.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), CLOSE_WAIT_MS);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) this.#log.warn({ wait_ms: CLOSE_WAIT_MS }, 'The pipeline did not settle the batch in flight; closing with the last committed offsets.');
    }
    try {
      // Only a source that ran has state worth writing (a failed start must not clobber the file).
      if (this.#loop !== undefined && !this.#destroyed) await this.#checkpointer.flush();
    } finally {
      this.#files.closeAll();
    }
  }

  // ------------------------------------------------------------------ loop

  async #run(): Promise<void> {
    const backoff = new Backoff({ min_ms: this.#cfg.poll_interval_ms, max_ms: Math.max(RETRY_MAX_MS, this.#cfg.poll_interval_ms), factor: 2, jitter: 0.5 });
    while (!this.#stopping) {
      let again = false;
      let wait = this.#cfg.poll_interval_ms;
      try {
        again = await this.#scanAndRead();
        this.#lastError = undefined;
        backoff.reset();
      } catch (err: unknown) {
        if (err instanceof Halt || this.#stopping) break;
        // Lines read but not handed off (or handed off and not committed) are read again, never
        // emitted under another file's offset.
        this.#batch = undefined;
        this.#inFlight = [];
        this.#files.rewindUncommitted();
        wait = backoff.next();
        this.#reportError(err, wait);
      }
      if (this.#stopping) break;
      if (!again) await this.#sleep(wait);
    }
  }

  #sleep(ms: number): Promise<void> {
    if (this.#woken) {
      this.#woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#wakeFn = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wakeFn = done;
    });
  }

  #wake(): void {
    if (this.#wakeFn !== undefined) this.#wakeFn();
    else this.#woken = true;
  }

  /** One scan and the reads it calls for. Returns true when data is known to be waiting. */
  async #scanAndRead(): Promise<boolean> {
    const disc = await discover(this.#cfg.path, this.#cfg.max_rotated_files);
    if (disc.problem !== undefined) {
      this.#reportProblem(disc.problem);
      return false;
    }
    if (this.#problem !== undefined) {
      this.#log.info('The log directory is usable again; tailing resumes.');
      this.#problem = undefined;
    }
    this.#watcher.ensure();
    this.#noteLiveFile(disc.candidates);

    const order = await this.#files.update(disc.candidates);
    // New files are on record before any of their lines leave (a crash now must not re-read history).
    this.#checkpointer.request();

    let budget = MAX_BYTES_PER_SCAN;
    for (const t of order) {
      if (this.#stopping) break;
      budget -= await this.#readFile(t, budget);
      if (budget <= 0) break;
      // An older file ends in half a line that may still be completed: newer lines wait for it.
      if (t.suffix !== 0 && t.reader.hasFragment) break;
    }
    // Everything emitted is committed before the loop sleeps or stops.
    await this.#settleInFlight();
    this.#files.forgetMissing();
    this.#checkpointer.request();
    return budget <= 0;
  }

  /**
   * Reads one file from its read position to EOF (or `budget` bytes), emitting full batches.
   * Returns the bytes read.
   */
  async #readFile(t: Tracked, budget: number): Promise<number> {
    const live = t.suffix === 0;
    let size = t.size;
    if (t.suffix === -1) {
      if (t.fh === undefined) return 0;
      size = Number((await t.fh.stat()).size);
    }
    const more = size > t.reader.readPos;
    if (!more && !(t.reader.hasFragment && this.#fragmentDue(t, live))) {
      if (!live && !t.reader.hasFragment) this.#files.closeHandle(t);
      return 0;
    }
    let total = 0;
    if (more) {
      const fh = t.fh ?? (await this.#files.openAs(t.path, t.key));
      if (fh === undefined) return 0;
      t.fh = fh;
      const max = this.#cfg.batch_lines ?? QUEUED_BATCH_LINES;
      for (;;) {
        if (this.#stopping) return total;
        const batch = this.#batchFor(t);
        if (t.reader.drain(batch, max) || batchBytes(batch) >= MAX_BATCH_BYTES) {
          await this.#handOff(t);
          continue;
        }
        if (total >= budget) break;
        const n = await t.reader.fill(fh, this.#chunk);
        if (n === 0) break;
        total += n;
      }
      if (total > 0) t.lastGrowth = Date.now();
    }
    if (t.reader.hasFragment && this.#fragmentDue(t, live)) t.reader.flushFragment(this.#batchFor(t));
    await this.#handOff(t);
    if (!live && total < budget && !t.reader.hasFragment) this.#files.closeHandle(t);
    return total;
  }

  /**
   * Emits the batch (if any); a file's offset is committed once the pipeline has the batch. Up to
   * MAX_IN_FLIGHT batches stay in flight while the next is read (the pipeline routes them, on the
   * route thread or at emit, then waits for an fsync or a write): #settle commits them in order.
   * When one is refused, those behind it are void too and read again (same positions, same ids).
   */
  async #handOff(t: Tracked): Promise<void> {
    const offset = t.reader.lineStart;
    if (this.#batch === undefined || this.#batch.length === 0) {
      // Only skipped bytes (empty or over-long lines): nothing to hand off, the offset may move
      // once what was emitted before it is committed.
      await this.#settleInFlight();
      if (offset > t.committed) t.committed = offset;
      return;
    }
    const emit = this.#emit;
    if (emit === undefined) throw new Halt();
    // No local holds the records while the pipeline works on them: they can die young.
    const batch = this.#batch;
    this.#batch = undefined;
    const f: InFlight = { p: Array.isArray(batch) ? emit(batch) : this.#emitLines(emit, batch), t, offset, done: false };
    // Its outcome is taken by #settle (or ignored once an earlier failure made it void).
    f.p.then(
      () => (f.done = true),
      () => (f.done = true),
    );
    this.#inFlight.push(f);
    // Batches the pipeline has finished with are committed now, not when room is needed: the
    // checkpoint stays as close behind the queue as it can (fewer lines read again after a crash).
    for (let head = this.#inFlight[0]; head !== undefined && (head.done || this.#inFlight.length > MAX_IN_FLIGHT); head = this.#inFlight[0]) await this.#settle(head);
  }

  /** Waits for the batches in flight, if any, and commits them in order. */
  async #settleInFlight(): Promise<void> {
    while (this.#inFlight.length > 0) await this.#settle(this.#inFlight[0] as InFlight);
  }

  async #settle(f: InFlight): Promise<void> {
    try {
      await f.p;
    } catch (err: unknown) {
      // What was emitted after it is void too: everything past the committed offsets is read again.
      this.#inFlight = [];
      if (this.#stopping || (isRelayError(err) && err.code === ErrorCodes.CLOSED)) {
        // The pipeline is shutting down (Emit contract): stop without committing.
        this.#stopping = true;
        throw new Halt();
      }
      // Not delivered in whole or part (Destination contract): read the batch again later.
      f.t.reader.reset(f.t.committed);
      throw new Refused(`The pipeline refused a batch (${errorMessage(err)}); it is read again from ${f.t.path} offset ${f.t.committed}.`, { cause: err });
    }
    if (this.#inFlight[0] === f) this.#inFlight.shift();
    if (this.#destroyed) throw new Halt();
    if (f.offset > f.t.committed) f.t.committed = f.offset;
    this.#checkpointer.request();
  }

  /**
   * The batch lines of `t` go into. Bytes when the pipeline takes them (its route thread decodes
   * each line once, where it routes it; nothing here decodes or re-encodes them), else records.
   * A batch holds one file's lines: #readFile hands it off before the next file is read.
   */
  #batchFor(t: Tracked): LineOut {
    const b = this.#batch;
    if (b !== undefined && this.#batchKey === t.key) return b;
    if (b !== undefined && b.length > 0) throw new RelayError(ErrorCodes.INTERNAL, `Lines of two files in one batch (${this.#batchKey}, ${t.key}); a tailer bug.`);
    const intake = this.#emit?.lines;
    // One more than batch_lines: a fragment flushed after a drain that filled the batch.
    const next = intake === undefined ? [] : intake.open((this.#cfg.batch_lines ?? QUEUED_BATCH_LINES) + 1, this.#prefix(t.key), 'authproxy', this.#host);
    this.#batch = next;
    this.#batchKey = t.key;
    return next;
  }

  #emitLines(emit: Emit, lines: ByteLines): Promise<void> {
    const intake = emit.lines;
    if (intake === undefined) return Promise.reject(new RelayError(ErrorCodes.INTERNAL, 'A batch of line bytes for a pipeline that takes none; a tailer bug.'));
    return intake.emit(lines);
  }

  /** Position prefix of a file's records: `<path>@<dev>:<ino>:` (the line's byte offset follows). */
  #prefix(key: string): string {
    return `${this.#cfg.path}@${key}:`;
  }

  #fragmentDue(t: Tracked, live: boolean): boolean {
    const flushMs = this.#cfg.partial_line_flush_ms;
    const wait = live ? flushMs : flushMs > 0 ? flushMs : ROTATED_FRAGMENT_IDLE_MS;
    return wait > 0 && Date.now() - t.lastGrowth >= wait;
  }

  // ------------------------------------------------------------------ helpers

  /** A line reader whose records carry this source's host and the file's position prefix. */
  #newReader(key: string, offset: number): LineReader {
    const prefix = this.#prefix(key);
    const host = this.#host;
    const max = this.#cfg.max_line_bytes;
    return new LineReader(offset, {
      maxLineBytes: max,
      makeRecord: (text, start) => ({ text, kind: 'authproxy', host, position: prefix + start }),
      onOversize: (start, preview, length, complete) => {
        const reason = complete ? `line of ${length} bytes is longer than max_line_bytes (${max})` : `line is longer than max_line_bytes (${max}); skipped up to its newline`;
        this.#log.warn({ position: prefix + start, max_line_bytes: max }, 'Dead-lettered an over-long line.');
        this.#ctx.deadLetter({ reason, position: prefix + start, preview });
      },
    });
  }

  #noteLiveFile(cands: Candidate[]): void {
    const live = cands.some((c) => c.suffix === 0);
    if (!live && !this.#liveMissingLogged) this.#log.info('The log file does not exist yet; waiting for the proxy to create it (log_auth_events=true).');
    this.#liveMissingLogged = !live;
  }

  #reportProblem(p: DiscoveryProblem): void {
    this.#watcher.reset();
    if (this.#problem === p.message) return;
    this.#problem = p.message;
    this.#log.error({ code: ErrorCodes.SOURCE_IO, kind: p.kind, retry_ms: this.#cfg.poll_interval_ms }, `Cannot tail the authproxy log: ${p.message}. Retrying.`);
  }

  #reportError(err: unknown, retryMs: number): void {
    const msg = errorMessage(err);
    if (this.#lastError === msg) return;
    this.#lastError = msg;
    const cause = err instanceof Refused ? err.cause : err;
    const code = isRelayError(cause) ? cause.code : ErrorCodes.SOURCE_IO;
    this.#log.error({ code, err: msg, retry_ms: retryMs }, err instanceof Refused ? 'A batch was not handed off; retrying.' : 'Reading the authproxy log failed; retrying.');
  }
}
