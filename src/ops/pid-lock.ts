/**
 * A pid lock file: one owner process per resource (a queue directory, a Duo host's cursors).
 * A lock left by a dead process (kill -9, power loss) is taken over; a stale lock is replaced
 * atomically and re-read, so two takers racing for it cannot both win.
 */
import { open, readFile, unlink, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';
import { systemCode } from '../errors.js';

// Paths this process holds: after a container restart our pid may equal a stale lock's pid.
const held = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err: unknown) {
    return systemCode(err) === 'EPERM';
  }
}

export interface PidLockErrors {
  /** This process already holds the lock. */
  heldHere: () => Error;
  /** A live process holds it. */
  heldBy: (pid: number) => Error;
  /** The lock file cannot be created or read (permissions, missing disk). */
  io: (err: unknown) => Error;
}

/** Takes the lock at `path`; returns the (idempotent) release function. */
export async function acquirePidLock(path: string, errors: PidLockErrors): Promise<() => Promise<void>> {
  if (held.has(path)) throw errors.heldHere();
  await mkdir(dirname(path), { recursive: true }).catch((err: unknown) => {
    throw errors.io(err);
  });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o600);
      try {
        await fh.writeFile(`${process.pid}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
      return take(path);
    } catch (err: unknown) {
      if (systemCode(err) !== 'EEXIST') throw errors.io(err);
    }
    const owner = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
    if (Number.isSafeInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) throw errors.heldBy(owner);
    await writeFileAtomic(path, `${process.pid}\n`);
    const now = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
    if (now === process.pid) return take(path);
  }
  throw errors.heldBy(Number.parseInt(await readFile(path, 'utf8').catch(() => '0'), 10));
}

function take(path: string): () => Promise<void> {
  held.add(path);
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    held.delete(path);
    await unlink(path).catch(() => undefined);
  };
}
