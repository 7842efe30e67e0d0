/**
 * A log directory the relay user may not read (issue 3): the tailer runs as an unprivileged user
 * (`nobody`, in a child process) against a root-only directory. It must report a clear error naming
 * the directory and what to grant, keep running and retrying, and deliver the lines once the
 * directory is opened up. Needs root to start the child as another user (skipped otherwise).
 */
import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep, waitFor } from '../../fixtures/authproxy/harness.js';

const NOBODY = 65534;
const here = fileURLToPath(new URL('.', import.meta.url));
const child = join(here, '..', '..', 'fixtures', 'authproxy', 'tail-child.ts');
const tsLoader = process.execArgv.filter((a) => a.includes('@tapjs/typescript') || (a.startsWith('--import=') && a.includes('tsx')));

function whyNot(): string | false {
  if (process.getuid?.() !== 0) return 'needs root to run the tailer as another user';
  if (tsLoader.length === 0) return 'needs the tap TypeScript loader';
  // The unprivileged user must be able to read the project (node_modules, sources).
  const probe = spawnSync(process.execPath, ['-e', `require('fs').accessSync(${JSON.stringify(child)})`], { uid: NOBODY, gid: NOBODY });
  return probe.status === 0 ? false : 'user nobody cannot read the project files';
}

t.test('a log directory the relay user cannot read: clear error, no crash, retried until readable', { skip: whyNot(), timeout: 60_000 }, async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'duo-relay-eacces-'));
  chmodSync(base, 0o755);
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const logDir = join(base, 'log');
  mkdirSync(logDir, { mode: 0o700 });
  chmodSync(logDir, 0o700);
  const log = join(logDir, 'authevents.log');
  const lines = Array.from({ length: 5 }, (_, i) => JSON.stringify({ timestamp: `2026-11-22T10:00:0${i}Z`, msg: 'test', seq: i }));
  writeFileSync(log, `${lines.join('\n')}\n`, { mode: 0o640 });
  // What the unprivileged child writes: its state, its output, and a HOME for the loader's cache.
  const own = join(base, 'own');
  for (const d of [own, join(own, 'state'), join(own, 'home')]) {
    mkdirSync(d, { recursive: true });
    chownSync(d, NOBODY, NOBODY);
  }
  const out = join(own, 'out.tsv');

  const cfg = JSON.stringify({ type: 'authproxy', path: log, poll_interval_ms: 100 });
  let stderr = '';
  const c: ChildProcess = spawn(process.execPath, [...tsLoader, child, cfg, join(own, 'state'), out], {
    uid: NOBODY,
    gid: NOBODY,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, HOME: join(own, 'home'), TS_NODE_TRANSPILE_ONLY: '1' },
  });
  t.teardown(() => {
    if (c.exitCode === null) c.kill('SIGKILL');
  });
  c.stderr?.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
  let started = false;
  c.stdout?.on('data', (b: Buffer) => {
    if (b.toString().includes('started')) started = true;
  });
  await waitFor(() => started || c.exitCode !== null, 'the tail child to start', 30_000);
  t.equal(c.exitCode, null, 'the tailer runs as nobody');

  await waitFor(() => /Cannot tail the authproxy log/.test(stderr), 'the error about the directory', 10_000);
  t.comment(stderr.trim().split('\n')[0] ?? '');
  t.match(stderr, /DR_ERR_SOURCE_IO/, 'coded as a source I/O error');
  t.match(stderr, new RegExp(`${logDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*(EACCES|EPERM).*grant`), 'names the directory, the errno and what to grant');
  await sleep(600);
  t.equal(c.exitCode, null, 'still running after several retries');
  t.equal((stderr.match(/Cannot tail the authproxy log/g) ?? []).length, 1, 'logged once, not once per retry');
  t.notOk(existsSync(out) && readFileSync(out, 'utf8').length > 0, 'nothing delivered while the directory is closed');

  // The operator grants access: the lines flow without a restart.
  chmodSync(logDir, 0o755);
  chmodSync(log, 0o644);
  await waitFor(() => existsSync(out) && readFileSync(out, 'utf8').trim().split('\n').length >= lines.length, 'the lines once readable', 15_000);
  const got = readFileSync(out, 'utf8').trim().split('\n').map((l) => l.split('\t')[1]);
  t.same(got, lines, 'every line delivered, in order, once');

  c.kill('SIGTERM');
  await new Promise<void>((resolve) => (c.exitCode !== null ? resolve() : c.once('exit', () => resolve())));
  t.equal(c.exitCode, 0, 'clean stop on SIGTERM');
});
