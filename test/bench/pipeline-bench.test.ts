/**
 * The pipeline bench runs end to end on a small file (real relay processes, real TLS receiver, and
 * rsyslog when installed), so `npm run bench` cannot rot unnoticed: every line it prints has its
 * figures, every event arrived, and the comparisons are computed.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { benchPipeline, benchSizes } from '../../bench/pipeline.js';

t.test('bench/pipeline: direct, disk queue and rsyslog lines with their ratios', { timeout: 120_000 }, async (t) => {
  const lines = 3000;
  const { lines: out, figures } = await benchPipeline(lines, 2);
  t.match(out[0], /^pipeline: 3000 proxy lines, relay started as MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 node --max-semi-space-size=2 .*; median of 2 round\(s\)$/, out.join('\n'));
  t.ok(out.filter((l) => /; rounds \d+, \d+ ev\/s\)$/.test(l)).length >= 2, 'every round\'s rate is printed');
  const names = figures.map((f) => f.name);
  t.same(names.slice(0, 2), ['duo-relay (direct)', 'duo-relay (disk queue)']);
  for (const f of figures) {
    t.equal(f.events, lines, `${f.name}: every event arrived`);
    t.ok(f.eventsPerSec > 0 && f.cpuSeconds > 0 && f.peakRssMb > 1, `${f.name}: figures measured (${Math.round(f.eventsPerSec)} ev/s, ${f.cpuSeconds} s cpu, ${Math.round(f.peakRssMb)} MB)`);
  }
  t.ok(out.some((l) => /queue cost: -?[\d.]+% \(-?[\d.]+%–-?[\d.]+%\) of direct throughput \(target ≤ 25%\)/.test(l)), 'queue cost printed as median and range of the rounds');
  const rsyslog = ['/usr/sbin/rsyslogd', '/sbin/rsyslogd'].some((p) => existsSync(p));
  if (rsyslog) t.ok(out.some((l) => /ratio duo-relay\(direct\)\/rsyslog: [\d.]+x \([\d.]+x–[\d.]+x\)/.test(l)), 'ratio against rsyslog printed');
});

t.test('bench/pipeline sizes: 200k and 1M lines unless BENCH_LINES names others', async (t) => {
  const saved = process.env['BENCH_LINES'];
  t.teardown(() => {
    if (saved === undefined) delete process.env['BENCH_LINES'];
    else process.env['BENCH_LINES'] = saved;
  });
  delete process.env['BENCH_LINES'];
  t.same(benchSizes(), [200_000, 1_000_000]);
  process.env['BENCH_LINES'] = '5000';
  t.same(benchSizes(), [5000]);
  process.env['BENCH_LINES'] = '200000, 500000';
  t.same(benchSizes(), [200_000, 500_000]);
  process.env['BENCH_LINES'] = '1000,lots';
  t.throws(() => benchSizes(), /BENCH_LINES=1000,lots: give line counts/);
});
