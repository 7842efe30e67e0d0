/**
 * checkpoint.ts (format, corrupt files, background writer) and #5 of the complaint table:
 * a corrupt or empty checkpoint → loud warning, a kept copy, a safe restart without a full re-send.
 */
import t from 'tap';
import { readFile, readdir, stat, truncate, utimes, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  Checkpointer,
  checkpointPath,
  loadCheckpoint,
  parseCheckpoint,
  serializeCheckpoint,
  type CheckpointData,
  CHECKPOINT_INTERVAL_MS,
} from '../../../src/sources/authproxy/checkpoint.js';
import { authproxySourceSchema } from '../../../src/config/schema.js';
import { appendLines, captureLogger, lines, makeRig, range, rotate, seqs, sleep, tempDir } from '../../fixtures/authproxy/harness.js';

const FP = 'a'.repeat(64);
const data: CheckpointData = { path: '/x/authevents.log', files: [{ key: '2049:18446744073709551615', fp: FP, fpLen: 256, offset: 10, size: 20 }] };

t.test('serialize → parse round-trips, 64-bit inodes included', async (t) => {
  const text = serializeCheckpoint(data, new Date('2024-05-14T00:00:00Z'));
  t.match(JSON.parse(text), { version: 1, written_at: '2024-05-14T00:00:00.000Z', files: [{ dev: '2049', ino: '18446744073709551615' }] });
  t.same(parseCheckpoint(text, 'f'), data);
});

t.test('parse rejects each kind of damage with DR_ERR_CHECKPOINT naming the problem', async (t) => {
  const good = JSON.parse(serializeCheckpoint(data, new Date())) as Record<string, unknown>;
  const cases: [string, string, RegExp][] = [
    ['empty', '', /empty/],
    ['torn', serializeCheckpoint(data, new Date()).slice(0, 40), /not JSON/],
    ['array', '[]', /not a JSON object/],
    ['version', JSON.stringify({ ...good, version: 2 }), /version 2/],
    ['path', JSON.stringify({ ...good, path: 5 }), /path/],
    ['files', JSON.stringify({ ...good, files: {} }), /files/],
    ['ino', JSON.stringify({ ...good, files: [{ dev: '1', ino: 2, fingerprint: FP, fingerprint_bytes: 1, offset: 0, size: 0 }] }), /dev.*ino/],
    ['fp', JSON.stringify({ ...good, files: [{ dev: '1', ino: '2', fingerprint: 'zz', fingerprint_bytes: 1, offset: 0, size: 0 }] }), /fingerprint/],
    ['offset', JSON.stringify({ ...good, files: [{ dev: '1', ino: '2', fingerprint: FP, fingerprint_bytes: 1, offset: -1, size: 0 }] }), /offset/],
    ['entry', JSON.stringify({ ...good, files: [null] }), /files\[0\]/],
  ];
  for (const [name, text, re] of cases) t.throws(() => parseCheckpoint(text, '/s/cp.json'), { code: 'DR_ERR_CHECKPOINT', message: re }, name);
});

t.test('load: missing, ok, corrupt (moved aside), stale temp files removed', async (t) => {
  const dir = await tempDir(t);
  const file = checkpointPath(dir, 'ap/one');
  t.equal(file, join(dir, 'authproxy-ap_one.checkpoint.json'), 'the name is made file-system safe');
  const { logger } = captureLogger();
  t.same(await loadCheckpoint(file, logger), { status: 'missing' });
  await writeFile(file, serializeCheckpoint(data, new Date()));
  await writeFile(`${file}.tmp-999999`, 'stale');
  t.same(await loadCheckpoint(file, logger), { status: 'ok', data });
  t.notOk((await readdir(dir)).some((n) => n.includes('.tmp-')), 'stale temp removed');
  await writeFile(file, '{"version":1,');
  const r = await loadCheckpoint(file, logger);
  t.equal(r.status, 'corrupt');
  if (r.status === 'corrupt') {
    t.match(r.keptAs, /\.corrupt-/);
    t.equal(await readFile(r.keptAs ?? '', 'utf8'), '{"version":1,', 'the bad content is kept');
  }
});

t.test('load: an unreadable checkpoint path is an error, not a silent first run', async (t) => {
  const dir = await tempDir(t);
  const file = checkpointPath(dir, 'x');
  await mkdir(file); // a directory where the file should be: reading it fails with EISDIR
  await t.rejects(loadCheckpoint(file, captureLogger().logger), { code: 'DR_ERR_CHECKPOINT' });
});

t.test('start() fails loudly on an unreadable checkpoint and close() leaves it alone', async (t) => {
  const rig = await makeRig(t);
  await mkdir(checkpointPath(rig.stateDir, 'authproxy'), { recursive: true });
  await t.rejects(rig.start(), { code: 'DR_ERR_CHECKPOINT', message: /Cannot read checkpoint/ });
  await rig.stop();
  t.ok((await stat(checkpointPath(rig.stateDir, 'authproxy'))).isDirectory(), 'nothing written over it');
});

t.test('Checkpointer coalesces requests, skips unchanged writes, flush writes the latest state', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'cp.json');
  let offset = 0;
  let snapshots = 0;
  const cp = new Checkpointer(file, () => {
    snapshots++;
    return { path: '/p', files: [{ key: '1:2', fp: FP, fpLen: 1, offset, size: 100 }] };
  }, captureLogger().logger);
  for (let i = 1; i <= 50; i++) {
    offset = i;
    cp.request();
  }
  await cp.flush();
  t.ok(snapshots < 10, `50 requests made ${snapshots} snapshots`);
  t.equal(parseCheckpoint(await readFile(file, 'utf8'), file).files[0]?.offset, 50);
  const m1 = (await stat(file)).mtimeMs;
  await sleep(20);
  await cp.flush();
  t.equal((await stat(file)).mtimeMs, m1, 'unchanged state is not rewritten');
});

t.test('Checkpointer spaces offset-only writes by its interval; a new file set and flush write at once', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'cp.json');
  const files = [{ key: '1:2', fp: FP, fpLen: 1, offset: 0, size: 100 }];
  const cp = new Checkpointer(file, () => ({ path: '/p', files: files.map((f) => ({ ...f })) }), captureLogger().logger, 5_000);
  const written = async (): Promise<CheckpointData | undefined> => {
    try {
      return parseCheckpoint(await readFile(file, 'utf8'), file);
    } catch {
      return undefined;
    }
  };
  const waitFor = async (ok: (d: CheckpointData | undefined) => boolean, what: string): Promise<void> => {
    for (let i = 0; i < 200 && !ok(await written()); i++) await sleep(10);
    t.ok(ok(await written()), what);
  };
  cp.request();
  await waitFor((d) => d?.files[0]?.offset === 0, 'the first write is at once');
  (files[0] as { offset: number }).offset = 10;
  cp.request();
  await sleep(300);
  t.equal((await written())?.files[0]?.offset, 0, 'an offset-only change waits for the interval');
  files.push({ key: '1:3', fp: FP, fpLen: 1, offset: 0, size: 5 });
  cp.request();
  await waitFor((d) => d?.files.length === 2 && d.files[0]?.offset === 10, 'a new file is written at once, with the offsets so far');
  (files[0] as { offset: number }).offset = 20;
  cp.request();
  const started = Date.now();
  await cp.flush();
  t.ok(Date.now() - started < 2_000, 'flush does not wait for the interval');
  t.equal((await written())?.files[0]?.offset, 20, 'flush wrote the latest offset');
});

t.test('checkpoint_interval_ms defaults to the Checkpointer\'s interval', async (t) => {
  t.equal(authproxySourceSchema.parse({ type: 'authproxy' }).checkpoint_interval_ms, CHECKPOINT_INTERVAL_MS);
});

t.test('Checkpointer writes a waiting offset once the interval has passed', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'cp.json');
  let offset = 0;
  const cp = new Checkpointer(file, () => ({ path: '/p', files: [{ key: '1:2', fp: FP, fpLen: 1, offset, size: 100 }] }), captureLogger().logger, 100);
  cp.request();
  for (let i = 1; i <= 20; i++) {
    await sleep(10);
    offset = i;
    cp.request();
  }
  for (let i = 0; i < 100; i++) {
    const d = await readFile(file, 'utf8').then((s) => parseCheckpoint(s, file), () => undefined);
    if (d?.files[0]?.offset === 20) break;
    await sleep(10);
  }
  t.equal(parseCheckpoint(await readFile(file, 'utf8'), file).files[0]?.offset, 20, 'the last offset arrives without another request or flush');
  await cp.flush();
});

t.test('Checkpointer reports a failing write once, and flush rejects', async (t) => {
  const dir = await tempDir(t);
  const blocker = join(dir, 'blocker');
  await writeFile(blocker, '');
  const cap = captureLogger();
  const cp = new Checkpointer(join(blocker, 'cp.json'), () => ({ path: '/p', files: [] }), cap.logger);
  cp.request();
  await sleep(50);
  await t.rejects(cp.flush(), { code: 'DR_ERR_CHECKPOINT' });
  t.equal(cap.entries.filter((e) => e.level === 50).length, 1, 'one error line for the streak');
});

// ------------------------------------------------------------ #5: corrupt checkpoint on restart

t.test('#5 an empty checkpoint: loud error, copy kept, old files not re-sent, new lines flow', async (t) => {
  const rig = await makeRig(t);
  await appendLines(`${rig.log}.1`, lines(0, 5));
  await appendLines(rig.log, lines(5, 10));
  await rig.start();
  await rig.recorder.waitLines(5);
  await rig.stop();
  const cpFile = checkpointPath(rig.stateDir, 'authproxy');
  await truncate(cpFile, 0);
  // The log files were last written well before the checkpoint (as after a quiet crash).
  const old = new Date(Date.now() - 60_000);
  await utimes(rig.log, old, old);
  await utimes(`${rig.log}.1`, old, old);
  await rig.start();
  await sleep(300);
  t.same(seqs(rig.recorder.lines), range(5, 10), 'nothing read again');
  t.ok(rig.logs.some((e) => e.level === 50 && /checkpoint is corrupt/.test(e.msg)), 'logged at error level');
  t.ok((await readdir(rig.stateDir)).some((n) => /\.corrupt-/.test(n)), 'a copy of the bad file is kept');
  await appendLines(rig.log, lines(10, 12));
  await rig.recorder.waitLines(7);
  t.same(seqs(rig.recorder.lines), range(5, 12));
  await rig.stop();
  await rig.start();
  await sleep(200);
  t.equal(rig.recorder.lines.length, 7, 'a good checkpoint was written again');
});

t.test('#5 a torn checkpoint: files written since it are read from their start, older ones skipped', async (t) => {
  const rig = await makeRig(t);
  await appendLines(rig.log, lines(0, 10));
  await rig.start();
  await rig.recorder.waitLines(10);
  await rig.stop();
  const cpFile = checkpointPath(rig.stateDir, 'authproxy');
  const text = await readFile(cpFile, 'utf8');
  await writeFile(cpFile, text.slice(0, text.length / 2));
  const cpTime = new Date(Date.now() - 30_000);
  await utimes(cpFile, cpTime, cpTime);
  // Rotated after the crash: `.1` was last written before the checkpoint, the live file after it.
  const before = new Date(Date.now() - 60_000);
  await utimes(rig.log, before, before);
  await rotate(rig.log);
  await appendLines(rig.log, lines(10, 13));
  await rig.start();
  await rig.recorder.waitLines(13);
  await sleep(300);
  t.same(seqs(rig.recorder.lines), range(0, 13), 'no loss; no repeat of the file older than the checkpoint');
});

t.test('#5 documented trade-off: a file written after the corrupt checkpoint is re-sent from its start (not lost)', async (t) => {
  const rig = await makeRig(t);
  await appendLines(rig.log, lines(0, 4));
  await rig.start();
  await rig.recorder.waitLines(4);
  await rig.stop();
  const cpFile = checkpointPath(rig.stateDir, 'authproxy');
  await writeFile(cpFile, 'garbage');
  const cpTime = new Date(Date.now() - 30_000);
  await utimes(cpFile, cpTime, cpTime);
  await appendLines(rig.log, lines(4, 6));
  await rig.start();
  await rig.recorder.waitLines(10);
  await sleep(200);
  t.same(seqs(rig.recorder.lines), [...range(0, 4), ...range(0, 6)], 'repeats, but bounded to that file, and nothing lost');
});
