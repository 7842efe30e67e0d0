/**
 * One poller per Duo host and state dir: `run` and `backfill` (or two sources with the same host)
 * writing the same cursor file would undo each other's progress. The lock file holds the owner's pid;
 * a lock whose process is gone (kill -9, crash) is taken over.
 */
import { open, readFile, unlink, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { RelayError, ErrorCodes, systemCode, errorMessage } from '../../errors.js';
import { hostFileTag } from './cursor.js';

// Locks this process holds: after a container restart our pid may equal a stale lock's pid.
const held = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err: unknown) {
    return systemCode(err) === 'EPERM';
  }
}

export class HostLock {
  readonly path: string;
  #held = false;

  constructor(stateDir: string, host: string) {
    this.path = join(stateDir, `duo-api-${hostFileTag(host)}.lock`);
  }

  async acquire(): Promise<void> {
    if (held.has(this.path)) {
      throw new RelayError(ErrorCodes.CONFIG, `Two duo-api sources in this process poll the same host with state dir ${this.path}; keep one source per Duo host.`);
    }
    await mkdir(dirname(this.path), { recursive: true });
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fh = await open(this.path, 'wx', 0o600);
        try {
          await fh.writeFile(`${process.pid}\n`);
        } finally {
          await fh.close();
        }
        this.#take();
        return;
      } catch (err: unknown) {
        if (systemCode(err) !== 'EEXIST') {
          throw new RelayError(ErrorCodes.CHECKPOINT, `Cannot create the lock ${this.path}: ${errorMessage(err)}; check the state dir permissions.`, { cause: err });
        }
      }
      const owner = Number((await readFile(this.path, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
        throw new RelayError(
          ErrorCodes.CONFIG,
          `Another duo-relay process (pid ${owner}) is polling this Duo host (lock ${this.path}); stop it before running backfill or a second relay.`,
        );
      }
      // Stale: its owner is gone. Replace it, then re-check we won any race with another taker.
      await writeFile(this.path, `${process.pid}\n`, { mode: 0o600 });
      const now = Number((await readFile(this.path, 'utf8')).trim());
      if (now === process.pid) {
        this.#take();
        return;
      }
    }
    throw new RelayError(ErrorCodes.CONFIG, `Could not take the lock ${this.path}; another process keeps taking it.`);
  }

  #take(): void {
    held.add(this.path);
    this.#held = true;
  }

  async release(): Promise<void> {
    if (!this.#held) return;
    this.#held = false;
    held.delete(this.path);
    await unlink(this.path).catch(() => undefined);
  }
}
