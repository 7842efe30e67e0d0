/**
 * Every endpoint end to end: createDuoApiSource → mock Admin API over HTTPS → recording emit.
 * Counts, kinds, eventtype/host, no duplicate and no gap, across v2/v5 signing and overlapping offsets.
 */
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDuoApiSource } from '../../../src/sources/duo-api/index.js';
import { startMockDuoApi, type MockDuoApi } from '../../mock-duo-api/server.js';
import { recordKey, type MockEndpoint } from '../../mock-duo-api/data.js';
import { mockConfig, tmpState, recorder, waitFor, captureLogger, IKEY, SKEY, UA, type Recorder } from '../../mock-duo-api/helpers.js';
import type { DuoApiLog } from '../../../src/config/schema.js';

const LOG_TO_MOCK: Record<DuoApiLog, MockEndpoint> = {
  administrator: 'administrator',
  authentication: 'authentication',
  telephony: 'telephony',
  'offline-enrollment': 'offline-enrollment',
  activity: 'activity',
  'trust-monitor': 'trust-monitor',
};

function keysOf(rec: Recorder, kind: string, endpoint: MockEndpoint): string[] {
  return rec.records.filter((r) => r.kind === kind).map((r) => recordKey(endpoint, r.record ?? {}));
}

async function runToCompletion(t: Test, mock: MockDuoApi, expected: Map<string, { endpoint: MockEndpoint; keys: string[] }>, cfgOver: Parameters<typeof mockConfig>[1], input: Record<string, unknown> = {}): Promise<Recorder> {
  const rec = recorder();
  const stateDir = tmpState();
  const source = createDuoApiSource(mockConfig(mock, cfgOver, input), { stateDir, logger: captureLogger().logger, skey: SKEY, userAgent: UA });
  t.teardown(() => source.close());
  await source.start(rec.emit);
  const total = [...expected.values()].reduce((n, e) => n + e.keys.length, 0);
  const done = await waitFor(() => rec.records.length >= total, 30_000);
  t.ok(done, `all ${total} records arrived (got ${rec.records.length})`);
  await source.close();
  return rec;
}

t.test('all six endpoints, v5 signing, exact counts, eventtype/host added, nothing twice', async (t) => {
  const events = { administrator: 2300, authentication: 2500, telephony: 1200, 'offline-enrollment': 30, activity: 1100, 'trust-monitor': 450 };
  const mock = await startMockDuoApi({ ikey: IKEY, skey: SKEY, events });
  t.teardown(() => mock.close());
  const expected = new Map(
    (Object.keys(LOG_TO_MOCK) as DuoApiLog[]).map((log) => [log, { endpoint: LOG_TO_MOCK[log], keys: mock.settledKeys(LOG_TO_MOCK[log]) }] as const),
  );
  for (const [log, e] of expected) t.equal(e.keys.length, events[log as keyof typeof events], `${log}: every generated record is settled`);
  const rec = await runToCompletion(t, mock, expected, { sig_version: 5 });
  for (const [log, e] of expected) {
    const got = keysOf(rec, log, e.endpoint);
    t.equal(got.length, e.keys.length, `${log}: count`);
    t.equal(new Set(got).size, got.length, `${log}: no duplicate`);
    t.same([...got].sort(), [...e.keys].sort(), `${log}: no gap`);
  }
  const eventtypes = new Set(rec.records.map((r) => `${r.kind}=${String(r.record?.eventtype)}`));
  t.same([...eventtypes].sort(), [
    'activity=activity',
    'administrator=administrator',
    'authentication=authentication',
    'offline-enrollment=offline_enrollment',
    'telephony=telephony',
    'trust-monitor=trust_monitor',
  ]);
  t.ok(rec.records.every((r) => r.record?.host === '127.0.0.1' && r.host === '127.0.0.1'), 'host added without the port');
  t.ok(rec.records.every((r) => r.position === `api:127.0.0.1/${r.kind ?? ''}` && r.account === undefined), 'position names host and endpoint');
  const st = mock.stats();
  t.equal(st.badSignatures, 0);
  t.equal(st.badDates, 0);
  t.same(st.badRequests, [], 'no request broke a Duo rule (2-minute delay, 180 days, limits)');
  t.ok((st.sigKinds.v5 ?? 0) > 0 && st.sigKinds['v2-sha512'] === undefined, 'signed with v5');
  t.same(st.userAgents, [UA]);
  // Admin v1 pages of 1000 end in the middle of a second; those records were neither lost nor repeated.
  t.ok((st.byPath['/admin/v1/logs/administrator'] ?? 0) >= 3, 'administrator needed several pages');
});

t.test('telephony v1, v2 signing and an offset that repeats the boundary record', async (t) => {
  const events = { 'telephony-v1': 2100, authentication: 3000, activity: 1500 } as const;
  const mock = await startMockDuoApi({ ikey: IKEY, skey: SKEY, events, inclusiveOffset: true });
  t.teardown(() => mock.close());
  const expected = new Map([
    ['telephony', { endpoint: 'telephony-v1' as const, keys: mock.settledKeys('telephony-v1') }],
    ['authentication', { endpoint: 'authentication' as const, keys: mock.settledKeys('authentication') }],
    ['activity', { endpoint: 'activity' as const, keys: mock.settledKeys('activity') }],
  ]);
  const rec = await runToCompletion(t, mock, expected, { sig_version: 2, telephony_version: 1 }, { logs: ['telephony', 'authentication', 'activity'] });
  for (const [log, e] of expected) {
    const got = keysOf(rec, log, e.endpoint);
    t.equal(new Set(got).size, got.length, `${log}: the repeated boundary records were dropped`);
    t.same([...got].sort(), [...e.keys].sort(), `${log}: no gap`);
  }
  t.ok(rec.records.filter((r) => r.kind === 'telephony').every((r) => r.record?.eventtype === 'telephony' && typeof r.record.timestamp === 'number'), 'v1 telephony records');
  const st = mock.stats();
  t.ok((st.sigKinds['v2-sha512'] ?? 0) > 0 && st.sigKinds.v5 === undefined, 'signed with v2 HMAC-SHA512');
  t.equal(st.badSignatures, 0);
});

t.test('cursors: a restart resumes exactly, and new records arrive in later cycles', async (t) => {
  let clock = Date.now();
  const now = (): number => clock;
  const mock = await startMockDuoApi({ ikey: IKEY, skey: SKEY, events: { authentication: 4000, administrator: 1500 }, now, endAgoMs: -10 * 60_000, spanMs: 60 * 60_000 });
  t.teardown(() => mock.close());
  const stateDir = tmpState();
  const cfg = mockConfig(mock, { request_interval_ms: 30 }, { logs: ['authentication', 'administrator'] });
  const first = recorder();
  const a = createDuoApiSource(cfg, { stateDir, logger: captureLogger().logger, skey: SKEY, userAgent: UA, now });
  await a.start(first.emit);
  t.ok(await waitFor(() => first.records.length >= 1500, 20_000), 'first run delivered some records');
  await a.close();
  const cursors: unknown = JSON.parse(readFileSync(join(stateDir, `duo-api-127.0.0.1_${mock.port}.cursors.json`), 'utf8'));
  t.match(cursors, { version: 1, cursors: { 'self/authentication': { mintime_ms: Number }, 'self/administrator': { mintime_ms: Number } } }, 'cursor file per (account, endpoint)');
  // 12 minutes later: records that were in the future or still settling are now visible.
  clock += 12 * 60_000;
  const second = recorder();
  const b = createDuoApiSource(cfg, { stateDir, logger: captureLogger().logger, skey: SKEY, userAgent: UA, now });
  t.teardown(() => b.close());
  await b.start(second.emit);
  const all = [...mock.settledKeys('authentication'), ...mock.settledKeys('administrator')];
  t.equal(all.length, 5500, 'everything is settled by now');
  t.ok(await waitFor(() => first.records.length + second.records.length >= all.length, 20_000), 'second run caught up');
  await b.close();
  const got = [...first.records, ...second.records].map((r) => recordKey(r.kind === 'administrator' ? 'administrator' : 'authentication', r.record ?? {}));
  t.equal(got.length, all.length, 'no record delivered twice across a clean restart');
  t.same(new Set(got), new Set(all), 'no gap');
});
