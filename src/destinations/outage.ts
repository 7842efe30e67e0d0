import type { Logger } from '../ops/logger.js';
import { ErrorCodes, type RelayError } from '../errors.js';

/** Failures that only an operator fixes: logged at error, the rest at warn. */
const OPERATOR_CODES = new Set<string>([ErrorCodes.TLS, ErrorCodes.TLS_PIN, ErrorCodes.CONFIG]);

/**
 * Logs each distinct failure once per outage (not once per retry, which would flood the journal
 * during a long SIEM outage) and one recovery line when delivery works again.
 */
export class OutageLog {
  #logger: Logger;
  #since: number | undefined;
  #failures = 0;
  #seen = new Set<string>();

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  get down(): boolean {
    return this.#since !== undefined;
  }

  failure(err: RelayError, peer: string): void {
    if (this.#since === undefined) this.#since = Date.now();
    this.#failures++;
    const key = `${err.code} ${peer}`;
    if (this.#seen.has(key)) {
      this.#logger.debug({ peer, code: err.code, err: err.message, failures: this.#failures }, 'Delivery attempt failed again.');
      return;
    }
    this.#seen.add(key);
    const fields = { peer, code: err.code, err: err.message, failures: this.#failures };
    if (OPERATOR_CODES.has(err.code)) this.#logger.error(fields, 'Cannot deliver to the syslog destination; retrying with backoff until fixed.');
    else this.#logger.warn(fields, 'Cannot deliver to the syslog destination; retrying with backoff.');
  }

  switched(from: string, to: string): void {
    const key = `switch ${from} ${to}`;
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    this.#logger.warn({ from, to }, 'Switching to the next syslog host.');
  }

  recovered(peer: string): void {
    if (this.#since === undefined) return;
    this.#logger.info({ peer, downMs: Date.now() - this.#since, failures: this.#failures }, 'Delivery to the syslog destination recovered.');
    this.#since = undefined;
    this.#failures = 0;
    this.#seen.clear();
  }
}
