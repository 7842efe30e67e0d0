import { sleep } from '../../ops/backoff.js';

/**
 * The request budget of one (account, endpoint): at least `intervalMs` between two requests, whatever
 * the caller does (paging, retries, backfill). Monotonic time, so a clock step cannot burst requests.
 */
export class RequestBudget {
  #last = Number.NEGATIVE_INFINITY;
  constructor(private readonly intervalMs: number) {}

  async take(signal?: AbortSignal): Promise<void> {
    const wait = this.#last + this.intervalMs - performance.now();
    if (wait > 0) await sleep(wait, signal);
    else if (signal?.aborted === true) throw signal.reason;
    this.#last = performance.now();
  }
}
