/**
 * Crash recovery: torn tails, flipped bytes, broken headers and cursors, and a real kill -9
 * while appending. When run with DRQ_CRASH_CHILD set, this file is the child that gets killed.
 */
import { fork } from 'node:child_process';
import { mkdtemp, open, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { DiskQueue, type DiskQueueOptions } from '../../src/queue/index.js';
import { capture } from '../helpers/capture.js';

const rec = (i: number): Buffer => Buffer.from(`{"id":"ev-${i}","pad":"${'y'.repeat(20 + (i % 30))}"}`);

function opts(dir: string, logger: pino.Logger, over: Partial<DiskQueueOptions> = {}): DiskQueueOptions {
  return { dir, maxBytes: 16 << 20, segmentBytes: 64 * 1024, overflow: 'block', consumers: ['a', 'b'], logger, ...over };
}

/** Record offsets in a segment file, walking the documented layout. */
async function recordOffsets(path: string): Promise<number[]> {
  const buf = await readFile(path);
  const offs: number[] = [];
  for (let off = 32; off + 24 <= buf.length; off += 24 + buf.readUInt32LE(off)) offs.push(off);
  return offs;
}

async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(join(dir, 'segments'))).filter((f) => f.endsWith('.seg')).sort().map((f) => join(dir, 'segments', f));
}

async function flipByte(path: string, off: number): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, off);
    b[0] = (b[0] ?? 0) ^ 0x5a;
    await fh.write(b, 0, 1, off);
  } finally {
    await fh.close();
  }
}

async function drainAll(q: DiskQueue, consumer: string): Promise<{ seq: number; text: string }[]> {
  const out: { seq: number; text: string }[] = [];
  for (let guard = 0; guard < 100_000; guard++) {
    const r = await q.read(consumer, 97);
    if (r.length === 0) return out;
    for (const x of r) out.push({ seq: x.seq, text: x.payload.toString() });
  }
  throw new Error('drain did not finish');
}

async function fill(q: DiskQueue, n: number, batch = 25): Promise<void> {
  for (let i = 0; i < n; i += batch) await q.append(Array.from({ length: Math.min(batch, n - i) }, (_, k) => rec(i + k)));
}

// ------------------------------------------------------------------ child mode (kill -9 target)

async function child(dir: string, start: number): Promise<void> {
  const q = await DiskQueue.open(opts(dir, pino({ level: 'silent' }), { consumers: ['d'], segmentBytes: 32 * 1024 }));
  // A consumer acknowledging in parallel, so cursor writes get killed mid-way too.
  void (async () => {
    for (;;) {
      const r = await q.read('d', 40);
      const last = r[r.length - 1];
      if (last !== undefined) await q.ack('d', last.seq);
      await new Promise((res) => setTimeout(res, 3));
    }
  })();
  for (let i = start; ; i += 50) {
    await q.append(Array.from({ length: 50 }, (_, k) => rec(i + k)));
    process.send?.({ acked: i + 49 });
  }
}

const childDir = process.env['DRQ_CRASH_CHILD'];
if (childDir !== undefined) {
  await child(childDir, Number(process.env['DRQ_START'] ?? '0'));
} else {
  await tests();
}

async function tests(): Promise<void> {
  const { default: t } = await import('tap');

  async function tmp(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'drq-rec-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }

  t.test('a torn tail is cut, reported, and appends continue after it', async (t) => {
    const dir = await tmp();
    let q = await DiskQueue.open(opts(dir, capture().logger));
    await fill(q, 100);
    await q.close();
    const [seg] = await segmentFiles(dir);
    if (seg === undefined) throw new Error('no segment');
    const size = (await stat(seg)).size;
    await truncate(seg, size - 7); // mid-payload of record 100

    const cap = capture();
    q = await DiskQueue.open(opts(dir, cap.logger));
    t.teardown(() => q.close());
    const st = q.stats();
    t.ok(st.tornBytes > 0 && st.tornBytes < 100, `cut ${st.tornBytes} bytes`);
    t.equal(st.corrupt, 0, 'a torn tail is not corruption');
    t.ok(cap.lines.some((l) => l.level === 40 && /torn record/.test(l.msg)), 'reported at WARN');
    await q.append([Buffer.from('after-crash')]);
    const all = await drainAll(q, 'a');
    t.equal(all.length, 100);
    t.same(all.slice(0, 99).map((x) => x.text), Array.from({ length: 99 }, (_, i) => rec(i).toString()), 'every whole record survives');
    t.same(all[99], { seq: 100, text: 'after-crash' }, 'the cut seq is reused by the next append');
  });

  t.test('a tail torn inside a record header is cut too', async (t) => {
    const dir = await tmp();
    let q = await DiskQueue.open(opts(dir, capture().logger));
    await fill(q, 10);
    await q.close();
    const [seg] = await segmentFiles(dir);
    if (seg === undefined) throw new Error('no segment');
    const offs = await recordOffsets(seg);
    await truncate(seg, (offs[9] ?? 0) + 10);
    q = await DiskQueue.open(opts(dir, capture().logger));
    t.teardown(() => q.close());
    t.equal(q.stats().tornBytes, 10);
    t.equal((await drainAll(q, 'a')).length, 9);
  });

  t.test('a flipped byte in an older segment: that record is skipped and counted once', async (t) => {
    const dir = await tmp();
    let q = await DiskQueue.open(opts(dir, capture().logger, { segmentBytes: 4096 }));
    await fill(q, 300);
    await q.close();
    const segs = await segmentFiles(dir);
    t.ok(segs.length >= 3, 'several segments');
    const victim = segs[1] ?? '';
    const offs = await recordOffsets(victim);
    const target = offs[3] ?? 0;
    await flipByte(victim, target + 30); // inside the payload: the CRC catches it
    const victimSeq = Number(victim.slice(-24, -4)) + 3;

    const cap = capture();
    q = await DiskQueue.open(opts(dir, cap.logger, { segmentBytes: 4096 }));
    t.teardown(() => q.close());
    const a = await drainAll(q, 'a');
    const b = await drainAll(q, 'b');
    t.equal(a.length, 299, 'one record lost, not the segment');
    t.notOk(a.some((x) => x.seq === victimSeq), 'the corrupt record is not handed out');
    t.same(a.map((x) => x.text), Array.from({ length: 300 }, (_, i) => rec(i).toString()).filter((_, i) => i + 1 !== victimSeq));
    t.same(b, a, 'the second consumer sees the same');
    t.equal(q.stats().corrupt, 1, 'counted once for both consumers');
    t.equal(cap.lines.filter((l) => l.level === 50 && /corrupt records/.test(l.msg)).length, 1, 'logged once at ERROR');
  });

  t.test('a corrupt length field mid-tail: resynchronised, later records kept, not cut', async (t) => {
    const dir = await tmp();
    let q = await DiskQueue.open(opts(dir, capture().logger));
    await fill(q, 50);
    await q.close();
    const [seg] = await segmentFiles(dir);
    if (seg === undefined) throw new Error('no segment');
    const offs = await recordOffsets(seg);
    await flipByte(seg, (offs[20] ?? 0) + 1); // the length of record 21
    const cap = capture();
    q = await DiskQueue.open(opts(dir, cap.logger));
    t.teardown(() => q.close());
    t.equal(q.stats().tornBytes, 0, 'valid records follow: not a torn tail');
    t.equal(q.stats().corrupt, 1, 'reported at open');
    const a = await drainAll(q, 'a');
    t.equal(a.length, 49);
    t.same(a.map((x) => x.seq), Array.from({ length: 50 }, (_, i) => i + 1).filter((s) => s !== 21));
    await q.append([Buffer.from('next')]);
    const more = await q.read('a', 5);
    t.same(more.map((x) => x.seq), [51], 'seqs continue after the last valid record');
  });

  t.test('an older segment with a broken header is set aside; reading goes on', async (t) => {
    const dir = await tmp();
    let q = await DiskQueue.open(opts(dir, capture().logger, { segmentBytes: 4096 }));
    await fill(q, 300);
    await q.close();
    const segs = await segmentFiles(dir);
    const victim = segs[1] ?? '';
    await flipByte(victim, 2);
    const cap = capture();
    q = await DiskQueue.open(opts(dir, cap.logger, { segmentBytes: 4096 }));
    t.teardown(() => q.close());
    t.ok((await readdir(join(dir, 'segments'))).some((f) => f.endsWith('.corrupt')), 'renamed to .corrupt');
    t.ok(cap.lines.some((l) => l.level === 50 && /header is corrupt/.test(l.msg)));
    const lostFrom = Number(victim.slice(-24, -4));
    const lostTo = Number((segs[2] ?? '').slice(-24, -4));
    const a = await drainAll(q, 'a');
    t.equal(a.length, 300 - (lostTo - lostFrom));
    t.notOk(a.some((x) => x.seq >= lostFrom && x.seq < lostTo));
    t.equal(q.stats().corrupt, lostTo - lostFrom, 'the gap is counted when read');
  });

  t.test('a segment whose creation was interrupted is removed', async (t) => {
    const dir = await tmp();
    let q = await DiskQueue.open(opts(dir, capture().logger));
    await fill(q, 10);
    await q.close();
    await writeFile(join(dir, 'segments', `${String(11).padStart(20, '0')}.seg`), Buffer.from('DRQS'));
    q = await DiskQueue.open(opts(dir, capture().logger));
    t.teardown(() => q.close());
    t.equal(q.stats().segments, 1);
    await q.append([Buffer.from('x')]);
    const a = await drainAll(q, 'a');
    t.equal(a.length, 11);
    t.equal(a[10]?.seq, 11);
  });

  t.test('an unreadable cursor restarts that consumer from the oldest record', async (t) => {
    const dir = await tmp();
    let q = await DiskQueue.open(opts(dir, capture().logger));
    await fill(q, 20);
    await q.read('a', 20);
    await q.ack('a', 15);
    await q.close();
    const cursors = await readdir(join(dir, 'cursors'));
    const aFile = cursors.find((f) => f.startsWith('a-'));
    if (aFile === undefined) throw new Error('no cursor for a');
    await writeFile(join(dir, 'cursors', aFile), '');
    const cap = capture();
    q = await DiskQueue.open(opts(dir, cap.logger));
    t.teardown(() => q.close());
    t.equal(q.stats().perConsumer['a']?.lagRecords, 20, 'duplicates rather than loss');
    t.ok(cap.lines.some((l) => l.level === 50 && /cursor file is unreadable/.test(l.msg)));
  });

  t.test('kill -9 while appending and acknowledging: every acknowledged append survives', async (t) => {
    const dir = await tmp();
    const self = fileURLToPath(import.meta.url);
    let next = 0;
    let delivered = 0;
    for (let cycle = 0; cycle < 5; cycle++) {
      let acked = -1;
      const c = fork(self, [], {
        execArgv: process.execArgv,
        env: { ...process.env, DRQ_CRASH_CHILD: dir, DRQ_START: String(next) },
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      });
      t.teardown(() => {
        if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      });
      c.on('message', (m: unknown) => {
        if (typeof m === 'object' && m !== null && 'acked' in m && typeof m.acked === 'number') acked = m.acked;
      });
      const exited = new Promise<void>((res) => c.once('exit', () => res()));
      // Kill at a random moment once the child has acknowledged something.
      const killAfter = 150 + Math.floor(Math.random() * 350);
      for (let waited = 0; waited < 20_000 && acked < next; waited += 10) await new Promise((r) => setTimeout(r, 10));
      t.ok(acked >= next, `cycle ${cycle}: the child appended`);
      await new Promise((r) => setTimeout(r, killAfter));
      c.kill('SIGKILL');
      await exited;

      const q = await DiskQueue.open(opts(dir, pino({ level: 'silent' }), { consumers: ['d'], segmentBytes: 32 * 1024 }));
      const lag = q.stats().perConsumer['d']?.lagRecords ?? 0;
      const recs = await drainAll(q, 'd');
      const st = q.stats();
      await q.close();
      const cursorFile = (await readdir(join(dir, 'cursors'))).find((f) => f.startsWith('d-') && f.endsWith('.json')) ?? '';
      const cursorNext = (JSON.parse(await readFile(join(dir, 'cursors', cursorFile), 'utf8')) as { next: number }).next;
      t.equal(st.corrupt, 0, `cycle ${cycle}: no corrupt records after kill -9`);
      t.equal(recs.length, lag, 'lag matches what is readable');
      t.ok(recs.every((r) => (JSON.parse(r.text) as { id: string }).id === `ev-${r.seq - 1}`), 'each record sits at its own seq, no gap, no repeat');
      if (recs.length > 0) t.equal(recs[0]?.seq, cursorNext, 'the backlog starts at the durable cursor');
      // ev-i has seq i+1: consumed ids end at cursorNext-2, ids on disk at the last seq-1.
      const lastKnown = recs.length > 0 ? (recs[recs.length - 1]?.seq ?? 0) - 1 : cursorNext - 2;
      t.ok(lastKnown >= acked, `cycle ${cycle}: every acknowledged append (up to ev-${acked}) is on disk or was consumed (up to ev-${lastKnown})`);
      delivered = cursorNext - 1;
      next = lastKnown + 1;
    }
    t.ok(delivered > 0, 'the consumer made progress across crashes');
  });
}
