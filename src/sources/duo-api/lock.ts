/**
 * One poller per Duo host and state dir: `run` and `backfill` (or two sources with the same host)
 * writing the same cursor file would undo each other's progress.
 */
import { join } from 'node:path';
import { acquirePidLock } from '../../ops/pid-lock.js';
import { RelayError, ErrorCodes, errorMessage } from '../../errors.js';
import { hostFileTag } from './cursor.js';

export class HostLock {
  readonly path: string;
  #release: (() => Promise<void>) | undefined;

  constructor(stateDir: string, host: string) {
    this.path = join(stateDir, `duo-api-${hostFileTag(host)}.lock`);
  }

  async acquire(): Promise<void> {
    const path = this.path;
    this.#release = await acquirePidLock(path, {
      heldHere: () => new RelayError(ErrorCodes.CONFIG, `Two duo-api sources in this process poll the same host with state dir ${path}; keep one source per Duo host.`),
      heldBy: (pid) => new RelayError(ErrorCodes.CONFIG, `Another duo-relay process (pid ${pid}) is polling this Duo host (lock ${path}); stop it before running backfill or a second relay.`),
      io: (err) => new RelayError(ErrorCodes.CHECKPOINT, `Cannot create the lock ${path}: ${errorMessage(err)}; check the state dir permissions.`, { cause: err }),
    });
  }

  async release(): Promise<void> {
    const r = this.#release;
    this.#release = undefined;
    await r?.();
  }
}
