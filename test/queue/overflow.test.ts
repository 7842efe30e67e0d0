/**
 * The byte cap and its two policies, and a real full disk (ENOSPC on a small tmpfs, when this
 * process may mount one; skipped otherwise).
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { DiskQueue, type DiskQueueOptions } from '../../src/queue/index.js';
import { capture } from '../helpers/capture.js';
import { isRelayError } from '../../src/errors.js';

async function tmp(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'drq-cap-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function deadline(ms: number): AbortSignal {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error('test deadline')), ms);
  t.teardown(() => clearTimeout(timer));
  return ac.signal;
}

const payload = (i: number): Buffer => Buffer.from(`${String(i).padStart(8, '0')}:${'z'.repeat(180)}`);
const idOf = (b: Buffer): number => Number(b.subarray(0, 8).toString());

async function drainIds(q: DiskQueue, consumer: string, ack: boolean): Promise<number[]> {
  const ids: number[] = [];
  for (let guard = 0; guard < 100_000; guard++) {
    const r = await q.read(consumer, 100);
    if (r.length === 0) return ids;
    for (const x of r) ids.push(idOf(x.payload));
    const last = r[r.length - 1];
    if (ack && last !== undefined) await ackRetrying(q, consumer, last.seq);
  }
  throw new Error('drain did not finish');
}

/** What a destination loop does: an ack that hit a full disk is retried (the queue freed what it could). */
async function ackRetrying(q: DiskQueue, consumer: string, seq: number): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await q.ack(consumer, seq);
      return;
    } catch (err: unknown) {
      if (attempt >= 3 || !isRelayError(err) || err.code !== 'DR_ERR_QUEUE_FULL') throw err;
    }
  }
}

function opts(dir: string, logger: pino.Logger, over: Partial<DiskQueueOptions>): DiskQueueOptions {
  return { dir, maxBytes: 64 * 1024, segmentBytes: 4096, overflow: 'block', consumers: ['a', 'b'], logger, ...over };
}

t.test('block: append waits at the cap, gives up on abort, resumes when acks free space', async (t) => {
  const dir = await tmp();
  const cap = capture();
  const q = await DiskQueue.open(opts(dir, cap.logger, {}));
  t.teardown(() => q.close());
  let next = 0;
  let refused: unknown = null;
  for (let guard = 0; guard < 1000 && refused === null; guard++) {
    const batch = Array.from({ length: 20 }, () => payload(next++));
    await q.append(batch, deadline(200)).catch((err: unknown) => {
      refused = err;
      next -= 20;
    });
  }
  t.ok(isRelayError(refused) && refused.code === 'DR_ERR_QUEUE_FULL', 'the aborted wait rejects with DR_ERR_QUEUE_FULL');
  t.match(String((refused as Error).message), /is full .* bytes/);
  t.ok(q.stats().bytes <= 64 * 1024, `never above the cap (${q.stats().bytes} bytes)`);
  t.ok(cap.lines.some((l) => l.level === 40 && /overflow: block/.test(l.msg)), 'blocking is logged at WARN');
  const full = q.stats().records;
  t.equal(full, next, 'every accepted record is there');

  // A blocked append with no signal waits until both consumers acknowledge.
  let resolved = false;
  const more = Array.from({ length: 20 }, () => payload(next++));
  const blocked = q.append(more).then(() => (resolved = true));
  await new Promise((r) => setTimeout(r, 100));
  t.notOk(resolved, 'still blocked while nobody acknowledges');
  const a = await drainIds(q, 'a', true);
  await new Promise((r) => setTimeout(r, 50));
  t.notOk(resolved, 'one consumer is not enough: b still needs the oldest segment');
  const b = await drainIds(q, 'b', true);
  await blocked;
  t.ok(resolved, 'resumed once every consumer acknowledged');
  t.same(a, Array.from({ length: full }, (_, i) => i));
  t.same(b.slice(0, full), a, 'b got the same records');
  const tailB = [...b.slice(full), ...(await drainIds(q, 'b', false))];
  const tailA = await drainIds(q, 'a', false);
  t.same(tailA, Array.from({ length: 20 }, (_, i) => full + i), 'the blocked batch arrived whole, in order');
  t.same(tailB, tailA);
  t.ok(cap.lines.some((l) => /has room again/.test(l.msg)));
  t.equal(q.stats().dropped, 0, 'block never drops');
});

t.test('block: a fully acknowledged tail is rolled so a big segment cannot wedge the queue', async (t) => {
  const dir = await tmp();
  // segment_bytes far above max_bytes: the effective segment is max_bytes / 4.
  const q = await DiskQueue.open(opts(dir, capture().logger, { segmentBytes: 16 << 20, consumers: ['a'] }));
  t.teardown(() => q.close());
  let next = 0;
  for (let round = 0; round < 30; round++) {
    await q.append(Array.from({ length: 40 }, () => payload(next++)), deadline(5000));
    const ids = await drainIds(q, 'a', true);
    t.equal(ids.length, 40);
  }
  t.ok(q.stats().bytes <= 64 * 1024);
  t.equal(next, 1200, '240 KB went through a 64 KiB queue');
});

t.test('drop_oldest: whole old segments go, counted and logged; the rest stays in order', async (t) => {
  const dir = await tmp();
  const cap = capture();
  const q = await DiskQueue.open(opts(dir, cap.logger, { overflow: 'drop_oldest' }));
  t.teardown(() => q.close());
  await q.append(Array.from({ length: 50 }, (_, i) => payload(i)));
  const early = await drainIds(q, 'a', true); // a is up to date before the overflow
  t.equal(early.length, 50);
  for (let i = 50; i < 1000; i += 25) await q.append(Array.from({ length: 25 }, (_, k) => payload(i + k)));
  const st = q.stats();
  t.ok(st.bytes <= 64 * 1024, `under the cap (${st.bytes})`);
  t.ok(st.dropped > 0, `dropped ${st.dropped}`);
  const b = await drainIds(q, 'b', false);
  t.equal(b.length + st.dropped, 1000, 'dropped counts exactly what b never got');
  t.same(b, Array.from({ length: b.length }, (_, i) => 1000 - b.length + i), 'b gets the newest records, contiguous');
  const a = await drainIds(q, 'a', false);
  t.ok(a.length <= b.length && a[a.length - 1] === 999, 'a also lost the dropped ones past its cursor, nothing more');
  const errors = cap.lines.filter((l) => l.level === 50 && /drop_oldest/.test(l.msg));
  t.ok(errors.length > 0, 'each drop is logged at ERROR');
  t.same(errors[0]?.['behind'], ['a', 'b'].filter((n) => (errors[0]?.['behind'] as string[]).includes(n)), 'the log names the lagging destinations');
  t.equal(errors.reduce((n, l) => n + Number(l['records']), 0), st.dropped, 'the logged counts add up');
});

t.test('drop_oldest with everything in one segment still makes room', async (t) => {
  const dir = await tmp();
  const q = await DiskQueue.open(opts(dir, capture().logger, { overflow: 'drop_oldest', segmentBytes: 16 << 20, consumers: ['a'] }));
  t.teardown(() => q.close());
  for (let i = 0; i < 600; i += 20) await q.append(Array.from({ length: 20 }, (_, k) => payload(i + k)));
  t.ok(q.stats().bytes <= 64 * 1024);
  const ids = await drainIds(q, 'a', false);
  t.equal(ids[ids.length - 1], 599);
  t.equal(ids.length + q.stats().dropped, 600);
});

function canMount(): boolean {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  return true;
}

t.test('a full disk (ENOSPC) is DR_ERR_QUEUE_FULL, leaves no garbage, and clears when space frees', { skip: canMount() ? false : 'needs root to mount a tmpfs' }, async (t) => {
  const mnt = await tmp();
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt], { stdio: 'pipe' });
  } catch (err: unknown) {
    t.plan(0, `cannot mount a tmpfs here: ${String(err)}`);
    return;
  }
  t.teardown(() => execFileSync('umount', ['-l', mnt], { stdio: 'pipe' }));
  const dir = join(mnt, 'q');
  const o = opts(dir, capture().logger, { maxBytes: 64 << 20, segmentBytes: 32 * 1024, consumers: ['a'] });
  let q = await DiskQueue.open(o);
  let next = 0;
  let full: unknown = null;
  for (let guard = 0; guard < 5000 && full === null; guard++) {
    await q.append(Array.from({ length: 30 }, () => payload(next++))).catch((err: unknown) => {
      full = err;
      next -= 30;
    });
  }
  t.ok(isRelayError(full) && full.code === 'DR_ERR_QUEUE_FULL' && full.retryable, 'ENOSPC surfaces as retryable DR_ERR_QUEUE_FULL');
  t.match(String((full as Error).message), /No space left .*ENOSPC/);
  t.equal(q.stats().records, next, 'the failed batch left nothing behind');

  // The caller retries after the destination caught up.
  const got = await drainIds(q, 'a', true);
  t.same(got, Array.from({ length: next }, (_, i) => i), 'everything acknowledged before the full disk is intact');
  await q.append(Array.from({ length: 30 }, () => payload(next++)));
  t.pass('append works again once acknowledgements freed segments');
  await q.close();

  q = await DiskQueue.open(o);
  t.teardown(() => q.close());
  const after = await drainIds(q, 'a', false);
  t.same(after, Array.from({ length: 30 }, (_, i) => next - 30 + i), 'after reopen exactly the retried batch waits');
  t.equal(q.stats().corrupt + q.stats().tornBytes, 0, 'no torn or corrupt bytes from the failed writes');
  t.ok((await readdir(join(dir, 'segments'))).every((f) => f.endsWith('.seg')));
});
