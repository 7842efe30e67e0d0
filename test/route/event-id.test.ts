import t from 'tap';
import { createHash } from 'node:crypto';
import { contentHash, eventId } from '../../src/route/event-id.js';

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
