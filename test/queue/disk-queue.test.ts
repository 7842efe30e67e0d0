import t from 'tap';
import { mkdtemp, readdir, rm, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskQueue, type DiskQueueOptions } from '../../src/queue/index.js';
import { capture } from '../helpers/capture.js';
import { isRelayError } from '../../src/errors.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

async function tmp(t: Teardown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'drq-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function opts(dir: string, over: Partial<DiskQueueOptions> = {}): DiskQueueOptions {
  return { dir, maxBytes: 1 << 20, segmentBytes: 8192, overflow: 'block', consumers: ['a', 'b'], logger: capture().logger, ...over };
}

/** Like AbortSignal.timeout, but its timer keeps the test process alive while it waits. */
function deadline(t: Teardown, ms: number): AbortSignal {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new DOMException('The operation timed out.', 'TimeoutError')), ms);
  t.teardown(() => clearTimeout(timer));
  return ac.signal;
}

const rec = (i: number): Buffer => Buffer.from(`{"id":"ev-${i}","pad":"${'x'.repeat(i % 50)}"}`);

async function appendRange(q: DiskQueue, from: number, to: number, batch = 10): Promise<void> {
  for (let i = from; i < to; i += batch) {
    const b: Buffer[] = [];
    for (let k = i; k < Math.min(to, i + batch); k++) b.push(rec(k));
    await q.append(b);
  }
}

async function drain(q: DiskQueue, consumer: string, max = 7): Promise<{ seq: number; text: string }[]> {
  const out: { seq: number; text: string }[] = [];
  for (let guard = 0; guard < 100_000; guard++) {
    const r = await q.read(consumer, max);
    if (r.length === 0) return out;
    for (const x of r) out.push({ seq: x.seq, text: x.payload.toString() });
  }
  throw new Error('drain did not finish');
}

t.test('records come back in order with consecutive seqs, per consumer', async (t) => {
  const dir = await tmp(t);
  const q = await DiskQueue.open(opts(dir));
  t.teardown(() => q.close());
  await appendRange(q, 0, 500);
  const a = await drain(q, 'a');
  t.equal(a.length, 500);
  t.same(a.map((x) => x.text), Array.from({ length: 500 }, (_, i) => rec(i).toString()));
  t.same(a.map((x) => x.seq), Array.from({ length: 500 }, (_, i) => i + 1), 'seqs start at 1 and are consecutive');
  const b = await q.read('b', 3);
  t.same(b.map((x) => x.seq), [1, 2, 3], 'consumer b has its own read position');
  const st = q.stats();
  t.equal(st.records, 500);
  t.same(st.perConsumer, { a: { lagRecords: 500 }, b: { lagRecords: 500 } }, 'reading is not acknowledging');
  t.ok(st.segments > 1, 'small segment size rolls segments');
  t.ok(st.oldestAgeMs !== null && st.oldestAgeMs >= 0);
});

t.test('maxBytes limits a read but one record always comes back', async (t) => {
  const dir = await tmp(t);
  const q = await DiskQueue.open(opts(dir));
  t.teardown(() => q.close());
  await q.append([Buffer.alloc(300, 1), Buffer.alloc(300, 2), Buffer.alloc(300, 3)]);
  const r1 = await q.read('a', 10, 100);
  t.equal(r1.length, 1, 'a record larger than maxBytes still comes alone');
  const r2 = await q.read('a', 10, 500);
  t.equal(r2.length, 2);
  t.same(await q.read('a', 10), []);
});

t.test('ack persists, deletes segments every consumer is past, and survives reopen', async (t) => {
  const dir = await tmp(t);
  let q = await DiskQueue.open(opts(dir));
  await appendRange(q, 0, 600);
  const before = q.stats().segments;
  const a = await drain(q, 'a');
  await q.ack('a', a[a.length - 1]?.seq ?? 0);
  t.equal(q.stats().segments, before, 'b still needs every segment');
  t.equal(q.stats().records, 600, 'records counts what the slowest consumer still needs');
  await q.read('b', 400);
  await q.ack('b', 400);
  const mid = q.stats();
  t.ok(mid.segments < before, 'segments below both cursors are deleted');
  t.equal(mid.records, 200);
  t.same(mid.perConsumer, { a: { lagRecords: 0 }, b: { lagRecords: 200 } });
  await q.ack('b', 300);
  t.equal(q.stats().perConsumer['b']?.lagRecords, 200, 'a stale ack is a no-op');
  await t.rejects(q.ack('b', 601), RangeError, 'acking past the end is a programming error');
  await q.close();

  q = await DiskQueue.open(opts(dir));
  t.teardown(() => q.close());
  t.same(q.stats().perConsumer, { a: { lagRecords: 0 }, b: { lagRecords: 200 } }, 'cursors are durable');
  const b = await drain(q, 'b');
  t.same(b.map((x) => x.seq), Array.from({ length: 200 }, (_, i) => 401 + i), 'b resumes after its cursor');
  t.same(await q.read('a', 10), [], 'a has nothing left');
  await appendRange(q, 600, 610);
  const more = await drain(q, 'a');
  t.same(more.map((x) => x.seq), Array.from({ length: 10 }, (_, i) => 601 + i), 'seqs continue across reopen');
  const files = await readdir(join(dir, 'cursors'));
  t.equal(files.filter((f) => f.endsWith('.json')).length, 2);
});

t.test('rewind goes back to the durable cursor', async (t) => {
  const dir = await tmp(t);
  const q = await DiskQueue.open(opts(dir));
  t.teardown(() => q.close());
  await appendRange(q, 0, 100);
  await q.read('a', 30);
  await q.ack('a', 20);
  await q.read('a', 30);
  q.rewind('a');
  const r = await q.read('a', 5);
  t.same(r.map((x) => x.seq), [21, 22, 23, 24, 25], 'unacknowledged records are delivered again');
  t.equal(r[0]?.payload.toString(), rec(20).toString(), 'same payload, same id');
  q.rewind('a');
  t.same((await q.read('a', 1)).map((x) => x.seq), [21]);
});

t.test('a new consumer starts at the current end; a removed one is ignored and kept', async (t) => {
  const dir = await tmp(t);
  const cap = capture();
  let q = await DiskQueue.open(opts(dir, { consumers: ['a', 'b'] }));
  await appendRange(q, 0, 500);
  await q.ack('a', 500);
  await q.close();

  q = await DiskQueue.open(opts(dir, { consumers: ['a', 'c'], logger: cap.logger }));
  t.same(q.stats().perConsumer, { a: { lagRecords: 0 }, c: { lagRecords: 0 } }, 'c does not inherit the backlog; b no longer holds records');
  t.equal(q.stats().records, 0);
  t.ok(cap.lines.some((l) => /consumer is new/.test(l.msg)), 'the new consumer is logged');
  t.ok(cap.lines.some((l) => /no longer configured/.test(l.msg)), 'the ignored cursor is logged');
  await appendRange(q, 500, 505);
  t.same((await drain(q, 'c')).map((x) => x.seq), [501, 502, 503, 504, 505], 'c gets only new records');
  await q.close();

  // c's start was written at once: a crash before its first ack cannot move it.
  const cap2 = capture();
  q = await DiskQueue.open(opts(dir, { consumers: ['a', 'b', 'c'], logger: cap2.logger }));
  t.teardown(() => q.close());
  t.equal(q.stats().perConsumer['c']?.lagRecords, 5);
  const bLag = q.stats().perConsumer['b']?.lagRecords ?? 0;
  t.ok(bLag > 5 && bLag < 505, 'b re-added resumes from its cursor, clamped to the oldest record still on disk');
  const first = (await q.read('b', 1))[0];
  t.equal(first?.seq, 506 - bLag, 'b reads from the oldest record on disk');
  t.equal(first?.payload.toString(), rec((first?.seq ?? 0) - 1).toString());
  t.ok(cap2.lines.some((l) => /points before the oldest record/.test(l.msg)), 'the clamp is logged');
});

t.test('wait resolves on append, honours abort, and rejects on close', async (t) => {
  const dir = await tmp(t);
  const q = await DiskQueue.open(opts(dir));
  const w = q.wait('a', deadline(t, 5000));
  let done = false;
  void w.then(() => (done = true));
  await new Promise((r) => setTimeout(r, 20));
  t.notOk(done, 'no data, no wake-up');
  await q.append([rec(1)]);
  await w;
  t.pass('woken by the append');
  await q.wait('a', deadline(t, 10));
  t.pass('resolves at once while data waits');
  await q.read('a', 10);
  await t.rejects(q.wait('a', deadline(t, 30)), { name: 'TimeoutError' }, 'aborts with the signal');
  q.rewind('a');
  await q.wait('a', deadline(t, 1000));
  t.pass('rewind makes the records readable again');
  await q.read('a', 10);
  const pending = t.rejects(q.wait('a'), { code: 'DR_ERR_CLOSED' }, 'close rejects a pending wait');
  await q.close();
  await pending;
  await t.rejects(q.append([rec(2)]), { code: 'DR_ERR_CLOSED' });
  await t.rejects(q.read('a', 1), { code: 'DR_ERR_CLOSED' });
  await q.close();
  t.pass('close is idempotent');
});

t.test('bad input is refused with coded errors', async (t) => {
  const dir = await tmp(t);
  await t.rejects(DiskQueue.open(opts(dir, { consumers: [] })), { code: 'DR_ERR_CONFIG' });
  await t.rejects(DiskQueue.open(opts(dir, { consumers: ['x', 'x'] })), { code: 'DR_ERR_CONFIG' });
  await t.rejects(DiskQueue.open(opts(dir, { maxBytes: 1000 })), { code: 'DR_ERR_CONFIG' });
  const q = await DiskQueue.open(opts(dir, { segmentBytes: 4096 }));
  t.teardown(() => q.close());
  await t.rejects(q.append([rec(1), Buffer.alloc(5000)]), { code: 'DR_ERR_BAD_RECORD' }, 'record over the segment limit');
  t.equal(q.stats().records, 0, 'nothing of a refused batch is written');
  await t.rejects(q.read('nobody', 1), { code: 'DR_ERR_CONFIG' });
  await t.rejects(DiskQueue.open(opts(dir)), { code: 'DR_ERR_QUEUE_LOCKED' }, 'one owner per directory');
  await q.append([]);
  t.equal(q.stats().records, 0, 'an empty batch is a no-op');
});

t.test('a lock held by a live process is refused, a stale one taken over', async (t) => {
  const dir = await tmp(t);
  await writeFile(join(dir, 'lock'), `${process.ppid}\n`);
  const err: unknown = await DiskQueue.open(opts(dir)).then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(isRelayError(err) && err.code === 'DR_ERR_QUEUE_LOCKED' && err.message.includes(String(process.ppid)), 'refused, naming the owner pid');
  await writeFile(join(dir, 'lock'), '999999999\n');
  const q = await DiskQueue.open(opts(dir));
  t.equal((await readFile(join(dir, 'lock'), 'utf8')).trim(), String(process.pid));
  await q.close();
  await t.rejects(readFile(join(dir, 'lock')), { code: 'ENOENT' }, 'close releases the lock');
});

t.test('a large batch is split into fsynced chunks and stays in order', async (t) => {
  const dir = await tmp(t);
  const q = await DiskQueue.open(opts(dir, { maxBytes: 64 * 1024, segmentBytes: 4096, consumers: ['a'] }));
  t.teardown(() => q.close());
  // 40 KiB in one call: more than max_bytes / 4 per chunk, so the append must chunk and wait for acks.
  const batch = Array.from({ length: 400 }, (_, i) => Buffer.from(`${i}`.padStart(80, '0')));
  const appended = q.append(batch);
  const got: number[] = [];
  for (let guard = 0; guard < 10_000 && got.length < 400; guard++) {
    await q.wait('a', deadline(t, 5000));
    const r = await q.read('a', 50);
    for (const x of r) got.push(Number(x.payload.toString()));
    const last = r[r.length - 1];
    if (last !== undefined) await q.ack('a', last.seq);
  }
  await appended;
  t.same(got, Array.from({ length: 400 }, (_, i) => i));
  t.ok(q.stats().bytes <= 64 * 1024);
});
