import t from 'tap';
import { ReplayWindow, heldBytes } from '../../src/destinations/replay-window.js';

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

t.test('the size cap counts the memory an entry holds: a batch buffer of its own whole, a small one by its bytes', async (t) => {
  const released: Buffer[] = [];
  const w = new ReplayWindow(300, 250_000, (b) => released.push(b));
  // Framed batches are views from byte 0 of a larger buffer (the encoder's headroom).
  const own = (used: number): Buffer => Buffer.from(new ArrayBuffer(100_000)).subarray(0, used);
  t.equal(heldBytes(own(80_000)), 100_000, 'a batch buffer holds its whole ArrayBuffer');
  const pooled = Buffer.from('a small message');
  t.equal(heldBytes(pooled), pooled.length, 'a small (possibly pooled) buffer counts its bytes');
  const a = own(80_000);
  const b = own(80_000);
  w.written(a, 1, 0);
  w.written(b, 1, 1);
  t.same(released, [], '2 × 100 000 held: under the cap');
  // By bytes used, 3 × 80 000 = 240 000 would fit; the memory held, 300 000, does not.
  w.written(own(80_000), 1, 2);
  t.same(released, [a], 'the third puts the memory held over the cap: the oldest leaves');
});
