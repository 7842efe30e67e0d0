/**
 * Bounded memory: 1M records (576 MiB) waiting on disk and read through once must not be loaded
 * into memory. Runs the bench's RSS child (a fresh process) and checks how far its RSS rose
 * above what it used right after opening the queue (the absolute number depends on the loader:
 * under the test's TypeScript loader the process starts near 250 MiB; `npm run bench` prints
 * the absolute figure from dist/).
 */
import t from 'tap';
import { measureRss } from '../../bench/queue.js';

const LIMIT_MIB = 64;

t.test('1M waiting records: RSS grows by a bounded amount, not with the backlog', async (t) => {
  const r = await measureRss(1_000_000, [], 240_000);
  const grown = (r.peakRss - r.baseRss) / 1024 / 1024;
  t.equal(r.waiting, 1_000_000, 'one million records were waiting');
  t.equal(r.read, 1_000_000, 'and every one was read back');
  t.ok(r.bytes > 500 * 1024 * 1024, `the backlog is on disk (${(r.bytes / 1024 / 1024).toFixed(0)} MiB)`);
  t.ok(grown <= LIMIT_MIB, `RSS rose ${grown.toFixed(1)} MiB above the ${(r.baseRss / 1024 / 1024).toFixed(0)} MiB after open (limit ${LIMIT_MIB} MiB, backlog ${(r.bytes / 1024 / 1024).toFixed(0)} MiB)`);
});
