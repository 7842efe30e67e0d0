/**
 * A set of parked promises (readers waiting for data, appends waiting for space): woken all at
 * once, each removable by its AbortSignal, all rejected on close.
 */
export interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

export class WaiterSet {
  readonly #waiters = new Set<Waiter>();

  get size(): number {
    return this.#waiters.size;
  }

  /** Parks until wakeAll()/rejectAll(); on abort rejects with `onAbort(signal.reason)`. */
  park(signal: AbortSignal | undefined, onAbort: (reason: unknown) => unknown): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const abort = (): void => w.reject(onAbort(signal?.reason));
      const w: Waiter = {
        resolve: () => {
          this.#waiters.delete(w);
          signal?.removeEventListener('abort', abort);
          resolve();
        },
        reject: (err: unknown) => {
          this.#waiters.delete(w);
          signal?.removeEventListener('abort', abort);
          reject(err);
        },
      };
      if (signal?.aborted === true) {
        abort();
        return;
      }
      signal?.addEventListener('abort', abort, { once: true });
      this.#waiters.add(w);
    });
  }

  wakeAll(): void {
    for (const w of [...this.#waiters]) w.resolve();
  }

  rejectAll(err: unknown): void {
    for (const w of [...this.#waiters]) w.reject(err);
  }
}
