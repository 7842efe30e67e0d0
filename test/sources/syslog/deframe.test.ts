import t from 'tap';
import fc from 'fast-check';
import { Deframer } from '../../../src/sources/syslog/deframe.js';

const octet = (m: string): Buffer => {
  const b = Buffer.from(m, 'utf8');
  return Buffer.concat([Buffer.from(`${b.length} `), b]);
};

function feed(d: Deframer, stream: Buffer, cuts: number[]): ReturnType<Deframer['push']> {
  const out: ReturnType<Deframer['push']> = [];
  let prev = 0;
  for (const c of [...cuts.filter((x) => x > 0 && x < stream.length)].sort((a, b) => a - b)) {
    out.push(...d.push(stream.subarray(prev, c)));
    prev = c;
  }
  out.push(...d.push(stream.subarray(prev)));
  out.push(...d.end());
  return out;
}

const frames = (evs: ReturnType<Deframer['push']>): string[] => evs.map((e) => (e.ok ? e.frame.toString('utf8') : `!${e.reason}`));

t.test('octet-counted frames survive any chunking, multi-byte UTF-8 and embedded LFs', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }), { minLength: 1, maxLength: 20 }), fc.array(fc.nat(3000)), (msgs, cuts) => {
      const stream = Buffer.concat(msgs.map(octet));
      const got = frames(feed(new Deframer(1 << 20), stream, cuts));
      t.same(got, msgs);
      return got.length === msgs.length;
    }),
    { numRuns: 200 },
  );
});

t.test('LF framing, CRLF, empty lines and a final unterminated frame', async (t) => {
  const d = new Deframer(1024);
  const got = frames([...d.push(Buffer.from('<14>a\r\n\n<14>b\n<14>c')), ...d.end()]);
  t.same(got, ['<14>a', '<14>b', '<14>c']);
});

t.test('mixed framing on one connection', async (t) => {
  const d = new Deframer(1024);
  const got = frames(d.push(Buffer.concat([octet('<14>1 x\ny'), Buffer.from('<14>lf\n'), octet('<14>z')])));
  t.same(got, ['<14>1 x\ny', '<14>lf', '<14>z']);
});

t.test('an oversized octet-counted frame is reported and skipped, following frames flow', async (t) => {
  const d = new Deframer(16);
  const big = 'x'.repeat(100);
  const stream = Buffer.concat([octet(big), octet('<14>after')]);
  const got = frames(feed(d, stream, [5, 30, 60]));
  t.equal(got.length, 2);
  t.match(got[0], /^!Frame of 100 bytes exceeds max_frame_bytes 16/);
  t.equal(got[1], '<14>after');
});

t.test('an oversized LF frame is skipped to the next LF without buffering it', async (t) => {
  const d = new Deframer(16);
  const out = [...d.push(Buffer.from('<'.padEnd(40, 'y'))), ...d.push(Buffer.from('yyyy\n<14>ok\n'))];
  const got = frames(out);
  t.match(got[0], /^!LF-framed message longer than max_frame_bytes/);
  t.equal(got[1], '<14>ok');
});

t.test('an oversized LF frame that arrives in one read is skipped too', async (t) => {
  const d = new Deframer(16);
  const got = frames(d.push(Buffer.from(`<14>${'y'.repeat(40)}\n<14>ok\n${'z'.repeat(16)}\n`)));
  t.equal(got.length, 3);
  t.match(got[0], /^!LF-framed message longer than max_frame_bytes 16/);
  t.equal(got[1], '<14>ok');
  t.equal(got[2], 'z'.repeat(16), 'exactly max_frame_bytes is allowed');
});

t.test('garbage octet counts resynchronise at the next LF', async (t) => {
  const d = new Deframer(1024);
  const got = frames(d.push(Buffer.from('0123 nope\n<14>ok\n12345678901234 x\n<14>ok2\n')));
  t.match(got[0], /^!Invalid octet count "0123"/);
  t.equal(got[1], '<14>ok');
  t.match(got[2], /^!Invalid octet count/);
  t.equal(got[3], '<14>ok2');
});

t.test('connection closed inside an octet-counted frame is reported', async (t) => {
  const d = new Deframer(1024);
  t.same(frames(d.push(Buffer.from('10 abc'))), []);
  t.match(frames(d.end())[0], /^!Connection closed inside an octet-counted frame/);
});
