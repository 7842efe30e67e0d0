/** UDP: one datagram per message, no framing, truncation at a UTF-8 boundary, unreachable ports reported. */
import t from 'tap';
import { createSocket, type Socket } from 'node:dgram';
import { createSyslogDestination } from '../../src/destinations/syslog.js';
import { MAX_UDP_PAYLOAD, UdpSyslogDestination } from '../../src/destinations/udp.js';
import { captureLogger, destConfig, event, format } from '../helpers/syslog-dest.js';

async function udpServer(): Promise<{ port: number; got: Buffer[]; sock: Socket }> {
  const sock = createSocket('udp4');
  const got: Buffer[] = [];
  sock.on('message', (m) => got.push(m));
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  return { port: sock.address().port, got, sock };
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

t.test('one datagram per message, unframed, byte-exact', { timeout: 15_000 }, async (t) => {
  const srv = await udpServer();
  t.teardown(() => srv.sock.close());
  const { logger } = captureLogger();
  const sent: number[] = [];
  const dest = createSyslogDestination(destConfig({ transport: 'udp', port: srv.port }), { logger, format, onEvent: (n, c) => { if (n === 'sent') sent.push(c); } });
  t.teardown(() => dest.destroy());
  t.ok(dest instanceof UdpSyslogDestination);
  t.equal(dest.name, `udp://127.0.0.1:${srv.port}`);
  await dest.start();
  const batch = [event(1), event(2, { fields: { body: 'café ✓ 😀\nline two' } }), event(3)];
  await dest.send(batch);
  t.same(sent, [3]);
  await until(() => srv.got.length >= 3, 5000);
  t.same(srv.got.map((b) => b.toString('utf8')), batch.map(format), 'each datagram is exactly one formatted message, no length prefix, no LF');
  await dest.close();
  await t.rejects(dest.send([event(4)]), { code: 'DR_ERR_CLOSED' });
});

t.test('a message over the datagram cap is cut at a UTF-8 boundary and counted', { timeout: 15_000 }, async (t) => {
  const srv = await udpServer();
  t.teardown(() => srv.sock.close());
  const { logger, lines } = captureLogger();
  const dest = new UdpSyslogDestination(destConfig({ transport: 'udp', port: srv.port, max_message_bytes: 1_000_000 }), { logger, format });
  t.teardown(() => dest.destroy());
  const body = '✓'.repeat(30_000); // 90 000 bytes
  const small = createSyslogDestination(destConfig({ transport: 'udp', port: srv.port, max_message_bytes: 1000 }), { logger: captureLogger().logger, format });
  t.teardown(() => small.destroy());
  await dest.send([event(1, { fields: { body } })]);
  await small.send([event(2, { fields: { body } })]);
  await until(() => srv.got.length >= 2, 5000);
  const [a, b] = srv.got;
  t.ok(a !== undefined && a.length <= MAX_UDP_PAYLOAD && a.length > MAX_UDP_PAYLOAD - 3, `cut to ${a?.length} bytes, just under the IPv4 maximum`);
  t.ok(b !== undefined && b.length <= 1000 && b.length > 997, `configured cap honoured (${b?.length})`);
  for (const [d, i] of [[a, 1], [b, 2]] as const) {
    const text = d?.toString('utf8') ?? '';
    t.ok(format(event(i, { fields: { body } })).startsWith(text), 'a prefix of the message');
    t.notOk(text.includes('\uFFFD'), 'no broken character at the end');
  }
  t.equal(dest.truncated, 1);
  t.equal(lines.filter((l) => /truncated/.test(l.msg)).length, 1, 'warned once');
});

t.test('probe to a closed UDP port reports it unreachable; send retries with backoff and fails over', { timeout: 15_000 }, async (t) => {
  const closed = await udpServer();
  const port = closed.port;
  await new Promise<void>((resolve) => closed.sock.close(() => resolve()));
  const srv = await udpServer();
  t.teardown(() => srv.sock.close());
  const { logger, lines } = captureLogger();
  const dest = createSyslogDestination(destConfig({ transport: 'udp', port, failover: [{ host: '127.0.0.1', port: srv.port }] }), { logger, format });
  t.teardown(() => dest.destroy());
  await t.rejects(dest.probe?.(event(1)) ?? Promise.reject(new Error('no probe')), { code: 'DR_ERR_CONNECT', message: /unreachable \(ECONNREFUSED\)/ });
  // Keep sending: the ICMP error surfaces on a later send, then the failover host takes over.
  const deadline = Date.now() + 5000;
  for (let i = 0; Date.now() < deadline && srv.got.length === 0; i++) {
    await dest.send([event(10 + i)]);
    await new Promise((r) => setTimeout(r, 50));
  }
  t.ok(srv.got.length > 0, 'the failover host received datagrams');
  t.ok(lines.some((l) => l.msg === 'Switching to the next syslog host.'), 'the switch is logged');
});

t.test('destroy rejects a send waiting for its backoff', { timeout: 15_000 }, async (t) => {
  const { logger } = captureLogger();
  const dest = createSyslogDestination(destConfig({ transport: 'udp', host: 'nonexistent.invalid', port: 514, backoff: { min_ms: 5000, max_ms: 5000, factor: 1, jitter: 0 } }), { logger, format });
  const p = dest.send([event(1)]);
  await new Promise((r) => setTimeout(r, 300));
  dest.destroy();
  await t.rejects(p, { code: 'DR_ERR_CLOSED' });
  dest.destroy();
  await dest.close();
});
