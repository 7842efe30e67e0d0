import t from 'tap';
import fc from 'fast-check';
import { escapeCefHeader, escapeCefValue, escapeSdValue, sanitizeLeef, unescapeSdValue } from '../../src/formats/escape.js';
import { isSdName, assertSdName } from '../../src/formats/sd-name.js';

t.test('SD values: only " \\ ] escaped; fast path keeps the string', async (t) => {
  t.equal(escapeSdValue('plain value with spaces = and |'), 'plain value with spaces = and |');
  t.equal(escapeSdValue('a"b\\c]d'), 'a\\"b\\\\c\\]d');
  t.equal(escapeSdValue('"'), '\\"');
  t.equal(escapeSdValue(''), '');
  t.equal(unescapeSdValue('a\\"b\\\\c\\]d\\x\\'), 'a"b\\c]d\\x\\', 'other backslashes stay literal');
  fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => unescapeSdValue(escapeSdValue(s)) === s));
});

t.test('CEF header: | and \\ escaped, line breaks become spaces', async (t) => {
  t.equal(escapeCefHeader('Duo Security'), 'Duo Security');
  t.equal(escapeCefHeader('a|b\\c\nd\re'), 'a\\|b\\\\c d e');
});

t.test('CEF extension: = and \\ escaped, line breaks as \\n \\r, | left alone', async (t) => {
  t.equal(escapeCefValue('x|y'), 'x|y');
  t.equal(escapeCefValue('a=b\\c\nd\re'), 'a\\=b\\\\c\\nd\\re');
});

t.test('LEEF: tabs and line breaks (and | in the header) become spaces', async (t) => {
  t.equal(sanitizeLeef('a|b', false), 'a|b');
  t.equal(sanitizeLeef('a\tb\nc\rd', false), 'a b c d');
  t.equal(sanitizeLeef('a|b\tc', true), 'a b c');
  t.equal(sanitizeLeef('plain', true), 'plain');
});

t.test('SD-NAME rules', async (t) => {
  for (const ok of ['origin', 'duo@32473', 'a', 'x'.repeat(32), '!#$%&\'()*+,-./:;<>?@[\\^_`{|}~']) t.ok(isSdName(ok), ok);
  for (const bad of ['', 'x'.repeat(33), 'a b', 'a=b', 'a]b', 'a"b', 'é', 'a\u0000']) t.notOk(isSdName(bad), JSON.stringify(bad));
  t.throws(() => assertSdName('a b'), { code: 'DR_ERR_CONFIG', message: /SD-NAME "a b"/ });
  t.doesNotThrow(() => assertSdName('timeSource'));
});
