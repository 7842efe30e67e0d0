/**
 * Pipeline in process (sources → router → QueuedHandoff → fake destinations): emit resolves once
 * the routed batch is in the queue, bad records go to the dead-letter file, and close() stops the
 * sources first — a source stuck on a full queue is refused (DR_ERR_CLOSED) instead of holding the
 * shutdown — then drains and closes the destinations within its timeout.
 */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SourceRecord } from '../../src/event.js';
import type { Emit, Source } from '../../src/sources/source.js';
import { Pipeline } from '../../src/pipeline/index.js';
import { QueuedHandoff } from '../../src/pipeline/queued.js';
import { createRouter } from '../../src/route/router.js';
import { DeadLetterFile } from '../../src/ops/dead-letter.js';
import { Metrics } from '../../src/ops/metrics.js';
import { isRelayError } from '../../src/errors.js';
import { FakeDestination, capture, metricValue, openQueue, sleep, tmp, waitFor } from './fakes.js';

/** A source that emits what the test gives it; close() waits for the batch in flight, like the tailer. */
class FakeSource implements Source {
  emit: Emit | undefined;
  inFlight: Promise<unknown> = Promise.resolve();
  closed = false;
  destroyed = false;
  results: unknown[] = [];
  constructor(readonly name: string) {}
  async start(emit: Emit): Promise<void> {
    this.emit = emit;
  }
  push(records: SourceRecord[]): Promise<void> {
    const emit = this.emit;
    if (emit === undefined) throw new Error('not started');
    const p = emit(records);
    this.inFlight = p.then(
      () => this.results.push('ok'),
      (err: unknown) => this.results.push(err),
    );
    return p;
  }
  async close(): Promise<void> {
    await this.inFlight;
    this.closed = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
}

function proxyRecord(seq: number): SourceRecord {
  return { text: JSON.stringify({ timestamp: '2024-05-14T09:30:00.000Z', status: 'Allow', username: `u${seq}`, seq }), kind: 'authproxy', host: 'proxy01', position: `authevents.log@1:2:${seq * 80}` };
}

t.test('emit routes, queues and resolves; bad records are dead-lettered; close drains and closes', async (t) => {
  const dir = await tmp(t);
  const queue = await openQueue(join(dir, 'queue'), ['siem']);
  const siem = new FakeDestination('siem');
  const metrics = new Metrics();
  const { logger } = capture();
  const deadLetters = new DeadLetterFile(join(dir, 'dead.jsonl'), logger, (source) => metrics.deadLetters.inc({ source }));
  const pipeline = new Pipeline({ router: createRouter({ defaultHost: 'relay01' }), handoff: new QueuedHandoff(queue, [siem], metrics, logger), deadLetters, metrics, logger });
  const src = new FakeSource('authproxy');
  await pipeline.start([src]);
  await src.push([proxyRecord(1), { text: 'not json at all', kind: 'authproxy', position: 'authevents.log@1:2:999' }, proxyRecord(2)]);
  t.equal(queue.stats().records, 2, 'the two good records are in the queue when emit resolves');
  await waitFor(() => siem.received.length === 2, 'delivery');
  t.equal(await metricValue(metrics, 'duo_relay_events_in_total', { source: 'authproxy' }), 3, 'every record read is counted');
  t.equal(await metricValue(metrics, 'duo_relay_dead_letters_total', { source: 'authproxy' }), 1, 'the bad one is counted as a dead letter');
  await pipeline.close(2000);
  const dead = await readFile(join(dir, 'dead.jsonl'), 'utf8');
  t.match(dead, /authevents\.log@1:2:999/, 'the dead letter names its position');
  t.ok(src.closed, 'the source was closed');
  t.ok(siem.closedAt !== undefined, 'the destination was closed');
  await t.rejects(src.push([proxyRecord(3)]), { code: 'DR_ERR_CLOSED' }, 'an emit after close is refused');
});

t.test('close() refuses a batch stuck on a full queue so the source stops at once, without committing', async (t) => {
  const dir = await tmp(t);
  const queue = await openQueue(join(dir, 'queue'), ['dead'], { maxBytes: 64 * 1024, segmentBytes: 16 * 1024 });
  const dead = new FakeDestination('dead', 'hang');
  const metrics = new Metrics();
  const { logger } = capture();
  const pipeline = new Pipeline({
    router: createRouter({ defaultHost: 'relay01' }),
    handoff: new QueuedHandoff(queue, [dead], metrics, logger),
    deadLetters: new DeadLetterFile(join(dir, 'dead.jsonl'), logger),
    metrics,
    logger,
  });
  const src = new FakeSource('authproxy');
  await pipeline.start([src]);
  let blocked = false;
  for (let seq = 0; seq < 5000 && !blocked; seq += 50) {
    const batch: SourceRecord[] = [];
    for (let i = seq; i < seq + 50; i++) batch.push(proxyRecord(i));
    const p = src.push(batch).then(() => 'done', () => 'failed');
    blocked = (await Promise.race([p, sleep(200).then(() => 'pending')])) === 'pending';
  }
  t.ok(blocked, 'a batch waits for room in the full queue');
  const started = Date.now();
  await pipeline.close(10_000);
  const took = Date.now() - started;
  t.ok(took < 4000, `close did not wait for room that never comes, nor for the dead destination until the deadline (${took} ms of a 10 s timeout)`);
  const last = src.results[src.results.length - 1];
  t.ok(isRelayError(last) && last.code === 'DR_ERR_CLOSED', 'the stuck emit was refused with DR_ERR_CLOSED (the source must not commit it)');
  t.ok(src.closed && !src.destroyed, 'the source closed normally');
  t.ok(dead.closedAt !== undefined || dead.destroyed, 'the hung destination was closed');
});
