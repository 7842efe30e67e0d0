import t from 'tap';
import fc from 'fast-check';
import { truncateUtf8, wellFormed, isWellFormed } from '../../src/formats/utf8.js';
import { toPrintUsAscii, cachedPrintUsAscii } from '../../src/formats/printable.js';
import { epochMs, scanDateTime, toRfc5424Timestamp, toUtcIso } from '../../src/formats/timestamp.js';

t.test('truncateUtf8: longest prefix that fits, never splitting a character', async (t) => {
  t.equal(truncateUtf8('héllo', 2), 'h', 'é (2 bytes) does not fit in the second byte');
  t.equal(truncateUtf8('héllo', 3), 'hé');
  t.equal(truncateUtf8('😀😀', 5), '😀', 'no half surrogate pair');
  t.equal(truncateUtf8('😀', 3), '');
  t.equal(truncateUtf8('abc', 0), '');
  t.equal(truncateUtf8('abc', 10), 'abc');
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 300 }), fc.integer({ min: 0, max: 900 }), (raw, max) => {
      const s = wellFormed(raw);
      const cut = truncateUtf8(s, max);
      const bytes = Buffer.byteLength(cut);
      if (!s.startsWith(cut) || bytes > max || !isWellFormed(cut)) return false;
      // Maximal: the next whole code point would not have fitted.
      if (cut.length < s.length) {
        const next = String.fromCodePoint(s.codePointAt(cut.length) ?? 0);
        return bytes + Buffer.byteLength(next) > max;
      }
      return true;
    }),
    { numRuns: 500 },
  );
});

t.test('wellFormed replaces only lone surrogates', async (t) => {
  t.equal(wellFormed('a\uD800b\uDC00c😀'), 'a\uFFFDb\uFFFDc😀');
  const s = 'already fine é 😀';
  t.equal(wellFormed(s), s);
});

t.test('PRINTUSASCII sanitising and its cache', async (t) => {
  t.equal(toPrintUsAscii(undefined, 10), '-');
  t.equal(toPrintUsAscii('', 10), '-');
  t.equal(toPrintUsAscii('ok', 10), 'ok');
  t.equal(toPrintUsAscii('a b\u007f', 10), 'a_b_');
  t.equal(toPrintUsAscii('abcdef', 3), 'abc');
  const c = cachedPrintUsAscii(5);
  t.equal(c('a b'), 'a_b');
  t.equal(c('a b'), 'a_b');
  t.equal(c('xyz123'), 'xyz12');
  t.equal(c(undefined), '-');
});

t.test('timestamps', async (t) => {
  t.equal(toRfc5424Timestamp(undefined), null);
  t.equal(toRfc5424Timestamp('2020-02-13T18:56:20.351346+00:00'), '2020-02-13T18:56:20.351346+00:00', 'valid: unchanged');
  t.equal(toRfc5424Timestamp('2020-02-13T18:56:20.1234567-07:30'), '2020-02-13T18:56:20.123456-07:30');
  t.equal(toRfc5424Timestamp('2020-02-13T18:56:20.999999999Z'), '2020-02-13T18:56:20.999999Z', 'truncated, never rounded into the next second');
  t.equal(toRfc5424Timestamp('2000-02-29T00:00:00Z'), '2000-02-29T00:00:00Z', '2000 is a leap year');
  t.equal(toRfc5424Timestamp('1900-02-29T00:00:00Z'), null, '1900 is not');
  t.equal(toRfc5424Timestamp('2020-02-13T18:56:20Zjunk'), null);
  t.equal(toRfc5424Timestamp('2020-02-13T18:56:20+0100'), null, 'offset needs a colon');
  t.equal(toRfc5424Timestamp('2020-02-13T18:60:20Z'), null);
  t.equal(toUtcIso('2020-02-13T18:56:20.351346+00:00'), '2020-02-13T18:56:20.351346Z');
  t.equal(toUtcIso('2024-08-06T09:52:42+00:00'), '2024-08-06T09:52:42Z');
  t.equal(toUtcIso('2020-01-01T00:30:00.5+01:00'), '2019-12-31T23:30:00.5Z', 'offset applied, fraction kept');
  t.equal(toUtcIso('0050-06-01T00:00:00-01:00'), '0050-06-01T01:00:00Z', 'years below 100 stay themselves');
  t.equal(toUtcIso('0000-01-01T00:00:00+01:00'), null, 'would leave year 0000');
  t.equal(toUtcIso('nope'), null);
  const p = scanDateTime('2020-02-13T18:56:20.351346+05:30', true);
  t.ok(p !== null);
  if (p !== null) t.equal(epochMs(p), Date.parse('2020-02-13T18:56:20.351+05:30'));
  fc.assert(
    fc.property(fc.date({ min: new Date('0100-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }), (d) => {
      const iso = d.toISOString();
      const q = scanDateTime(iso, true);
      return toRfc5424Timestamp(iso) === iso && q !== null && epochMs(q) === d.getTime() && toUtcIso(iso) === iso;
    }),
  );
});

t.test('toRfc5424Timestamp keeps a time exactly when the strict scan accepts it', async (t) => {
  const digit = fc.constantFrom('0', '1', '2', '5', '9');
  const time = fc
    .tuple(
      fc.array(digit, { minLength: 4, maxLength: 4 }),
      fc.constantFrom('01', '02', '12', '13', '00'),
      fc.constantFrom('01', '28', '29', '31', '32'),
      fc.constantFrom('T', 't', ' '),
      fc.constantFrom('00', '23', '24'),
      fc.constantFrom('00', '59', '60'),
      fc.constantFrom('', '.', '.1', '.123456', '.1234567'),
      fc.constantFrom('Z', 'z', '+00:00', '-05:30', '+0000', '+24:00', ''),
    )
    .map(([y, mo, d, sep, h, s, f, z]) => `${y.join('')}-${mo}-${d}${sep}${h}:30:${s}${f}${z}`);
  fc.assert(
    fc.property(time, (s) => {
      const strict = scanDateTime(s, true) !== null;
      const out = toRfc5424Timestamp(s);
      return strict ? out === s : out !== s;
    }),
    { numRuns: 3000 },
  );
  t.pass('3000 generated times');
});
