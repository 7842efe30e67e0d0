import t from 'tap';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync } from 'node:fs';
import { hasRsyslog, startRsyslog } from '../helpers/rsyslog.js';

// Fail loudly, never skip: CI must have the reference receiver.
t.ok(hasRsyslog(), 'rsyslogd is installed (install rsyslog rsyslog-gnutls rsyslog-relp, see .ci/run)');

function frame(msg: string): Buffer {
  const body = Buffer.from(msg, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `), body]);
}

/** Resolves once the bytes are handed to the kernel (a paused receiver never closes its side). */
function sendRaw(port: number, buf: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => s.destroy(new Error('raw send timed out')), 5000);
    const s = connect({ host: '127.0.0.1', port }, () => s.end(buf, () => {
      clearTimeout(timer);
      resolve();
    }));
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

t.test('harness: octet-counted frames over TCP and mutual TLS arrive with parsed fields', async (t) => {
  const rx = await startRsyslog({ relp: true });
  t.teardown(() => rx.stop());
  t.ok(rx.relpPort !== undefined && rx.relpPort > 0, 'relp port allocated');
  const m1 = '<134>1 2024-05-01T10:11:12.123456+02:00 relay-host duo-relay 42 AUTH [duo@32473 id="a\\"b\\]c"] café ✓ {"a":1}';
  const m2 = '<38>1 2024-05-01T10:11:12Z h2 app2 - - - second';
  await sendRaw(rx.tcpPort, Buffer.concat([frame(m1), frame(m2)]));
  const got = await rx.waitFor(2, 10_000);
  t.equal(got.length, 2);
  const a = got[0];
  t.match(a, { input: 'tcp', fromIp: '127.0.0.1', pri: 'local0.info', ts: '2024-05-01T10:11:12.123456+02:00', host: 'relay-host', app: 'duo-relay', procid: '42', msgid: 'AUTH', msg: 'café ✓ {"a":1}' });
  t.equal(a?.sd, '[duo@32473 id="a\\"b\\]c"]');
  t.same(a?.sdjson, { 'duo@32473': { id: 'a"b]c' } });
  t.equal(a?.raw, m1);
  t.match(got[1], { pri: 'auth.info', host: 'h2', app: 'app2', procid: '-', msgid: '-', sd: '-', sdjson: null, msg: 'second' });

  // Mutual TLS with the client cert.
  await new Promise<void>((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: rx.mtlsPort, servername: 'localhost', ca: readFileSync(rx.pki.ca), cert: readFileSync(rx.pki.client), key: readFileSync(rx.pki.clientKey) },
      () => s.end(frame('<134>1 - h3 app3 - M3 - over mtls')));
    s.once('error', reject);
    s.once('close', () => resolve());
  });
  const all = await rx.waitFor(3, 10_000);
  t.match(all[2], { input: 'tls-mutual', host: 'h3', msgid: 'M3', msg: 'over mtls' });
});

t.test('harness: restart keeps ports and messages; waitFor rejects with counts', async (t) => {
  const rx = await startRsyslog();
  t.teardown(() => rx.stop());
  const port = rx.tcpPort;
  await sendRaw(port, frame('<134>1 - h a - ONE - one'));
  await rx.waitFor(1);
  await rx.restart();
  t.equal(rx.tcpPort, port);
  await sendRaw(port, frame('<134>1 - h a - TWO - two'));
  const got = await rx.waitFor(2);
  t.same(got.map((m) => m.msgid), ['ONE', 'TWO']);
  await t.rejects(rx.waitFor(3, 300), /got 2 of 3 messages/);
  // Paused: the kernel still accepts and buffers, nothing is stored until resume.
  rx.pause();
  await sendRaw(port, frame('<134>1 - h a - THREE - three'));
  await t.rejects(rx.waitFor(3, 500), /got 2 of 3 messages.*paused/s, 'a paused receiver stores nothing');
  rx.resume();
  t.equal((await rx.waitFor(3, 10_000))[2]?.msgid, 'THREE', 'delivered after resume');
  rx.pause();
  await rx.stop();
  await rx.stop();
  await t.rejects(sendRaw(port, frame('x')), { code: 'ECONNREFUSED' }, 'a stopped (even if paused) receiver is gone');
});
