/** One process per queue directory: two writers would interleave records and corrupt both. */
import { join } from 'node:path';
import { acquirePidLock } from '../ops/pid-lock.js';
import { ErrorCodes, RelayError, errorMessage } from '../errors.js';

/** Takes the lock on `dir`; returns the release function. */
export function acquireQueueLock(dir: string): Promise<() => Promise<void>> {
  const path = join(dir, 'lock');
  return acquirePidLock(path, {
    heldHere: () => new RelayError(ErrorCodes.QUEUE_LOCKED, `Disk queue ${dir} is already open in this process; close it before opening it again.`),
    heldBy: (pid) => new RelayError(ErrorCodes.QUEUE_LOCKED, `Disk queue ${dir} is in use by process ${pid} (see ${path}); stop that relay or give this one another state_dir.`),
    io: (err) => new RelayError(ErrorCodes.QUEUE_IO, `Cannot take the queue lock ${path}: ${errorMessage(err)}; check the state_dir permissions.`, { cause: err }),
  });
}
