import type { BackoffConfig } from '../config/schema.js';

/** Capped exponential backoff with jitter. `next()` gives the next delay; `reset()` after a success. */
export class Backoff {
  #attempt = 0;
  constructor(private readonly cfg: BackoffConfig, private readonly random: () => number = Math.random) {}
  next(): number {
    const base = Math.min(this.cfg.max_ms, this.cfg.min_ms * this.cfg.factor ** this.#attempt);
    if (this.#attempt < 64) this.#attempt++;
    const jitter = base * this.cfg.jitter * this.random();
    return Math.max(1, Math.round(base - jitter));
  }
  reset(): void {
    this.#attempt = 0;
  }
  get attempts(): number {
    return this.#attempt;
  }
}

/** Resolves after `ms`, or rejects early when `signal` aborts (so shutdown never waits out a backoff). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
