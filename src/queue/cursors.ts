/**
 * Consumer cursor files: `cursors/<safe-name>-<hash>.json` holding
 * `{"version":1,"consumer":"<name>","next":<seq>}`, where `next` is the first record the
 * consumer has not acknowledged. Written atomically (tmp, fsync, rename, fsync dir).
 */
import { readFile, readdir } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { writeFileAtomic } from '../ops/atomic-file.js';
import type { Logger } from '../ops/logger.js';
import { errorMessage, systemCode } from '../errors.js';

export const CURSOR_VERSION = 1;

/** A readable, collision-free file name for any consumer name (destination names hold `:` and `/`). */
export function cursorPath(dir: string, consumer: string): string {
  const safe = consumer.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64);
  const hash = createHash('sha256').update(consumer).digest('hex').slice(0, 8);
  return join(dir, `${safe}-${hash}.json`);
}

export type CursorRead = { kind: 'ok'; next: number } | { kind: 'missing' } | { kind: 'corrupt'; reason: string };

export async function readCursor(path: string, consumer: string): Promise<CursorRead> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err: unknown) {
    if (systemCode(err) === 'ENOENT') return { kind: 'missing' };
    return { kind: 'corrupt', reason: errorMessage(err) };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err: unknown) {
    return { kind: 'corrupt', reason: `not JSON (${errorMessage(err)})` };
  }
  if (typeof parsed !== 'object' || parsed === null) return { kind: 'corrupt', reason: 'not a JSON object' };
  const rec = parsed as Record<string, unknown>;
  if (rec['version'] !== CURSOR_VERSION) return { kind: 'corrupt', reason: `unknown version ${JSON.stringify(rec['version'])}` };
  if (rec['consumer'] !== consumer) return { kind: 'corrupt', reason: `belongs to consumer ${JSON.stringify(rec['consumer'])}` };
  const next = rec['next'];
  if (typeof next !== 'number' || !Number.isSafeInteger(next) || next < 0) return { kind: 'corrupt', reason: 'field next is not a sequence number' };
  return { kind: 'ok', next };
}

/**
 * Persists one consumer's cursor. Calls made while a write runs are folded into the next
 * write (the latest value wins), so a fast acker costs at most two writes in flight.
 */
export class CursorWriter {
  readonly path: string;
  readonly #consumer: string;
  #persisted: number;
  #writing: Promise<void> | null = null;

  constructor(path: string, consumer: string, persisted: number) {
    this.path = path;
    this.#consumer = consumer;
    this.#persisted = persisted;
  }

  get persisted(): number {
    return this.#persisted;
  }

  /** Resolves once a value ≥ `value()` at call time is on disk. `value` is read when the write starts. */
  async save(value: () => number): Promise<void> {
    const wanted = value();
    while (this.#writing !== null) await this.#writing.catch(() => undefined);
    if (this.#persisted >= wanted) return;
    const next = value();
    const body = JSON.stringify({ version: CURSOR_VERSION, consumer: this.#consumer, next });
    this.#writing = writeFileAtomic(this.path, `${body}\n`).then(
      () => {
        this.#persisted = Math.max(this.#persisted, next);
      },
    );
    try {
      await this.#writing;
    } finally {
      this.#writing = null;
    }
  }

  /** Writes `next` now even if lower than what is on disk (new consumer, clamp after recovery). */
  async force(next: number): Promise<void> {
    while (this.#writing !== null) await this.#writing.catch(() => undefined);
    const body = JSON.stringify({ version: CURSOR_VERSION, consumer: this.#consumer, next });
    await writeFileAtomic(this.path, `${body}\n`);
    this.#persisted = next;
  }

  /** Waits for the write in flight, if any. */
  async idle(): Promise<void> {
    while (this.#writing !== null) await this.#writing.catch(() => undefined);
  }
}

/**
 * Where each consumer resumes (see "Consumers" in ./index.ts): new ones at the end, unreadable
 * cursors at the oldest record, others clamped to what is on disk. A start that differs from the
 * file is written at once, so a crash before the first ack cannot move it. Cursor files of
 * consumers no longer configured are logged and left alone.
 */
export async function loadCursors(
  dir: string,
  names: readonly string[],
  head: number,
  end: number,
  logger: Logger,
): Promise<{ name: string; writer: CursorWriter; next: number }[]> {
  const out: { name: string; writer: CursorWriter; next: number }[] = [];
  for (const name of names) {
    const path = cursorPath(dir, name);
    const r = await readCursor(path, name);
    const writer = new CursorWriter(path, name, r.kind === 'ok' ? r.next : -1);
    let next: number;
    if (r.kind === 'missing') {
      next = end;
      logger.info({ consumer: name, seq: next }, 'Disk queue consumer is new; it starts with the records appended from now on.');
    } else if (r.kind === 'corrupt') {
      next = head;
      logger.error({ consumer: name, file: path, reason: r.reason }, 'Disk queue cursor file is unreadable; the consumer restarts from the oldest record on disk, so it may receive duplicates.');
    } else {
      next = Math.min(Math.max(r.next, head), end);
      if (r.next < head) logger.warn({ consumer: name, cursor: r.next, oldest: head }, 'Disk queue cursor points before the oldest record on disk (dropped or deleted); the consumer resumes at the oldest record.');
      if (r.next > end) logger.warn({ consumer: name, cursor: r.next, next: end }, 'Disk queue cursor points past the last record (cut at recovery); the consumer resumes at the end.');
    }
    if (r.kind !== 'ok' || next !== r.next) await writer.force(next);
    out.push({ name, writer, next });
  }
  const mine = new Set(names.map((n) => cursorPath(dir, n)));
  for (const f of await readdir(dir)) {
    const path = join(dir, f);
    if (f.endsWith('.json') && !mine.has(path)) logger.info({ file: path }, 'Disk queue ignores the cursor of a consumer that is no longer configured.');
  }
  return out;
}

/** The highest cursor on disk among `names` (seqs must never go backwards, even with no segment left). */
export async function highestCursor(dir: string, names: readonly string[]): Promise<number> {
  let max = 0;
  for (const n of names) {
    const r = await readCursor(cursorPath(dir, n), n);
    if (r.kind === 'ok') max = Math.max(max, r.next);
  }
  return max;
}
