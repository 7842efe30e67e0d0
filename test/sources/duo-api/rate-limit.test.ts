/**
 * 429 / 42901: the cycle is skipped and a capped, jittered backoff waited out, so a rate-limited lane
 * never hammers Duo; a lane whose request budget matches the limit never sees a 429 at all.
 */
import t from 'tap';
import { createDuoApiSource } from '../../../src/sources/duo-api/index.js';
import { startMockDuoApi, type RequestLogEntry } from '../../mock-duo-api/server.js';
import { recordKey } from '../../mock-duo-api/data.js';
import { mockConfig, tmpState, recorder, waitFor, captureLogger, IKEY, SKEY, UA } from '../../mock-duo-api/helpers.js';

const LIMIT = 3;
const WINDOW_MS = 1000;

function maxInWindow(entries: RequestLogEntry[]): number {
  const times = entries.map((e) => e.at).sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while ((times[i] ?? 0) - (times[j] ?? 0) >= WINDOW_MS) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

t.test('an over-eager budget meets 429s: backoff after each, no storm, nothing lost', async (t) => {
  const mock = await startMockDuoApi({ ikey: IKEY, skey: SKEY, events: { authentication: 12_000, activity: 6000 }, rateLimitPerMin: LIMIT, rateWindowMs: WINDOW_MS });
  t.teardown(() => mock.close());
  const log = captureLogger();
  const rec = recorder();
  const backoff = { min_ms: 1000, max_ms: 4000, factor: 2, jitter: 0.5 };
  const source = createDuoApiSource(mockConfig(mock, { request_interval_ms: 0, poll_interval_ms: 100, rate_limit_backoff: backoff }, { logs: ['authentication', 'activity'] }), {
    stateDir: tmpState(),
    logger: log.logger,
    skey: SKEY,
    userAgent: UA,
  });
  t.teardown(() => source.close());
  await source.start(rec.emit);
  t.ok(await waitFor(() => rec.records.length >= 18_000, 40_000), `everything arrived despite the limit (${rec.records.length})`);
  await source.close();

  const st = mock.stats();
  t.ok(st.rateLimited > 0, `the limit was hit (${st.rateLimited} times)`);
  for (const path of ['/admin/v2/logs/authentication', '/admin/v2/logs/activity']) {
    const entries = st.log.filter((e) => e.path === path);
    const limited = entries.filter((e) => e.status === 429);
    // After each 429 the lane waits at least min_ms × (1 − jitter) before asking again.
    for (const l of limited) {
      const next = entries.find((e) => e.at > l.at);
      if (next !== undefined) t.ok(next.at - l.at >= backoff.min_ms * (1 - backoff.jitter) - 20, `${path}: ${Math.round(next.at - l.at)} ms of quiet after a 429`);
    }
    // Accepted plus refused requests in any window: the limit, the 429 that said so, and at most one early retry.
    t.ok(maxInWindow(entries) <= LIMIT + 2, `${path}: at most ${LIMIT + 2} requests in any ${WINDOW_MS} ms (${maxInWindow(entries)})`);
    t.ok(limited.length <= Math.ceil(entries.length / LIMIT), `${path}: ${limited.length} refusals for ${entries.length} requests`);
  }
  const auth = rec.records.filter((r) => r.kind === 'authentication').map((r) => recordKey('authentication', r.record ?? {}));
  t.equal(new Set(auth).size, 12_000, 'no duplicate, no gap');
  const warned = log.lines.filter((l) => l.code === 'DR_ERR_DUO_RATE_LIMIT' && l.level === 40);
  t.ok(warned.length >= 1 && warned.every((l) => /rate-limited.*42901.*skips its cycle/.test(String(l.msg))), 'the 429 is logged with code 42901');
});

t.test('a request budget inside the limit (25% margin): zero 429s and the minimum number of requests', async (t) => {
  const mock = await startMockDuoApi({ ikey: IKEY, skey: SKEY, events: { authentication: 4500 }, rateLimitPerMin: LIMIT, rateWindowMs: WINDOW_MS });
  t.teardown(() => mock.close());
  const rec = recorder();
  const source = createDuoApiSource(mockConfig(mock, { request_interval_ms: Math.ceil((WINDOW_MS / LIMIT) * 1.25), poll_interval_ms: 60_000 }, { logs: ['authentication'] }), {
    stateDir: tmpState(),
    logger: captureLogger().logger,
    skey: SKEY,
    userAgent: UA,
  });
  t.teardown(() => source.close());
  await source.start(rec.emit);
  t.ok(await waitFor(() => rec.records.length >= 4500, 10_000), 'everything arrived');
  await source.close();
  const st = mock.stats();
  t.equal(st.rateLimited, 0, 'never refused');
  t.equal(st.byPath['/admin/v2/logs/authentication'], Math.ceil(4500 / 1000), 'requests = ceil(N / 1000)');
});
