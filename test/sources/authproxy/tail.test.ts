/**
 * The authproxy tailer on one live file: append, restart, partial lines, long lines, odd bytes,
 * start position, a log directory that is missing or unusable, and the emit/checkpoint contract.
 */
import t from 'tap';
import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes, RelayError } from '../../../src/errors.js';
import { checkpointPath, createAuthproxySource } from '../../../src/sources/authproxy/index.js';
import { CHUNK_BYTES, MAX_BATCH_BYTES, MAX_IN_FLIGHT } from '../../../src/sources/authproxy/tailer.js';
import { CHECKPOINT_INTERVAL_MS } from '../../../src/sources/authproxy/checkpoint.js';
import { appendLines, line, lines, makeRig, range, rotate, seqs, sleep, waitFor } from '../../fixtures/authproxy/harness.js';
import type { SourceRecord } from '../../../src/event.js';

t.test('appended lines are emitted in order with host, kind and a byte position', async (t) => {
  const rig = await makeRig(t);
  await appendLines(rig.log, lines(0, 3));
  await rig.start();
  await rig.recorder.waitLines(3);
  await appendLines(rig.log, lines(3, 10));
  await rig.recorder.waitLines(10);
  t.same(seqs(rig.recorder.lines), range(0, 10));
  const first = rig.recorder.records[0];
  t.equal(first?.kind, 'authproxy');
  t.equal(first?.host, 'proxy-host');
  t.match(first?.position, new RegExp(`^${rig.log.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}@\\d+:\\d+:0$`));
  // The second line starts right after the first one and its newline.
  t.match(rig.recorder.positions[1], new RegExp(`:${Buffer.byteLength(line(0)) + 1}$`));
});

t.test('cfg.hostname overrides the context hostname', async (t) => {
  const rig = await makeRig(t, { extra: { hostname: 'authproxy01' } });
  await appendLines(rig.log, lines(0, 1));
  await rig.start();
  await rig.recorder.waitLines(1);
  t.equal(rig.recorder.records[0]?.host, 'authproxy01');
});

t.test('restart resumes exactly: no loss, no duplicate', async (t) => {
  const rig = await makeRig(t);
  await appendLines(rig.log, lines(0, 50));
  await rig.start();
  await rig.recorder.waitLines(50);
  await rig.stop();
  await appendLines(rig.log, lines(50, 80));
  await rig.start();
  await rig.recorder.waitLines(80);
  const size = (await readFile(rig.log)).length;
  const cpFile = checkpointPath(rig.stateDir, 'authproxy');
  // Offset-only checkpoint writes are CHECKPOINT_INTERVAL_MS apart: the last one may follow a little later.
  await waitFor(async () => (await readFile(cpFile, 'utf8')).includes(`"offset":${size},`), 'the checkpoint at the end of the file', CHECKPOINT_INTERVAL_MS + 2_000);
  await sleep(200);
  t.same(seqs(rig.recorder.lines), range(0, 80));
  const cp: unknown = JSON.parse(await readFile(cpFile, 'utf8'));
  t.match(cp, { version: 1, path: rig.log, files: [{ offset: size }] });
});

t.test('a partial line is emitted once, after its newline arrives (2 s pause)', async (t) => {
  const rig = await makeRig(t);
  await rig.start();
  const full = line(7);
  await appendFile(rig.log, full.slice(0, 40));
  await sleep(2000);
  t.equal(rig.recorder.lines.length, 0, 'nothing emitted for half a line');
  await appendFile(rig.log, `${full.slice(40)}\n`);
  await rig.recorder.waitLines(1);
  await sleep(150);
  t.same(rig.recorder.lines, [full]);
});

t.test('a partial line survives a restart: it is read again from its start', async (t) => {
  const rig = await makeRig(t);
  await rig.start();
  await appendFile(rig.log, `${line(1)}\n${line(2).slice(0, 30)}`);
  await rig.recorder.waitLines(1);
  await rig.stop();
  await appendFile(rig.log, `${line(2).slice(30)}\n`);
  await rig.start();
  await rig.recorder.waitLines(2);
  t.same(seqs(rig.recorder.lines), [1, 2]);
});

t.test('partial_line_flush_ms emits a trailing fragment after idle', async (t) => {
  const rig = await makeRig(t, { extra: { partial_line_flush_ms: 300 } });
  await rig.start();
  await appendFile(rig.log, '{"no":"newline"}');
  await rig.recorder.waitLines(1, 5000);
  t.same(rig.recorder.lines, ['{"no":"newline"}']);
  await appendLines(rig.log, lines(0, 1));
  await rig.recorder.waitLines(2);
  t.same(seqs(rig.recorder.lines.slice(1)), [0], 'the next line is whole');
});

t.test('a 1 MiB line is dead-lettered with a preview; following lines flow', async (t) => {
  const rig = await makeRig(t, { extra: { max_line_bytes: 64 * 1024 } });
  await rig.start();
  const monster = `{"huge":"${'A'.repeat(1024 * 1024)}"}`;
  await appendLines(rig.log, lines(0, 2));
  // Written in pieces, so the reader sees it grow past the limit before its newline exists.
  for (let i = 0; i < monster.length; i += 256 * 1024) {
    await appendFile(rig.log, monster.slice(i, i + 256 * 1024));
    await sleep(60);
  }
  await appendFile(rig.log, '\n');
  await appendLines(rig.log, lines(2, 5));
  await rig.recorder.waitLines(5);
  t.same(seqs(rig.recorder.lines), range(0, 5));
  t.equal(rig.dead.length, 1, 'one dead letter');
  t.match(rig.dead[0]?.reason, /max_line_bytes/);
  t.ok((rig.dead[0]?.preview.length ?? 0) <= 1024 && rig.dead[0]?.preview.startsWith('{"huge":"AAAA'), 'preview is the head of the line');
  t.match(rig.dead[0]?.position, /:\d+$/);
  await rig.stop();
  // The skipped bytes are committed: a restart does not dead-letter the line again.
  await rig.start();
  await appendLines(rig.log, lines(5, 6));
  await rig.recorder.waitLines(6);
  t.equal(rig.dead.length, 1);
});

t.test('a long line already complete in the file is dead-lettered with its size', async (t) => {
  const rig = await makeRig(t, { extra: { max_line_bytes: 2048 } });
  await writeFile(rig.log, `${line(0)}\n{"big":"${'b'.repeat(3000)}"}\n${line(1)}\n`);
  await rig.start();
  await rig.recorder.waitLines(2);
  t.same(seqs(rig.recorder.lines), [0, 1]);
  t.match(rig.dead[0]?.reason, /line of 30\d\d bytes/);
});

t.test('invalid UTF-8 is replaced but kept; empty lines and CRs are dropped', async (t) => {
  const rig = await makeRig(t);
  const bad = Buffer.concat([Buffer.from('{"u":"caf'), Buffer.from([0xc3]), Buffer.from('","v":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n')]);
  await writeFile(rig.log, Buffer.concat([Buffer.from('\n\n'), bad, Buffer.from('\r\n'), Buffer.from(`${line(1)}\r\n\n`), Buffer.from('{"é":"ü"}\n')]));
  await rig.start();
  await rig.recorder.waitLines(3);
  await sleep(150);
  t.equal(rig.recorder.lines.length, 3);
  t.equal(rig.recorder.lines[0], '{"u":"caf\uFFFD","v":"\uFFFD\uFFFD"}');
  t.equal(rig.recorder.lines[1], line(1));
  t.equal(rig.recorder.lines[2], '{"é":"ü"}');
});

t.test('start_at end skips existing lines on the first run only (and never splits a half line)', async (t) => {
  const rig = await makeRig(t, { extra: { start_at: 'end' } });
  await appendLines(rig.log, lines(0, 5));
  await appendFile(rig.log, line(5).slice(0, 20));
  await rig.start();
  await sleep(200);
  t.equal(rig.recorder.lines.length, 0);
  await appendFile(rig.log, `${line(5).slice(20)}\n`);
  await appendLines(rig.log, lines(6, 8));
  await rig.recorder.waitLines(3);
  t.same(seqs(rig.recorder.lines), [5, 6, 7], 'the half-written line at start counts as new');
  await rig.stop();
  await appendLines(rig.log, lines(8, 9));
  await rig.start();
  await rig.recorder.waitLines(4);
  t.same(seqs(rig.recorder.lines), [5, 6, 7, 8], 'a restart resumes from the checkpoint, not the end');
});

t.test('start_at beginning (default) reads the live file but not older rotated history', async (t) => {
  const rig = await makeRig(t);
  await appendLines(`${rig.log}.1`, lines(0, 3));
  await appendLines(rig.log, lines(3, 5));
  await rig.start();
  await rig.recorder.waitLines(2);
  await sleep(200);
  t.same(seqs(rig.recorder.lines), [3, 4]);
});

t.test('a missing log directory is reported once, retried, and tailed when it appears', async (t) => {
  const rig = await makeRig(t, { logDir: join(tmpdir(), `duo-relay-missing-${process.pid}-${Date.now()}`, 'log') });
  t.teardown(() => rm(join(rig.log, '..', '..'), { recursive: true, force: true }));
  await rig.start();
  await sleep(400);
  const errors = rig.logs.filter((e) => e.level === 50 && /does not exist/.test(e.msg));
  t.equal(errors.length, 1, 'logged once although retried many times');
  await mkdir(join(rig.log, '..'), { recursive: true });
  await appendLines(rig.log, lines(0, 3));
  await rig.recorder.waitLines(3, 5000);
  t.same(seqs(rig.recorder.lines), [0, 1, 2]);
  t.ok(rig.logs.some((e) => /usable again/.test(e.msg)));
});

t.test('a log path under a regular file is a clear error, not a crash', async (t) => {
  const rig = await makeRig(t);
  const blocker = join(rig.dir, 'blocker');
  await writeFile(blocker, 'x');
  rig.log = join(blocker, 'authevents.log');
  await rig.start();
  await waitFor(() => rig.logs.some((e) => e.level === 50 && /not a directory/.test(e.msg)), 'the error');
  t.pass('reported');
  await rig.stop();
});

t.test('the checkpoint moves only after emit resolves (slow emit, then close)', async (t) => {
  const rig = await makeRig(t, { extra: { batch_lines: 10 } });
  await appendLines(rig.log, lines(0, 30));
  rig.recorder.delayMs = 400;
  await rig.start();
  await waitFor(() => rig.recorder.inFlight >= 1, 'the first batch in flight');
  // While the first batch is in flight (and the next waits behind it), no checkpoint may claim them.
  await sleep(150);
  const cpFile = checkpointPath(rig.stateDir, 'authproxy');
  const during: unknown = JSON.parse(await readFile(cpFile, 'utf8'));
  t.match(during, { files: [{ offset: 0 }] }, 'nothing committed while emit is pending');
  t.ok(rig.recorder.inFlight <= MAX_IN_FLIGHT + 1, `at most ${MAX_IN_FLIGHT} batches in flight and one emitted behind them (${rig.recorder.inFlight})`);
  await rig.stop(); // waits for the batches in flight
  const after: unknown = JSON.parse(await readFile(cpFile, 'utf8'));
  const committed = rig.recorder.lines.length;
  t.ok(committed >= 10, 'the in-flight batch was delivered');
  const expected = Buffer.byteLength(lines(0, committed).join('\n')) + 1;
  t.match(after, { files: [{ offset: expected }] }, 'committed exactly up to the delivered lines');
  rig.recorder.delayMs = 0;
  await rig.start();
  await rig.recorder.waitLines(30);
  t.same(seqs(rig.recorder.lines), range(0, 30), 'the rest follows without loss or duplicates');
});

t.test('emit rejected with DR_ERR_CLOSED: the source stops without committing; a restart reads the batch again', async (t) => {
  const rig = await makeRig(t, { extra: { batch_lines: 5 } });
  await appendLines(rig.log, lines(0, 20));
  let calls = 0;
  rig.recorder.rejectIf = () => ++calls === 2;
  rig.recorder.rejectWith = () => new RelayError(ErrorCodes.CLOSED, 'The pipeline is shutting down (test).');
  await rig.start();
  await waitFor(() => calls >= 2, 'the rejected batch');
  await sleep(300);
  // Batches emitted behind the rejected one (up to MAX_IN_FLIGHT, before its outcome was known) may
  // still be taken, in order; nothing after them.
  const first = seqs(rig.recorder.lines);
  const behind = first.length - 5;
  t.ok(
    behind >= 0 && behind % 5 === 0 && behind / 5 <= MAX_IN_FLIGHT && JSON.stringify(first) === JSON.stringify([...range(0, 5), ...range(10, 10 + behind)]),
    `the source stopped after the rejection (${first.join(',')})`,
  );
  t.ok(calls <= 2 + MAX_IN_FLIGHT, `no emit after the ones already behind the rejected batch (${calls} calls)`);
  await rig.stop();
  rig.recorder.rejectIf = undefined;
  await rig.start();
  await rig.recorder.waitLines(20 + first.length - 5);
  await sleep(100);
  const all = seqs(rig.recorder.lines);
  t.same([...new Set(all)].sort((a, b) => a - b), range(0, 20), 'every line arrived');
  t.equal(all.length, 20 + first.length - 5, 'the only repeats are the lines of the batch taken behind the rejected one');
});

t.test('emit rejected for another reason: the batch is read again after a backoff, nothing lost or repeated', async (t) => {
  const rig = await makeRig(t, { extra: { batch_lines: 5 } });
  await appendLines(rig.log, lines(0, 20));
  let calls = 0;
  rig.recorder.rejectIf = () => {
    calls++;
    return calls === 2 || calls === 3;
  };
  await rig.start();
  await rig.recorder.waitLines(20, 5000);
  await sleep(200);
  const got = seqs(rig.recorder.lines);
  t.same([...new Set(got)].sort((a, b) => a - b), range(0, 20), 'every line arrived');
  // A batch taken behind a refused one (it was emitted before the refusal was known) is read again
  // with the refused one: the only repeats, each at its own position (so with its own id).
  const repeats = got.length - 20;
  t.ok(repeats % 5 === 0 && repeats / 5 <= MAX_IN_FLIGHT, `repeats only whole batches emitted behind the refused one (${repeats} lines)`);
  const firstAt = new Map<number, string>();
  let samePosition = true;
  got.forEach((seq, i) => {
    const pos = rig.recorder.positions[i] as string;
    if (firstAt.has(seq) && firstAt.get(seq) !== pos) samePosition = false;
    firstAt.set(seq, pos);
  });
  t.ok(samePosition, 'a repeated line has the position it had the first time');
  t.same(got.slice(0, 5), range(0, 5), 'the batch before the refusal was taken once, first');
  const errors = rig.logs.filter((e) => e.level === 50 && /not handed off/.test(e.msg));
  t.equal(errors.length, 1, 'logged once for the streak');
});

t.test('start twice or after close throws DR_ERR_CLOSED; close and destroy are idempotent', async (t) => {
  const rig = await makeRig(t);
  const s = await rig.start();
  await t.rejects(s.start(rig.recorder.emit), { code: 'DR_ERR_CLOSED' });
  await s.close();
  await s.close();
  s.destroy();
  s.destroy(new Error('again'));
  await t.rejects(s.start(rig.recorder.emit), { code: 'DR_ERR_CLOSED' });
});

t.test('destroy stops at once; uncommitted lines come again on the next start', async (t) => {
  const rig = await makeRig(t, { extra: { batch_lines: 5 } });
  await appendLines(rig.log, lines(0, 20));
  rig.recorder.delayMs = 300;
  const s = await rig.start();
  await waitFor(() => rig.recorder.inFlight >= 1, 'a batch in flight');
  s.destroy(new Error('test'));
  rig.source = undefined;
  // The batches emitted before destroy are still taken (300 ms each, one after the other).
  await waitFor(() => rig.recorder.inFlight === 0, 'the batches in flight taken');
  await sleep(300);
  const got = rig.recorder.lines.length;
  // Up to MAX_IN_FLIGHT batches in flight and one emitted behind them (the test above) are still taken.
  t.ok(got <= (MAX_IN_FLIGHT + 1) * 5, `nothing read after destroy (${got} lines taken from batches emitted before it)`);
  rig.recorder.delayMs = 0;
  await rig.start();
  await rig.recorder.waitLines(20 + got);
  const all = seqs(rig.recorder.lines);
  t.same([...new Set(all)].sort((a, b) => a - b), range(0, 20), 'every line arrived');
});

t.test('a failure mid-read drops the unsent batch and reads it again: exactly once, in order', async (t) => {
  const rig = await makeRig(t, { extra: { max_line_bytes: 1024, batch_lines: 100 } });
  await writeFile(rig.log, `${lines(0, 5).join('\n')}\n{"big":"${'z'.repeat(2000)}"}\n${lines(5, 10).join('\n')}\n`);
  let throws = 1;
  const s = createAuthproxySource(rig.cfg, {
    stateDir: rig.stateDir,
    logger: rig.logger,
    hostname: 'h',
    deadLetter: (d) => {
      // The first report fails (e.g. the dead-letter file is not writable yet).
      if (throws-- > 0) throw new Error('dead-letter store unavailable (test)');
      rig.dead.push(d);
    },
  });
  rig.source = s;
  await s.start(rig.recorder.emit);
  await rig.recorder.waitLines(10, 5000);
  await sleep(200);
  t.same(seqs(rig.recorder.lines), range(0, 10));
  t.equal(rig.dead.length, 1);
  t.ok(rig.logs.some((e) => e.level === 50 && /Reading the authproxy log failed/.test(e.msg)), 'the failure is logged');
});

t.test('lines as bytes (the route thread decodes them) and as records (no route thread): the same records, dead letters and checkpoint', async (t) => {
  // CRLF, an empty line, invalid UTF-8, multi-byte text, an over-long line, rotation, and a trailing
  // fragment flushed after idle: every path of the line reader, in both modes.
  const parts: Buffer[] = [
    Buffer.from(`${line(0)}\r\n\n${line(1)}\n`),
    Buffer.concat([Buffer.from('{"msg":"bad '), Buffer.from([0xff, 0xc3, 0x28]), Buffer.from('","seq":2}\n')]),
    Buffer.from(`${JSON.stringify({ msg: 'ünïcödé 🔐 日本', seq: 3 })}\n`),
    Buffer.from(`${line(4, 3000)}\n${line(5)}\n`),
  ];
  const results: { records: SourceRecord[]; dead: string[]; offset: number; bytes: number; hashes: number; badHashes: number }[] = [];
  for (const text of [false, true]) {
    const rig = await makeRig(t, { text, extra: { max_line_bytes: 2048, partial_line_flush_ms: 200, batch_lines: 2 } });
    await writeFile(rig.log, '');
    await rig.start();
    await appendFile(rig.log, Buffer.concat(parts.slice(0, 3)));
    await rig.recorder.waitLines(4);
    await rotate(rig.log);
    await appendFile(rig.log, Buffer.concat([parts[3] as Buffer, Buffer.from(line(6))]));
    await rig.recorder.waitLines(6);
    await rig.stop();
    results.push({
      records: rig.recorder.records.map((r) => ({ ...r, position: r.position.replace(/^.*@\d+:\d+:/, '') })),
      dead: rig.dead.map((d) => d.position.replace(/^.*@\d+:\d+:/, '')),
      offset: (JSON.parse(await readFile(checkpointPath(rig.stateDir, 'authproxy'), 'utf8')) as { files: { offset: number }[] }).files.reduce((a, f) => a + f.offset, 0),
      bytes: rig.recorder.byteBatches,
      hashes: rig.recorder.hashesChecked,
      badHashes: rig.recorder.hashMismatches,
    });
  }
  const [bytes, records] = results as [(typeof results)[0], (typeof results)[0]];
  t.ok(bytes.bytes > 0, 'the tailer handed its lines over as bytes when the pipeline takes them');
  t.equal(records.bytes, 0, 'and as records when it does not');
  // Every line but the invalid UTF-8 one carries its text's content hash (the event id the route thread takes).
  t.equal(bytes.hashes, 5, 'content hashes computed from the bytes');
  t.equal(bytes.badHashes, 0, 'each equal to the hash of the decoded text');
  t.strictSame(seqs(bytes.records.map((r) => r.text ?? '')), [0, 1, 2, 3, 5, 6]);
  t.ok(bytes.records.some((r) => r.text?.includes('\ufffd')), 'invalid UTF-8 became U+FFFD');
  t.strictSame(bytes.records, records.records, 'same records: text, position, kind, host');
  t.strictSame(bytes.dead, records.dead, 'the same over-long line dead-lettered');
  t.equal(bytes.offset, records.offset, 'the same checkpoint');
});

t.test('long lines: a batch is handed off at MAX_BATCH_BYTES whatever batch_lines says (bytes and records)', async (t) => {
  const maxLine = 1024 * 1024;
  for (const text of [false, true]) {
    // 40 lines of ~300 KB: 12 MB, which batch_lines (1000) alone would hand off as one batch.
    const rig = await makeRig(t, { text, extra: { max_line_bytes: maxLine, batch_lines: 1000 } });
    await writeFile(rig.log, `${Array.from({ length: 40 }, (_, i) => line(i, 300_000)).join('\n')}\n`);
    await rig.start();
    await rig.recorder.waitLines(40);
    t.same(seqs(rig.recorder.lines), range(0, 40), `${text ? 'records' : 'bytes'}: every line, in order`);
    const biggest = Math.max(...rig.recorder.batchBytes);
    t.ok(rig.recorder.batches >= 3, `${text ? 'records' : 'bytes'}: ${rig.recorder.batches} batches`);
    // At most one chunk and one carried line past the cap (the check runs after each chunk).
    t.ok(biggest <= MAX_BATCH_BYTES + CHUNK_BYTES + maxLine, `${text ? 'records' : 'bytes'}: the largest batch has ${biggest} bytes`);
    await rig.stop();
  }
});
