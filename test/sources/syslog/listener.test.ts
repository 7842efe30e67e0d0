/** The listener end to end on loopback: TCP (octet-counted and LF), TLS (server and mutual auth), UDP. */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSocket } from 'node:dgram';
import { makePki } from '../../helpers/certs.js';
import { EVENTS, Recorder, captureLogger, config, connect, closed, octet, sleep, startSource, waitUntil, writeInPieces } from '../../fixtures/syslog/harness.js';

const pkiDir = mkdtempSync(join(tmpdir(), 'duo-relay-syslog-pki-'));
t.teardown(() => rmSync(pkiDir, { recursive: true, force: true }));
const pki = makePki(pkiDir);
const clientTls = { ca: readFileSync(pki.ca) };
const clientCert = { ca: readFileSync(pki.ca), cert: readFileSync(pki.client), key: readFileSync(pki.clientKey) };

// A UTF-8 payload whose characters straddle chunk boundaries (2-, 3- and 4-byte sequences).
const utf8Event = JSON.stringify({ ...(JSON.parse(EVENTS.authproxy) as Record<string, unknown>), username: 'jöhn.日本.😀' });

t.test('TCP: octet-counted and LF frames, chunked mid-frame and mid-character, in order', async (t) => {
  const { source, rec } = await startSource(t, config({ transport: 'tcp' }));
  const sock = await connect(source.port);
  t.teardown(() => sock.destroy());
  const stream = Buffer.concat([
    octet(`<38>1 2021-03-23T00:01:48.721183+00:00 api-1a2b3c4d.duosecurity.com auth.duo.authentication.events - authentication - ${EVENTS.authentication}`),
    Buffer.from(`<134>Mar 23 00:01:48 proxyhost auth.duo.telephony.events: ${EVENTS.telephony}\n`),
    octet(`<134>1 2026-01-02T23:01:23.169590+00:00 vm duo-authproxy - - - ${utf8Event}\n`),
  ]);
  // Cut inside the octet count, inside the header, inside the 4-byte emoji, and at the LF.
  const emoji = stream.indexOf(Buffer.from('😀'));
  const cuts = [2, 40, stream.indexOf(0x0a) , stream.indexOf(0x0a) + 1, emoji + 1, emoji + 3, stream.length - 1];
  await writeInPieces(sock, stream, cuts);
  await rec.waitRecords(3);
  t.same(rec.texts(), [EVENTS.authentication, EVENTS.telephony, utf8Event]);
  t.same(rec.records.map((r) => r.kind), ['authentication', 'telephony', undefined]);
  t.same(rec.records.map((r) => r.host), ['api-1a2b3c4d.duosecurity.com', 'proxyhost', 'vm']);
  const label = `127.0.0.1:${sock.localPort ?? 0}`;
  for (const r of rec.records) t.match(r.position, new RegExp(`^syslog:tcp://${label.replace(/\./g, '\\.')}#\\d+$`));
  const seqs = rec.records.map((r) => Number(r.position.split('#')[1]));
  t.ok(seqs[0]! < seqs[1]! && seqs[1]! < seqs[2]!, 'positions increase');
  t.same(rec.dead, []);
});

t.test('TCP: a final LF frame without LF counts at connection end; host falls back to the peer', async (t) => {
  const { source, rec } = await startSource(t, config({ transport: 'tcp' }));
  const sock = await connect(source.port);
  sock.end(EVENTS.administrator);
  await rec.waitRecords(1);
  t.equal(rec.records[0]?.text, EVENTS.administrator);
  t.equal(rec.records[0]?.host, '127.0.0.1');
  await closed(sock);
});

t.test('TCP: a connection closed inside an octet-counted frame is dead-lettered', async (t) => {
  const { source, rec } = await startSource(t, config({ transport: 'tcp' }));
  const sock = await connect(source.port);
  sock.end('500 <134>1 - - - - - - {"truncated":');
  await rec.waitDead(1);
  t.match(rec.dead[0]?.reason, /closed inside an octet-counted frame/);
  t.match(rec.dead[0]?.position, /^syslog:tcp:\/\/127\.0\.0\.1:\d+#\d+$/);
  t.equal(rec.records.length, 0);
});

t.test('TLS: octet-counted frames over server-authenticated TLS', async (t) => {
  const { source, rec } = await startSource(t, config({ transport: 'tls', cert: pki.server, key: pki.serverKey }));
  const sock = await connect(source.port, clientTls);
  t.teardown(() => sock.destroy());
  const frames = [EVENTS.authentication, utf8Event].map((m, i) => octet(`<134>1 2024-05-14T09:30:0${i}Z relay${i} auth.duo.authentication.events - - - ${m}`));
  const stream = Buffer.concat(frames);
  await writeInPieces(sock, stream, [3, 100, stream.length - 10]);
  await rec.waitRecords(2);
  t.same(rec.texts(), [EVENTS.authentication, utf8Event]);
  t.same(rec.records.map((r) => r.host), ['relay0', 'relay1']);
  t.match(rec.records[0]?.position, /^syslog:tls:\/\/127\.0\.0\.1:\d+#\d+$/);
});

t.test('mutual TLS: a client certificate from the configured CA is accepted', async (t) => {
  const { source, rec } = await startSource(t, config({ transport: 'tls', cert: pki.server, key: pki.serverKey, ca: pki.ca, require_client_cert: true }));
  const sock = await connect(source.port, clientCert);
  t.teardown(() => sock.destroy());
  sock.write(octet(`<134>1 2024-05-14T09:30:00Z authproxy01 duo-authproxy - - - ${EVENTS.authproxy}`));
  await rec.waitRecords(1);
  t.equal(rec.records[0]?.text, EVENTS.authproxy);
});

t.test('mutual TLS: without a client certificate, or with one from another CA, nothing is accepted', async (t) => {
  const log = captureLogger();
  const { source, rec } = await startSource(t, config({ transport: 'tls', cert: pki.server, key: pki.serverKey, ca: pki.ca, require_client_cert: true }), new Recorder(), log.logger);
  const frame = octet(`<134>1 2024-05-14T09:30:00Z authproxy01 duo-authproxy - - - ${EVENTS.authproxy}`);

  // TLS 1.3: the client's handshake "succeeds" before the server checks its certificate (notes §4.4),
  // so the refusal shows up as a reset/close after the first write, or as a connect error.
  let noCertErr: unknown;
  try {
    const sock = await connect(source.port, clientTls);
    sock.write(frame);
    await closed(sock);
  } catch (err: unknown) {
    noCertErr = err;
  }
  t.pass(`cert-less client refused (${noCertErr instanceof Error ? noCertErr.message : 'closed by the server'})`);

  // A client certificate the listener's CA did not sign.
  const otherDir = mkdtempSync(join(tmpdir(), 'duo-relay-syslog-pki2-'));
  t.teardown(() => rmSync(otherDir, { recursive: true, force: true }));
  const other = makePki(otherDir);
  try {
    const sock = await connect(source.port, { ca: readFileSync(pki.ca), cert: readFileSync(other.client), key: readFileSync(other.clientKey) });
    sock.write(frame);
    await closed(sock);
  } catch {
    // Refused during the handshake: also fine.
  }
  await sleep(200);
  t.equal(rec.calls, 0, 'no record reached the pipeline');
  const warns = log.lines.filter((l) => l.level === 40 && /TLS handshake with a sender failed/.test(l.msg));
  t.equal(warns.length, 1, 'one rate-limited warning for both failures');
  t.equal(warns[0]?.['peer'], '127.0.0.1');
  t.same(rec.records, []);

  // The listener still serves good clients afterwards.
  const good = await connect(source.port, clientCert);
  t.teardown(() => good.destroy());
  good.write(frame);
  await rec.waitRecords(1);
  t.equal(rec.records[0]?.text, EVENTS.authproxy);
});

t.test('UDP: one datagram per message, trailing LF/NUL removed, host and position', async (t) => {
  const { source, rec } = await startSource(t, config({ transport: 'udp' }));
  const client = createSocket('udp4');
  t.teardown(() => client.close());
  await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
  const msgs = [
    `<134>Mar 23 00:01:48 proxyhost auth.duo.authentication-proxy.events: ${utf8Event}\n`,
    `<38>1 2021-03-23T00:01:48Z api-1a2b3c4d.duosecurity.com auth.duo.telephony.events - telephony - ${EVENTS.telephony}\u0000`,
    `2021-04-05 21:01:49.732 192.168.0.113=192.168.0.113/devorelay=11.22.33.44 auth.duo.administrator.login: ${EVENTS.administrator}`,
  ];
  // Loopback UDP does not reorder, but send one at a time so the test never depends on it.
  for (const [i, m] of msgs.entries()) {
    client.send(Buffer.from(m, 'utf8'), source.port, '127.0.0.1');
    await rec.waitRecords(i + 1);
  }
  t.same(rec.texts(), [utf8Event, EVENTS.telephony, EVENTS.administrator]);
  t.same(rec.records.map((r) => r.kind), ['authproxy', 'telephony', 'administrator']);
  t.same(rec.records.map((r) => r.host), ['proxyhost', 'api-1a2b3c4d.duosecurity.com', '192.168.0.113']);
  const port = client.address().port;
  for (const r of rec.records) t.match(r.position, new RegExp(`^syslog:udp://127\\.0\\.0\\.1:${port}#\\d+$`));
});

t.test('UDP: an oversized datagram is dead-lettered, the next one flows', async (t) => {
  const { source, rec } = await startSource(t, config({ transport: 'udp' }, { max_frame_bytes: 1024 }));
  const client = createSocket('udp4');
  t.teardown(() => client.close());
  client.send(Buffer.alloc(4000, 0x41), source.port, '127.0.0.1');
  await rec.waitDead(1);
  t.match(rec.dead[0]?.reason, /Datagram of 4000 bytes exceeds max_frame_bytes 1024/);
  client.send(Buffer.from(`<134>Mar 23 00:01:48 h t: ${EVENTS.telephony}`), source.port, '127.0.0.1');
  await rec.waitRecords(1);
  t.equal(rec.records[0]?.text, EVENTS.telephony);
  await waitUntil(() => rec.calls === 1, 'one emit');
});
