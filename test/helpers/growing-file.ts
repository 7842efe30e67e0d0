/**
 * The complete lines a growing file gained since the last call (a receiver's output read while a
 * test runs), each handed over once; a trailing fragment waits for its newline.
 */
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';

export class GrowingFileLines {
  #offset = 0;
  #partial = '';
  readonly #file: string;

  constructor(file: string) {
    this.#file = file;
  }

  /** Calls `onLine` for every new non-empty line. Bounded: reads at most what the file held when stat'ed, in 8 MiB steps. */
  read(onLine: (line: string) => void): void {
    if (!existsSync(this.#file)) return;
    const fd = openSync(this.#file, 'r');
    try {
      const size = fstatSync(fd).size;
      while (this.#offset < size) {
        const buf = Buffer.allocUnsafe(Math.min(8 << 20, size - this.#offset));
        const n = readSync(fd, buf, 0, buf.length, this.#offset);
        if (n === 0) break;
        this.#offset += n;
        const lines = (this.#partial + buf.toString('utf8', 0, n)).split('\n');
        this.#partial = lines.pop() ?? '';
        for (const l of lines) if (l !== '') onLine(l);
      }
    } finally {
      closeSync(fd);
    }
  }
}
