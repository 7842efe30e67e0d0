/** TCP, TLS and mutual TLS to a real rsyslog: what arrives is what was sent. */
import t, { type Test } from 'tap';
import { createSyslogDestination } from '../../src/destinations/syslog.js';
import { startRsyslog, type ReceivedMessage, type RsyslogReceiver } from '../helpers/rsyslog.js';
import { captureLogger, destConfig, event, format } from '../helpers/syslog-dest.js';

const rx: RsyslogReceiver = await startRsyslog({ maxMessageSize: '256k' });
t.teardown(() => rx.stop());

let expected = 0;
async function receivedFor(input: string, n: number): Promise<ReceivedMessage[]> {
  expected += n;
  const all = await rx.waitFor(expected, 15_000);
  return all.filter((m) => m.input === input).slice(-n);
}

function checkFields(t: Test, m: ReceivedMessage | undefined, i: number): void {
  t.match(m, {
    fromIp: '127.0.0.1',
    pri: 'auth.info',
    ts: '2024-05-01T10:11:12.123456Z',
    host: 'api-test.duosecurity.com',
    app: 'auth.duo.authentication.events',
    msgid: 'authentication',
    sd: `[duo@32473 id="ev-${i}"]`,
  });
  t.same(m?.sdjson, { 'duo@32473': { id: `ev-${i}` } });
}

const cases = [
  { name: 'tcp', input: 'tcp', cfg: () => ({ transport: 'tcp', port: rx.tcpPort }) },
  { name: 'tcp with LF framing', input: 'tcp', cfg: () => ({ transport: 'tcp', port: rx.tcpPort, framing: 'lf' }) },
  { name: 'tls (server auth, CA + IP SAN)', input: 'tls-anon', cfg: () => ({ transport: 'tls', port: rx.tlsPort, ca: rx.pki.ca }) },
  { name: 'tls with servername localhost', input: 'tls-anon', cfg: () => ({ transport: 'tls', port: rx.tlsPort, ca: rx.pki.ca, servername: 'localhost' }) },
  { name: 'mutual tls (TLS 1.3 only)', input: 'tls-mutual', cfg: () => ({ transport: 'tls', port: rx.mtlsPort, ca: rx.pki.ca, cert: rx.pki.client, key: rx.pki.clientKey, min_version: 'TLSv1.3' }) },
  { name: 'tls pinned by fingerprint only (no ca)', input: 'tls-anon', cfg: () => ({ transport: 'tls', port: rx.tlsPort, fingerprint_sha256: rx.pki.serverFingerprint }) },
];

let base = 0;
for (const c of cases) {
  t.test(`${c.name}: batches arrive with the right header, SD and MSG`, { timeout: 20_000 }, async (t) => {
    const { logger } = captureLogger();
    const sent: number[] = [];
    const dest = createSyslogDestination(destConfig(c.cfg()), { logger, format, onEvent: (name, n) => { if (name === 'sent') sent.push(n); } });
    t.teardown(() => dest.destroy());
    await dest.start();
    const first = base;
    base += 20;
    const batch1 = Array.from({ length: 5 }, (_, k) => event(first + k));
    const batch2 = Array.from({ length: 15 }, (_, k) => event(first + 5 + k));
    await dest.send(batch1);
    await dest.send(batch2);
    t.same(sent, [5, 15], 'sent counted per batch');
    const got = await receivedFor(c.input, 20);
    t.same(got.map((m) => m.sd), [...batch1, ...batch2].map((e) => `[duo@32473 id="${e.id}"]`), 'every message, in order');
    checkFields(t, got[0], first);
    t.same(JSON.parse(got[3]?.msg ?? 'null'), { n: first + 3, user: 'alice', result: 'success' });
    await dest.close();
    await t.rejects(dest.send([event(0)]), { code: 'DR_ERR_CLOSED' }, 'send after close rejects');
    await dest.close();
  });
}

t.test('a 64 KiB message and multi-byte UTF-8 arrive intact (octet counting over TLS)', { timeout: 20_000 }, async (t) => {
  const { logger } = captureLogger();
  const dest = createSyslogDestination(destConfig({ transport: 'tls', port: rx.tlsPort, ca: rx.pki.ca }), { logger, format });
  t.teardown(() => dest.destroy());
  const big = 'é✓😀 ' .repeat(Math.ceil((64 * 1024) / 12)).slice(0, 32 * 1024) + 'x'.repeat(32 * 1024);
  const utf = 'café ✓ — Zürich 東京 😀 {"user":"jürgen"}';
  t.ok(Buffer.byteLength(big) > 64 * 1024, 'the big body is over 64 KiB in bytes');
  await dest.send([event(900, { fields: { body: big } }), event(901, { fields: { body: utf } })]);
  const got = await receivedFor('tls-anon', 2);
  t.equal(got[0]?.msg, big, 'big message byte-exact');
  t.equal(got[1]?.msg, utf, 'UTF-8 message exact');
  await dest.close();
});

t.test('an embedded LF reads the same at rsyslog with octet counting and with LF framing', { timeout: 20_000 }, async (t) => {
  const { logger } = captureLogger();
  const octet = createSyslogDestination(destConfig({ transport: 'tcp', port: rx.tcpPort }), { logger, format });
  const lf = createSyslogDestination(destConfig({ transport: 'tcp', port: rx.tcpPort, framing: 'lf' }), { logger, format });
  t.teardown(() => { octet.destroy(); lf.destroy(); });
  await octet.send([event(950, { fields: { body: 'line one\nline two' } })]);
  await receivedFor('tcp', 1);
  await lf.send([event(951, { fields: { body: 'line one\nline two' } }), event(952, { fields: { body: 'after' } })]);
  const got = await receivedFor('tcp', 2);
  const octetMsg = rx.messages().find((m) => m.sd.includes('ev-950'));
  t.equal(octetMsg?.msg, 'line one#012line two');
  t.equal(got[0]?.msg, 'line one#012line two', 'LF framing kept one message, escaped the same way');
  t.equal(got[1]?.msg, 'after', 'the next message is not corrupted');
});
