/**
 * Errors an operator must fix: a 403 on one endpoint (the others keep flowing), a clock off by
 * minutes (skew measured from the response Date), a wrong secret key. Clear messages, logged once,
 * no secret in them.
 */
import t from 'tap';
import { createDuoApiSource } from '../../../src/sources/duo-api/index.js';
import { startMockDuoApi } from '../../mock-duo-api/server.js';
import { mockConfig, tmpState, recorder, waitFor, captureLogger, sleepMs, IKEY, SKEY, UA } from '../../mock-duo-api/helpers.js';

t.test('403 on trust monitor: a clear error once, the other endpoints flow', async (t) => {
  const mock = await startMockDuoApi({ ikey: IKEY, skey: SKEY, events: { authentication: 1500, 'trust-monitor': 300, activity: 700 }, forbidden: ['trust-monitor'] });
  t.teardown(() => mock.close());
  const log = captureLogger();
  const rec = recorder();
  const source = createDuoApiSource(mockConfig(mock, { poll_interval_ms: 100 }, { logs: ['authentication', 'trust-monitor', 'activity'] }), {
    stateDir: tmpState(),
    logger: log.logger,
    skey: SKEY,
    userAgent: UA,
  });
  t.teardown(() => source.close());
  await source.start(rec.emit);
  t.ok(await waitFor(() => rec.records.length >= 2200, 10_000), 'authentication and activity delivered everything');
  t.ok(await waitFor(() => (mock.stats().byStatus['403'] ?? 0) >= 4, 5000), 'trust monitor kept being retried');
  const errors = log.lines.filter((l) => l.level === 50);
  t.equal(errors.length, 1, 'logged once although retried every cycle');
  t.match(errors[0], { endpoint: 'trust-monitor', code: 'DR_ERR_DUO_AUTH', status: 403, duo_code: 40301, msg: /"Grant read log" permission.*IP allow-list/ });
  t.equal(rec.records.filter((r) => r.kind === 'trust-monitor').length, 0);
  // The operator fixes the permission: the endpoint recovers without a restart.
  mock.forbid('trust-monitor', false);
  t.ok(await waitFor(() => rec.records.filter((r) => r.kind === 'trust-monitor').length === 300, 5000), 'trust monitor caught up once allowed');
  t.ok(await waitFor(() => log.lines.some((l) => l.endpoint === 'trust-monitor' && l.level === 30 && /Recovered/.test(String(l.msg))), 5000), 'recovery logged');
});

t.test('a clock 10 minutes behind: "check the clock" with the measured skew', async (t) => {
  const mock = await startMockDuoApi({ ikey: IKEY, skey: SKEY, events: { authentication: 20 } });
  t.teardown(() => mock.close());
  mock.inject('clockSkew', { ms: 600_000 });
  const log = captureLogger();
  const rec = recorder();
  const source = createDuoApiSource(mockConfig(mock, { poll_interval_ms: 100 }, { logs: ['authentication'] }), { stateDir: tmpState(), logger: log.logger, skey: SKEY, userAgent: UA });
  t.teardown(() => source.close());
  await source.start(rec.emit);
  t.ok(await waitFor(() => log.lines.some((l) => l.code === 'DR_ERR_DUO_CLOCK'), 5000));
  const line = log.lines.find((l) => l.code === 'DR_ERR_DUO_CLOCK');
  t.match(line, { level: 50, status: 401, duo_code: 40105, msg: /clock is 10 min [01] s behind Duo's.*Check the clock/ });
  t.ok(Math.abs(Number(line?.skew_ms) - 600_000) <= 1000, `skew measured from the response Date (${String(line?.skew_ms)} ms)`);
  t.equal(rec.records.length, 0);
  mock.inject('clockSkew', { ms: 0 });
  t.ok(await waitFor(() => rec.records.length === 20, 5000), 'flows once the clocks agree');
});

t.test('a wrong secret key: signature refused, no secret in logs', async (t) => {
  const mock = await startMockDuoApi({ ikey: IKEY, skey: SKEY, events: { authentication: 5 } });
  t.teardown(() => mock.close());
  const log = captureLogger();
  const wrong = 'WRONGwrongWRONGwrong0123456789abcdefghij';
  const source = createDuoApiSource(mockConfig(mock, { poll_interval_ms: 100 }, { logs: ['authentication'] }), { stateDir: tmpState(), logger: log.logger, skey: wrong, userAgent: UA });
  t.teardown(() => source.close());
  await source.start(recorder().emit);
  t.ok(await waitFor(() => mock.stats().badSignatures >= 3, 5000));
  await sleepMs(50);
  const errors = log.lines.filter((l) => Number(l.level) >= 40);
  t.equal(errors.length, 1);
  t.match(errors[0], { code: 'DR_ERR_DUO_AUTH', duo_code: 40103, msg: /clock is [01] s behind Duo's \(measured from the response Date\), so check the ikey and skey first, then the clock/ });
  t.notMatch(log.text(), wrong);
  t.notMatch(log.text(), /Basic [A-Za-z0-9+/=]{20,}/, 'no Authorization header in the logs');
});
