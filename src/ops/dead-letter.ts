import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import type { DeadLetter } from '../event.js';
import type { Logger } from './logger.js';

/**
 * Records that could not be relayed (not JSON, not an object, over-long line) are never dropped
 * silently: each goes to a JSON-lines file with the reason and position, is counted, and logged
 * (the log line is rate-limited to one per source per minute so a flood cannot drown the journal).
 */
export class DeadLetterFile {
  #stream: WriteStream | undefined;
  #count = 0;
  #lastLog = new Map<string, number>();
  constructor(
    readonly path: string,
    private readonly logger: Logger,
    private readonly onCount: (source: string) => void = () => {},
  ) {}

  get count(): number {
    return this.#count;
  }

  write(source: string, d: DeadLetter): void {
    if (this.#stream === undefined) {
      mkdirSync(dirname(this.path), { recursive: true });
      this.#stream = createWriteStream(this.path, { flags: 'a', mode: 0o600 });
      this.#stream.on('error', (err) => this.logger.error({ err, file: this.path }, 'Cannot write the dead-letter file; bad records are only counted now.'));
    }
    this.#count++;
    this.onCount(source);
    this.#stream.write(`${JSON.stringify({ time: new Date().toISOString(), source, reason: d.reason, position: d.position, preview: d.preview })}\n`);
    const now = Date.now();
    if ((this.#lastLog.get(source) ?? 0) + 60_000 <= now) {
      this.#lastLog.set(source, now);
      this.logger.warn({ source, reason: d.reason, position: d.position, file: this.path, total: this.#count }, 'Record dead-lettered.');
    }
  }

  close(): Promise<void> {
    const s = this.#stream;
    this.#stream = undefined;
    if (s === undefined) return Promise.resolve();
    return new Promise((resolve) => s.end(resolve));
  }
}
