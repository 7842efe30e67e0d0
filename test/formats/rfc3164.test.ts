import t from 'tap';
import type { RelayEvent } from '../../src/event.js';
import type { FormatOptions } from '../../src/config/schema.js';
import { createRfc3164Formatter, bsdTimestamp, toBsdTag } from '../../src/formats/rfc3164.js';
import { messageBody } from '../../src/formats/message.js';

const OPTS: FormatOptions = { format: 'rfc3164', message: 'flattened', facility: 'auth', enterprise_id: 32473, bom: false, max_message_bytes: 1024 };
const CTX = { fallbackHost: 'relay.example.com', software: 'duo-relay', swVersion: '1.2.3', now: () => new Date('2024-05-04T01:02:03Z') };
const ev = (over: Partial<RelayEvent> = {}): RelayEvent => ({
  kind: 'authproxy',
  tag: 'auth.duo.authentication-proxy.events',
  msgid: 'authproxy',
  host: 'authproxy01',
  time: '2024-05-14T09:30:00.123456Z',
  id: 'x',
  fields: { status: 'Allow' },
  raw: '{"status":"Allow"}',
  ...over,
});

// RFC 3164 §4.1 layout: <PRI>Mmm dd hh:mm:ss HOST TAG: CONTENT
const LINE = /^<(\d{1,3})>([A-Z][a-z]{2}) ([ 1-3]\d) (\d{2}):(\d{2}):(\d{2}) (\S+) ([A-Za-z0-9._/-]{1,48}): (.*)$/s;

t.test('layout, UTC time, PRI', async (t) => {
  const f = createRfc3164Formatter(OPTS, CTX, messageBody('flattened'));
  t.equal(f(ev()), '<38>May 14 09:30:00 authproxy01 auth.duo.authentication-proxy.events: {"status":"Allow"}');
  t.match(f(ev({ fields: { status: 'Reject' } })), /^<37>/, 'Reject → notice');
  t.equal(f(ev({ time: '2024-01-05T23:59:59-02:00' })).slice(0, 20), '<38>Jan  6 01:59:59 ', 'converted to UTC, day space-padded');
  const out = f(ev({ time: 'garbage' }));
  t.match(out, /^<38>May  4 01:02:03 /, 'invalid time → relay clock');
  t.equal(f.stats.timeSubstituted, 1);
  t.ok(LINE.test(out));
});

t.test('host and tag sanitised, fallbacks', async (t) => {
  const f = createRfc3164Formatter(OPTS, CTX, messageBody('flattened'));
  const m = LINE.exec(f(ev({ host: 'bad host', tag: 'auth duo:events[1]' })));
  t.equal(m?.[7], 'bad_host');
  t.equal(m?.[8], 'auth_duo_events_1_');
  t.equal(LINE.exec(f(ev({ host: undefined })))?.[7], 'relay.example.com');
  t.equal(LINE.exec(f(ev({ host: '' })))?.[7], 'relay.example.com', 'no NILVALUE in 3164');
  t.equal(LINE.exec(f(ev({ tag: '' })))?.[8], 'duo-relay');
  t.equal(toBsdTag('x'.repeat(60), 'f'), 'x'.repeat(48));
  t.equal(toBsdTag('ok.tag-1', 'f'), 'ok.tag-1');
  t.equal(bsdTimestamp(Date.UTC(2024, 11, 31, 5, 6, 7)), 'Dec 31 05:06:07');
});

t.test('byte limit', async (t) => {
  const f = createRfc3164Formatter(OPTS, CTX, messageBody('raw'));
  const out = f(ev({ raw: 'é'.repeat(2000) }));
  t.ok(Buffer.byteLength(out) <= 1024 && Buffer.byteLength(out) >= 1023);
  t.equal(f.stats.truncated, 1);
  t.ok(LINE.test(out));
});
