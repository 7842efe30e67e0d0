/**
 * The tailer's checkpoint: `<state_dir>/authproxy-<name>.checkpoint.json`.
 *
 * Layout (version 1), one entry per file still present at the last write:
 * ```json
 * {"version":1,"path":"/opt/duoauthproxy/log/authevents.log","written_at":"2024-05-14T09:30:00.000Z",
 *  "files":[{"dev":"2049","ino":"1311","fingerprint":"<sha256 hex>","fingerprint_bytes":256,
 *            "offset":5565,"size":5565}]}
 * ```
 * `offset` is the first byte not yet handed off durably (emit resolved); `size` is the file size
 * last seen (to tell how much a lost file still held). Every file present is listed, read or not,
 * so a file missing from the list on the next start is known to have appeared since.
 *
 * Invariants: written only with `writeFileAtomic` (tmp, fsync, rename, fsync dir); never moves
 * ahead of `emit()`. A file that does not parse is renamed to `…corrupt-<ts>` and reported;
 * stale `…tmp-<pid>` files from killed processes are removed.
 */
import { readFile, readdir, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ErrorCodes, RelayError, errorMessage, systemCode } from '../../errors.js';
import { writeFileAtomic } from '../../ops/atomic-file.js';
import type { Logger } from '../../ops/logger.js';

export const CHECKPOINT_VERSION = 1;

export interface CheckpointEntry {
  key: string;
  fp: string;
  fpLen: number;
  offset: number;
  size: number;
}

export interface CheckpointData {
  path: string;
  files: CheckpointEntry[];
}

export type LoadedCheckpoint =
  | { status: 'missing' }
  | { status: 'ok'; data: CheckpointData }
  /** `mtimeMs`: when the bad file was last written (the safe-restart policy keys on it). */
  | { status: 'corrupt'; reason: string; mtimeMs: number; keptAs: string | undefined };

/** `<stateDir>/authproxy-<name>.checkpoint.json`, with the name made file-system safe. */
export function checkpointPath(stateDir: string, name: string): string {
  return join(stateDir, `authproxy-${name.replace(/[^A-Za-z0-9._-]/g, '_')}.checkpoint.json`);
}

export function serializeCheckpoint(data: CheckpointData, now: Date): string {
  const files = data.files.map((f) => {
    const [dev, ino] = f.key.split(':');
    return { dev, ino, fingerprint: f.fp, fingerprint_bytes: f.fpLen, offset: f.offset, size: f.size };
  });
  return `${JSON.stringify({ version: CHECKPOINT_VERSION, path: data.path, written_at: now.toISOString(), files })}\n`;
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isDecimal = (v: unknown): v is string => typeof v === 'string' && /^\d{1,20}$/.test(v);

/** Parses checkpoint text; throws DR_ERR_CHECKPOINT naming what is wrong. */
export function parseCheckpoint(text: string, file: string): CheckpointData {
  const fail = (why: string): never => {
    throw new RelayError(ErrorCodes.CHECKPOINT, `Checkpoint ${file} is unusable: ${why}.`);
  };
  if (text.trim() === '') fail('the file is empty');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err: unknown) {
    return fail(`not JSON (${errorMessage(err)})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail('not a JSON object');
  const obj = raw as Record<string, unknown>;
  if (obj.version !== CHECKPOINT_VERSION) fail(`version ${JSON.stringify(obj.version)} is not ${CHECKPOINT_VERSION}`);
  if (typeof obj.path !== 'string') fail('"path" is missing');
  if (!Array.isArray(obj.files)) return fail('"files" is not an array');
  const files = obj.files.map((f: unknown, i: number): CheckpointEntry => {
    if (typeof f !== 'object' || f === null) return fail(`files[${i}] is not an object`);
    const e = f as Record<string, unknown>;
    if (!isDecimal(e.dev) || !isDecimal(e.ino)) return fail(`files[${i}] needs decimal "dev" and "ino" strings`);
    if (typeof e.fingerprint !== 'string' || !/^[0-9a-f]{64}$/.test(e.fingerprint)) return fail(`files[${i}].fingerprint is not a SHA-256 hex string`);
    if (!isCount(e.fingerprint_bytes) || !isCount(e.offset) || !isCount(e.size)) return fail(`files[${i}] needs non-negative integer fingerprint_bytes, offset and size`);
    return { key: `${e.dev}:${e.ino}`, fp: e.fingerprint, fpLen: e.fingerprint_bytes, offset: e.offset, size: e.size };
  });
  return { path: obj.path as string, files };
}

/**
 * Loads the checkpoint. A missing file is a first run; an unreadable one is an operator problem
 * (thrown, so the relay does not silently start over); a corrupt one is moved aside.
 */
export async function loadCheckpoint(file: string, logger: Logger): Promise<LoadedCheckpoint> {
  await removeStaleTemps(file, logger);
  let text: string;
  let mtimeMs: number;
  try {
    const st = await stat(file);
    mtimeMs = st.mtimeMs;
    text = await readFile(file, 'utf8');
  } catch (err: unknown) {
    if (systemCode(err) === 'ENOENT') return { status: 'missing' };
    throw new RelayError(ErrorCodes.CHECKPOINT, `Cannot read checkpoint ${file} (${systemCode(err) ?? errorMessage(err)}); fix its permissions or the state_dir setting.`, { cause: err });
  }
  try {
    return { status: 'ok', data: parseCheckpoint(text, file) };
  } catch (err: unknown) {
    const keptAs = `${file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    try {
      await rename(file, keptAs);
      return { status: 'corrupt', reason: errorMessage(err), mtimeMs, keptAs };
    } catch {
      return { status: 'corrupt', reason: errorMessage(err), mtimeMs, keptAs: undefined };
    }
  }
}

async function removeStaleTemps(file: string, logger: Logger): Promise<void> {
  const dir = dirname(file);
  const prefix = `${basename(file)}.tmp-`;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.startsWith(prefix) || n === `${prefix}${process.pid}`) continue;
    try {
      await unlink(join(dir, n));
    } catch (err: unknown) {
      logger.debug({ file: join(dir, n), err: errorMessage(err) }, 'Could not remove a stale checkpoint temp file.');
    }
  }
}

/**
 * Offset-only writes are at least this far apart by default (`checkpoint_interval_ms`). Writing
 * after every batch meant ~50 fsync'd renames a second at full speed (a tenth of the relay's CPU,
 * and I/O on a real disk); a crash re-sends at most this much more (same event ids), never less.
 * Filebeat made the same trade for the same reason, at one second (`filebeat.registry.flush`,
 * elastic/beats#31473).
 */
export const CHECKPOINT_INTERVAL_MS = 250;

/** `dev:ino` of every file in the data, in order: a change is written at once. */
function fileSet(data: CheckpointData): string {
  return data.files.map((f) => f.key).join(',');
}

/**
 * Writes the checkpoint in the background, one write at a time: a request during a write is
 * folded into one more write of the latest state, so the reader never waits on fsync. A change of
 * the file set (a file appeared or went) is written at once; offsets alone at most every
 * `intervalMs`.
 */
export class Checkpointer {
  readonly #file: string;
  readonly #snapshot: () => CheckpointData;
  readonly #logger: Logger;
  readonly #intervalMs: number;
  #dirty = false;
  #running: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #last = '';
  #lastFiles = '';
  #lastAt = -Infinity;
  #failing = false;

  constructor(file: string, snapshot: () => CheckpointData, logger: Logger, intervalMs = CHECKPOINT_INTERVAL_MS) {
    this.#file = file;
    this.#snapshot = snapshot;
    this.#logger = logger;
    this.#intervalMs = intervalMs;
  }

  /** Asks for a write of the current state (coalesced). */
  request(): void {
    this.#dirty = true;
    if (this.#running !== undefined) return;
    const wait = this.#lastAt + this.#intervalMs - performance.now();
    if (wait > 0 && fileSet(this.#snapshot()) === this.#lastFiles) {
      this.#timer ??= setTimeout(() => {
        this.#timer = undefined;
        this.#start();
      }, wait);
      return;
    }
    this.#start();
  }

  /** Writes the current state now and waits for it (close). Rejects when the write fails. */
  async flush(): Promise<void> {
    this.#cancelTimer();
    if (this.#running !== undefined) await this.#running;
    this.#cancelTimer();
    this.#dirty = false;
    await this.#write(true);
  }

  #cancelTimer(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #start(): void {
    this.#cancelTimer();
    this.#dirty = false;
    // #write(false) logs a failure and does not throw; a later request tries again.
    this.#running = this.#write(false).finally(() => {
      this.#running = undefined;
      // Requests that came during the write.
      if (this.#dirty) this.request();
    });
  }

  async #write(raise: boolean): Promise<void> {
    const data = this.#snapshot();
    const body = serializeCheckpoint(data, new Date(0));
    if (body === this.#last) return;
    this.#lastAt = performance.now();
    try {
      await writeFileAtomic(this.#file, serializeCheckpoint(data, new Date()));
      this.#last = body;
      this.#lastFiles = fileSet(data);
      if (this.#failing) this.#logger.info({ file: this.#file }, 'Checkpoint writes work again.');
      this.#failing = false;
    } catch (err: unknown) {
      if (!this.#failing) {
        this.#logger.error({ file: this.#file, err: errorMessage(err), code: ErrorCodes.CHECKPOINT }, 'Cannot write the authproxy checkpoint; lines will be sent again after a restart until this is fixed.');
      }
      this.#failing = true;
      if (raise) throw new RelayError(ErrorCodes.CHECKPOINT, `Cannot write checkpoint ${this.#file}: ${errorMessage(err)}.`, { cause: err });
    }
  }
}
