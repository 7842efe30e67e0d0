/** TLS failures: each one rejects with a coded error that says what to fix, and nothing counts as sent. */
import t from 'tap';
import { createServer as createTlsServer } from 'node:tls';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSyslogDestination } from '../../src/destinations/syslog.js';
import { startRsyslog, type RsyslogReceiver } from '../helpers/rsyslog.js';
import { captureLogger, destConfig, event, format, stateAfter } from '../helpers/syslog-dest.js';

const rx: RsyslogReceiver = await startRsyslog();
t.teardown(() => rx.stop());

async function listen(srv: Server): Promise<number> {
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const addr = srv.address();
  if (typeof addr !== 'object' || addr === null) throw new Error('no address');
  return addr.port;
}

function closeServer(srv: Server, sockets: Set<Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  return new Promise((resolve) => srv.close(() => resolve()));
}

t.test('wrong CA: DR_ERR_TLS naming the OpenSSL code and ca:, retried without log flood, nothing sent', { timeout: 20_000 }, async (t) => {
  const { logger, lines } = captureLogger();
  const events: string[] = [];
  const cfg = destConfig({ transport: 'tls', port: rx.tlsPort, ca: rx.pki.otherCa });
  const dest = createSyslogDestination(cfg, { logger, format, onEvent: (name) => events.push(name) });
  t.teardown(() => dest.destroy());
  await t.rejects(dest.probe?.(event(1)) ?? Promise.reject(new Error('no probe')), { code: 'DR_ERR_TLS', message: /UNABLE_TO_VERIFY_LEAF_SIGNATURE.*check ca:/ });
  await dest.start();
  const p = dest.send([event(2)]);
  t.equal(await stateAfter(p, 1000), 'pending', 'send keeps retrying a retryable TLS failure');
  const errors = events.filter((e) => e === 'error').length;
  t.ok(errors >= 2 && errors <= 12, `several paced attempts (${errors})`);
  t.notOk(events.includes('sent'), 'nothing counted as sent');
  const errLines = lines.filter((l) => l.msg.startsWith('Cannot deliver'));
  t.equal(errLines.length, 1, 'one log line for the whole outage');
  t.equal(errLines[0]?.level, 50, 'a TLS verification failure is logged at error: an operator must act');
  dest.destroy();
  await t.rejects(p, { code: 'DR_ERR_CLOSED' }, 'destroy rejects the pending send');
  dest.destroy();
});

t.test('wrong server name: ERR_TLS_CERT_ALTNAME_INVALID with check servername:', { timeout: 20_000 }, async (t) => {
  const pki = rx.pki;
  const sockets = new Set<Socket>();
  const srv = createTlsServer({ cert: readFileSync(pki.wrongName), key: readFileSync(pki.wrongNameKey) }, (s) => { sockets.add(s); s.on('error', () => undefined); s.resume(); });
  srv.on('tlsClientError', () => undefined);
  const port = await listen(srv);
  t.teardown(() => closeServer(srv, sockets));
  const { logger } = captureLogger();
  const dest = createSyslogDestination(destConfig({ transport: 'tls', port, ca: pki.ca }), { logger, format });
  await t.rejects(dest.probe?.(event(1)) ?? Promise.reject(new Error('no probe')), { code: 'DR_ERR_TLS', message: /ERR_TLS_CERT_ALTNAME_INVALID.*check servername: \(the certificate must name 127\.0\.0\.1\)/ });
  // The same against rsyslog with a servername the certificate does not carry.
  const dest2 = createSyslogDestination(destConfig({ transport: 'tls', port: rx.tlsPort, ca: pki.ca, servername: 'siem.example' }), { logger, format });
  await t.rejects(dest2.probe?.(event(1)) ?? Promise.reject(new Error('no probe')), { code: 'DR_ERR_TLS', message: /ERR_TLS_CERT_ALTNAME_INVALID.*siem\.example/ });
  // And the name the certificate does carry works against the same node server.
  const dest3 = createSyslogDestination(destConfig({ transport: 'tls', port, ca: pki.ca, servername: 'wrong.example' }), { logger, format });
  await dest3.probe?.(event(1));
  t.pass('servername wrong.example accepted by the wrong.example certificate');
});

t.test('mutual TLS without a client certificate (TLS 1.3): the post-handshake rejection is caught', { timeout: 30_000 }, async (t) => {
  const { logger, lines } = captureLogger();
  const events: string[] = [];
  const before = rx.messages().filter((m) => m.input === 'tls-mutual').length;
  const dest = createSyslogDestination(destConfig({ transport: 'tls', port: rx.mtlsPort, ca: rx.pki.ca }), { logger, format, onEvent: (name) => events.push(name) });
  t.teardown(() => dest.destroy());
  await t.rejects(dest.probe?.(event(1)) ?? Promise.reject(new Error('no probe')), { code: 'DR_ERR_TLS', message: /after the TLS handshake.*client certificate.*check cert: and key:/ });
  const p = dest.send([event(3), event(4)]);
  t.equal(await stateAfter(p, 1500), 'pending', 'the batch is not acknowledged');
  t.notOk(events.includes('sent'), 'nothing counted as sent');
  t.ok(events.filter((e) => e === 'error').length >= 2, 'and it kept retrying');
  t.equal(rx.messages().filter((m) => m.input === 'tls-mutual').length, before, 'rsyslog stored nothing');
  t.equal(lines.filter((l) => l.msg.startsWith('Cannot deliver')).length, 1);
  dest.destroy();
  await t.rejects(p, { code: 'DR_ERR_CLOSED' });
});

t.test('fingerprint pin mismatch: DR_ERR_TLS_PIN shows expected and got, and is not retried', { timeout: 20_000 }, async (t) => {
  const { logger } = captureLogger();
  const wrong = Array.from({ length: 32 }, () => 'AB').join(':');
  for (const ca of [rx.pki.ca, undefined]) {
    const dest = createSyslogDestination(destConfig({ transport: 'tls', port: rx.tlsPort, fingerprint_sha256: wrong.toLowerCase(), ...(ca !== undefined ? { ca } : {}) }), { logger, format });
    t.teardown(() => dest.destroy());
    const expectMsg = new RegExp(`expected ${wrong}, got ${rx.pki.serverFingerprint}`);
    await t.rejects(dest.probe?.(event(1)) ?? Promise.reject(new Error('no probe')), { code: 'DR_ERR_TLS_PIN', message: expectMsg }, `probe (ca ${ca === undefined ? 'unset' : 'set'})`);
    await t.rejects(dest.send([event(5)]), { code: 'DR_ERR_TLS_PIN', message: expectMsg }, 'send rejects: a pin mismatch needs an operator');
  }
});

t.test('a server that accepts TCP but never answers TLS: handshake timeout, paced retries', { timeout: 20_000 }, async (t) => {
  const sockets = new Set<Socket>();
  const srv = createNetServer((s) => { sockets.add(s); s.on('error', () => undefined); });
  const port = await listen(srv);
  t.teardown(() => closeServer(srv, sockets));
  const { logger } = captureLogger();
  const events: string[] = [];
  const dest = createSyslogDestination(destConfig({ transport: 'tls', port, ca: rx.pki.ca, handshake_timeout_ms: 300 }), { logger, format, onEvent: (n) => events.push(n) });
  t.teardown(() => dest.destroy());
  const started = Date.now();
  await t.rejects(dest.probe?.(event(1)) ?? Promise.reject(new Error('no probe')), { code: 'DR_ERR_HANDSHAKE_TIMEOUT', message: /300 ms \(handshake_timeout_ms\)/ });
  const took = Date.now() - started;
  t.ok(took >= 250 && took < 2000, `timed out after ${took} ms`);
  const p = dest.send([event(6)]);
  t.equal(await stateAfter(p, 1500), 'pending');
  const errors = events.filter((e) => e === 'error').length;
  t.ok(errors >= 2 && errors <= 5, `each attempt waits out the timeout plus backoff (${errors} attempts in 1.5 s)`);
  dest.destroy();
  await t.rejects(p, { code: 'DR_ERR_CLOSED' });
});

t.test('config problems are DR_ERR_CONFIG naming the key and file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'duo-relay-dest-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { logger } = captureLogger();
  const missing = join(dir, 'nope.pem');
  const d1 = createSyslogDestination(destConfig({ transport: 'tls', port: 6514, ca: missing }), { logger, format });
  await t.rejects(d1.start(), { code: 'DR_ERR_CONFIG', message: new RegExp(`ca: ${missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(ENOENT\\)`) });
  await t.rejects(d1.probe?.(event(1)) ?? Promise.reject(new Error('no probe')), { code: 'DR_ERR_CONFIG' }, 'probe reports it too');
  const d2 = createSyslogDestination(destConfig({ transport: 'tls', port: 6514, cert: rx.pki.client }), { logger, format });
  await t.rejects(d2.start(), { code: 'DR_ERR_CONFIG', message: /cert and key go together/ });
  const garbage = join(dir, 'garbage.pem');
  writeFileSync(garbage, 'not a certificate');
  const d3 = createSyslogDestination(destConfig({ transport: 'tls', port: 6514, cert: garbage, key: rx.pki.clientKey }), { logger, format });
  await t.rejects(d3.start(), { code: 'DR_ERR_CONFIG', message: /TLS files do not load/ });
  const d4 = createSyslogDestination(destConfig({ transport: 'tls', port: 6514, cert: rx.pki.client, key: rx.pki.serverKey }), { logger, format });
  await t.rejects(d4.start(), { code: 'DR_ERR_CONFIG', message: /TLS files do not load/ }, 'key not matching the certificate');
  t.throws(() => createSyslogDestination(destConfig({ transport: 'relp', port: 2514 }), { logger, format }), { code: 'DR_ERR_CONFIG', message: /relp/ });
  const plain = createSyslogDestination(destConfig({ transport: 'tcp', port: 6514, ca: missing }), { logger, format });
  t.equal(plain.name, 'tcp://127.0.0.1:6514');
  plain.destroy();
});
