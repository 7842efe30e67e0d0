/**
 * `backfill --since`: exactly the history asked for, a progress line, the same cursors as `run`
 * (which then continues without gap or repeat, and is never moved backwards), the host lock, abort.
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runBackfill, createDuoApiSource } from '../../../src/sources/duo-api/index.js';
import { startMockDuoApi, type MockDuoApi } from '../../mock-duo-api/server.js';
import { recordKey, type MockEndpoint } from '../../mock-duo-api/data.js';
import { mockConfig, tmpState, recorder, waitFor, captureLogger, sleepMs, IKEY, SKEY, UA } from '../../mock-duo-api/helpers.js';

const DAY = 86_400_000;

function keysFrom(mock: MockDuoApi, endpoint: MockEndpoint, fromMs: number, toMs: number): string[] {
  const ds = mock.dataSet(endpoint);
  const out: string[] = [];
  for (let i = ds.lowerBound(fromMs); i < ds.upperBound(toMs); i++) out.push(recordKey(endpoint, ds.record(i)));
  return out;
}

t.test('backfill 30d: exactly that history, progress lines, then run continues from its cursors', async (t) => {
  let clock = Date.now();
  const now = (): number => clock;
  const mock = await startMockDuoApi({ ikey: IKEY, skey: SKEY, events: { authentication: 5000, administrator: 2500, activity: 400 }, spanMs: 40 * DAY, endAgoMs: -6 * 3_600_000, now });
  t.teardown(() => mock.close());
  mock.inject('http429', { path: 'authentication' });
  const stateDir = tmpState();
  const cfg = mockConfig(mock, { request_interval_ms: 10, rate_limit_backoff: { min_ms: 200, max_ms: 400, factor: 2, jitter: 0 } }, { logs: ['authentication', 'administrator', 'activity'] });
  const rec = recorder();
  const lines: string[] = [];
  const t0 = clock;
  const r = await runBackfill(cfg, { stateDir, logger: captureLogger().logger, skey: SKEY, userAgent: UA, since: '30d', emit: rec.emit, progress: (l) => lines.push(l), now, progressIntervalMs: 0 });

  const settled = t0 - 120_000;
  const want = {
    authentication: keysFrom(mock, 'authentication', t0 - 30 * DAY, settled),
    administrator: keysFrom(mock, 'administrator', Math.floor((t0 - 30 * DAY) / 1000) * 1000, settled),
    activity: keysFrom(mock, 'activity', t0 - 30 * DAY, settled),
  };
  const total = want.authentication.length + want.administrator.length + want.activity.length;
  t.ok(want.authentication.length < 5000 && want.authentication.length > 3000, 'the mock holds older history the backfill must skip');
  t.equal(r.events, total, 'events counted');
  t.equal(rec.records.length, total, 'events emitted');
  for (const k of ['authentication', 'administrator', 'activity'] as const) {
    const got = rec.records.filter((x) => x.kind === k).map((x) => recordKey(k, x.record ?? {}));
    t.same(got.sort(), [...want[k]].sort(), `${k}: the last 30 days, each once`);
  }
  t.equal(r.requests, mock.stats().requests, 'requests counted, the 429 retry included');
  const minPages = Object.values(want).reduce((n, k) => n + Math.ceil(k.length / 1000), 0);
  t.equal(r.pages, minPages, 'pages counted: the minimum, ceil(N / 1000) per endpoint');
  t.ok(lines.length >= 3, 'progress lines');
  t.ok(lines.slice(0, -1).some((l) => /^Backfill 127\.0\.0\.1:\d+: \d+ events, \d+ pages, \d+ ev\/s, \d+% of 30d, ETA \S+\.$/.test(l)), lines[0] ?? 'no line');
  t.match(lines[lines.length - 1], new RegExp(`${total} events, ${r.pages} pages, \\d+ ev/s, 100% of 30d, done\\.$`));

  // Three hours later `run` picks up from the backfill's cursors: only what settled since.
  clock += 3 * 3_600_000;
  const live = recorder();
  const source = createDuoApiSource(cfg, { stateDir, logger: captureLogger().logger, skey: SKEY, userAgent: UA, now });
  t.teardown(() => source.close());
  await source.start(live.emit);
  const fresh = {
    authentication: keysFrom(mock, 'authentication', settled + 1, clock - 120_000),
    administrator: keysFrom(mock, 'administrator', Math.floor((t0 - 30 * DAY) / 1000) * 1000, clock - 120_000).filter((k) => !want.administrator.includes(k)),
    activity: keysFrom(mock, 'activity', settled + 1, clock - 120_000),
  };
  const n = fresh.authentication.length + fresh.administrator.length + fresh.activity.length;
  t.ok(n > 0, `new records settled meanwhile (${n})`);
  t.ok(await waitFor(() => live.records.length >= n, 10_000), 'run delivered them');
  await sleepMs(300);
  await source.close();
  t.equal(live.records.length, n, 'and nothing the backfill had already sent');
  t.same(mock.stats().badRequests, []);
});

t.test('backfill never moves a cursor backwards', async (t) => {
  const now = Date.now();
  const mock = await startMockDuoApi({ ikey: IKEY, skey: SKEY, events: { authentication: 1500 }, spanMs: 3 * DAY, now: () => now });
  t.teardown(() => mock.close());
  const stateDir = tmpState();
  const file = join(stateDir, `duo-api-127.0.0.1_${mock.port}.cursors.json`);
  const ahead = now - 60_000;
  writeFileSync(file, JSON.stringify({ version: 1, host: mock.host, cursors: { 'self/authentication': { mintime_ms: ahead, seen: [] } } }));
  const rec = recorder();
  const r = await runBackfill(mockConfig(mock, {}, { logs: ['authentication', 'activity'] }), { stateDir, logger: captureLogger().logger, skey: SKEY, userAgent: UA, since: '2d', emit: rec.emit, progress: () => undefined, now: () => now });
  t.ok(r.events > 0);
  const saved = JSON.parse(readFileSync(file, 'utf8')) as { cursors: Record<string, { mintime_ms: number }> };
  t.equal(saved.cursors['self/authentication']?.mintime_ms, ahead, 'the cursor that was ahead stays');
  t.ok((saved.cursors['self/activity']?.mintime_ms ?? 0) >= now - 120_000, 'a lane without a cursor gets the backfill position');
});

t.test('another live process holds the host: backfill refuses clearly', async (t) => {
  const mock = await startMockDuoApi({ ikey: IKEY, skey: SKEY });
  t.teardown(() => mock.close());
  const stateDir = tmpState();
  writeFileSync(join(stateDir, `duo-api-127.0.0.1_${mock.port}.lock`), `${process.ppid}\n`);
  await t.rejects(
    runBackfill(mockConfig(mock), { stateDir, logger: captureLogger().logger, skey: SKEY, userAgent: UA, since: '1d', emit: recorder().emit, progress: () => undefined }),
    { code: 'DR_ERR_CONFIG', message: new RegExp(`pid ${process.ppid}.*stop it before running backfill`) },
  );
  t.equal(mock.stats().requests, 0);
});

t.test('an abort interrupts the backfill, keeping its cursors', async (t) => {
  const mock = await startMockDuoApi({ ikey: IKEY, skey: SKEY, events: { authentication: 5000 } });
  t.teardown(() => mock.close());
  const stateDir = tmpState();
  const ac = new AbortController();
  const rec = recorder();
  const p = runBackfill(mockConfig(mock, { request_interval_ms: 200 }, { logs: ['authentication'] }), {
    stateDir,
    logger: captureLogger().logger,
    skey: SKEY,
    userAgent: UA,
    since: '1d',
    emit: rec.emit,
    progress: () => undefined,
    signal: ac.signal,
  });
  await waitFor(() => rec.records.length >= 1000, 5000);
  ac.abort();
  await t.rejects(p, { code: 'DR_ERR_CLOSED', message: /interrupted after \d+ events; run it again/ });
  t.ok(rec.records.length < 5000, 'stopped early');
  t.ok(readFileSync(join(stateDir, `duo-api-127.0.0.1_${mock.port}.cursors.json`), 'utf8').includes('self/authentication'), 'progress so far is saved');
});

t.test('a 403 fails the backfill with the permission hint', async (t) => {
  const mock = await startMockDuoApi({ ikey: IKEY, skey: SKEY, events: { authentication: 10 }, forbidden: ['authentication'] });
  t.teardown(() => mock.close());
  await t.rejects(
    runBackfill(mockConfig(mock, {}, { logs: ['authentication'] }), { stateDir: tmpState(), logger: captureLogger().logger, skey: SKEY, userAgent: UA, since: '1d', emit: recorder().emit, progress: () => undefined }),
    { code: 'DR_ERR_DUO_AUTH', message: /Grant read log/ },
  );
});
