/**
 * The route thread (pipeline/route-thread.ts, route-worker.ts): records packed for the trip come
 * back unchanged (property test), a batch routed there gives byte for byte the payloads and dead
 * letters the main thread gives, batches come back in order, a thread that dies refuses its
 * batches with DR_ERR_ROUTE_THREAD and the next batch gets a new thread, and close/destroy end
 * it. Then the whole pipeline with the thread: the disk queue holds what it holds without it.
 */
import t from 'tap';
import fc from 'fast-check';
import { deepStrictEqual } from 'node:assert';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DeadLetter, JsonObject, SourceRecord } from '../../src/event.js';
import { LOG_KINDS } from '../../src/event.js';
import { packRecords, RecordPacker, RecordUnpacker } from '../../src/pipeline/route-protocol.js';
import { RouteThread, type EncodedBatch } from '../../src/pipeline/route-thread.js';
import { PayloadBatch } from '../../src/pipeline/event-codec.js';
import { createRouter } from '../../src/route/router.js';
import { contentHash } from '../../src/route/event-id.js';
import { QueuedHandoff } from '../../src/pipeline/queued.js';
import { Metrics } from '../../src/ops/metrics.js';
import { FakeDestination, capture, openQueue, sleep, tmp, type Teardown } from './fakes.js';
import { ROUTER, emitAll, mixedRecords } from './thread-rig.js';


/** What the main thread makes of the records: the payload bytes and the dead letters. */
function onMainThread(records: SourceRecord[]): { payloads: string[]; dead: DeadLetter[] } {
  const router = createRouter(ROUTER);
  const batch = new PayloadBatch();
  const dead: DeadLetter[] = [];
  for (const r of records) {
    const res = router.route(r);
    if (res.ok) batch.push(res.event);
    else dead.push(res.dead);
  }
  return { payloads: batch.payloads().map((p) => p.toString('utf8')), dead };
}

function texts(b: EncodedBatch): string[] {
  return b.payloads.map((p) => p.toString('utf8'));
}

function thread(t: Teardown, over: Partial<ConstructorParameters<typeof RouteThread>[0]> = {}): { rt: RouteThread; logs: ReturnType<typeof capture> } {
  const logs = capture();
  const rt = new RouteThread({ router: ROUTER, logger: logs.logger, ...over });
  t.teardown(() => rt.destroy());
  return { rt, logs };
}

t.test('packed records come back exactly as they were (property)', async (t) => {
  // 'binary' units include lone surrogates, which UTF-8 cannot carry: such records travel whole.
  const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), fc.constant(''));
  const record = fc.record(
    {
      text,
      record: fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer(), fc.boolean()), { noNullPrototype: true }),
      kind: fc.constantFrom(...LOG_KINDS),
      host: fc.string(),
      account: fc.string(),
      position: fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.nat().map((n) => `/var/log/authevents.log@1:2:${n}`)),
    },
    // Ordinary objects, as sources build them.
    { requiredKeys: ['position'], noNullPrototype: true },
  );
  fc.assert(
    fc.property(fc.array(record, { maxLength: 40 }), fc.boolean(), (recs, sameShape) => {
      // Half the runs share kind/host/account the way a tailer's batch does.
      const input: SourceRecord[] = sameShape ? recs.map((r, i) => ({ text: r.text ?? '', kind: 'authproxy', host: 'h', position: `f@1:2:${i * 7}` })) : (recs as SourceRecord[]);
      // Through structured clone, as postMessage sends it.
      const packed = structuredClone(packRecords(input));
      const u = new RecordUnpacker(packed);
      const back: SourceRecord[] = [];
      for (let i = 0; i < u.count; i++) back.push(u.next());
      deepStrictEqual(back, input);
    }),
    { numRuns: 300 },
  );
  t.pass('300 random batches came back unchanged');
});

t.test('a packer reuses the buffer it is given back, and grows one that is too small', async (t) => {
  const packer = new RecordPacker();
  const small = [{ text: 'a', position: 'p' }];
  const first = packer.pack(small);
  packer.recycle(first.buf);
  t.equal(packer.pack(small).buf, first.buf, 'the buffer given back holds the next batch');
  // The estimate comes from one-byte records: a batch of long multi-byte ones outgrows it.
  const big = Array.from({ length: 40 }, (_, i) => ({ text: '✓'.repeat(3000 + i), position: `p${i}` }));
  const packed = packer.pack(big);
  t.ok(packed.buf.byteLength > 40 * 9000, 'the buffer grew to hold the batch');
  const u = new RecordUnpacker(structuredClone(packed));
  const back: SourceRecord[] = [];
  for (let i = 0; i < u.count; i++) back.push(u.next());
  t.same(back, big, 'and every record came back whole');
});

t.test('a line batch: lines as bytes come back as the records the tailer would make, each with its content hash; it grows, and refuses a line past its size', async (t) => {
  const packer = new RecordPacker();
  const prefix = '/log/authevents.log@2049:1311:';
  const lines = ['{"a":1}', 'ünï 🔐', 'x'.repeat(20_000), '{"b":2}', 'bad \xff utf-8'];
  const b = packer.lineBatch(lines.length, prefix, 'authproxy', 'proxy1', true);
  let off = 0;
  for (const l of lines) {
    // Each line given as a slice of a larger buffer, as the tailer's chunk buffer does.
    const bytes = l.startsWith('bad ') ? Buffer.concat([Buffer.from('##bad '), Buffer.from([0xff]), Buffer.from(' utf-8\r\n')]) : Buffer.from(`##${l}\r\n`);
    b.pushBytes(bytes, 2, bytes.length - 2, off);
    off += bytes.length;
  }
  t.equal(b.length, lines.length);
  t.throws(() => b.pushBytes(Buffer.from('more'), 0, 4, off), RangeError, 'no line past the size it was opened with');
  const packed = b.packed();
  t.ok(packed.buf.byteLength > 20_000, 'the buffer grew for the long line');
  const u = new RecordUnpacker(structuredClone(packed));
  const back: SourceRecord[] = [];
  for (let i = 0; i < u.count; i++) back.push(u.next());
  let at = 0;
  t.strictSame(
    back,
    lines.map((l) => {
      const valid = !l.startsWith('bad ');
      const text = valid ? l : 'bad \ufffd utf-8';
      // Invalid UTF-8 decodes to U+FFFD: only the text's own hash is its id, so none is sent.
      const r = { position: `${prefix}${at}`, kind: 'authproxy', host: 'proxy1', text, ...(valid ? { contentHash: contentHash(l) } : {}) };
      at += (valid ? Buffer.byteLength(l) : 11) + 4;
      return r;
    }),
  );
  packer.recycle(packed.buf);
  t.equal(packer.lineBatch(2, prefix, 'authproxy', undefined).packed().buf, packed.buf, 'the buffer given back holds the next batch');
  const plain = packer.lineBatch(1, prefix, 'authproxy', 'proxy1');
  plain.pushBytes(Buffer.from('{"a":1}'), 0, 7, 0);
  const pu = new RecordUnpacker(plain.packed());
  t.strictSame(pu.next(), { position: `${prefix}0`, kind: 'authproxy', host: 'proxy1', text: '{"a":1}' }, 'a batch opened without hashing carries no hash');
});

t.test('a batch routed on the thread gives the main thread\'s payloads and dead letters, byte for byte', async (t) => {
  const { rt } = thread(t);
  await rt.start();
  const records = mixedRecords();
  const want = onMainThread(records);
  t.ok(want.payloads.length > 20 && want.dead.length >= 2, `the fixture has routed events (${want.payloads.length}) and refused records (${want.dead.length})`);
  const got = await rt.encode(records);
  t.same(texts(got), want.payloads, 'same payload bytes in the same order');
  t.same(got.dead, want.dead, 'same dead letters');
  const empty = await rt.encode([]);
  t.same([empty.payloads.length, empty.dead.length], [0, 0], 'an empty batch is fine');
});

t.test('batches come back in the order given; a buffer given back is reused without mixing batches', async (t) => {
  const { rt } = thread(t);
  await rt.start();
  const all = mixedRecords();
  const batches = [all.slice(0, 5), all.slice(5, 12), all.slice(12), all.slice(0, 3), all];
  const order: number[] = [];
  const results = await Promise.all(
    batches.map((b, i) =>
      rt.encode(b).then((r) => {
        order.push(i);
        return r;
      }),
    ),
  );
  t.same(order, [0, 1, 2, 3, 4], 'resolved in the order given');
  t.equal(rt.inFlight, 0, 'nothing left in the thread');
  results.forEach((r, i) => t.same(texts(r), onMainThread(batches[i] as SourceRecord[]).payloads, `batch ${i} is its own`));
  for (const r of results) r.release();
  t.equal(results[0]?.payloads[0]?.length ?? -1, 0, 'a released buffer is handed over (the views are empty now)');
  // The next batches are written into buffers given back: each must still hold only its own payloads.
  for (let round = 0; round < 6; round++) {
    const b = round % 2 === 0 ? all : all.slice(0, 4);
    const r = await rt.encode(b);
    t.same(texts(r), onMainThread(b).payloads, `round ${round} after reuse`);
    r.release();
  }
});

t.test('a thread that dies refuses its batches (DR_ERR_ROUTE_THREAD), and a new one takes the next batch', async (t) => {
  const poison = '{"poison":true}';
  const { rt, logs } = thread(t, { failOn: poison });
  await rt.start();
  const good = mixedRecords().slice(0, 4);
  const before = rt.encode(good);
  const dies = rt.encode([...good, { text: poison, position: 'p@1:1:1' }]);
  const behind = rt.encode(good);
  t.same(texts(await before), onMainThread(good).payloads, 'the batch before the fault is delivered');
  await t.rejects(dies, { code: 'DR_ERR_ROUTE_THREAD' }, 'the batch in the dead thread is refused');
  await t.rejects(behind, { code: 'DR_ERR_ROUTE_THREAD' }, 'so is the one queued behind it');
  t.ok(logs.lines.some((l) => l.level === 50 && l['code'] === 'DR_ERR_ROUTE_THREAD' && /read again/.test(String(l.msg))), 'one error log says the batches are read again');
  await t.rejects(rt.encode(good), { code: 'DR_ERR_ROUTE_THREAD', message: /started again/ }, 'right after the death: refused, no restart loop');
  await sleep(1100);
  const again = await rt.encode(good);
  t.same(texts(again), onMainThread(good).payloads, 'a second later a new thread routes the batch');
});

t.test('close waits for the batch in the thread; destroy refuses it; both stop the thread', async (t) => {
  const { rt } = thread(t);
  await rt.start();
  const records = mixedRecords();
  const pending = rt.encode(records);
  await rt.close(5000);
  t.same(texts(await pending), onMainThread(records).payloads, 'close let the batch finish');
  await t.rejects(rt.encode(records), { code: 'DR_ERR_CLOSED' }, 'nothing is taken after close');

  const second = thread(t).rt;
  await second.start();
  const refused = second.encode(records);
  second.destroy();
  await t.rejects(refused, { code: 'DR_ERR_CLOSED' }, 'destroy refuses the batch in the thread');
  await second.close();
  t.pass('close after destroy is harmless');
});

t.test('a thread that cannot load fails start with DR_ERR_ROUTE_THREAD naming the way out', async (t) => {
  const { rt } = thread(t, { workerUrl: new URL('./no-such-worker.js', import.meta.url) });
  await t.rejects(rt.start(), { code: 'DR_ERR_ROUTE_THREAD', message: /route_thread: false/ });
});

/** A source that emits what the test gives it. */
async function queueThrough(t: Teardown, withThread: boolean, batches: SourceRecord[][]): Promise<{ payloads: string[]; dead: string }> {
  const dir = await tmp(t);
  const queue = await openQueue(join(dir, 'queue'), ['siem']);
  // A destination that never takes anything: what the queue holds is what the test reads.
  const siem = new FakeDestination('siem', 'hang');
  const metrics = new Metrics();
  const { logger } = capture();
  const routeThread = withThread ? new RouteThread({ router: ROUTER, logger }) : undefined;
  const pipeline = await emitAll({ dir, handoff: new QueuedHandoff(queue, [siem], metrics, logger), routeThread, metrics, logger, batches });
  const stored = await queue.read('siem', 100_000);
  const payloads = stored.map((r) => r.payload.toString('utf8'));
  await pipeline.close(2000);
  const dead = (await readFile(join(dir, 'dead.jsonl'), 'utf8')).replace(/"time":"[^"]*",?/g, '');
  return { payloads, dead };
}

t.test('the pipeline with the route thread queues exactly what it queues without one, in emit order', async (t) => {
  const all = mixedRecords();
  const batches = [all.slice(0, 7), all.slice(7, 20), all.slice(20), all.slice(3, 9)];
  const plain = await queueThrough(t, false, batches);
  const threaded = await queueThrough(t, true, batches);
  t.ok(plain.payloads.length > 30, `records were queued (${plain.payloads.length})`);
  t.same(threaded.payloads, plain.payloads, 'same payloads in the same order');
  t.equal(threaded.dead, plain.dead, 'same dead letters');
});

t.test('the route thread refuses a batch it cannot clone, naming the cause', async (t) => {
  const { rt } = thread(t);
  await rt.start();
  const bad = { text: 'x', position: 'p', record: { f: () => 1 } as unknown as JsonObject };
  await t.rejects(rt.encode([bad]), { code: 'DR_ERR_INTERNAL', message: /passed to the route thread.*could not be cloned/ });
  t.same(texts(await rt.encode(mixedRecords().slice(0, 2))), onMainThread(mixedRecords().slice(0, 2)).payloads, 'the thread still works');
});
