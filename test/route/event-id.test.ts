import t from 'tap';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { contentHash, contentHashOfBytes, eventId } from '../../src/route/event-id.js';

t.test("Duo's own ids", async (t) => {
  t.equal(eventId('authentication', { txid: '5a845249-1cb8-476f-a620-cfe31464d417' }, '{}'), '5a845249-1cb8-476f-a620-cfe31464d417');
  t.equal(eventId('telephony', { telephony_id: 'tel-1', txid: 'auth-1' }, '{}'), 'tel-1', 'telephony_id, not the txid of the authentication');
  t.equal(eventId('activity', { activity_id: 'act-1' }, '{}'), 'act-1');
  t.equal(eventId('trust-monitor', { sekey: 'SEISSBQR6V0LSGE0MU56' }, '{}'), 'SEISSBQR6V0LSGE0MU56');
});

t.test('content hash otherwise', async (t) => {
  const raw = '{"action":"user_update"}';
  const want = createHash('sha256').update(raw).digest('hex').slice(0, 32);
  t.equal(eventId('administrator', { action: 'user_update', txid: 'ignored' }, raw), want, 'administrator: hash even with a txid key');
  t.equal(eventId('authproxy', {}, raw), want);
  t.equal(eventId('offline-enrollment', {}, raw), want);
  t.equal(eventId('telephony', { txid: 'x' }, raw), want, 'telephony v1: no telephony_id');
  for (const bad of [undefined, null, 42, '', 'has space', 'tab\t', 'ü', 'x'.repeat(129), { a: 1 }]) {
    t.equal(eventId('authentication', { txid: bad }, raw), want, `unusable txid ${JSON.stringify(bad)} → hash`);
  }
  t.equal(eventId('authentication', { txid: 'x'.repeat(128) }, raw), 'x'.repeat(128), '128 chars is fine');
  t.equal(contentHash(raw), want);
  t.match(contentHash(''), /^[0-9a-f]{32}$/);
});

t.test('stable, and the MSP account is part of the hash', async (t) => {
  const raw = '{"context":"verify"}';
  t.equal(eventId('telephony', {}, raw), eventId('telephony', {}, raw), 'same input, same id');
  t.not(eventId('telephony', {}, raw, 'ACC1'), eventId('telephony', {}, raw), 'account changes the hash');
  t.not(eventId('telephony', {}, raw, 'ACC1'), eventId('telephony', {}, raw, 'ACC2'));
  t.equal(eventId('telephony', {}, raw, 'ACC1'), eventId('telephony', {}, raw, 'ACC1'));
  t.equal(eventId('authentication', { txid: 't' }, raw, 'ACC1'), 't', 'natural ids are globally unique: no account');
});

t.test('contentHashOfBytes: the hash of the text the bytes decode to, or none when decoding changes them (property)', async (t) => {
  const bytesArb = fc.oneof(
    fc.string({ unit: 'grapheme', maxLength: 60 }).map((s) => Buffer.from(s)),
    fc.uint8Array({ maxLength: 60 }).map((a) => Buffer.from(a)),
    fc.constant(Buffer.from([0xed, 0xa0, 0x80])), // an encoded lone surrogate: not UTF-8
    fc.constant(Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d])), // a BOM and {}: valid, kept
  );
  fc.assert(
    fc.property(bytesArb, (b) => {
      const text = b.toString('utf8');
      const h = contentHashOfBytes(b);
      if (h !== undefined) t.equal(h, contentHash(text));
      // None exactly when the bytes are not what their text encodes to (invalid sequences became U+FFFD).
      t.equal(h === undefined, !Buffer.from(text).equals(b));
    }),
    { numRuns: 500 },
  );
});

t.test('a hash known beforehand stands in for the content hash only', async (t) => {
  const raw = '{"msg":"x"}';
  t.equal(eventId('authproxy', {}, raw, undefined, 'f'.repeat(32)), 'f'.repeat(32), 'taken instead of hashing again');
  t.equal(eventId('authentication', { txid: 't-1' }, raw, undefined, 'f'.repeat(32)), 't-1', "Duo's own id still wins");
});
