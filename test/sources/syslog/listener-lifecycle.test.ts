/** start/close/destroy: draining, immediacy, bind failures, TLS configuration errors, a refusing pipeline. */
import t from 'tap';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes, RelayError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/ops/logger.js';
import { createSyslogSource } from '../../../src/sources/syslog/index.js';
import { makePki } from '../../helpers/certs.js';
import { EVENTS, Recorder, config, connect, closed, octet, sleep, startSource, waitUntil, type Listen } from '../../fixtures/syslog/harness.js';

const frame = octet(`<134>1 2024-05-14T09:30:00Z h auth.duo.telephony.events - - - ${EVENTS.telephony}`);

/** Settles within `ms` or reports that it hung. */
async function within<T>(p: Promise<T>, ms: number): Promise<{ settled: true; value?: T; err?: unknown } | { settled: false }> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<{ settled: false }>((resolve) => {
    timer = setTimeout(() => resolve({ settled: false }), ms);
  });
  try {
    return await Promise.race([p.then((value) => ({ settled: true as const, value })), hung]);
  } catch (err: unknown) {
    return { settled: true, err };
  } finally {
    clearTimeout(timer);
  }
}

const refusesConnections = async (port: number): Promise<boolean> => {
  try {
    const s = await connect(port, undefined, 2000);
    s.destroy();
    return false;
  } catch (err: unknown) {
    return (err as NodeJS.ErrnoException).code === 'ECONNREFUSED';
  }
};

t.test('close() waits for the batch in the pipeline, then stops listening', async (t) => {
  const { source, rec } = await startSource(t, config({ transport: 'tcp' }));
  const release = rec.hold();
  const sock = await connect(source.port);
  sock.on('error', () => undefined);
  sock.write(frame);
  await waitUntil(() => rec.calls === 1, 'the blocked emit');
  const closing = source.close();
  const early = await within(closing, 300);
  t.notOk(early.settled, 'close() is still waiting while the emit is blocked');
  t.ok(await refusesConnections(source.port), 'no new connections while closing');
  release();
  const done = await within(closing, 3000);
  t.ok(done.settled, 'close() resolves once the emit did');
  t.equal(rec.records.length, 1, 'the in-flight record was handed off');
  await closed(sock, 3000);
  await source.close();
  t.pass('close() is idempotent');
  await t.rejects(source.start(rec.emit), { code: ErrorCodes.CLOSED }, 'start after close throws DR_ERR_CLOSED');
});

t.test('destroy() is immediate: connections dropped, port released, waiting UDP records dead-lettered', async (t) => {
  const { source, rec } = await startSource(t, config({ transport: 'tcp' }));
  rec.hold();
  const sock = await connect(source.port);
  sock.on('error', () => undefined);
  sock.write(frame);
  await waitUntil(() => rec.calls === 1, 'the blocked emit');
  const start = Date.now();
  source.destroy();
  await closed(sock, 1000);
  t.ok(Date.now() - start < 1000, 'the sender saw the close at once');
  t.ok(await refusesConnections(source.port), 'the port is released');

  const udp = await startSource(t, config({ transport: 'udp' }));
  udp.rec.hold();
  const client = createSocket('udp4');
  t.teardown(() => client.close());
  for (let i = 0; i < 3; i++) client.send(Buffer.from(`<134>Mar 23 00:01:48 h t: {"n":${i}}`), udp.source.port, '127.0.0.1');
  await waitUntil(() => udp.rec.calls === 1, 'the first datagram in the pipeline');
  await sleep(100);
  udp.source.destroy();
  t.same(udp.rec.dead.map((d) => d.preview), ['{"n":1}', '{"n":2}'], 'the two waiting datagrams are dead-lettered with their text');
  t.match(udp.rec.dead[0]?.reason, /closed before the datagram was handed to the pipeline/);
});

t.test('close() on UDP hands the waiting datagrams to the pipeline first', async (t) => {
  const { source, rec } = await startSource(t, config({ transport: 'udp' }));
  const release = rec.hold();
  const client = createSocket('udp4');
  t.teardown(() => client.close());
  for (let i = 0; i < 5; i++) client.send(Buffer.from(`<134>Mar 23 00:01:48 h t: {"n":${i}}`), source.port, '127.0.0.1');
  await waitUntil(() => rec.calls === 1, 'the first datagram in the pipeline');
  await sleep(100);
  const closing = source.close();
  release();
  t.ok((await within(closing, 3000)).settled);
  t.same(rec.texts(), [0, 1, 2, 3, 4].map((n) => `{"n":${n}}`));
  t.same(rec.dead, []);
});

t.test('a pipeline that refuses the batch: the records are dead-lettered with their full text', async (t) => {
  const { source, rec } = await startSource(t, config({ transport: 'tcp' }));
  rec.rejectWith(new RelayError(ErrorCodes.CLOSED, 'Pipeline is closing.'));
  const sock = await connect(source.port);
  t.teardown(() => sock.destroy());
  sock.write(frame);
  await rec.waitDead(1);
  t.match(rec.dead[0]?.reason, /pipeline refused the record: Pipeline is closing/);
  t.equal(rec.dead[0]?.preview, EVENTS.telephony);
  t.match(rec.dead[0]?.position, /^syslog:tcp:/);
});

t.test('EADDRINUSE rejects start() with a clear configuration error (TCP and UDP)', async (t) => {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.teardown(() => holder.close());
  const addr = holder.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  const src = createSyslogSource(config({ transport: 'tcp', port }), { logger: silentLogger(), deadLetter: () => undefined });
  t.teardown(() => src.destroy());
  const r = await within(src.start(async () => undefined), 5000);
  t.ok(r.settled, 'start() did not hang');
  const err = r.settled ? r.err : undefined;
  t.type(err, RelayError);
  t.equal((err as RelayError).code, ErrorCodes.CONFIG);
  t.match((err as RelayError).message, new RegExp(`"syslog-test" cannot listen on tcp 127\\.0\\.0\\.1:${port} \\(the address is already in use`));

  const holderUdp = createSocket('udp4');
  t.teardown(() => holderUdp.close());
  await new Promise<void>((resolve) => holderUdp.bind(0, '127.0.0.1', resolve));
  const udpPort = holderUdp.address().port;
  const srcUdp = createSyslogSource(config({ transport: 'udp', port: udpPort }), { logger: silentLogger(), deadLetter: () => undefined });
  t.teardown(() => srcUdp.destroy());
  const ru = await within(srcUdp.start(async () => undefined), 5000);
  t.ok(ru.settled, 'UDP start() did not hang');
  t.match(ru.settled ? (ru.err as Error).message : '', new RegExp(`cannot listen on udp 127\\.0\\.0\\.1:${udpPort} \\(the address is already in use`));
});

t.test('TLS configuration errors name the key and file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'duo-relay-syslog-tlscfg-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pki = makePki(join(dir, 'pki'));
  const garbage = join(dir, 'garbage.pem');
  writeFileSync(garbage, 'not a certificate\n');
  const cases: Array<[string, Partial<Listen>, RegExp]> = [
    ['missing cert file', { cert: join(dir, 'nope.pem'), key: pki.serverKey }, /listen\.cert .*nope\.pem cannot be read \(ENOENT\)/],
    ['not PEM', { cert: garbage, key: pki.serverKey }, /is not usable .*PEM/],
    ['key of another certificate', { cert: pki.server, key: pki.clientKey }, /key belongs to the certificate/],
    ['client certs without a CA', { cert: pki.server, key: pki.serverKey, require_client_cert: true }, /require_client_cert needs listen\.ca/],
  ];
  for (const [what, listen, re] of cases) {
    const src = createSyslogSource(config({ transport: 'tls', ...listen }), { logger: silentLogger(), deadLetter: () => undefined });
    t.teardown(() => src.destroy());
    await t.rejects(src.start(async () => undefined), { code: ErrorCodes.CONFIG, message: re }, what);
  }
});

t.test('start() twice is refused; destroy before start is harmless', async (t) => {
  const rec = new Recorder();
  const { source } = await startSource(t, config({ transport: 'tcp' }), rec);
  await t.rejects(source.start(rec.emit), { code: ErrorCodes.CLOSED });
  const never = createSyslogSource(config({ transport: 'udp' }), { logger: silentLogger(), deadLetter: () => undefined });
  never.destroy();
  await never.close();
  t.pass('no throw');
});
