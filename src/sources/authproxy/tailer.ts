/**
 * The authproxy tailer: follows `authevents.log` by name across rename rotations, copytruncate,
 * delete+recreate and restarts, and hands lines to the pipeline with at-least-once delivery.
 *
 * One loop, one step at a time (no overlapping reads):
 * 1. scan: `stat` the live name and `.1`…`.N` (discovery.ts), read the head of any file that is
 *    new or changed, and match the files against the known ones (reconcile.ts);
 * 2. read: oldest first (files deleted while still open, then `.N` … `.1`, then the live file),
 *    each from its read position to EOF, through a file handle, in chunks (line-reader.ts);
 * 3. hand off: `batch_lines` lines per `emit()`; a file's committed offset moves only after that
 *    emit resolved, and the checkpoint (checkpoint.ts) is written after it in the background.
 * A rotated file is thus drained to its end before the newer file is read. The loop sleeps
 * `poll_interval_ms` between scans unless the directory watch (watcher.ts) wakes it earlier.
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { SourceRecord, DeadLetter } from '../../event.js';
import type { AuthproxySourceConfig } from '../../config/schema.js';
import { ErrorCodes, RelayError, errorMessage, systemCode } from '../../errors.js';
import type { Logger } from '../../ops/logger.js';
import type { Emit, Source } from '../source.js';
import { Checkpointer, checkpointPath, loadCheckpoint, type CheckpointData, type CheckpointEntry } from './checkpoint.js';
import { discover, type Candidate, type DiscoveryProblem } from './discovery.js';
import { fileKey, hashPrefix, readHead } from './fingerprint.js';
import { LineReader } from './line-reader.js';
import { reconcile, type KnownFile, type SeenFile } from './reconcile.js';
import { initialOffset, type StartMode } from './start-policy.js';
import { DirWatcher } from './watcher.js';

/** Read size per `read()`; also the shared chunk buffer's size. */
const CHUNK_BYTES = 1024 * 1024;
/** After this much from one scan, scan again (rotation checks stay timely under load). */
const MAX_BYTES_PER_SCAN = 32 * 1024 * 1024;
/** A fragment at the end of a rotated file is emitted after this idle time (unless partial_line_flush_ms is set). */
export const ROTATED_FRAGMENT_IDLE_MS = 5000;
/** Scans a known file may be missing (a rename racing the scan) before it is forgotten. */
const MISSING_SCANS_BEFORE_FORGET = 3;
/** An unknown rotated file shorter than the fingerprint and written to this recently is not judged yet. */
const NEW_ROTATED_SETTLE_MS = 1000;
/** close() waits this long for the emit in flight, then writes what is committed. */
const CLOSE_WAIT_MS = 30_000;

export interface TailerContext {
  stateDir: string;
  logger: Logger;
  deadLetter: (d: DeadLetter) => void;
  hostname: string;
}

interface Tracked {
  key: string;
  fp: string;
  fpLen: number;
  path: string;
  /** Name it was last seen under: 0 live, k `.k`, -1 not seen in the last scan. */
  suffix: number;
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  /** First byte not yet handed off durably: what the checkpoint records. */
  committed: number;
  reader: LineReader;
  fh: FileHandle | undefined;
  missing: number;
  copyOf: string | undefined;
  /** When bytes last arrived (for fragment flushes). */
  lastGrowth: number;
}

/** Thrown inside the loop to stop it without committing (emit rejected, destroyed). */
class Halt extends Error {}

export class AuthproxyTailer implements Source {
  readonly name: string;
  readonly #cfg: AuthproxySourceConfig;
  readonly #ctx: TailerContext;
  readonly #log: Logger;
  readonly #host: string;
  readonly #checkpointFile: string;
  readonly #checkpointer: Checkpointer;
  readonly #tracked = new Map<string, Tracked>();
  readonly #chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  readonly #watcher: DirWatcher;
  #batch: SourceRecord[] = [];
  #emit: Emit | undefined;
  #mode: StartMode = { kind: 'resume' };
  #startup = true;
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
    this.#checkpointer = new Checkpointer(this.#checkpointFile, () => this.#snapshot(), this.#log);
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
      this.#mode = { kind: 'first-run', startAt: this.#cfg.start_at };
      this.#log.info({ start_at: this.#cfg.start_at }, 'No checkpoint yet: first run.');
    } else if (loaded.status === 'corrupt') {
      this.#mode = { kind: 'after-corrupt', checkpointMtimeMs: loaded.mtimeMs };
      this.#log.error(
        { code: ErrorCodes.CHECKPOINT, reason: loaded.reason, kept_as: loaded.keptAs, checkpoint_mtime: new Date(loaded.mtimeMs).toISOString() },
        'The authproxy checkpoint is corrupt; files written to since it was last saved are read again from their start (repeats carry the same event ids), older files are skipped.',
      );
    } else if (loaded.data.path !== this.#cfg.path) {
      this.#mode = { kind: 'first-run', startAt: this.#cfg.start_at };
      this.#log.warn({ checkpoint_path: loaded.data.path }, 'The checkpoint belongs to another log path; starting as on a first run.');
    } else {
      this.#mode = { kind: 'resume' };
      for (const e of loaded.data.files) {
        const t = this.#newTracked(e.key, e.fp, e.fpLen, '', e.offset);
        t.size = e.size;
        // Unknown stat: the first scan verifies every checkpointed file by content.
        t.mtimeNs = -1n;
        this.#tracked.set(e.key, t);
      }
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
    for (const t of this.#tracked.values()) this.#closeHandle(t);
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
      if (this.#started && !this.#destroyed) await this.#checkpointer.flush();
    } finally {
      for (const t of this.#tracked.values()) this.#closeHandle(t);
    }
  }

  // ------------------------------------------------------------------ loop

  async #run(): Promise<void> {
    while (!this.#stopping) {
      let again = false;
      try {
        again = await this.#scanAndRead();
        this.#lastError = undefined;
      } catch (err: unknown) {
        if (err instanceof Halt || this.#stopping) break;
        this.#reportError(err);
      }
      if (this.#stopping) break;
      if (!again) await this.#sleep(this.#cfg.poll_interval_ms);
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

    const { seen, cands, deferred } = await this.#verify(disc.candidates);
    await this.#apply(seen, cands);
    this.#startup = false;
    // New files are on record before any of their lines leave (a crash now must not re-read history).
    this.#checkpointer.request();

    // Files deleted while still open are the oldest; then `.N` … `.1`; the live file last.
    const order: Tracked[] = [];
    for (const t of this.#tracked.values()) if (t.suffix === -1 && t.fh !== undefined) order.push(t);
    for (const c of cands) {
      const t = this.#tracked.get(c.key);
      if (t !== undefined) order.push(t);
    }
    let budget = MAX_BYTES_PER_SCAN;
    for (const t of order) {
      if (this.#stopping) break;
      if (deferred > 0 && t.suffix !== -1 && t.suffix < deferred) break;
      budget -= await this.#readFile(t, budget);
      if (budget <= 0) break;
      // An older file ends in half a line that may still be completed: newer lines wait for it.
      if (t.suffix !== 0 && t.reader.hasFragment) break;
    }
    this.#forgetMissing();
    this.#checkpointer.request();
    return budget <= 0;
  }

  /** Reads heads where identity must be checked; drops names that changed under the scan. */
  /**
   * Reads heads where identity must be checked; drops names that changed under the scan.
   * `deferred`: the highest suffix of an unknown rotated file too short to identify that is
   * still being written (a `cp` in progress looks like a new file): decided on a later scan,
   * and nothing newer is read meanwhile, so order holds.
   */
  async #verify(candidates: Candidate[]): Promise<{ seen: SeenFile[]; cands: Candidate[]; deferred: number }> {
    const seen: SeenFile[] = [];
    const cands: Candidate[] = [];
    let deferred = 0;
    const now = BigInt(Date.now()) * 1_000_000n;
    for (const c of candidates) {
      const t = this.#tracked.get(c.key);
      let head: Buffer | undefined;
      if (t === undefined || t.size !== c.size || t.mtimeNs !== c.mtimeNs || t.ctimeNs !== c.ctimeNs) {
        head = await this.#headOf(c, t);
        // Renamed or deleted between stat and open: the next scan sees it under its new name.
        if (head === undefined) continue;
        const young = now - c.mtimeNs < BigInt(NEW_ROTATED_SETTLE_MS) * 1_000_000n;
        if (t === undefined && c.suffix > 0 && head.length < this.#cfg.fingerprint_bytes && young) {
          deferred = Math.max(deferred, c.suffix);
          continue;
        }
      }
      seen.push({ key: c.key, suffix: c.suffix, size: c.size, head });
      cands.push(c);
    }
    return { seen, cands, deferred };
  }

  async #apply(seen: SeenFile[], cands: Candidate[]): Promise<void> {
    const byKnown = new Map<KnownFile, Tracked>();
    const known: KnownFile[] = [];
    for (const t of this.#tracked.values()) {
      const k: KnownFile = { key: t.key, fp: t.fp, fpLen: t.fpLen, offset: t.committed, end: t.reader.readPos, copyOf: t.copyOf };
      byKnown.set(k, t);
      known.push(k);
    }
    const r = reconcile(known, seen, { startup: this.#startup });
    const intact = new Set<string>();
    for (const d of r.decisions) if (d.kind === 'same') intact.add(d.known.key);
    for (let i = 0; i < cands.length; i++) {
      const c = cands[i] as Candidate;
      const s = seen[i] as SeenFile;
      const d = r.decisions[i];
      if (d === undefined) continue;
      if (d.kind === 'same') {
        const t = byKnown.get(d.known) as Tracked;
        this.#seenAt(t, c);
        // A copy still being written (`cp` of a file we read): its bytes are in the original.
        if (t.copyOf !== undefined && intact.has(t.copyOf) && c.size > t.committed && t.reader.readPos === t.committed) {
          t.reader.reset(c.size);
          t.committed = c.size;
        }
        if (s.head !== undefined && s.head.length > t.fpLen) {
          t.fp = hashPrefix(s.head, s.head.length);
          t.fpLen = s.head.length;
        }
      } else if (d.kind === 'replaced') {
        const t = byKnown.get(d.known) as Tracked;
        this.#log.warn(
          { file: c.path, size: c.size, read_to: t.reader.readPos, code: ErrorCodes.SOURCE_IO },
          this.#startup
            ? 'The file was truncated or rewritten while the relay was stopped; reading it again from byte 0.'
            : 'The file was truncated (copytruncate?) or rewritten in place; reading it again from byte 0.',
        );
        const head = s.head ?? Buffer.alloc(0);
        t.fp = hashPrefix(head, head.length);
        t.fpLen = head.length;
        t.reader.reset(0);
        t.committed = 0;
        t.copyOf = undefined;
        this.#seenAt(t, c);
      } else {
        const head = s.head ?? Buffer.alloc(0);
        let offset: number;
        if (d.kind === 'copy') {
          offset = d.offset;
          if (offset < c.size) this.#log.info({ file: c.path, from: offset, to: c.size }, 'Found a copy holding unread lines of a truncated file; reading them from there.');
        } else {
          offset = this.#startup ? await initialOffset(this.#mode, c, this.#cfg.max_line_bytes) : 0;
          this.#log.debug({ file: c.path, offset }, 'Tracking a new file.');
        }
        const t = this.#newTracked(c.key, hashPrefix(head, head.length), head.length, c.path, offset);
        if (d.kind === 'copy') t.copyOf = d.of.key;
        this.#seenAt(t, c);
        this.#tracked.set(c.key, t);
      }
    }
    for (const { known: k, offset } of r.rewinds) {
      const t = byKnown.get(k) as Tracked;
      if (offset < t.size) this.#log.info({ file: t.path, from: offset, to: t.size }, 'A truncated file has a copy; reading its unread lines from the copy.');
      t.reader.reset(offset);
      t.committed = offset;
      t.copyOf = undefined;
    }
    for (const k of r.unmatched) {
      const t = byKnown.get(k) as Tracked;
      if (this.#startup) {
        this.#tracked.delete(t.key);
        this.#reportLost(t, 'The file was deleted while the relay was stopped before it was read to the end; its unread lines are lost.');
      } else {
        t.suffix = -1;
        t.missing++;
      }
    }
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
      if (!live && !t.reader.hasFragment) this.#closeHandle(t);
      return 0;
    }
    let total = 0;
    if (more) {
      const fh = t.fh ?? (await this.#openAs(t.path, t.key));
      if (fh === undefined) return 0;
      t.fh = fh;
      const max = this.#cfg.batch_lines;
      for (;;) {
        if (this.#stopping) return total;
        if (t.reader.drain(this.#batch, max)) {
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
    if (t.reader.hasFragment && this.#fragmentDue(t, live)) t.reader.flushFragment(this.#batch);
    await this.#handOff(t);
    if (!live && total < budget && !t.reader.hasFragment) this.#closeHandle(t);
    return total;
  }

  /** Emits the batch (if any) and commits the file's offset once the pipeline has it. */
  async #handOff(t: Tracked): Promise<void> {
    const offset = t.reader.lineStart;
    if (this.#batch.length === 0) {
      // Only skipped bytes (empty or over-long lines): nothing to hand off, the offset may move.
      if (offset > t.committed) t.committed = offset;
      return;
    }
    const records = this.#batch;
    this.#batch = [];
    const emit = this.#emit;
    if (emit === undefined) throw new Halt();
    try {
      await emit(records);
    } catch (err: unknown) {
      if (!this.#stopping) {
        this.#log.warn({ err: errorMessage(err) }, 'The pipeline refused a batch; the authproxy source stops and resumes from its checkpoint on the next start.');
      }
      this.#stopping = true;
      throw new Halt();
    }
    if (this.#destroyed) throw new Halt();
    t.committed = offset;
    this.#checkpointer.request();
  }

  #fragmentDue(t: Tracked, live: boolean): boolean {
    const flushMs = this.#cfg.partial_line_flush_ms;
    const wait = live ? flushMs : flushMs > 0 ? flushMs : ROTATED_FRAGMENT_IDLE_MS;
    return wait > 0 && Date.now() - t.lastGrowth >= wait;
  }

  // ------------------------------------------------------------------ helpers

  #newTracked(key: string, fp: string, fpLen: number, path: string, offset: number): Tracked {
    const prefix = `${this.#cfg.path}@${key}:`;
    const host = this.#host;
    const t: Tracked = {
      key,
      fp,
      fpLen,
      path,
      suffix: -1,
      size: 0,
      mtimeNs: 0n,
      ctimeNs: 0n,
      committed: offset,
      reader: new LineReader(offset, {
        maxLineBytes: this.#cfg.max_line_bytes,
        makeRecord: (text, start) => ({ text, kind: 'authproxy', host, position: prefix + start }),
        onOversize: (start, preview, length, complete) => {
          const reason = complete
            ? `line of ${length} bytes is longer than max_line_bytes (${this.#cfg.max_line_bytes})`
            : `line is longer than max_line_bytes (${this.#cfg.max_line_bytes}); skipped up to its newline`;
          this.#log.warn({ position: prefix + start, max_line_bytes: this.#cfg.max_line_bytes }, 'Dead-lettered an over-long line.');
          this.#ctx.deadLetter({ reason, position: prefix + start, preview });
        },
      }),
      fh: undefined,
      missing: 0,
      copyOf: undefined,
      lastGrowth: Date.now(),
    };
    return t;
  }

  #seenAt(t: Tracked, c: Candidate): void {
    t.path = c.path;
    t.suffix = c.suffix;
    t.size = c.size;
    t.mtimeNs = c.mtimeNs;
    t.ctimeNs = c.ctimeNs;
    t.missing = 0;
  }

  /** Opens `path` and checks it is still the file `key` (a rename may have raced the scan). */
  async #openAs(path: string, key: string): Promise<FileHandle | undefined> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err: unknown) {
      if (systemCode(err) === 'ENOENT') return undefined;
      throw new RelayError(ErrorCodes.SOURCE_IO, `Cannot open ${path} (${systemCode(err) ?? errorMessage(err)}); check the relay user may read it (the proxy writes it with mode 0640).`, { cause: err });
    }
    const st = await fh.stat({ bigint: true });
    if (fileKey(st.dev, st.ino) === key) return fh;
    await fh.close();
    return undefined;
  }

  /**
   * Reads the head, then refreshes `c.size` from the same handle: a file being written (a `cp`
   * in progress) must not show a head longer than its size, and the size taken after the head
   * is at least as fresh as every other stat of this scan.
   */
  async #headOf(c: Candidate, t: Tracked | undefined): Promise<Buffer | undefined> {
    const own = t?.fh === undefined;
    const fh = t?.fh ?? (await this.#openAs(c.path, c.key));
    if (fh === undefined) return undefined;
    try {
      const head = await readHead(fh, this.#cfg.fingerprint_bytes);
      const size = Number((await fh.stat()).size);
      if (size > c.size) c.size = size;
      return head;
    } finally {
      if (own) await fh.close();
    }
  }

  #closeHandle(t: Tracked): void {
    const fh = t.fh;
    if (fh === undefined) return;
    t.fh = undefined;
    fh.close().catch(() => {
      // Already closed (destroy raced a read): nothing left to release.
    });
  }

  #forgetMissing(): void {
    for (const t of [...this.#tracked.values()]) {
      if (t.suffix !== -1 || t.fh !== undefined || t.missing < MISSING_SCANS_BEFORE_FORGET) continue;
      this.#tracked.delete(t.key);
      this.#reportLost(t, 'A rotated file was deleted before it was read to the end; its unread lines are lost (raise the proxy\'s log_max_files or keep the relay running).');
    }
  }

  #reportLost(t: Tracked, message: string): void {
    if (t.committed < t.size) this.#log.error({ file: t.path || undefined, key: t.key, unread_bytes: t.size - t.committed }, message);
  }

  #snapshot(): CheckpointData {
    const files: CheckpointEntry[] = [];
    for (const t of this.#tracked.values()) files.push({ key: t.key, fp: t.fp, fpLen: t.fpLen, offset: t.committed, size: t.size });
    return { path: this.#cfg.path, files };
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

  #reportError(err: unknown): void {
    const msg = errorMessage(err);
    if (this.#lastError === msg) return;
    this.#lastError = msg;
    const code = err instanceof RelayError ? err.code : ErrorCodes.SOURCE_IO;
    this.#log.error({ code, err: msg, retry_ms: this.#cfg.poll_interval_ms }, 'Reading the authproxy log failed; retrying.');
  }
}
