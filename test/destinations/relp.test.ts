/**
 * RELP destination against a small RELP server written here (node, loopback): framing, window,
 * NACKs, lost sessions, serverclose, response timeouts, close/destroy, failover, TLS and probe.
 * The same destination against a real rsyslog imrelp is in relp-rsyslog.test.ts.
 */
import t from 'tap';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRelpDestination, RELP_WINDOW } from '../../src/destinations/relp.js';
import { RelpFrameParser, encodeFrame, nextTxnr, parseOffers, parseResponse, RELP_MAX_TXNR } from '../../src/destinations/relp-frame.js';
import { isRelayError } from '../../src/errors.js';
import { captureLogger, destConfig, event, format, stateAfter } from '../helpers/syslog-dest.js';
import { makePki } from '../helpers/certs.js';

type Verdict = 'ok' | 'nack' | 'hold' | 'drop-session' | 'serverclose';

interface Received {
  session: number;
  txnr: number;
  id: string;
}

interface FakeRelp {
  port: number;
  received: Received[];
  commands: string[];
  sessions: number;
  /** Answers held back by 'hold', in arrival order: call to release. */
  held: (() => void)[];
  close(): Promise<void>;
}

interface FakeOptions {
  verdict?: (r: Received, nth: number) => Verdict;
  /** Response to `open`. */
  openRsp?: string;
  /** Raw bytes sent on connect instead of speaking RELP. */
  garbage?: string;
  tls?: { cert: Buffer; key: Buffer };
}

const idOf = (data: Buffer): string => /id="(ev-\d+)"/.exec(data.toString('utf8'))?.[1] ?? '?';

async function fakeRelp(opts: FakeOptions = {}): Promise<FakeRelp> {
  const received: Received[] = [];
  const commands: string[] = [];
  const held: (() => void)[] = [];
  const seen = new Map<string, number>();
  const sockets = new Set<Socket>();
  let sessions = 0;
  const onConn = (s: Socket): void => {
    const session = ++sessions;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    if (opts.garbage !== undefined) {
      s.write(opts.garbage);
      return;
    }
    const parser = new RelpFrameParser('client');
    s.on('data', (chunk: Buffer) => {
      for (const f of parser.push(chunk)) {
        commands.push(f.command);
        if (f.command === 'open') {
          s.write(encodeFrame(f.txnr, 'rsp', opts.openRsp ?? '200 OK\nrelp_version=0\nrelp_software=fake\ncommands=syslog\n'));
        } else if (f.command === 'close') {
          s.write(encodeFrame(f.txnr, 'rsp', '') + encodeFrame(0, 'serverclose', ''));
          s.end();
        } else if (f.command === 'syslog') {
          const r: Received = { session, txnr: f.txnr, id: idOf(f.data) };
          received.push(r);
          const nth = (seen.get(r.id) ?? 0) + 1;
          seen.set(r.id, nth);
          const v = opts.verdict?.(r, nth) ?? 'ok';
          if (v === 'ok') s.write(encodeFrame(f.txnr, 'rsp', '200 OK'));
          else if (v === 'nack') s.write(encodeFrame(f.txnr, 'rsp', '500 not now'));
          else if (v === 'hold') held.push(() => s.write(encodeFrame(f.txnr, 'rsp', '200 OK')));
          else if (v === 'serverclose') {
            s.end(encodeFrame(0, 'serverclose', ''));
            return;
          } else {
            s.destroy();
            return;
          }
        }
      }
    });
  };
  const srv: Server = opts.tls !== undefined ? createTlsServer({ cert: opts.tls.cert, key: opts.tls.key }, onConn) : createServer(onConn);
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  const addr = srv.address();
  if (typeof addr !== 'object' || addr === null) throw new Error('no address');
  return {
    port: addr.port,
    received,
    commands,
    get sessions() {
      return sessions;
    },
    held,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => srv.close(() => resolve()));
    },
  };
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  for (let waited = 0; waited < ms; waited += 10) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return cond();
}

const batch = (from: number, n: number) => Array.from({ length: n }, (_, i) => event(from + i));
const countIds = (rs: readonly Received[]): Map<string, number> => {
  const m = new Map<string, number>();
  for (const r of rs) m.set(r.id, (m.get(r.id) ?? 0) + 1);
  return m;
};

t.test('frames: byte lengths, split chunks, responses, offers, txnr wrap', async (t) => {
  t.equal(encodeFrame(7, 'syslog', 'héllo'), '7 syslog 6 héllo\n', 'DATALEN counts UTF-8 bytes');
  t.equal(encodeFrame(3, 'close', ''), '3 close 0\n', 'no SP and no data when DATALEN is 0');
  const p = new RelpFrameParser('peer');
  const wire = Buffer.from('1 rsp 93 200 OK\nrelp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog\n2 rsp 6 200 OK\n3 rsp 0\n0 serverclose 0\n');
  const frames = [...p.push(wire.subarray(0, 10)), ...p.push(wire.subarray(10, 100)), ...p.push(wire.subarray(100))];
  t.same(frames.map((f) => [f.txnr, f.command, f.data.length]), [[1, 'rsp', 93], [2, 'rsp', 6], [3, 'rsp', 0], [0, 'serverclose', 0]]);
  const open = parseResponse(frames[0]?.data ?? Buffer.alloc(0), 'peer');
  t.equal(open.code, 200);
  t.equal(open.text, 'OK');
  t.equal(parseOffers(open.body).get('commands'), 'syslog');
  t.same(parseResponse(Buffer.from('500 queue full'), 'peer'), { code: 500, text: 'queue full', body: '' });
  t.equal(parseResponse(Buffer.alloc(0), 'peer').code, 200, 'an empty rsp (to close) is OK');
  t.throws(() => parseResponse(Buffer.from('OK'), 'peer'), { code: 'DR_ERR_RELP_PROTOCOL' });
  t.throws(() => new RelpFrameParser('p').push(Buffer.from('HTTP/1.1 400 Bad Request\r\n')), { code: 'DR_ERR_RELP_PROTOCOL' });
  t.throws(() => new RelpFrameParser('p').push(Buffer.from('1 rsp 2 okX')), { code: 'DR_ERR_RELP_PROTOCOL' }, 'trailer must be LF');
  t.throws(() => new RelpFrameParser('p').push(Buffer.from('1 rsp 999999 ')), { code: 'DR_ERR_RELP_PROTOCOL' }, 'oversized response');
  t.same(new RelpFrameParser('p').push(Buffer.from('1 rsp 6 200 O')), [], 'an incomplete frame waits for more bytes');
  t.equal(nextTxnr(RELP_MAX_TXNR), 1, 'txnr wraps to 1, never 0');
  t.equal(nextTxnr(41), 42);
});

t.test('every message is confirmed; send resolves only after the last rsp', async (t) => {
  let holdAll = false;
  const srv = await fakeRelp({ verdict: () => (holdAll ? 'hold' : 'ok') });
  t.teardown(() => srv.close());
  const d = createRelpDestination(destConfig({ transport: 'relp', port: srv.port }), { logger: captureLogger().logger, format });
  t.teardown(() => d.destroy());
  await d.start();
  await d.send(batch(0, 300));
  t.same(srv.received.map((r) => r.id), batch(0, 300).map((e) => e.id), 'all 300, in order, once');
  t.equal(d.stats().acked, 300);
  holdAll = true;
  const p = d.send(batch(300, 5));
  t.ok(await until(() => srv.held.length === 5, 2000));
  t.equal(await stateAfter(p, 100), 'pending', 'no rsp, no delivery');
  for (const release of srv.held.splice(0, 4)) release();
  t.equal(await stateAfter(p, 100), 'pending', 'four of five is not the batch');
  srv.held.splice(0).forEach((release) => release());
  await p;
  t.pass('resolved after the fifth rsp');
  t.equal(srv.commands[0], 'open', 'the session starts with open');
  await d.close();
  t.equal(srv.commands[srv.commands.length - 1], 'close', 'close() sends close');
  await t.rejects(d.send(batch(0, 1)), { code: 'DR_ERR_CLOSED' });
});

t.test(`at most ${RELP_WINDOW} messages are outstanding`, async (t) => {
  const srv = await fakeRelp({ verdict: () => 'hold' });
  t.teardown(() => srv.close());
  const d = createRelpDestination(destConfig({ transport: 'relp', port: srv.port }), { logger: captureLogger().logger, format });
  t.teardown(() => d.destroy());
  const p = d.send(batch(0, 400));
  t.ok(await until(() => srv.received.length === RELP_WINDOW, 2000));
  await new Promise((r) => setTimeout(r, 100));
  t.equal(srv.received.length, RELP_WINDOW, 'the window is full: nothing more is sent');
  t.equal(d.stats().outstanding, RELP_WINDOW);
  for (let rounds = 0; rounds < 20 && srv.held.length > 0; rounds++) {
    srv.held.splice(0).forEach((release) => release());
    await until(() => srv.held.length > 0 || srv.received.length === 400, 1000);
  }
  await p;
  t.equal(srv.received.length, 400);
});

t.test('a NACK resends that message alone after a backoff; confirmed ones are never resent', async (t) => {
  const srv = await fakeRelp({ verdict: (r, nth) => (Number(r.id.slice(3)) % 3 === 0 && nth === 1 ? 'nack' : 'ok') });
  t.teardown(() => srv.close());
  const cap = captureLogger();
  const d = createRelpDestination(destConfig({ transport: 'relp', port: srv.port }), { logger: cap.logger, format });
  t.teardown(() => d.destroy());
  await d.send(batch(0, 90));
  const counts = countIds(srv.received);
  for (let i = 0; i < 90; i++) {
    if (counts.get(`ev-${i}`) !== (i % 3 === 0 ? 2 : 1)) t.fail(`ev-${i} seen ${counts.get(`ev-${i}`)} times`);
  }
  t.equal(srv.sessions, 1, 'a NACK keeps the session');
  t.equal(d.stats().nacked, 30);
  t.equal(d.stats().resent, 30);
  t.ok(cap.lines.some((l) => l.level === 40 && /refused a message/.test(l.msg)), 'NACKs are logged');
});

t.test('a lost session: only unconfirmed messages are resent on the next one', async (t) => {
  const srv = await fakeRelp({ verdict: (r, nth) => (r.id === 'ev-50' && nth === 1 ? 'drop-session' : 'ok') });
  t.teardown(() => srv.close());
  const d = createRelpDestination(destConfig({ transport: 'relp', port: srv.port }), { logger: captureLogger().logger, format });
  t.teardown(() => d.destroy());
  await d.send(batch(0, 200));
  const counts = countIds(srv.received);
  t.equal(srv.sessions, 2, 'reconnected once');
  t.ok([...Array(50).keys()].every((i) => counts.get(`ev-${i}`) === 1), 'messages confirmed before the drop are not resent');
  t.ok([...Array(200).keys()].every((i) => (counts.get(`ev-${i}`) ?? 0) >= 1), 'every message arrived');
  t.equal(d.stats().reconnects, 1);
  t.ok(d.stats().resent >= 1);
});

t.test('serverclose: the session ends, the rest goes on a new one', async (t) => {
  const srv = await fakeRelp({ verdict: (r, nth) => (r.id === 'ev-30' && nth === 1 ? 'serverclose' : 'ok') });
  t.teardown(() => srv.close());
  const d = createRelpDestination(destConfig({ transport: 'relp', port: srv.port }), { logger: captureLogger().logger, format });
  t.teardown(() => d.destroy());
  await d.send(batch(0, 100));
  const counts = countIds(srv.received);
  t.ok([...Array(100).keys()].every((i) => (counts.get(`ev-${i}`) ?? 0) >= 1));
  t.ok([...Array(30).keys()].every((i) => counts.get(`ev-${i}`) === 1));
  t.equal(srv.sessions, 2);
});

t.test('no response within write_timeout_ms drops the session and resends', async (t) => {
  const srv = await fakeRelp({ verdict: (r) => (r.session === 1 ? 'hold' : 'ok') });
  t.teardown(() => srv.close());
  const cap = captureLogger();
  const d = createRelpDestination(destConfig({ transport: 'relp', port: srv.port, write_timeout_ms: 300 }), { logger: cap.logger, format });
  t.teardown(() => d.destroy());
  const started = Date.now();
  await d.send(batch(0, 10));
  const took = Date.now() - started;
  t.ok(took >= 280 && took < 5000, `waited out the response timeout (${took} ms)`);
  t.equal(srv.sessions, 2);
  t.ok(cap.lines.some((l) => l.code === 'DR_ERR_WRITE_TIMEOUT'), 'the timeout is logged with its code');
});

t.test('a peer that restarts: sends wait (bounded backoff) and go through afterwards', async (t) => {
  let srv = await fakeRelp();
  const port = srv.port;
  const d = createRelpDestination(destConfig({ transport: 'relp', port }), { logger: captureLogger().logger, format });
  t.teardown(() => d.destroy());
  await d.send(batch(0, 10));
  await srv.close();
  const p = d.send(batch(10, 10));
  t.equal(await stateAfter(p, 300), 'pending', 'nobody listens: the batch waits');
  // Same port again (may race with another process on a busy machine; retried a few times).
  for (let attempt = 0; ; attempt++) {
    try {
      srv = await fakeRelpOn(port);
      break;
    } catch (err: unknown) {
      if (attempt > 20) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  t.teardown(() => srv.close());
  await p;
  t.same(srv.received.map((r) => r.id), batch(10, 10).map((e) => e.id));
});

/** A fake on a given port (for restarts). */
async function fakeRelpOn(port: number): Promise<FakeRelp> {
  const received: Received[] = [];
  const sockets = new Set<Socket>();
  let sessions = 0;
  const srv = createServer((s) => {
    sessions++;
    sockets.add(s);
    s.on('error', () => undefined);
    const parser = new RelpFrameParser('client');
    s.on('data', (chunk: Buffer) => {
      for (const f of parser.push(chunk)) {
        if (f.command === 'open') s.write(encodeFrame(f.txnr, 'rsp', '200 OK\nrelp_version=0\ncommands=syslog\n'));
        else if (f.command === 'syslog') {
          received.push({ session: sessions, txnr: f.txnr, id: idOf(f.data) });
          s.write(encodeFrame(f.txnr, 'rsp', '200 OK'));
        } else if (f.command === 'close') s.end(encodeFrame(f.txnr, 'rsp', ''));
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', resolve);
  });
  return {
    port,
    received,
    commands: [],
    get sessions() {
      return sessions;
    },
    held: [],
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => srv.close(() => resolve()));
    },
  };
}

t.test('failover: a refused primary rotates to the next host', async (t) => {
  const dead = await fakeRelp();
  const deadPort = dead.port;
  await dead.close();
  const srv = await fakeRelp();
  t.teardown(() => srv.close());
  const cap = captureLogger();
  const d = createRelpDestination(destConfig({ transport: 'relp', port: deadPort, failover: [{ host: '127.0.0.1', port: srv.port }] }), { logger: cap.logger, format });
  t.teardown(() => d.destroy());
  await d.send(batch(0, 20));
  t.equal(srv.received.length, 20, 'delivered through the failover host');
  t.ok(cap.lines.some((l) => /Switching to the next syslog host/.test(l.msg)));
});

t.test('a peer that is not a RELP server: the batch is rejected with DR_ERR_RELP_PROTOCOL', async (t) => {
  const http = await fakeRelp({ garbage: 'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n' });
  t.teardown(() => http.close());
  const d = createRelpDestination(destConfig({ transport: 'relp', port: http.port }), { logger: captureLogger().logger, format });
  t.teardown(() => d.destroy());
  await t.rejects(d.send(batch(0, 3)), { code: 'DR_ERR_RELP_PROTOCOL' });

  const refusing = await fakeRelp({ openRsp: '500 go away' });
  t.teardown(() => refusing.close());
  const d2 = createRelpDestination(destConfig({ transport: 'relp', port: refusing.port }), { logger: captureLogger().logger, format });
  t.teardown(() => d2.destroy());
  const err: unknown = await d2.send(batch(0, 1)).then(() => null, (e: unknown) => e);
  t.ok(isRelayError(err) && err.code === 'DR_ERR_RELP_PROTOCOL' && /refused the session: 500 go away/.test(err.message), 'the refusal text is in the error');
});

t.test('close waits for in-flight batches; destroy rejects them at once', async (t) => {
  const srv = await fakeRelp({ verdict: () => 'hold' });
  t.teardown(() => srv.close());
  const d = createRelpDestination(destConfig({ transport: 'relp', port: srv.port }), { logger: captureLogger().logger, format });
  const p = d.send(batch(0, 3));
  await until(() => srv.held.length === 3, 2000);
  const closing = d.close(5000);
  t.equal(await stateAfter(closing, 100), 'pending', 'close waits for the confirmation');
  srv.held.splice(0).forEach((release) => release());
  await p;
  await closing;
  t.equal(srv.commands.filter((c) => c === 'close').length, 1);
  await d.close();
  t.pass('close is idempotent');

  const d2 = createRelpDestination(destConfig({ transport: 'relp', port: srv.port }), { logger: captureLogger().logger, format });
  const p2 = d2.send(batch(10, 3));
  await until(() => srv.held.length === 3, 2000);
  d2.destroy(new Error('shutdown deadline'));
  await t.rejects(p2, { code: 'DR_ERR_CLOSED' });

  const d3 = createRelpDestination(destConfig({ transport: 'relp', port: srv.port }), { logger: captureLogger().logger, format });
  const p3 = d3.send(batch(20, 2));
  await until(() => srv.held.length === 5, 2000);
  const started = Date.now();
  await d3.close(200);
  t.ok(Date.now() - started < 2000, 'close gives up at its deadline');
  await t.rejects(p3, { code: 'DR_ERR_CLOSED' }, 'what was not confirmed is rejected (the queue keeps it)');
});

t.test('TLS: verified against the CA; a wrong pin is a permanent error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'relp-pki-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pki = makePki(dir);
  const srv = await fakeRelp({ tls: { cert: readFileSync(pki.server), key: readFileSync(pki.serverKey) } });
  t.teardown(() => srv.close());
  const d = createRelpDestination(destConfig({ transport: 'relp', relp_tls: true, port: srv.port, ca: pki.ca, servername: 'localhost' }), { logger: captureLogger().logger, format });
  t.teardown(() => d.destroy());
  await d.start();
  await d.send(batch(0, 25));
  t.equal(srv.received.length, 25, 'delivered over TLS');
  await d.close();

  const wrongPin = 'AA:'.repeat(31) + 'AA';
  const bad = createRelpDestination(destConfig({ transport: 'relp', relp_tls: true, port: srv.port, ca: pki.ca, servername: 'localhost', fingerprint_sha256: wrongPin }), { logger: captureLogger().logger, format });
  t.teardown(() => bad.destroy());
  await t.rejects(bad.send(batch(0, 1)), { code: 'DR_ERR_TLS_PIN' });

  const untrusted = createRelpDestination(destConfig({ transport: 'relp', relp_tls: true, port: srv.port, ca: pki.otherCa, servername: 'localhost', backoff: { min_ms: 20, max_ms: 40, factor: 2, jitter: 0 } }), { logger: captureLogger().logger, format });
  const p = untrusted.send(batch(0, 1));
  t.equal(await stateAfter(p, 300), 'pending', 'an untrusted certificate is retried (it may be fixed), never delivered');
  untrusted.destroy();
  await t.rejects(p, { code: 'DR_ERR_CLOSED' });
  await t.rejects(createRelpDestination(destConfig({ transport: 'relp', relp_tls: true, port: srv.port, ca: join(dir, 'missing.pem') }), { logger: captureLogger().logger, format }).start(), { code: 'DR_ERR_CONFIG' }, 'a missing CA file is a config error at start');
});

t.test('probe: one event, its confirmation, clear errors', async (t) => {
  const srv = await fakeRelp({ verdict: (r) => (r.id === 'ev-2' ? 'nack' : 'ok') });
  t.teardown(() => srv.close());
  const d = createRelpDestination(destConfig({ transport: 'relp', port: srv.port }), { logger: captureLogger().logger, format });
  t.teardown(() => d.destroy());
  await d.probe?.(event(1));
  t.same(srv.received.map((r) => r.id), ['ev-1']);
  await t.rejects(d.probe?.(event(2)) ?? Promise.resolve(), { code: 'DR_ERR_RELP_NACK' });
  const dead = await fakeRelp();
  const port = dead.port;
  await dead.close();
  const d2 = createRelpDestination(destConfig({ transport: 'relp', port }), { logger: captureLogger().logger, format });
  await t.rejects(d2.probe?.(event(1)) ?? Promise.resolve(), { code: 'DR_ERR_CONNECT' });
});
