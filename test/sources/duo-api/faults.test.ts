/**
 * Faults never crash the poller: 5xx, an HTML 502, a reset, a truncated or non-JSON body and a slow
 * body are each logged once with their code (and Duo's), retried next cycle, and the other endpoints
 * keep running. In the end every record arrives exactly once.
 */
import t from 'tap';
import { createDuoApiSource } from '../../../src/sources/duo-api/index.js';
import { startMockDuoApi } from '../../mock-duo-api/server.js';
import { recordKey } from '../../mock-duo-api/data.js';
import { mockConfig, tmpState, recorder, waitFor, captureLogger, IKEY, SKEY, UA } from '../../mock-duo-api/helpers.js';

t.test('a run of faults on one endpoint: each logged once, retried, nothing lost or repeated', async (t) => {
  const mock = await startMockDuoApi({ ikey: IKEY, skey: SKEY, events: { authentication: 3000, administrator: 1200 } });
  t.teardown(() => mock.close());
  const path = '/admin/v2/logs/authentication';
  for (const f of ['html502', 'reset', 'truncated', 'badJson', 'http500', 'http500', 'slowBody'] as const) mock.inject(f, { path, ms: 3000 });
  const log = captureLogger();
  const rec = recorder();
  const source = createDuoApiSource(mockConfig(mock, { poll_interval_ms: 100, body_timeout_ms: 800 }, { logs: ['authentication', 'administrator'] }), {
    stateDir: tmpState(),
    logger: log.logger,
    skey: SKEY,
    userAgent: UA,
  });
  t.teardown(() => source.close());
  await source.start(rec.emit);
  const admin = mock.settledKeys('administrator');
  t.ok(await waitFor(() => rec.records.filter((r) => r.kind === 'administrator').length >= admin.length, 10_000), 'administrator flowed while authentication failed');
  t.ok(await waitFor(() => rec.records.length >= 4200, 20_000), 'authentication caught up after the faults');
  t.ok(await waitFor(() => log.lines.some((l) => l.endpoint === 'authentication' && /Recovered after/.test(String(l.msg))), 5000), 'recovery logged');
  await source.close();

  const auth = rec.records.filter((r) => r.kind === 'authentication').map((r) => recordKey('authentication', r.record ?? {}));
  t.equal(new Set(auth).size, auth.length, 'no duplicate');
  t.same(new Set(auth), new Set(mock.settledKeys('authentication')), 'no gap');

  const loud = log.lines.filter((l) => l.endpoint === 'authentication' && (l.level === 40 || l.level === 50));
  t.same(
    loud.map((l) => l.code),
    ['DR_ERR_DUO_RESPONSE', 'DR_ERR_CONNECT', 'DR_ERR_DUO_RESPONSE', 'DR_ERR_DUO_RESPONSE', 'DR_ERR_DUO_API', 'DR_ERR_HTTP_TIMEOUT'],
    'one warning per fault; the second HTTP 500 in a row is not repeated',
  );
  t.match(String(loud[0]?.msg), /HTTP 502 and an HTML page "502 Bad Gateway"/);
  t.match(String(loud[2]?.msg), /cut off|not valid JSON/);
  t.match(String(loud[3]?.msg), /not valid JSON/);
  t.match(loud[4], { status: 500, duo_code: 50001, duo_message: 'Internal server error' }, "Duo's code and message are logged");
  t.match(String(loud[5]?.msg), /response body \(body_timeout_ms\)/);
  t.ok(log.lines.some((l) => l.level === 20 && /Still failing/.test(String(l.msg))), 'the repeat went to debug');
  t.notOk(log.lines.some((l) => l.endpoint === 'administrator' && Number(l.level) >= 40), 'the other endpoint logged no fault');
  t.notMatch(log.text(), SKEY, 'the secret key never appears in the logs');
});

t.test('stalled response headers time out instead of hanging the poller', async (t) => {
  const mock = await startMockDuoApi({ ikey: IKEY, skey: SKEY, events: { authentication: 10 } });
  t.teardown(() => mock.close());
  mock.inject('slowHeaders', { ms: 5000 });
  const log = captureLogger();
  const rec = recorder();
  const source = createDuoApiSource(mockConfig(mock, { headers_timeout_ms: 400, poll_interval_ms: 100 }, { logs: ['authentication'] }), {
    stateDir: tmpState(),
    logger: log.logger,
    skey: SKEY,
    userAgent: UA,
  });
  t.teardown(() => source.close());
  const started = Date.now();
  await source.start(rec.emit);
  t.ok(await waitFor(() => rec.records.length === 10, 5000), 'records arrived after the timeout');
  t.ok(Date.now() - started < 4000, 'did not wait for the stalled response');
  t.match(log.lines.find((l) => l.level === 40), { code: 'DR_ERR_HTTP_TIMEOUT', msg: /response headers \(headers_timeout_ms\)/ });
});
