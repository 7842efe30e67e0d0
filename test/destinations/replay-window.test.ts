import t from 'tap';
import { ReplayWindow } from '../../src/destinations/replay-window.js';

const batch = (n: number, fill: number): Buffer => Buffer.alloc(n, fill);

t.test('buffers leave the window by age and by size, and each is released once', async (t) => {
  const released: Buffer[] = [];
  const w = new ReplayWindow(300, 1000, (b) => released.push(b));
  const a = batch(400, 1);
  const b = batch(400, 2);
  const c = batch(400, 3);
  w.written(a, 10, 0);
  w.written(b, 10, 100);
  t.same(released, [], 'both within 300 ms and 1000 bytes');
  w.written(c, 10, 150);
  t.same(released, [a], 'over 1000 bytes: the oldest leaves');
  w.written(batch(1, 4), 1, 460);
  t.same(released, [a, b, c], 'older than 300 ms: released');
  t.equal(w.connectionLost(460), 1, 'only the last batch is still in the window');
});

t.test('a lost connection queues the window for a resend: nothing is released', async (t) => {
  const released: Buffer[] = [];
  const w = new ReplayWindow(300, 1 << 20, (b) => released.push(b));
  const a = batch(10, 1);
  const b = batch(10, 2);
  w.written(a, 3, 0);
  w.written(b, 4, 100);
  t.equal(w.connectionLost(200), 7, 'both batches are suspects');
  t.same(w.pendingBuffers(), [a, b]);
  w.written(batch(10, 3), 1, 10_000);
  t.same(released, [], 'pending batches are not handed back while a resend needs them');
  w.replayed(2);
  t.equal(w.pendingCount, 0);
});

t.test('no window (settle_ms 0): every buffer comes straight back', async (t) => {
  const released: Buffer[] = [];
  const w = new ReplayWindow(0, 1 << 20, (b) => released.push(b));
  const a = batch(10, 1);
  w.written(a, 1, 0);
  t.same(released, [a]);
  t.equal(w.connectionLost(1), 0);
});
