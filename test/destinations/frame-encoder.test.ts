import t from 'tap';
import fc from 'fast-check';
import { FrameEncoder } from '../../src/destinations/frame-encoder.js';
import { frameOctetBatch, frameLfBatch, type Framing } from '../../src/destinations/frame.js';

function encode(enc: FrameEncoder, msgs: readonly string[], hint = msgs.length): Buffer {
  enc.begin(hint);
  for (const m of msgs) enc.push(m);
  return enc.finish();
}

const reference = (framing: Framing, msgs: readonly string[]): Buffer => (framing === 'lf' ? frameLfBatch(msgs) : frameOctetBatch(msgs));

t.test('same bytes as the two-pass framers, around the MSG-LEN digit boundaries', async (t) => {
  // 9/10 and 99/100 units; multi-byte text whose byte count gains a digit (34 × ✓ = 102 bytes).
  const msgs = ['a'.repeat(9), 'a'.repeat(10), 'b'.repeat(99), 'b'.repeat(100), '✓'.repeat(3), '✓'.repeat(4), '✓'.repeat(33), '✓'.repeat(34), '😀'.repeat(25), 'é'.repeat(500), 'x', 'l1\nl2\r'];
  for (const framing of ['octet-counting', 'lf'] as const) {
    const enc = new FrameEncoder(framing);
    t.same(encode(enc, msgs), reference(framing, msgs), `${framing}: one batch`);
    t.same(encode(enc, msgs.slice().reverse()), reference(framing, msgs.slice().reverse()), `${framing}: the next batch`);
  }
});

t.test('a batch larger than its estimate grows without losing bytes', async (t) => {
  const enc = new FrameEncoder('octet-counting');
  // The estimate comes from 1-byte messages; then one batch of large multi-byte ones.
  t.same(encode(enc, ['a', 'b', 'c']), frameOctetBatch(['a', 'b', 'c']));
  const big = Array.from({ length: 50 }, (_, i) => '✓'.repeat(5000 + i));
  t.same(encode(enc, big, 1), frameOctetBatch(big));
});

t.test('recycled buffers are reused and never change a batch already taken', async (t) => {
  const enc = new FrameEncoder('octet-counting');
  const msgs = Array.from({ length: 200 }, (_, i) => `message ${i} `.repeat(40));
  const first = encode(enc, msgs);
  const firstCopy = Buffer.from(first);
  const second = encode(enc, msgs.slice(0, 150));
  t.same(first, firstCopy, 'a batch not recycled is left alone by later batches');
  enc.recycle(first);
  const third = encode(enc, msgs.slice(50));
  t.equal(third.buffer, first.buffer, 'the recycled memory framed the next batch');
  t.same(third, frameOctetBatch(msgs.slice(50)), 'and the bytes are right');
  t.same(second, frameOctetBatch(msgs.slice(0, 150)), 'the batch framed in between is intact');
  enc.recycle(Buffer.from('small'));
  t.same(encode(enc, ['x']), frameOctetBatch(['x']), 'small or pooled buffers are not kept');
});

t.test('property: any Unicode, any batch shape, both framings, with recycling', async (t) => {
  fc.assert(
    fc.property(
      fc.constantFrom<Framing>('octet-counting', 'lf'),
      fc.array(fc.array(fc.string({ unit: 'grapheme', maxLength: 400 }), { maxLength: 60 }), { minLength: 1, maxLength: 5 }),
      fc.boolean(),
      (framing, batches, recycle) => {
        const enc = new FrameEncoder(framing);
        for (const msgs of batches) {
          const out = encode(enc, msgs);
          if (!out.equals(reference(framing, msgs))) return false;
          if (recycle) enc.recycle(out);
        }
        return true;
      },
    ),
    { numRuns: 300 },
  );
  t.pass('300 random sequences of batches matched the reference framers');
});

t.test('property: pushSplit(head, body) frames exactly like push(head + body)', async (t) => {
  fc.assert(
    fc.property(
      fc.constantFrom<Framing>('octet-counting', 'lf'),
      fc.array(fc.tuple(fc.string({ unit: 'grapheme', maxLength: 120 }), fc.string({ unit: 'grapheme', maxLength: 400 })), { maxLength: 40 }),
      (framing, pairs) => {
        const enc = new FrameEncoder(framing);
        enc.begin(pairs.length);
        for (const [h, b] of pairs) enc.pushSplit(h, b);
        return enc.finish().equals(reference(framing, pairs.map(([h, b]) => h + b)));
      },
    ),
    { numRuns: 300 },
  );
  // Multi-byte text whose byte count gains a digit over its UTF-16 length.
  const enc = new FrameEncoder('octet-counting');
  enc.begin(2);
  enc.pushSplit('✓'.repeat(20), '✓'.repeat(14));
  enc.pushSplit('', 'a'.repeat(9));
  t.same(enc.finish(), frameOctetBatch(['✓'.repeat(34), 'a'.repeat(9)]));
});

t.test('a spare a little smaller than the next estimate is reused (sizes drift from batch to batch)', async (t) => {
  const enc = new FrameEncoder('octet-counting');
  // First batch: the initial guess (1024 B a message) sizes the buffer; 1000 messages of 100 B teach 104 B.
  enc.begin(1000);
  for (let i = 0; i < 1000; i++) enc.push('m'.repeat(100));
  const first = enc.finish(true);
  t.equal(first.byteOffset, 0, 'finish(true) gives the whole buffer from byte 0');
  enc.recycle(first);
  // An estimate about 5 % above the spare's size (10340 × 104 B × 1.25 + 4096): the spare still serves.
  enc.begin(10_340);
  enc.push('x');
  const second = enc.finish(true);
  t.equal(second.buffer, first.buffer, 'the spare holds the next batch');
  t.same(second, frameOctetBatch(['x']), 'with only its own bytes');
});
