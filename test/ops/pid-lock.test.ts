import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquirePidLock, type PidLockErrors } from '../../src/ops/pid-lock.js';

const dir = mkdtempSync(join(tmpdir(), 'duo-relay-lock-'));
const errors: PidLockErrors = {
  heldHere: () => new Error('held here'),
  heldBy: (pid) => new Error(`held by ${pid}`),
  io: () => new Error('io'),
};

t.test('take, refuse twice in one process, release', async (t) => {
  const path = join(dir, 'a.lock');
  const release = await acquirePidLock(path, errors);
  t.equal(readFileSync(path, 'utf8').trim(), String(process.pid));
  await t.rejects(acquirePidLock(path, errors), /held here/);
  await release();
  await release();
  t.notOk(existsSync(path), 'released');
  const again = await acquirePidLock(path, errors);
  await again();
});

t.test('a live owner is refused, a dead owner is taken over', async (t) => {
  const path = join(dir, 'b.lock');
  const sleeper = spawn('sleep', ['30']);
  t.teardown(() => sleeper.kill('SIGKILL'));
  writeFileSync(path, `${sleeper.pid}\n`);
  await t.rejects(acquirePidLock(path, errors), new RegExp(`held by ${sleeper.pid}`));
  const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  writeFileSync(path, `${dead.stdout.trim()}\n`);
  const release = await acquirePidLock(path, errors);
  t.equal(readFileSync(path, 'utf8').trim(), String(process.pid), 'stale lock taken over');
  await release();
});

t.test('garbage in the lock file is stale; an unusable path is an io error', async (t) => {
  const path = join(dir, 'c.lock');
  writeFileSync(path, 'not a pid');
  const release = await acquirePidLock(path, errors);
  await release();
  writeFileSync(join(dir, 'file'), '');
  await t.rejects(acquirePidLock(join(dir, 'file', 'x.lock'), errors), /io/);
});
