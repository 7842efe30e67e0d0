/**
 * Time-window rules: never older than Duo's 180 days (a stale cursor or a long initial window is
 * clamped, with a warning, and Duo answers no 400), never newer than now − 2 min (the mock refuses
 * such a maxtime), and windows narrower than 5 s wait for the next cycle.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDuoApiSource } from '../../../src/sources/duo-api/index.js';
import { RETENTION_MARGIN_MS, DUO_RETENTION_MS } from '../../../src/sources/duo-api/duration.js';
import { startMockDuoApi } from '../../mock-duo-api/server.js';
import { recordKey, type MockEndpoint } from '../../mock-duo-api/data.js';
import { mockConfig, tmpState, recorder, waitFor, captureLogger, sleepMs, IKEY, SKEY, UA } from '../../mock-duo-api/helpers.js';

const DAY = 86_400_000;

function seed(stateDir: string, port: number, cursors: Record<string, unknown>): void {
  writeFileSync(join(stateDir, `duo-api-127.0.0.1_${port}.cursors.json`), JSON.stringify({ version: 1, host: `127.0.0.1:${port}`, cursors }));
}

t.test('the 180-day edge: a cursor from 200 days ago is clamped, everything Duo still has arrives, no 400', async (t) => {
  const now = Date.now();
  const mock = await startMockDuoApi({ ikey: IKEY, skey: SKEY, events: { authentication: 3000, administrator: 2000 }, spanMs: 181 * DAY, now: () => now });
  t.teardown(() => mock.close());
  const stateDir = tmpState();
  seed(stateDir, mock.port, { 'self/authentication': { mintime_ms: now - 200 * DAY, seen: [] }, 'self/administrator': { mintime_ms: now - 200 * DAY, seen: [] } });
  const log = captureLogger();
  const rec = recorder();
  const source = createDuoApiSource(mockConfig(mock, {}, { logs: ['authentication', 'administrator'] }), { stateDir, logger: log.logger, skey: SKEY, userAgent: UA, now: () => now });
  t.teardown(() => source.close());
  await source.start(rec.emit);

  const edge = now - DUO_RETENTION_MS + RETENTION_MARGIN_MS;
  const expected = (endpoint: MockEndpoint, edgeMs: number): string[] => {
    const ds = mock.dataSet(endpoint);
    const out: string[] = [];
    for (let i = ds.lowerBound(edgeMs); i < ds.count; i++) out.push(recordKey(endpoint, ds.record(i)));
    return out;
  };
  const auth = expected('authentication', edge);
  const admin = expected('administrator', Math.ceil(edge / 1000) * 1000);
  t.ok(auth.length > 2900 && auth.length < 3000, `some authentication records are past the edge (${3000 - auth.length})`);
  t.ok(await waitFor(() => rec.records.length >= auth.length + admin.length, 15_000), 'everything inside 180 days arrived');
  await sleepMs(300);
  await source.close();
  const got = (kind: MockEndpoint): string[] => rec.records.filter((r) => r.kind === kind).map((r) => recordKey(kind, r.record ?? {}));
  t.same(got('authentication').sort(), auth.sort(), 'authentication: from the edge on, each once');
  t.same(got('administrator').sort(), admin.sort(), 'administrator: from the edge on, each once');
  t.same(mock.stats().badRequests, [], 'Duo never saw a mintime beyond 180 days (nor a maxtime inside 2 minutes)');
  t.equal(log.lines.filter((l) => l.level === 40 && /180 days/.test(String(l.msg))).length, 2, 'the lost history is reported once per endpoint');
});

t.test('an initial window over 180 days is clamped the same way', async (t) => {
  const now = Date.now();
  const mock = await startMockDuoApi({ ikey: IKEY, skey: SKEY, events: { activity: 500, 'trust-monitor': 300 }, spanMs: 185 * DAY, now: () => now });
  t.teardown(() => mock.close());
  const rec = recorder();
  const source = createDuoApiSource(mockConfig(mock, {}, { logs: ['activity', 'trust-monitor'], initial_window: '400d' }), { stateDir: tmpState(), logger: captureLogger().logger, skey: SKEY, userAgent: UA, now: () => now });
  t.teardown(() => source.close());
  await source.start(rec.emit);
  const want = mock.dataSet('activity').count - mock.dataSet('activity').lowerBound(now - DUO_RETENTION_MS + RETENTION_MARGIN_MS);
  t.ok(await waitFor(() => rec.records.filter((r) => r.kind === 'activity').length >= want, 10_000), `activity from the edge (${want})`);
  t.ok(await waitFor(() => rec.records.filter((r) => r.kind === 'trust-monitor').length > 0, 10_000));
  t.same(mock.stats().badRequests, []);
});

t.test('a window narrower than 5 s is left for a later cycle', async (t) => {
  let clock = Date.now();
  const now = (): number => clock;
  const mock = await startMockDuoApi({ ikey: IKEY, skey: SKEY, events: { authentication: 100 }, now });
  t.teardown(() => mock.close());
  const stateDir = tmpState();
  // The last window ended 3 s before what Duo has settled: too narrow to ask for.
  seed(stateDir, mock.port, { 'self/authentication': { mintime_ms: clock - 120_000 - 3000, seen: [] } });
  const rec = recorder();
  const source = createDuoApiSource(mockConfig(mock, { poll_interval_ms: 100 }, { logs: ['authentication'] }), { stateDir, logger: captureLogger().logger, skey: SKEY, userAgent: UA, now });
  t.teardown(() => source.close());
  await source.start(rec.emit);
  await sleepMs(500);
  t.equal(mock.stats().byPath['/admin/v2/logs/authentication'], undefined, 'no request for a 3 s window');
  clock += 3000;
  t.ok(await waitFor(() => (mock.stats().byPath['/admin/v2/logs/authentication'] ?? 0) >= 1, 3000), 'asks once the window is 6 s wide');
  t.same(mock.stats().badRequests, []);
});

t.test("Duo's clock 90 s behind ours: windows follow Duo's clock, the unsettled tail is asked again, nothing lost", async (t) => {
  // Duo hides what it has not settled (as its docs say); our first window, made before we know Duo's
  // clock, reaches 90 s too far and must not skip those records.
  const duoNow = (): number => Date.now() - 90_000;
  const mock = await startMockDuoApi({ ikey: IKEY, skey: SKEY, events: { authentication: 1200 }, now: duoNow, spanMs: 20 * 60_000, endAgoMs: -10 * 60_000, recentPolicy: 'hide' });
  t.teardown(() => mock.close());
  const rec = recorder();
  const source = createDuoApiSource(mockConfig(mock, { poll_interval_ms: 100 }, { logs: ['authentication'] }), { stateDir: tmpState(), logger: captureLogger().logger, skey: SKEY, userAgent: UA });
  t.teardown(() => source.close());
  await source.start(rec.emit);
  await sleepMs(2500);
  const want = mock.settledKeys('authentication');
  t.ok(await waitFor(() => rec.records.length >= want.length, 5000), `caught up with what Duo settled (${want.length})`);
  await source.close();
  const got = rec.records.map((r) => recordKey('authentication', r.record ?? {}));
  t.equal(new Set(got).size, got.length, 'the re-asked tail brought no duplicate');
  t.same(want.filter((k) => !got.includes(k)), [], 'no gap');
  t.same(mock.stats().badRequests, []);
});

t.test('every attempt is signed with a fresh Date', async (t) => {
  let clock = Date.now();
  const now = (): number => clock;
  const mock = await startMockDuoApi({ ikey: IKEY, skey: SKEY, events: { authentication: 50 }, now, dateToleranceMs: 60_000 });
  t.teardown(() => mock.close());
  mock.inject('http500');
  const rec = recorder();
  const log = captureLogger();
  const source = createDuoApiSource(mockConfig(mock, { poll_interval_ms: 100 }, { logs: ['authentication'] }), { stateDir: tmpState(), logger: log.logger, skey: SKEY, userAgent: UA, now });
  t.teardown(() => source.close());
  await source.start(rec.emit);
  t.ok(await waitFor(() => log.lines.some((l) => l.code === 'DR_ERR_DUO_API'), 5000), 'the first attempt failed');
  // Ten minutes pass before the retry: a reused Date would now be refused (tolerance 60 s).
  clock += 10 * 60_000;
  t.ok(await waitFor(() => rec.records.length === 50, 5000), 'the retry carried a current Date');
  t.equal(mock.stats().badDates, 0);
});
