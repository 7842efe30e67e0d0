/** UdpIntake without sockets: batching while the pipeline is busy, the bound, idle(). */
import t from 'tap';
import type { RemoteInfo } from 'node:dgram';
import type { DeadLetter, SourceRecord } from '../../../src/event.js';
import { UdpIntake, UDP_BATCH_RECORDS, UDP_PENDING_MAX_BYTES, UDP_PENDING_MAX_RECORDS } from '../../../src/sources/syslog/udp.js';

const rinfo: RemoteInfo = { address: '192.0.2.7', family: 'IPv4', port: 5140, size: 0 };
const msg = (i: number, pad = 0): Buffer => Buffer.from(`<134>Mar 23 00:01:48 h t: {"n":${i}${pad > 0 ? `,"p":"${'x'.repeat(pad)}"` : ''}}`);

function rig(): { intake: UdpIntake; batches: SourceRecord[][]; dead: DeadLetter[]; release: () => void } {
  const batches: SourceRecord[][] = [];
  const dead: DeadLetter[] = [];
  let open: () => void = () => undefined;
  let gate = new Promise<void>((resolve) => (open = resolve));
  let seq = 0;
  const intake = new UdpIntake({
    maxFrameBytes: 256 * 1024,
    deadLetter: (d) => dead.push(d),
    deliver: async (records) => {
      batches.push(records);
      await gate;
    },
    nextSeq: () => ++seq,
  });
  return {
    intake,
    batches,
    dead,
    release: () => {
      open();
      gate = Promise.resolve();
    },
  };
}

t.test('datagrams that arrive while a batch is in flight leave together, in order', async (t) => {
  const r = rig();
  for (let i = 0; i < 2500; i++) r.intake.onMessage(msg(i), rinfo);
  t.equal(r.batches.length, 1, 'one emit in flight');
  t.equal(r.batches[0]?.length, 1);
  t.equal(r.intake.pending, 2499);
  r.release();
  await r.intake.idle();
  t.same(r.batches.map((b) => b.length), [1, UDP_BATCH_RECORDS, UDP_BATCH_RECORDS, 2499 - 2 * UDP_BATCH_RECORDS]);
  const ns = r.batches.flat().map((x) => (JSON.parse(x.text ?? '{}') as { n: number }).n);
  t.same(ns, Array.from({ length: 2500 }, (_, i) => i));
  t.match(r.batches[0]?.[0], { host: 'h', position: 'syslog:udp://192.0.2.7:5140#1' });
  t.same(r.dead, []);
});

t.test('the waiting list is bounded by records: overflow is dead-lettered, not dropped', async (t) => {
  const r = rig();
  const extra = 25;
  for (let i = 0; i < UDP_PENDING_MAX_RECORDS + 1 + extra; i++) r.intake.onMessage(msg(i), rinfo);
  t.equal(r.intake.pending, UDP_PENDING_MAX_RECORDS);
  t.equal(r.dead.length, extra);
  t.match(r.dead[0]?.reason, /UDP intake full \(10000 records waiting/);
  t.equal(r.dead[0]?.preview, `<134>Mar 23 00:01:48 h t: {"n":${UDP_PENDING_MAX_RECORDS + 1}}`);
  r.release();
  await r.intake.idle();
  t.equal(r.batches.flat().length, UDP_PENDING_MAX_RECORDS + 1);
  r.intake.onMessage(msg(-1), rinfo);
  await r.intake.idle();
  t.equal(r.dead.length, extra, 'room again once drained');
});

t.test('the waiting list is bounded by bytes', async (t) => {
  const r = rig();
  const pad = 60_000;
  const size = msg(0, pad).length;
  const total = Math.ceil(UDP_PENDING_MAX_BYTES / size) + 10;
  for (let i = 0; i < total; i++) r.intake.onMessage(msg(i, pad), rinfo);
  t.ok(r.dead.length >= 10, `dead-lettered past the byte cap (${r.dead.length})`);
  t.ok(r.intake.pending * size <= UDP_PENDING_MAX_BYTES, `waiting bytes within the cap (${r.intake.pending} × ${size})`);
  t.ok((r.intake.pending + 1) * (size + 10) > UDP_PENDING_MAX_BYTES, 'the cap, not the record count, stopped it');
  t.equal(r.intake.pending + 1 + r.dead.length, total, 'every datagram is either queued, in flight or dead-lettered');
  t.ok(r.intake.pending < UDP_PENDING_MAX_RECORDS);
  r.release();
  await r.intake.idle();
});

t.test('empty datagrams are ignored; takePending empties the list', async (t) => {
  const r = rig();
  r.intake.onMessage(Buffer.from('\n\0'), rinfo);
  t.equal(r.batches.length, 0);
  r.intake.onMessage(msg(1), rinfo);
  r.intake.onMessage(msg(2), rinfo);
  const taken = r.intake.takePending();
  t.same(taken.map((x) => x.text), ['{"n":2}']);
  t.equal(r.intake.pending, 0);
  r.release();
  await r.intake.idle();
});
