/**
 * Consumer cursor files: `cursors/<safe-name>-<hash>.json` holding
 * `{"version":1,"consumer":"<name>","next":<seq>}`, where `next` is the first record the
 * consumer has not acknowledged. Written atomically (tmp, fsync, rename, fsync dir).
 */
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { writeFileAtomic } from '../ops/atomic-file.js';
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
