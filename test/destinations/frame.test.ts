import t from 'tap';
import fc from 'fast-check';
import { frameOctet, frameLf, frameOctetBatch, frameLfBatch, batchFramer, escapeLineBreaks, encodeTruncated } from '../../src/destinations/frame.js';
import { deframeOctets } from '../helpers/syslog-dest.js';

t.test('octet counting counts UTF-8 bytes, not characters', async (t) => {
  t.equal(frameOctet('abc').toString('latin1'), '3 abc');
  const m = 'héllo ✓ 😀';
  const f = frameOctet(m);
  t.equal(Buffer.byteLength(m), 15);
  t.equal(f.subarray(0, 3).toString(), '15 ');
  t.equal(f.subarray(3).toString('utf8'), m);
  t.equal(frameOctet('').toString(), '0 ', 'empty message still framed');
  t.equal(frameOctet('a\nb').toString(), '3 a\nb', 'octet counting is transparent for LF');
});

t.test('LF framing escapes CR and LF like rsyslog (#012/#015)', async (t) => {
  t.equal(frameLf('plain').toString(), 'plain\n');
  t.equal(frameLf('a\nb\r\nc').toString(), 'a#012b#015#012c\n');
  const s = 'no breaks here';
  t.equal(escapeLineBreaks(s), s, 'same string back when nothing to escape');
  t.equal(frameLf('✓\n✓').toString('utf8'), '✓#012✓\n');
});

t.test('batch framers build one buffer equal to the concatenated single frames', async (t) => {
  const msgs = ['a', 'héllo', '', 'x'.repeat(1000), 'l1\nl2'];
  t.same(frameOctetBatch(msgs), Buffer.concat(msgs.map(frameOctet)));
  t.same(frameLfBatch(msgs), Buffer.concat(msgs.map(frameLf)));
  t.equal(batchFramer('lf'), frameLfBatch);
  t.equal(batchFramer('octet-counting'), frameOctetBatch);
  t.equal(frameOctetBatch([]).length, 0);
});

t.test('property: a deframer recovers exactly the messages (any Unicode, any lengths)', async (t) => {
  // RFC 6587 MSG-LEN has no leading zero, so an empty message is not a valid frame: generate 1+ chars.
  fc.assert(
    fc.property(fc.array(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 300 }), { maxLength: 40 }), (msgs) => {
      const { msgs: back, rest } = deframeOctets(frameOctetBatch(msgs));
      return rest.length === 0 && JSON.stringify(back) === JSON.stringify(msgs);
    }),
    { numRuns: 300 },
  );
  t.pass('300 random batches round-tripped');
});

t.test('property: LF frames are one line each and unescape to the original', async (t) => {
  const unit = fc.constantFrom('a', 'é', '✓', '😀', '\n', '\r', ' ', '#', '0', '1', '2');
  fc.assert(
    fc.property(fc.array(fc.string({ unit, maxLength: 200 }).filter((s) => !s.includes('#01')), { maxLength: 30 }), (msgs) => {
      const lines = frameLfBatch(msgs).toString('utf8').split('\n');
      if (lines.pop() !== '' || lines.length !== msgs.length) return false;
      return lines.every((l, i) => l.replace(/#012/g, '\n').replace(/#015/g, '\r') === msgs[i]);
    }),
    { numRuns: 300 },
  );
  t.pass('300 random LF batches checked');
});

t.test('encodeTruncated cuts at a UTF-8 boundary', async (t) => {
  const m = 'ab✓✓'; // 2 + 3 + 3 bytes
  t.same(encodeTruncated(m, 100), { bytes: Buffer.from(m), truncated: false });
  t.equal(encodeTruncated(m, 8).truncated, false);
  for (const [cap, want] of [[7, 'ab✓'], [6, 'ab✓'], [5, 'ab✓'], [4, 'ab'], [2, 'ab'], [1, 'a'], [0, '']] as const) {
    const r = encodeTruncated(m, cap);
    t.equal(r.bytes.toString('utf8'), want, `cap ${cap}`);
    t.ok(r.bytes.length <= cap);
    t.equal(r.truncated, true);
  }
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), fc.integer({ min: 0, max: 400 }), (s, cap) => {
      const r = encodeTruncated(s, cap);
      const whole = Buffer.from(s, 'utf8');
      const isPrefix = whole.subarray(0, r.bytes.length).equals(r.bytes);
      // Valid UTF-8 (no split character) round-trips byte for byte through a string.
      const wellCut = Buffer.from(r.bytes.toString('utf8'), 'utf8').equals(r.bytes);
      const longest = r.bytes.length > cap - 4; // never cut more than one character's worth
      return r.bytes.length <= cap && isPrefix && wellCut && (r.truncated ? longest : r.bytes.length === whole.length);
    }),
    { numRuns: 300 },
  );
});
