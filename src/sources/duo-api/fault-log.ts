import type { Logger } from '../../ops/logger.js';
import { ErrorCodes, errorMessage, isRelayError } from '../../errors.js';
import { DuoApiError } from './errors.js';

// These need an operator; the rest heal by themselves.
const OPERATOR: ReadonlySet<string> = new Set([ErrorCodes.DUO_AUTH, ErrorCodes.DUO_CLOCK, ErrorCodes.CONFIG, ErrorCodes.CHECKPOINT, ErrorCodes.TLS]);

/**
 * Logs a fault once: the first occurrence (and every change of fault) at warn, or error when an
 * operator must act; repeats of the same fault at debug; the recovery at info.
 */
export class FaultLog {
  #lastKey: string | undefined;
  #failures = 0;
  constructor(private readonly logger: Logger) {}

  report(err: unknown): void {
    this.#failures++;
    const code = isRelayError(err) ? err.code : 'unexpected';
    const fields: Record<string, unknown> = { code, failures: this.#failures };
    if (err instanceof DuoApiError) {
      if (err.status !== undefined) fields.status = err.status;
      if (err.duoCode !== undefined) fields.duo_code = err.duoCode;
      if (err.duoMessage !== undefined) fields.duo_message = err.duoMessage;
      if (err.skewMs !== undefined) fields.skew_ms = err.skewMs;
    }
    const key = `${code}:${String(fields.status)}:${String(fields.duo_code)}`;
    const msg = errorMessage(err);
    if (key === this.#lastKey) {
      this.logger.debug(fields, `Still failing: ${msg}`);
      return;
    }
    this.#lastKey = key;
    if (OPERATOR.has(code) || code === 'unexpected') this.logger.error(fields, msg);
    else this.logger.warn(fields, msg);
  }

  ok(): void {
    if (this.#failures > 0) this.logger.info({ failures: this.#failures }, `Recovered after ${this.#failures} failed cycle${this.#failures === 1 ? '' : 's'}.`);
    this.#failures = 0;
    this.#lastKey = undefined;
  }

  get failures(): number {
    return this.#failures;
  }
}
