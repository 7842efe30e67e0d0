/**
 * Destination.unconfirmed() on the real TCP syslog destination, the contract the queued pump relies
 * on to keep its cursor behind events that may still need a resend: a resolved send is held for
 * settle_ms; a lost connection keeps the window held until it is resent; a clean close (peer FIN)
 * releases it; destroy() leaves it counted.
 */
import t from 'tap';
import { createServer, type Server, type Socket } from 'node:net';
import { syslogDestinationSchema } from '../../src/config/schema.js';
import { createSyslogDestination } from '../../src/destinations/syslog.js';
import type { Destination } from '../../src/destinations/destination.js';
import { capture, events, sleep, waitFor } from './fakes.js';

interface Sink {
  server: Server;
  port: number;
  sockets: Set<Socket>;
  text: () => string;
}

async function sink(t: { teardown(fn: () => unknown): void }): Promise<Sink> {
  const sockets = new Set<Socket>();
  let text = '';
  const server = createServer((s) => {
    sockets.add(s);
    s.on('data', (d: Buffer) => (text += d.toString('latin1')));
    s.on('end', () => s.end());
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr !== null ? addr.port : 0, sockets, text: () => text };
}

function destination(port: number, settleMs: number): Destination {
  const cfg = syslogDestinationSchema.parse({ type: 'syslog', name: 'siem', host: '127.0.0.1', port, transport: 'tcp', settle_ms: settleMs, backoff: { min_ms: 50, max_ms: 100 } });
  return createSyslogDestination(cfg, { logger: capture().logger, format: (ev) => `<14>1 - h app - - - ${ev.id}` });
}

t.test('a resolved send is held for settle_ms, then released', async (t) => {
  const s = await sink(t);
  const d = destination(s.port, 300);
  t.teardown(() => d.destroy());
  await d.start();
  await d.send(events(0, 10));
  t.equal(d.unconfirmed?.(), 10, 'right after the send resolved, its 10 events are held');
  await d.send(events(10, 15));
  t.equal(d.unconfirmed?.(), 15, 'the newest sends add up');
  await sleep(400);
  t.equal(d.unconfirmed?.(), 0, 'after settle_ms on a healthy connection nothing is held');
  await d.close();
  t.equal(d.unconfirmed?.(), 0);
});

t.test('a lost connection keeps the window held until it is resent; a clean close releases it', async (t) => {
  const s = await sink(t);
  const d = destination(s.port, 500);
  t.teardown(() => d.destroy());
  await d.start();
  await d.send(events(0, 20));
  // The receiver goes away (no new connections either), killing the connection inside the window.
  await new Promise<void>((resolve) => {
    s.server.close(() => resolve());
    for (const sock of s.sockets) sock.destroy();
  });
  await sleep(100);
  t.equal(d.unconfirmed?.(), 20, 'the connection died inside the window: all 20 wait for a resend');
  await sleep(800);
  t.equal(d.unconfirmed?.(), 20, 'still held long past settle_ms while the receiver is down');
  const back = createServer((sock) => {
    s.sockets.add(sock);
    sock.on('data', (b: Buffer) => (resent += b.toString('latin1')));
    sock.on('end', () => sock.end());
    sock.on('error', () => undefined);
  });
  let resent = '';
  await new Promise<void>((resolve) => back.listen(s.port, '127.0.0.1', resolve));
  t.teardown(() => back.close());
  await waitFor(() => (d.unconfirmed?.() ?? 1) === 0, 'the resend to settle', 5000);
  t.ok(resent.includes(' ev-0') && resent.includes(' ev-19'), 'released only after the 20 events were sent again and settled');
  await d.send(events(20, 30));
  t.equal(d.unconfirmed?.(), 10);
  await d.close();
  t.equal(d.unconfirmed?.(), 0, 'the peer answered our FIN: nothing needs a resend');
});

t.test('destroy() with events held keeps them counted', async (t) => {
  const s = await sink(t);
  const d = destination(s.port, 1000);
  await d.start();
  await d.send(events(0, 7));
  d.destroy();
  t.equal(d.unconfirmed?.(), 7, 'what the destroyed window held is never reported as confirmed');
});
