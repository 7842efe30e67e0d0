/**
 * The set of files the tailer knows, keyed by `dev:ino`: which name each one has now, its
 * identity (prefix fingerprint), its committed offset and its line reader. `update()` takes one
 * scan's candidates, verifies identities where a stat changed, applies reconcile.ts's decisions,
 * and returns the files in reading order (files deleted while open, then `.N` … `.1`, then the
 * live file). Reading and handing off are the tailer's job.
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { AuthproxySourceConfig } from '../../config/schema.js';
import { ErrorCodes, RelayError, errorMessage, systemCode } from '../../errors.js';
import type { Logger } from '../../ops/logger.js';
import type { CheckpointData, CheckpointEntry } from './checkpoint.js';
import type { Candidate } from './discovery.js';
import { fileKey, hashPrefix, readHead } from './fingerprint.js';
import type { LineReader } from './line-reader.js';
import { reconcile, type KnownFile, type SeenFile } from './reconcile.js';
import { initialOffset, type StartMode } from './start-policy.js';

/** Scans a known file may be missing (a rename racing the scan) before it is forgotten. */
const MISSING_SCANS_BEFORE_FORGET = 3;
/** An unknown rotated file shorter than the fingerprint and written to this recently is not judged yet. */
const NEW_ROTATED_SETTLE_MS = 1000;

export interface Tracked {
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
  /** Missing since the first scan after a start: if it stays missing, it went while the relay was stopped. */
  goneAtStart: boolean;
  /** Key of the original while this file is a copy that shadows it. */
  copyOf: string | undefined;
  /** When bytes last arrived (for fragment flushes). */
  lastGrowth: number;
}

export interface TrackerOptions {
  cfg: AuthproxySourceConfig;
  log: Logger;
  /** Builds the line reader of a file starting at `offset` (records name the file by `key`). */
  newReader: (key: string, offset: number) => LineReader;
}

export class FileTracker {
  readonly files = new Map<string, Tracked>();
  readonly #cfg: AuthproxySourceConfig;
  readonly #log: Logger;
  readonly #newReader: (key: string, offset: number) => LineReader;
  #mode: StartMode = { kind: 'resume' };
  #startup = true;

  constructor(opts: TrackerOptions) {
    this.#cfg = opts.cfg;
    this.#log = opts.log;
    this.#newReader = opts.newReader;
  }

  /** Sets the policy for files not on record at the first scan, and the checkpointed files. */
  begin(mode: StartMode, entries: readonly CheckpointEntry[]): void {
    this.#mode = mode;
    for (const e of entries) {
      const t = this.#newTracked(e.key, e.fp, e.fpLen, '', e.offset);
      t.size = e.size;
      // Unknown stat: the first scan verifies every checkpointed file by content.
      t.mtimeNs = -1n;
      this.files.set(e.key, t);
    }
  }

  /** Matches one scan's candidates (oldest first) and returns the files to read, in order. */
  async update(candidates: Candidate[]): Promise<Tracked[]> {
    const { seen, cands, deferred } = await this.#verify(candidates);
    await this.#apply(seen, cands);
    this.#startup = false;
    const order: Tracked[] = [];
    for (const t of this.files.values()) if (t.suffix === -1 && t.fh !== undefined) order.push(t);
    for (const c of cands) {
      // A file not judged yet holds older lines: nothing newer is read before it.
      if (deferred > 0 && c.suffix < deferred) break;
      const t = this.files.get(c.key);
      if (t !== undefined) order.push(t);
    }
    return order;
  }

  /** Drops files gone for a few scans (reporting unread bytes as lost). */
  forgetMissing(): void {
    for (const t of [...this.files.values()]) {
      if (t.suffix !== -1 || t.fh !== undefined || t.missing < MISSING_SCANS_BEFORE_FORGET) continue;
      this.files.delete(t.key);
      this.#reportLost(
        t,
        t.goneAtStart
          ? 'The file was deleted while the relay was stopped before it was read to the end; its unread lines are lost.'
          : "A rotated file was deleted before it was read to the end; its unread lines are lost (raise the proxy's log_max_files or keep the relay running).",
      );
    }
  }

  snapshot(): CheckpointData {
    const files: CheckpointEntry[] = [];
    for (const t of this.files.values()) files.push({ key: t.key, fp: t.fp, fpLen: t.fpLen, offset: t.committed, size: t.size });
    return { path: this.#cfg.path, files };
  }

  /** Opens `path` and checks it is still the file `key` (a rename may have raced the scan). */
  async openAs(path: string, key: string): Promise<FileHandle | undefined> {
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

  /** After a failed step: every reader goes back to its committed offset. */
  rewindUncommitted(): void {
    for (const t of this.files.values()) if (t.reader.readPos !== t.committed) t.reader.reset(t.committed);
  }

  closeHandle(t: Tracked): void {
    const fh = t.fh;
    if (fh === undefined) return;
    t.fh = undefined;
    fh.close().catch(() => {
      // Already closed (destroy raced a read): nothing left to release.
    });
  }

  closeAll(): void {
    for (const t of this.files.values()) this.closeHandle(t);
  }

  /**
   * Reads heads where identity must be checked; drops names that changed under the scan.
   * `deferred`: the highest suffix of an unknown rotated file too short to identify that is
   * still being written (a `cp` in progress looks like a new file); it is judged on a later scan.
   */
  async #verify(candidates: Candidate[]): Promise<{ seen: SeenFile[]; cands: Candidate[]; deferred: number }> {
    const seen: SeenFile[] = [];
    const cands: Candidate[] = [];
    let deferred = 0;
    const now = BigInt(Date.now()) * 1_000_000n;
    for (const c of candidates) {
      const t = this.files.get(c.key);
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

  /**
   * Reads the head, then refreshes `c.size` from the same handle: a file being written (a `cp`
   * in progress) must not show a head longer than its size, and the size taken after the head
   * is at least as fresh as every other stat of this scan.
   */
  async #headOf(c: Candidate, t: Tracked | undefined): Promise<Buffer | undefined> {
    const own = t?.fh === undefined;
    const fh = t?.fh ?? (await this.openAs(c.path, c.key));
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

  async #apply(seen: SeenFile[], cands: Candidate[]): Promise<void> {
    const byKnown = new Map<KnownFile, Tracked>();
    const known: KnownFile[] = [];
    for (const t of this.files.values()) {
      const k: KnownFile = { key: t.key, fp: t.fp, fpLen: t.fpLen, offset: t.committed, end: t.reader.readPos, copyOf: t.copyOf };
      byKnown.set(k, t);
      known.push(k);
    }
    const r = reconcile(known, seen, { startup: this.#startup });
    const intact = new Set<string>();
    for (const d of r.decisions) if (d.kind === 'same') intact.add(d.known.key);
    for (let i = 0; i < cands.length; i++) {
      const c = cands[i] as Candidate;
      const head = (seen[i] as SeenFile).head;
      const d = r.decisions[i];
      if (d === undefined) continue;
      if (d.kind === 'same') {
        const t = byKnown.get(d.known) as Tracked;
        seenAt(t, c);
        // A copy still being written (`cp` of a file we read): its bytes are in the original.
        if (t.copyOf !== undefined && intact.has(t.copyOf) && c.size > t.committed && t.reader.readPos === t.committed) {
          t.reader.reset(c.size);
          t.committed = c.size;
        }
        if (head !== undefined && head.length > t.fpLen) {
          t.fp = hashPrefix(head, head.length);
          t.fpLen = head.length;
        }
      } else if (d.kind === 'replaced') {
        const t = byKnown.get(d.known) as Tracked;
        this.#log.warn(
          { file: c.path, size: c.size, read_to: t.reader.readPos, code: ErrorCodes.SOURCE_IO },
          this.#startup
            ? 'The file was truncated or rewritten while the relay was stopped; reading it again from byte 0.'
            : 'The file was truncated (copytruncate?) or rewritten in place; reading it again from byte 0.',
        );
        const h = head ?? Buffer.alloc(0);
        t.fp = hashPrefix(h, h.length);
        t.fpLen = h.length;
        t.reader.reset(0);
        t.committed = 0;
        t.copyOf = undefined;
        seenAt(t, c);
      } else {
        const h = head ?? Buffer.alloc(0);
        let offset: number;
        if (d.kind === 'copy') {
          offset = d.offset;
          if (offset < c.size) this.#log.info({ file: c.path, from: offset, to: c.size }, 'Found a copy holding unread lines of a truncated file; reading them from there.');
        } else {
          offset = this.#startup ? await initialOffset(this.#mode, c, this.#cfg.max_line_bytes) : 0;
          this.#log.debug({ file: c.path, offset }, 'Tracking a new file.');
        }
        const t = this.#newTracked(c.key, hashPrefix(h, h.length), h.length, c.path, offset);
        if (d.kind === 'copy') t.copyOf = d.of.key;
        seenAt(t, c);
        this.files.set(c.key, t);
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
      // Not seen in this scan. The proxy renames its files one at a time, so a rotation racing the
      // scan can hide a file for a moment, in the first scan after a start too: forgotten (and
      // reported lost) only after MISSING_SCANS_BEFORE_FORGET scans without it (forgetMissing).
      // Forgetting it at once made it a new file when it showed up again, read from byte 0.
      const t = byKnown.get(k) as Tracked;
      t.suffix = -1;
      t.missing++;
      if (this.#startup) t.goneAtStart = true;
    }
  }

  #newTracked(key: string, fp: string, fpLen: number, path: string, offset: number): Tracked {
    return {
      key,
      fp,
      fpLen,
      path,
      suffix: -1,
      size: 0,
      mtimeNs: 0n,
      ctimeNs: 0n,
      committed: offset,
      reader: this.#newReader(key, offset),
      fh: undefined,
      missing: 0,
      goneAtStart: false,
      copyOf: undefined,
      lastGrowth: Date.now(),
    };
  }

  #reportLost(t: Tracked, message: string): void {
    if (t.committed < t.size) this.#log.error({ file: t.path || undefined, key: t.key, unread_bytes: t.size - t.committed }, message);
  }
}

function seenAt(t: Tracked, c: Candidate): void {
  t.path = c.path;
  t.suffix = c.suffix;
  t.size = c.size;
  t.mtimeNs = c.mtimeNs;
  t.ctimeNs = c.ctimeNs;
  t.missing = 0;
  t.goneAtStart = false;
}
