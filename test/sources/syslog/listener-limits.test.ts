/** Backpressure, max_connections, idle timeout and oversized frames on real loopback sockets. */
import t from 'tap';
import type { Socket } from 'node:net';
import { EVENTS, Recorder, captureLogger, config, connect, closed, octet, sleep, startSource, waitUntil } from '../../fixtures/syslog/harness.js';

const frame = (i: number): Buffer => octet(`<134>1 2024-05-14T09:30:00Z h${i % 10} auth.duo.telephony.events - - - ${EVENTS.telephony.replace('"credits": 1', `"credits": ${i}`)}`);

/** Writes until the kernel buffers are full and 'drain' stays away for `quietMs`; bounded by `maxBytes`. */
async function fillUntilStalled(sock: Socket, next: () => Buffer, quietMs: number, maxBytes: number): Promise<{ bytes: number; frames: number; stalled: boolean }> {
  let bytes = 0;
  let frames = 0;
  while (bytes < maxBytes) {
    const parts: Buffer[] = [];
    for (let i = 0; i < 64; i++, frames++) parts.push(next());
    const chunk = Buffer.concat(parts);
    bytes += chunk.length;
    if (!sock.write(chunk)) {
      const drained = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          sock.off('drain', onDrain);
          resolve(false);
        }, quietMs);
        const onDrain = (): void => {
          clearTimeout(timer);
          resolve(true);
        };
        sock.once('drain', onDrain);
      });
      if (!drained) return { bytes, frames, stalled: true };
    }
  }
  return { bytes, frames, stalled: false };
}

t.test('backpressure: a blocked pipeline pauses the sender; release delivers everything', async (t) => {
  const { source, rec } = await startSource(t, config({ transport: 'tcp' }));
  const release = rec.hold();
  const sock = await connect(source.port);
  t.teardown(() => sock.destroy());
  let n = 0;
  const sent = await fillUntilStalled(sock, () => frame(n++), 500, 256 * 1024 * 1024);
  t.ok(sent.stalled, `the sender's writes stopped draining after ${sent.bytes} bytes`);
  t.equal(rec.calls, 1, 'only the first batch reached the pipeline while it was blocked');
  t.equal(rec.records.length, 0);
  release();
  // Wait for 'drain': the socket was resumed and the backlog is read.
  await waitUntil(() => sock.writableLength === 0, 'the sender buffer to drain', 20_000);
  await rec.waitRecords(sent.frames, 20_000);
  t.equal(rec.records.length, sent.frames, 'every frame arrived once');
  const credits = rec.records.map((r) => (JSON.parse(r.text ?? '{}') as { credits: number }).credits);
  t.same(credits.slice(0, 3), [0, 1, 2]);
  t.equal(credits[credits.length - 1], sent.frames - 1, 'in order to the last');
  t.same(rec.dead, []);
});

t.test('max_connections: the connection over the limit is closed; a slot frees when one leaves', async (t) => {
  const log = captureLogger();
  const { source, rec } = await startSource(t, config({ transport: 'tcp' }, { max_connections: 2 }), new Recorder(), log.logger);
  const a = await connect(source.port);
  const b = await connect(source.port);
  t.teardown(() => {
    a.destroy();
    b.destroy();
  });
  a.write(frame(1));
  b.write(frame(2));
  await rec.waitRecords(2);

  const c = await connect(source.port);
  c.on('error', () => undefined);
  c.write(frame(3));
  await closed(c, 3000);
  await sleep(100);
  t.equal(rec.records.length, 2, 'the third connection delivered nothing');
  t.match(log.lines.find((l) => l.level === 40), { msg: 'Sender connections refused: max_connections reached.', max_connections: 2, refused: 1 });

  a.destroy();
  // The server sees a's close asynchronously: retry a fresh connection until one is served (bounded).
  const deadline = Date.now() + 5000;
  let served = false;
  while (!served && Date.now() < deadline) {
    const d = await connect(source.port);
    d.on('error', () => undefined);
    d.write(frame(4));
    try {
      await waitUntil(() => rec.records.length === 3, 'the fourth record', 300);
      served = true;
    } catch {
      // Still full: try again.
    }
    d.destroy();
  }
  t.ok(served, 'a new connection is served once a slot is free');
});

t.test('idle timeout closes a quiet connection', async (t) => {
  const { source, rec } = await startSource(t, config({ transport: 'tcp' }, { idle_timeout_ms: 200 }));
  const sock = await connect(source.port);
  sock.write(frame(1));
  await rec.waitRecords(1);
  const start = Date.now();
  await closed(sock, 3000);
  const took = Date.now() - start;
  t.ok(took >= 100, `not before the timeout (${took} ms)`);
});

t.test('idle timeout does not fire while the connection is paused for the pipeline', async (t) => {
  const { source, rec } = await startSource(t, config({ transport: 'tcp' }, { idle_timeout_ms: 150 }));
  const release = rec.hold();
  const sock = await connect(source.port);
  let isClosed = false;
  sock.on('close', () => (isClosed = true));
  sock.write(frame(1));
  await waitUntil(() => rec.calls === 1, 'the blocked emit');
  await sleep(600);
  t.notOk(isClosed, 'still open after 4× the idle timeout while the pipeline is busy');
  release();
  await rec.waitRecords(1);
  await closed(sock, 3000);
  t.pass('closed once idle after the batch was handed off');
});

t.test('an oversized frame is dead-lettered and the following frames flow (octet-counted and LF)', async (t) => {
  const { source, rec } = await startSource(t, config({ transport: 'tcp' }, { max_frame_bytes: 1024 }));
  const sock = await connect(source.port);
  t.teardown(() => sock.destroy());
  const big = `<134>1 2024-05-14T09:30:00Z h t - - - {"pad":"${'x'.repeat(5000)}"}`;
  sock.write(Buffer.concat([octet(big), frame(1)]));
  sock.write(Buffer.from(`${big}\n`));
  sock.write(Buffer.from(`<134>Mar 23 00:01:48 h auth.duo.telephony.events: ${EVENTS.telephony}\n`));
  await rec.waitRecords(2);
  await rec.waitDead(2);
  t.match(rec.dead[0]?.reason, /Frame of \d+ bytes exceeds max_frame_bytes 1024/);
  t.match(rec.dead[1]?.reason, /LF-framed message longer than max_frame_bytes 1024/);
  t.ok(rec.dead.every((d) => d.preview.length <= 200 && /^syslog:tcp:/.test(d.position)), 'previews are short and positioned');
  t.equal(rec.records[1]?.text, EVENTS.telephony);
  t.equal(rec.records.length, 2);
});
