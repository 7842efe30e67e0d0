/**
 * QueuedHandoff in process: a real DiskQueue in a tmp dir, fake destinations with a controllable
 * send. Durability before `accept` resolves, fan-out at each destination's own pace, ack only after
 * delivery, resume from the cursor after a restart, bounded close, permanent failures that never
 * lose records, and the queue metrics.
 */
import t from 'tap';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { QueuedHandoff } from '../../src/pipeline/queued.js';
import { Metrics } from '../../src/ops/metrics.js';
import { isRelayError } from '../../src/errors.js';
import { FakeDestination, capture, events, metricValue, openQueue, sleep, tmp, waitFor } from './fakes.js';

const FAST_RETRY = { min_ms: 20, max_ms: 80, factor: 2, jitter: 0 };

function ids(from: number, to: number): string[] {
  const out: string[] = [];
  for (let i = from; i < to; i++) out.push(`ev-${i}`);
  return out;
}

async function acceptAll(h: QueuedHandoff, from: number, to: number, batch = 100): Promise<void> {
  for (let i = from; i < to; i += batch) await h.accept(events(i, Math.min(to, i + batch)));
}

/** Resolves to 'pending' when `p` has not settled within `ms`. */
async function settledWithin<T>(p: Promise<T>, ms: number): Promise<'resolved' | 'rejected' | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([
    p.then(() => 'resolved' as const, () => 'rejected' as const),
    new Promise<'pending'>((res) => (timer = setTimeout(() => res('pending'), ms))),
  ]);
  clearTimeout(timer);
  return r;
}

t.test('accept resolves once the batch is in a segment file; a full queue (block) holds it until a destination acks', async (t) => {
  const dir = await tmp(t);
  const queue = await openQueue(dir, ['a'], { maxBytes: 64 * 1024, segmentBytes: 16 * 1024 });
  const a = new FakeDestination('a', 'hang');
  const h = new QueuedHandoff(queue, [a], new Metrics(), capture().logger, { retry: FAST_RETRY });
  await h.start();
  t.teardown(() => h.close(Date.now() + 500));

  await h.accept(events(0, 10));
  const segs = await readdir(join(dir, 'segments'));
  let onDisk = '';
  for (const s of segs) onDisk += (await readFile(join(dir, 'segments', s))).toString('latin1');
  // Payload version 2 (event-codec.ts): the id is the 7th value of the header array, before the (null) account.
  t.ok(ids(0, 10).every((id) => onDisk.includes(`,${JSON.stringify(id)},null,`)), 'every event of the resolved batch is in a segment file');

  // Fill the queue until an accept stays pending (the destination holds everything).
  let next = 10;
  let blocked: Promise<void> | undefined;
  for (let guard = 0; guard < 1000 && blocked === undefined; guard++) {
    const p = h.accept(events(next, next + 20));
    next += 20;
    if ((await settledWithin(p, 200)) === 'pending') blocked = p;
  }
  t.ok(blocked !== undefined, `an accept blocks once the queue is full (after ${next} events)`);
  t.ok(queue.stats().bytes <= 64 * 1024, 'the cap holds');
  t.equal(await settledWithin(blocked ?? Promise.resolve(), 300), 'pending', 'still blocked while nothing is acknowledged');
  // The destination delivers now: acknowledgements free segments and the accept resolves.
  a.unhang();
  t.equal(await settledWithin(blocked ?? Promise.resolve(), 5000), 'resolved', 'the blocked accept resolves once the destination acknowledges');
  await waitFor(() => a.received.length === next, 'everything to be delivered');
  t.same(a.received, ids(0, next), 'nothing was lost while the queue was full');
});

t.test('a destination whose send never resolves does not stall another', async (t) => {
  const dir = await tmp(t);
  const queue = await openQueue(dir, ['dead', 'live']);
  const dead = new FakeDestination('dead', 'hang');
  const live = new FakeDestination('live');
  const metrics = new Metrics();
  const h = new QueuedHandoff(queue, [dead, live], metrics, capture().logger, { retry: FAST_RETRY });
  await h.start();
  await acceptAll(h, 0, 3000);
  await waitFor(() => live.received.length >= 3000, 'the live destination to receive everything');
  // Its last cursor write runs after the send resolved.
  await waitFor(() => queue.stats().perConsumer['live']?.lagRecords === 0, 'the live destination to acknowledge everything');
  t.same(live.received, ids(0, 3000), 'the live one got every event, in order, once');
  t.equal(dead.received.length, 0, 'the dead one delivered nothing');
  t.equal(dead.calls.length, 1, 'the dead one has exactly one batch in flight');
  const s = queue.stats();
  t.equal(s.perConsumer['dead']?.lagRecords, 3000, 'the dead destination still owes everything');
  t.equal(s.perConsumer['live']?.lagRecords, 0, 'the live destination is caught up');
  t.equal(await metricValue(metrics, 'duo_relay_events_out_total', { destination: 'live' }), 3000);
  t.equal(await metricValue(metrics, 'duo_relay_events_out_total', { destination: 'dead' }), 0);
  const started = Date.now();
  await h.close(Date.now() + 800);
  t.ok(Date.now() - started < 1500, 'close with a hung destination respects its deadline');
  t.ok(dead.closedAt !== undefined || dead.destroyed, 'the hung destination was closed');
});

t.test('ack only after send resolved; a restart resumes each destination from its own cursor with the same ids', async (t) => {
  const dir = await tmp(t);
  let queue = await openQueue(dir, ['a', 'b']);
  const a = new FakeDestination('a');
  const b = new FakeDestination('b');
  const release = a.hold();
  let h = new QueuedHandoff(queue, [a, b], new Metrics(), capture().logger, { retry: FAST_RETRY, batchEvents: 100 });
  await h.start();
  await acceptAll(h, 0, 1000);
  await waitFor(() => b.received.length === 1000, 'b to deliver');
  await waitFor(() => a.inFlight !== undefined, 'a to have a batch in flight');
  await sleep(100);
  t.equal(queue.stats().perConsumer['a']?.lagRecords, 1000, 'a has not acknowledged the batch whose send is unresolved');
  // Slow enough that the test can switch `a` to hanging before it delivered everything.
  a.delayMs = 20;
  release();
  await waitFor(() => a.received.length >= 300, 'a to deliver some');
  a.mode = 'hang';
  await waitFor(() => queue.stats().perConsumer['a']?.lagRecords === 1000 - a.received.length, 'a to acknowledge what it delivered');
  await h.close(Date.now() + 500);
  // Read after close: a batch already past the mode check when `a` was told to hang still delivers.
  const deliveredByA = a.received.length;
  t.ok(deliveredByA < 1000, `a delivered ${deliveredByA} before hanging`);

  // Restart: new queue object on the same dir, new destination objects.
  queue = await openQueue(dir, ['a', 'b']);
  const a2 = new FakeDestination('a');
  const b2 = new FakeDestination('b');
  h = new QueuedHandoff(queue, [a2, b2], new Metrics(), capture().logger, { retry: FAST_RETRY, batchEvents: 100 });
  await h.start();
  await waitFor(() => a2.received.length >= 1000 - deliveredByA, 'a to resume');
  await sleep(100);
  t.same(a2.received, ids(deliveredByA, 1000), 'a resumes exactly after its last acknowledged record (unacked ones replayed, same ids)');
  t.same(b2.received, [], 'b, fully acknowledged, receives nothing again');
  await h.accept(events(1000, 1010));
  await waitFor(() => b2.received.length === 10 && a2.received.length === 1010 - deliveredByA, 'new events to reach both');
  t.same(b2.received, ids(1000, 1010));
  await h.close(Date.now() + 1000);
});

t.test('close(deadline) drains what it can, then closes the destinations; the rest stays queued', async (t) => {
  const dir = await tmp(t);
  const queue = await openQueue(dir, ['slow']);
  const slow = new FakeDestination('slow');
  slow.delayMs = 30;
  const release = slow.hold();
  const h = new QueuedHandoff(queue, [slow], new Metrics(), capture().logger, { batchEvents: 500 });
  await h.start();
  await acceptAll(h, 0, 3000, 500);
  release();
  const started = Date.now();
  let lastSend = 0;
  const origSend = slow.send.bind(slow);
  slow.send = async (batch) => {
    await origSend(batch);
    lastSend = Date.now();
  };
  await h.close(Date.now() + 5000);
  const took = Date.now() - started;
  t.same(slow.received, ids(0, 3000), 'everything queued was delivered during close');
  t.ok(took < 3000, `close returned once drained (${took} ms), long before the deadline`);
  t.ok(slow.closedAt !== undefined && slow.closedAt >= lastSend, 'the destination was closed after its last delivery');

  // A hung destination: close keeps its deadline and the records stay on disk.
  const dir2 = await tmp(t);
  const q2 = await openQueue(dir2, ['hung']);
  const hung = new FakeDestination('hung', 'hang');
  const h2 = new QueuedHandoff(q2, [hung], new Metrics(), capture().logger);
  await h2.start();
  await acceptAll(h2, 0, 700);
  const t0 = Date.now();
  await h2.close(t0 + 1200);
  const took2 = Date.now() - t0;
  t.ok(took2 <= 1400, `close with a hung destination took ${took2} ms for a 1200 ms deadline`);
  t.ok(hung.closedAt !== undefined, 'the hung destination was closed (its send rejected)');
  const q3 = await openQueue(dir2, ['hung']);
  t.equal(q3.stats().perConsumer['hung']?.lagRecords, 700, 'every undelivered record is still queued after the restart');
  await q3.close();
});

t.test('a permanently failing destination keeps its records: rewind and retry, nothing lost', async (t) => {
  const dir = await tmp(t);
  const queue = await openQueue(dir, ['flaky', 'ok']);
  const flaky = new FakeDestination('flaky', 'reject');
  const ok = new FakeDestination('ok');
  const metrics = new Metrics();
  const { logger, lines } = capture();
  const h = new QueuedHandoff(queue, [flaky, ok], metrics, logger, { retry: FAST_RETRY, batchEvents: 200 });
  await h.start();
  t.teardown(() => h.close(Date.now() + 500));
  await acceptAll(h, 0, 1000);
  await waitFor(() => flaky.calls.length >= 4, 'several refused attempts');
  t.equal(await metricValue(metrics, 'duo_relay_destination_up', { destination: 'flaky' }), 0, 'destination_up is 0 while it refuses');
  t.ok((await metricValue(metrics, 'duo_relay_errors_total', { component: 'flaky', code: 'DR_ERR_TLS_PIN' })) >= 4, 'refusals are counted by code');
  t.ok(lines.some((l) => l.level === 50 && l.msg.includes('retried') && l.destination === 'flaky'), 'an ERROR log names the destination');
  t.ok(flaky.calls.every((c) => c[0] === 'ev-0'), 'every retry starts again at the first unacknowledged record');
  t.equal(queue.stats().perConsumer['flaky']?.lagRecords, 1000, 'nothing was acknowledged');
  flaky.mode = 'deliver';
  await waitFor(() => flaky.received.length >= 1000, 'the recovered destination to catch up');
  t.same(flaky.received, ids(0, 1000), 'every record delivered in order after the outage, none lost');
  t.same(ok.received, ids(0, 1000), 'the healthy destination was never held back');
  t.ok((await metricValue(metrics, 'duo_relay_replayed_total', { destination: 'flaky' })) >= 200, 'records sent again are counted as replayed');
  t.equal(await metricValue(metrics, 'duo_relay_replayed_total', { destination: 'ok' }), 0, 'a healthy destination replays nothing');
  t.equal(await metricValue(metrics, 'duo_relay_destination_up', { destination: 'flaky' }), 1);
});

t.test('queue gauges follow the backlog, its age and each destination lag; drop_oldest is counted', async (t) => {
  const dir = await tmp(t);
  const queue = await openQueue(dir, ['a']);
  const a = new FakeDestination('a', 'hang');
  const metrics = new Metrics();
  const h = new QueuedHandoff(queue, [a], metrics, capture().logger, { gaugeIntervalMs: 100 });
  await h.start();
  await acceptAll(h, 0, 1234);
  t.equal(await metricValue(metrics, 'duo_relay_queue_records'), 1234);
  t.equal(await metricValue(metrics, 'duo_relay_destination_lag_records', { destination: 'a' }), 1234);
  t.equal(await metricValue(metrics, 'duo_relay_queue_bytes'), queue.stats().bytes);
  t.ok((await metricValue(metrics, 'duo_relay_queue_bytes')) > 1234 * 100, 'bytes cover the records');
  await sleep(1300);
  t.ok((await metricValue(metrics, 'duo_relay_queue_oldest_age_seconds')) >= 1, 'the oldest age grows while nothing is delivered (timer refresh)');
  a.destroy();
  await h.close(Date.now() + 300);

  // Delivery brings every gauge back to zero.
  const q2 = await openQueue(dir, ['a']);
  const a2 = new FakeDestination('a');
  const m2 = new Metrics();
  const h2 = new QueuedHandoff(q2, [a2], m2, capture().logger, { gaugeIntervalMs: 100 });
  await h2.start();
  await waitFor(() => a2.received.length === 1234, 'the backlog to drain');
  await sleep(250);
  t.equal(await metricValue(m2, 'duo_relay_queue_records'), 0);
  t.equal(await metricValue(m2, 'duo_relay_destination_lag_records', { destination: 'a' }), 0);
  t.equal(await metricValue(m2, 'duo_relay_queue_oldest_age_seconds'), 0);
  await h2.close(Date.now() + 500);

  // drop_oldest: a capped queue with a dead destination drops and counts.
  const dir3 = await tmp(t);
  const q3 = await openQueue(dir3, ['a'], { maxBytes: 64 * 1024, segmentBytes: 16 * 1024, overflow: 'drop_oldest' });
  const m3 = new Metrics();
  const h3 = new QueuedHandoff(q3, [new FakeDestination('a', 'hang')], m3, capture().logger);
  await h3.start();
  await acceptAll(h3, 0, 2000, 50);
  const dropped = q3.stats().dropped;
  t.ok(dropped > 0, `the queue dropped ${dropped} records`);
  t.equal(await metricValue(m3, 'duo_relay_queue_dropped_total'), dropped, 'duo_relay_queue_dropped_total matches');
  t.equal(q3.stats().perConsumer['a']?.lagRecords, 2000 - dropped, 'dropped + kept = appended');
  await h3.close(Date.now() + 300);
});

t.test('unblock(): an accept waiting on a full queue gives up with DR_ERR_CLOSED', async (t) => {
  const dir = await tmp(t);
  const queue = await openQueue(dir, ['a'], { maxBytes: 64 * 1024, segmentBytes: 16 * 1024 });
  const h = new QueuedHandoff(queue, [new FakeDestination('a', 'hang')], new Metrics(), capture().logger);
  await h.start();
  let blocked: Promise<void> | undefined;
  for (let i = 0; i < 2000 && blocked === undefined; i += 50) {
    const p = h.accept(events(i, i + 50));
    if ((await settledWithin(p, 150)) === 'pending') blocked = p;
  }
  t.ok(blocked !== undefined, 'an accept is blocked');
  const caught = blocked?.then(() => undefined, (err: unknown) => err);
  h.unblock();
  const err = await caught;
  t.ok(isRelayError(err) && err.code === 'DR_ERR_CLOSED', 'it rejects with DR_ERR_CLOSED');
  await t.rejects(h.accept(events(5000, 5001)), { code: 'DR_ERR_CLOSED' }, 'later accepts are refused too');
  await h.close(Date.now() + 300);
});

t.test('the cursor stays behind the events a destination still holds for a resend; a crash replays them', async (t) => {
  const dir = await tmp(t);
  let queue = await openQueue(dir, ['syslog']);
  const d = new FakeDestination('syslog');
  d.held = 250;
  const h = new QueuedHandoff(queue, [d], new Metrics(), capture().logger, { batchEvents: 100 });
  await h.start();
  for (let i = 0; i < 1000; i += 100) await h.accept(events(i, i + 100));
  await waitFor(() => d.received.length === 1000, 'delivery');
  await sleep(300);
  t.equal(queue.stats().perConsumer['syslog']?.lagRecords, 300, 'the 3 newest batches (covering 250 held events) stay unacknowledged');
  d.held = 0;
  await waitFor(() => queue.stats().perConsumer['syslog']?.lagRecords === 0, 'the idle pump to acknowledge once the hold clears', 2000);
  t.pass('released without new traffic');

  // The destination dies holding its newest events (say, a lost connection and a SIGKILL before the resend).
  d.held = 150;
  await h.accept(events(1000, 1200));
  await waitFor(() => d.received.length === 1200, 'delivery');
  await sleep(300);
  d.destroy();
  await h.close(Date.now() + 500);
  queue = await openQueue(dir, ['syslog']);
  const again = new FakeDestination('syslog');
  const h2 = new QueuedHandoff(queue, [again], new Metrics(), capture().logger, { batchEvents: 100 });
  await h2.start();
  await waitFor(() => again.received.length >= 200, 'the replay');
  await sleep(200);
  t.same(again.received, ids(1000, 1200), 'both batches still held at the crash come back from disk, same ids');
  await h2.close(Date.now() + 500);
});

t.test('AckTrail releases only batches older than the held events', async (t) => {
  const { AckTrail } = await import('../../src/pipeline/ack-trail.js');
  const trail = new AckTrail();
  t.equal(trail.release(0), undefined, 'nothing sent, nothing to release');
  trail.push(100, 100);
  trail.push(200, 100);
  trail.push(250, 50);
  t.equal(trail.release(150), 100, 'with 150 held, the first batch (100) may go: 150 remain');
  t.equal(trail.size, 2);
  t.equal(trail.release(151), undefined, 'a hold reaching into the second batch keeps it');
  t.equal(trail.release(50), 200, 'a hold of exactly the last batch releases up to the one before');
  t.equal(trail.release(0), 250, 'no hold releases everything');
  t.equal(trail.size, 0);
  for (let i = 1; i <= 1000; i++) trail.push(i, 1);
  t.equal(trail.release(10), 990, 'many small batches');
  trail.clear();
  t.equal(trail.size, 0);
  t.equal(trail.release(0), undefined, 'cleared');
});
