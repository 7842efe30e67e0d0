/** Fault injection: refused connections, resets, chatty and stalled peers, receiver restarts, failover, close/destroy. */
import t from 'tap';
import { createServer, type Server, type Socket } from 'node:net';
import { createSyslogDestination } from '../../src/destinations/syslog.js';
import { startRsyslog, type RsyslogReceiver } from '../helpers/rsyslog.js';
import { captureLogger, deframeOctets, destConfig, event, format, ids, stateAfter } from '../helpers/syslog-dest.js';

const rx: RsyslogReceiver = await startRsyslog();
t.teardown(() => rx.stop());

interface Fault {
  port: number;
  /** Bytes of each accepted connection, by index. */
  conns: Buffer[][];
  close(): Promise<void>;
}

/** A node TCP server; `onConn(index, socket)` decides how each connection misbehaves (default: read quietly). */
async function faultServer(onConn: (i: number, s: Socket, chunks: Buffer[]) => void = () => undefined, port = 0): Promise<Fault> {
  const conns: Buffer[][] = [];
  const sockets = new Set<Socket>();
  const srv: Server = createServer((s) => {
    const chunks: Buffer[] = [];
    conns.push(chunks);
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    onConn(conns.length - 1, s, chunks);
  });
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', resolve);
  });
  const addr = srv.address();
  if (typeof addr !== 'object' || addr === null) throw new Error('no address');
  return {
    port: addr.port,
    conns,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => srv.close(() => resolve()));
    },
  };
}

function collect(s: Socket, chunks: Buffer[]): void {
  s.on('data', (d: Buffer) => chunks.push(d));
}

/** Polls `cond` every 20 ms until true or `ms` passed. */
async function until(cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

async function closedPort(): Promise<number> {
  const f = await faultServer();
  await f.close();
  return f.port;
}

t.test('connection refused: paced by backoff (no busy loop), one log line, recovery when the SIEM comes up', { timeout: 20_000 }, async (t) => {
  const port = await closedPort();
  const { logger, lines } = captureLogger();
  const errors: string[] = [];
  const dest = createSyslogDestination(destConfig({ transport: 'tcp', port, backoff: { min_ms: 100, max_ms: 400, factor: 2, jitter: 0 } }), {
    logger, format, onEvent: (name, _n, code) => { if (name === 'error') errors.push(code ?? ''); },
  });
  t.teardown(() => dest.destroy());
  await dest.start();
  const p = dest.send([event(1), event(2)]);
  t.equal(await stateAfter(p, 1500), 'pending');
  // Delays 100, 200, 400, 400…: about 5 attempts in 1.5 s. A busy loop would make thousands.
  t.ok(errors.length >= 3 && errors.length <= 10, `${errors.length} attempts in 1.5 s`);
  t.ok(errors.every((c) => c === 'DR_ERR_CONNECT'), 'coded DR_ERR_CONNECT');
  const warn = lines.filter((l) => l.msg.startsWith('Cannot deliver'));
  t.equal(warn.length, 1, 'logged once per outage');
  t.match(warn[0], { level: 40, code: 'DR_ERR_CONNECT', err: /ECONNREFUSED.*check host:, port:/ });
  const srv = await faultServer((_i, s, chunks) => collect(s, chunks), port);
  t.teardown(() => srv.close());
  await p;
  await until(() => ids(deframeOctets(Buffer.concat(srv.conns.flat())).msgs).length >= 2, 5000);
  t.same(ids(deframeOctets(Buffer.concat(srv.conns.flat())).msgs), ['ev-1', 'ev-2']);
  t.ok(lines.some((l) => l.msg === 'Delivery to the syslog destination recovered.' && l.level === 30), 'recovery logged');
});

t.test('a peer that resets after N bytes on a fresh connection: the whole batch is resent', { timeout: 20_000 }, async (t) => {
  const srv = await faultServer((i, s, chunks) => {
    let got = 0;
    s.on('data', (d: Buffer) => {
      if (i > 0) {
        chunks.push(d);
        return;
      }
      got += d.length;
      if (got >= 1000) s.resetAndDestroy();
    });
  });
  t.teardown(() => srv.close());
  const { logger } = captureLogger();
  const codes: string[] = [];
  const dest = createSyslogDestination(destConfig({ transport: 'tcp', port: srv.port }), { logger, format, onEvent: (n, _c, code) => { if (n === 'error') codes.push(code ?? ''); } });
  t.teardown(() => dest.destroy());
  const batch = Array.from({ length: 50 }, (_, k) => event(k));
  await dest.send(batch);
  await until(() => ids(deframeOctets(Buffer.concat(srv.conns[1] ?? [])).msgs).length >= batch.length, 5000);
  t.equal(srv.conns.length, 2, 'reconnected once');
  t.same(codes, ['DR_ERR_PEER_CLOSED']);
  t.same(ids(deframeOctets(Buffer.concat(srv.conns[1] ?? [])).msgs), batch.map((e) => e.id), 'the second connection carried the whole batch, in order');
});

t.test('a reset on an established connection mid-write: the unacked batch is resent, earlier ones are not', { timeout: 30_000 }, async (t) => {
  const srv = await faultServer((i, s, chunks) => {
    let got = 0;
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (i === 0 && got > 10_000) {
        // Stop reading so the client cannot finish its write, then reset.
        s.pause();
        setTimeout(() => s.resetAndDestroy(), 200);
      }
    });
  });
  t.teardown(() => srv.close());
  const { logger } = captureLogger();
  const dest = createSyslogDestination(destConfig({ transport: 'tcp', port: srv.port, settle_ms: 50 }), { logger, format });
  t.teardown(() => dest.destroy());
  await dest.send([event(0)]);
  await new Promise((r) => setTimeout(r, 100));
  const body = 'x'.repeat(64 * 1024);
  const big = Array.from({ length: 128 }, (_, k) => event(k + 1, { fields: { body } }));
  await dest.send(big);
  await until(() => ids(deframeOctets(Buffer.concat(srv.conns[1] ?? [])).msgs).length >= big.length, 5000);
  t.equal(srv.conns.length, 2);
  const first = ids(deframeOctets(Buffer.concat(srv.conns[0] ?? [])).msgs);
  t.equal(first[0], 'ev-0', 'the acked batch went over the first connection');
  const second = ids(deframeOctets(Buffer.concat(srv.conns[1] ?? [])).msgs);
  t.same(second, big.map((e) => e.id), 'the whole 8 MiB batch was resent on the second connection');
  t.notOk(second.includes('ev-0'), 'the acknowledged batch was not resent');
});

t.test('a peer that dies right after an acknowledged batch: the batch is resent from the replay window, even when idle', { timeout: 20_000 }, async (t) => {
  const srv = await faultServer((i, s, chunks) => {
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      // Connection 0 "loses" what it read: it resets 30 ms after the batch carrying ev-5 arrived.
      if (i === 0 && d.includes('id="ev-5"')) setTimeout(() => s.resetAndDestroy(), 30);
    });
  });
  t.teardown(() => srv.close());
  const { logger, lines } = captureLogger();
  const sent: number[] = [];
  const dest = createSyslogDestination(destConfig({ transport: 'tcp', port: srv.port, settle_ms: 200 }), { logger, format, onEvent: (n, c) => { if (n === 'sent') sent.push(c); } });
  t.teardown(() => dest.destroy());
  await dest.send([event(1)]);
  await new Promise((r) => setTimeout(r, 300)); // ev-1 leaves the window
  await dest.send([event(5)]);
  // No further send: the resend must happen on its own.
  const resent = (): boolean => lines.some((l) => l.msg === 'Resent events acknowledged just before the connection failed.' && l['events'] === 1);
  await until(resent, 5000);
  t.ok(resent(), 'the resend is logged');
  t.same(ids(deframeOctets(Buffer.concat(srv.conns[1] ?? [])).msgs), ['ev-5'], 'ev-5 resent on the new connection; ev-1 (outside the window) not');
  t.same(sent, [1, 1], 'a resend is not counted as sent again');
  await dest.send([event(6)]);
  const second = (): string[] => ids(deframeOctets(Buffer.concat(srv.conns[1] ?? [])).msgs);
  await until(() => second().length >= 2, 5000);
  t.same(second(), ['ev-5', 'ev-6'], 'order kept afterwards');
});

t.test('a receiver that talks back is treated as broken', { timeout: 20_000 }, async (t) => {
  const srv = await faultServer((i, s, chunks) => {
    if (i === 0) s.write('500 go away\n');
    else collect(s, chunks);
  });
  t.teardown(() => srv.close());
  const { logger, lines } = captureLogger();
  const dest = createSyslogDestination(destConfig({ transport: 'tcp', port: srv.port }), { logger, format });
  t.teardown(() => dest.destroy());
  await dest.send([event(7)]);
  await until(() => Buffer.concat(srv.conns[1] ?? []).includes('ev-7'), 5000);
  t.equal(srv.conns.length, 2);
  t.same(ids(deframeOctets(Buffer.concat(srv.conns[1] ?? [])).msgs), ['ev-7']);
  t.ok(lines.some((l) => /unexpected bytes/.test(String(l['err']))), 'the reason is logged');
});

t.test('a receiver that stops reading: DR_ERR_WRITE_TIMEOUT, then a new connection', { timeout: 20_000 }, async (t) => {
  const srv = await faultServer((_i, s) => s.pause());
  t.teardown(() => srv.close());
  const { logger } = captureLogger();
  const codes: string[] = [];
  const dest = createSyslogDestination(destConfig({ transport: 'tcp', port: srv.port, write_timeout_ms: 400 }), { logger, format, onEvent: (n, _c, code) => { if (n === 'error') codes.push(code ?? ''); } });
  t.teardown(() => dest.destroy());
  const body = 'y'.repeat(64 * 1024);
  const p = dest.send(Array.from({ length: 256 }, (_, k) => event(k, { fields: { body } })));
  t.equal(await stateAfter(p, 1500), 'pending');
  t.ok(codes.length >= 1 && codes.every((c) => c === 'DR_ERR_WRITE_TIMEOUT'), `write timeouts: ${codes.join(',')}`);
  t.ok(srv.conns.length >= 2, 'reconnected after the timeout');
  dest.destroy();
  await t.rejects(p, { code: 'DR_ERR_CLOSED' });
});

t.test('failover: the next host takes over when the first refuses', { timeout: 20_000 }, async (t) => {
  const port = await closedPort();
  const { logger, lines } = captureLogger();
  const dest = createSyslogDestination(destConfig({ transport: 'tcp', port, failover: [{ host: '127.0.0.1', port: rx.tcpPort }] }), { logger, format });
  t.teardown(() => dest.destroy());
  const before = rx.messages().length;
  await dest.send([event(300)]);
  const got = await rx.waitFor(before + 1);
  t.equal(got.at(-1)?.sd, '[duo@32473 id="ev-300"]');
  t.ok(lines.some((l) => l.msg === 'Switching to the next syslog host.' && l['to'] === `127.0.0.1:${rx.tcpPort}`), 'the switch is logged');
  await dest.close();
});

t.test('rsyslog restarted mid-stream: every batch acked, every message present (duplicates allowed)', { timeout: 45_000 }, async (t) => {
  const { logger } = captureLogger();
  const before = rx.messages().length;
  const dest = createSyslogDestination(destConfig({ transport: 'tcp', port: rx.tcpPort }), { logger, format });
  t.teardown(() => dest.destroy());
  const all: string[] = [];
  let restart: Promise<void> | undefined;
  for (let b = 0; b < 40; b++) {
    const batch = Array.from({ length: 25 }, (_, k) => event(1000 + b * 25 + k));
    for (const e of batch) all.push(e.id);
    await dest.send(batch);
    if (b === 10) restart = rx.restart();
    if (b > 10 && b < 20) await new Promise((r) => setTimeout(r, 30));
  }
  await restart;
  await dest.close();
  const want = new Set(all);
  const deadline = Date.now() + 15_000;
  let seen: string[] = [];
  while (Date.now() < deadline) {
    seen = ids(rx.messages().slice(before).map((m) => m.raw));
    if (all.every((id) => seen.includes(id))) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const missing = all.filter((id) => !seen.includes(id));
  t.same(missing, [], 'no message lost');
  t.comment(`received ${seen.length} for ${want.size} events: ${seen.length - want.size} duplicates`);
});

t.test('close waits for the in-flight batch; destroy during an outage rejects at once', { timeout: 20_000 }, async (t) => {
  const { logger } = captureLogger();
  const dest = createSyslogDestination(destConfig({ transport: 'tcp', port: rx.tcpPort, settle_ms: 300 }), { logger, format });
  const before = rx.messages().length;
  const p = dest.send([event(400), event(401)]);
  const closing = dest.close();
  await p;
  await closing;
  t.pass('the in-flight send resolved before close did');
  await rx.waitFor(before + 2);
  await t.rejects(dest.send([event(402)]), { code: 'DR_ERR_CLOSED' });

  const port = await closedPort();
  const down = createSyslogDestination(destConfig({ transport: 'tcp', port, backoff: { min_ms: 5000, max_ms: 5000, factor: 1, jitter: 0 } }), { logger, format });
  const q = down.send([event(403)]);
  await new Promise((r) => setTimeout(r, 100));
  const started = Date.now();
  await down.close();
  await t.rejects(q, { code: 'DR_ERR_CLOSED' }, 'a send waiting for a reconnect gives up on close');
  t.ok(Date.now() - started < 1000, 'close did not wait out the 5 s backoff');
  down.destroy();
  down.destroy();
});
