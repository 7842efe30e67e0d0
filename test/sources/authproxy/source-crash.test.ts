/**
 * #4 of the complaint table at the source level: a writer child appends lines with Twisted-style
 * rename rotations while a child running only the authproxy source is killed with SIGKILL at
 * random moments and restarted. Every line must arrive; repeats are counted, printed, and must
 * carry the same position (the input of the stable event id) as their first delivery.
 * (The end-to-end version with the real relay and rsyslog is crash.test.ts.)
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep, tempDir, waitFor } from '../../fixtures/authproxy/harness.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const fixtures = join(here, '..', '..', 'fixtures', 'authproxy');
const TOTAL = 40_000;
const KILLS = 12;

// The child runs the TypeScript source through the same loader tap uses for this file.
const tsLoader = process.execArgv.filter((a) => a.includes('@tapjs/typescript') || (a.startsWith('--import=') && a.includes('tsx')));

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

t.test('kill -9 the tailing process 12 times during rotations: no loss, repeats carry the same position', { skip: tsLoader.length === 0 ? 'needs the tap TypeScript loader' : false }, async (t) => {
  const dir = await tempDir(t, 'duo-relay-srccrash-');
  const log = join(dir, 'authevents.log');
  const out = join(dir, 'out.tsv');
  const stateDir = join(dir, 'state');
  const children = new Set<ChildProcess>();
  t.teardown(() => {
    for (const c of children) c.kill('SIGKILL');
  });

  // A checkpoint after every batch (no interval): the repeats bound below counts batches, not time.
  const cfg = JSON.stringify({ type: 'authproxy', path: log, poll_interval_ms: 50, batch_lines: 300, max_rotated_files: 20, checkpoint_interval_ms: 0 });
  const startTail = async (): Promise<ChildProcess> => {
    const c = spawn(process.execPath, [...tsLoader, join(fixtures, 'tail-child.ts'), cfg, stateDir, out], {
      stdio: ['ignore', 'pipe', 'inherit'],
      // Type-checking on every start would cost ~10 s; tsc checks these files separately.
      env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' },
    });
    children.add(c);
    c.once('exit', () => children.delete(c));
    let started = false;
    c.stdout?.on('data', (b: Buffer) => {
      if (b.toString().includes('started')) started = true;
    });
    await waitFor(() => started || c.exitCode !== null, 'the tail child to start', 20_000);
    t.equal(c.exitCode, null, 'tail child running');
    return c;
  };

  // The relay runs before the proxy writes (a first run skips rotated history by design).
  await writeFile(log, '', { mode: 0o640 });
  let c = await startTail();
  await waitFor(() => existsSync(join(stateDir, 'authproxy-authproxy.checkpoint.json')), 'the first checkpoint');
  const writer = spawn(process.execPath, [join(fixtures, 'writer.mjs'), JSON.stringify({ path: log, total: TOTAL, rotateEvery: 4000, keep: 0, batch: 40, tickMs: 4, splitEvery: 997 })], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(writer);
  let writerDone = false;
  writer.once('exit', () => {
    writerDone = true;
  });

  for (let k = 0; k < KILLS; k++) {
    if (k > 0) c = await startTail();
    await sleep(150 + Math.floor(Math.random() * 500));
    c.kill('SIGKILL');
    await exited(c);
    await sleep(Math.floor(Math.random() * 300));
  }
  await waitFor(() => writerDone, 'the writer to finish', 60_000);
  t.equal(writer.exitCode, 0, 'writer finished');

  const last = await startTail();
  const parse = async (): Promise<{ seq: number; position: string }[]> => {
    const text = await readFile(out, 'utf8').catch(() => '');
    const rows: { seq: number; position: string }[] = [];
    for (const row of text.split('\n')) {
      if (row === '') continue;
      const tab = row.indexOf('\t');
      const v: unknown = JSON.parse(row.slice(tab + 1));
      const seq = typeof v === 'object' && v !== null && 'seq' in v && typeof v.seq === 'number' ? v.seq : -1;
      rows.push({ seq, position: row.slice(0, tab) });
    }
    return rows;
  };
  let rows: { seq: number; position: string }[] = [];
  // Parse only once the output stopped growing (it is tens of MB): bounded to 30 s.
  let prev = -1;
  for (let i = 0; i < 100; i++) {
    await sleep(300);
    const size = (await stat(out).catch(() => ({ size: 0 }))).size;
    if (size === prev) {
      rows = await parse();
      if (new Set(rows.map((r) => r.seq)).size >= TOTAL) break;
    }
    prev = size;
  }
  last.kill('SIGTERM');
  await exited(last);
  t.equal(last.exitCode, 0, 'clean close on SIGTERM');

  const first = new Map<number, string>();
  const order: number[] = [];
  let dups = 0;
  let samePosition = true;
  for (const r of rows) {
    const p = first.get(r.seq);
    if (p === undefined) {
      first.set(r.seq, r.position);
      order.push(r.seq);
    } else {
      dups++;
      if (p !== r.position) samePosition = false;
    }
  }
  const missing: number[] = [];
  for (let i = 0; i < TOTAL && missing.length < 20; i++) if (!first.has(i)) missing.push(i);
  t.comment(`${rows.length} lines delivered for ${TOTAL} written, ${dups} repeats after ${KILLS} kills`);
  t.same(missing, [], 'no line lost');
  t.equal(first.size, TOTAL);
  t.ok(samePosition, 'every repeat has the position of its first delivery');
  let inOrder = true;
  for (let i = 1; i < order.length; i++) if ((order[i] ?? 0) < (order[i - 1] ?? 0)) inOrder = false;
  t.ok(inOrder, 'first deliveries are in write order (rotated files drained oldest first)');
  // At-least-once: only what was emitted after the last checkpoint write can come again.
  t.ok(dups <= KILLS * 3 * 300, `repeats bounded (${dups})`);
});
