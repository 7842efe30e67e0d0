/**
 * Cursors per (account, endpoint), kept in `<stateDir>/duo-api-<host>.cursors.json`.
 *
 * Invariants:
 * - A cursor moves only after the batch it covers was handed off (`emit()` resolved).
 * - The file is replaced atomically (tmp, fsync, rename, fsync dir): a crash leaves the old or the new one.
 * - Concurrent commits from the endpoint pollers coalesce into one write; each commit resolves only once
 *   a write that includes it is durable.
 *
 * Layout: `{"version":1,"host":"…","updated":"ISO","cursors":{"<account>/<log>":Cursor}}`.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../../ops/atomic-file.js';
import { RelayError, ErrorCodes, errorMessage, systemCode } from '../../errors.js';

const cursorSchema = z.object({
  /** Start of the next window (ms since the epoch; v1 endpoints send it in seconds). */
  mintime_ms: z.number().int().nonnegative(),
  /** A window not yet drained: its fixed bounds and Duo's token for the next page. */
  window: z.object({ mintime_ms: z.number().int().nonnegative(), maxtime_ms: z.number().int().nonnegative(), offset: z.string().min(1) }).optional(),
  /** Time of the newest delivered record. */
  last_ms: z.number().optional(),
  /** Ids of the delivered records sharing `last_ms` (bounded): re-read records are dropped across restarts too. */
  seen: z.array(z.string()).max(5000).default([]),
});
export type Cursor = z.infer<typeof cursorSchema>;

const fileSchema = z.object({
  version: z.literal(1),
  host: z.string(),
  updated: z.string().optional(),
  cursors: z.record(z.string(), cursorSchema),
});

/** File-safe form of host[:port]. */
export function hostFileTag(host: string): string {
  return host.toLowerCase().replace(/[^a-z0-9.-]/g, '_');
}

export function cursorKey(account: string | null, log: string): string {
  return `${account ?? 'self'}/${log}`;
}

/** How far a cursor has got, in ms: used to never move a cursor backwards (backfill). */
export function cursorProgressMs(c: Cursor): number {
  if (c.window === undefined) return c.mintime_ms;
  const tokenMs = Number(/^(\d{10,13})(?:,|$)/.exec(c.window.offset)?.[1] ?? NaN);
  return Math.max(c.window.mintime_ms, Number.isFinite(tokenMs) ? tokenMs : 0, c.last_ms ?? 0);
}

export class CursorStore {
  readonly path: string;
  readonly #host: string;
  #cursors = new Map<string, Cursor>();
  #writing: Promise<void> | undefined;
  #dirty = false;
  #waiters: Array<{ resolve: () => void; reject: (err: unknown) => void }> = [];

  constructor(stateDir: string, host: string) {
    this.#host = host;
    this.path = join(stateDir, `duo-api-${hostFileTag(host)}.cursors.json`);
  }

  /** Reads the file; none yet is a first run. A corrupt file stops the source: guessing could lose or repeat events. */
  async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err: unknown) {
      if (systemCode(err) === 'ENOENT') return;
      throw new RelayError(ErrorCodes.CHECKPOINT, `Cannot read the Duo API cursors ${this.path}: ${errorMessage(err)}; fix its permissions.`, { cause: err });
    }
    let parsed: z.infer<typeof fileSchema>;
    try {
      parsed = fileSchema.parse(JSON.parse(text));
    } catch (err: unknown) {
      throw new RelayError(
        ErrorCodes.CHECKPOINT,
        `The Duo API cursors ${this.path} are unreadable (${errorMessage(err).split('\n')[0] ?? 'bad JSON'}); move the file away to start again from initial_window.`,
        { cause: err },
      );
    }
    this.#cursors = new Map(Object.entries(parsed.cursors));
  }

  get(key: string): Cursor | undefined {
    return this.#cursors.get(key);
  }

  keys(): string[] {
    return [...this.#cursors.keys()];
  }

  /** Records the cursor and resolves once it is on disk. */
  commit(key: string, cursor: Cursor): Promise<void> {
    this.#cursors.set(key, cursor);
    this.#dirty = true;
    const done = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    if (this.#writing === undefined) this.#writing = this.#drain();
    return done;
  }

  async #drain(): Promise<void> {
    while (this.#dirty) {
      this.#dirty = false;
      const waiters = this.#waiters;
      this.#waiters = [];
      const body = JSON.stringify({ version: 1, host: this.#host, updated: new Date().toISOString(), cursors: Object.fromEntries(this.#cursors) });
      try {
        await writeFileAtomic(this.path, `${body}\n`);
        for (const w of waiters) w.resolve();
      } catch (err: unknown) {
        const e = new RelayError(ErrorCodes.CHECKPOINT, `Cannot write the Duo API cursors ${this.path}: ${errorMessage(err)}; check free space and permissions.`, { cause: err });
        for (const w of waiters) w.reject(e);
      }
    }
    this.#writing = undefined;
  }

  /** Waits for any write in flight. */
  async flush(): Promise<void> {
    while (this.#writing !== undefined) await this.#writing;
  }
}
