/**
 * recycleReads: a consumer's read buffers are reused once it reads again. Every payload is right
 * when its read() returns (also when one read spans several chunks and segments), the memory is
 * really reused (an early batch's views show other bytes later: the documented contract), and a
 * queue without the option keeps every payload intact.
 */
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { DiskQueue, type QueueRecord } from '../../src/queue/index.js';

const RECORDS = 6000;
/** ~700 B each: 6000 records are ~4 MB, several 1 MiB read chunks and 2 MiB segments. */
function payload(i: number): Buffer {
  return Buffer.from(`${String(i).padStart(8, '0')}:${'x'.repeat(680 + (i % 17))}`);
}

async function filled(t: { teardown(fn: () => unknown): void }, recycleReads: boolean): Promise<DiskQueue> {
  const dir = await mkdtemp(join(tmpdir(), 'drq-recycle-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const q = await DiskQueue.open({ dir, maxBytes: 64 << 20, segmentBytes: 2 << 20, overflow: 'block', consumers: ['a'], logger: pino({ level: 'silent' }), recycleReads });
  t.teardown(() => q.close());
  for (let i = 0; i < RECORDS; i += 500) await q.append(Array.from({ length: 500 }, (_, k) => payload(i + k)));
  return q;
}

function wrong(records: readonly QueueRecord[]): number[] {
  return records.filter((r) => !r.payload.equals(payload(r.seq - 1))).map((r) => r.seq);
}

t.test('recycleReads: right at read time in batches of 100, and early views are written over later', async (t) => {
  const q = await filled(t, true);
  const first = await q.read('a', 100);
  t.same(wrong(first), [], 'first batch right');
  let seen = first.length;
  let bad = 0;
  while (seen < RECORDS) {
    const batch = await q.read('a', 100);
    if (batch.length === 0) break;
    bad += wrong(batch).length;
    seen += batch.length;
  }
  t.equal(seen, RECORDS, 'every record read');
  t.equal(bad, 0, 'every batch right when its read returned');
  t.ok(wrong(first).length > 0, 'the first batch\'s memory was reused (its views were only valid until the next read)');
});

t.test('recycleReads: one read spanning chunks and segments is right as a whole', async (t) => {
  const q = await filled(t, true);
  await q.read('a', 50);
  const all = await q.read('a', RECORDS);
  t.equal(all.length, RECORDS - 50);
  t.same(wrong(all), [], 'every payload of the big read is right');
});

t.test('without recycleReads every payload stays valid', async (t) => {
  const q = await filled(t, false);
  const batches: QueueRecord[][] = [];
  for (;;) {
    const b = await q.read('a', 100);
    if (b.length === 0) break;
    batches.push(b);
  }
  t.same(batches.flatMap((b) => wrong(b)), [], 'all payloads still right after reading everything');
});
