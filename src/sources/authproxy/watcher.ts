/**
 * A wake-up hint only: `fs.watch` on the log directory shortens the wait between scans. Data is
 * never read because of an event, so a missed, merged or spurious event cannot lose or duplicate
 * anything; the `stat` poll is the safety net. Re-armed by `ensure()` when the directory appears
 * or the watch dies (directory deleted, inotify limits).
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

export class DirWatcher {
  readonly #dir: string;
  readonly #base: string;
  readonly #onWake: () => void;
  #w: FSWatcher | undefined;
  #closed = false;

  constructor(path: string, onWake: () => void) {
    this.#dir = dirname(path);
    this.#base = basename(path);
    this.#onWake = onWake;
  }

  /** Starts watching if not yet; returns false when the directory cannot be watched (yet). */
  ensure(): boolean {
    if (this.#closed) return false;
    if (this.#w !== undefined) return true;
    try {
      const w = watch(this.#dir, { persistent: false }, (_event, name) => {
        if (name === null || name.startsWith(this.#base)) this.#onWake();
      });
      w.on('error', () => {
        w.close();
        if (this.#w === w) this.#w = undefined;
        this.#onWake();
      });
      this.#w = w;
      return true;
    } catch {
      return false;
    }
  }

  /** Drops the current watch (the directory vanished); the next `ensure()` watches the new one. */
  reset(): void {
    this.#w?.close();
    this.#w = undefined;
  }

  close(): void {
    this.#closed = true;
    this.#w?.close();
    this.#w = undefined;
  }
}
