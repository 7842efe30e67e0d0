/**
 * One process per queue directory: two writers would interleave records and corrupt both.
 * `lock` holds the owner's pid; a lock left by a dead process (kill -9, power loss) is taken over.
 */
import { open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../ops/atomic-file.js';
import { ErrorCodes, RelayError, systemCode } from '../errors.js';

/** Directories this process holds, so a lock file with our own pid left by an earlier crash-free test is not mistaken for ours. */
const held = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err: unknown) {
    return systemCode(err) === 'EPERM';
  }
}

/** Takes the lock on `dir`; returns the release function. */
export async function acquireQueueLock(dir: string): Promise<() => Promise<void>> {
  const path = join(dir, 'lock');
  if (held.has(dir)) {
    throw new RelayError(ErrorCodes.QUEUE_LOCKED, `Disk queue ${dir} is already open in this process; close it before opening it again.`);
  }
  try {
    const fh = await open(path, 'wx', 0o600);
    try {
      await fh.writeFile(`${process.pid}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err: unknown) {
    if (systemCode(err) !== 'EEXIST') throw err;
    const owner = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
    if (Number.isSafeInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
      throw new RelayError(
        ErrorCodes.QUEUE_LOCKED,
        `Disk queue ${dir} is in use by process ${owner} (see ${path}); stop that relay or give this one another state_dir.`,
      );
    }
    // Stale: its owner is gone. Replace it atomically so a concurrent taker sees a whole pid.
    await writeFileAtomic(path, `${process.pid}\n`);
  }
  held.add(dir);
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    held.delete(dir);
    await unlink(path).catch(() => undefined);
  };
}
