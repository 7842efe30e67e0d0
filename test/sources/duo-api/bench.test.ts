/** The poller bench runs end to end (small N), so `npm run bench` cannot rot unnoticed. */
import t from 'tap';
import { benchDuoApi } from '../../../bench/duo-api.js';

t.test('bench/duo-api: backfill line and rate-limited line', async (t) => {
  const { lines } = await benchDuoApi({ events: 20_000, limitedEvents: 3000 });
  t.equal(lines.length, 2, lines.join('\n'));
  t.match(lines[0], /^duo-api: backfill 20000 authentication events in 20 pages, [\d.]+ s: \d+ ev\/s \(target ≥ 50k\), peak RSS \d+ MB \(target ≤ 150 MB; node --max-semi-space-size=2 [^)]*\)$/);
  t.match(lines[1], /^duo-api: rate limit 4\/1000 ms: 3000 events with 3 requests \(minimum ceil\(N\/1000\) = 3\), 0 answered 429, [\d.]+ s$/);
});
