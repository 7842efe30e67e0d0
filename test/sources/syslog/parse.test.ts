/** recordFromFrame on what relayed Duo events look like on the wire (DESIGN §1 item 3, notes §1, §1.7, §4). */
import t from 'tap';
import fc from 'fast-check';
import { recordFromFrame, kindFromTag, skipStructuredData } from '../../../src/sources/syslog/parse.js';
import { parseRfc5424 } from '../../../src/formats/rfc5424-parse.js';
import { EVENTS } from '../../fixtures/syslog/harness.js';

const PEER = '10.9.8.7';
const POS = 'syslog:tcp://10.9.8.7:5000#1';
const from = (s: string | Buffer): ReturnType<typeof recordFromFrame> => recordFromFrame(typeof s === 'string' ? Buffer.from(s, 'utf8') : s, PEER, POS);
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

// Our own RFC 5424 output, built by hand (DESIGN §4).
const OWN_SD = '[origin software="duo-relay" swVersion="0.1.0"][duo@32473 id="5a845249-1cb8-476f-a620-cfe31464d417" kind="authentication"]';
const own = (msg: string, ts = '2021-03-23T00:01:48.721183+00:00', sd = OWN_SD): string =>
  `<38>1 ${ts} api-1a2b3c4d.duosecurity.com auth.duo.authentication.events - authentication ${sd} ${msg}`;

t.test('our own RFC 5424 output: MSG is the JSON, kind from APP-NAME, host from HOSTNAME', async (t) => {
  const frame = own(EVENTS.authentication);
  t.doesNotThrow(() => parseRfc5424(frame), 'the hand-built frame is strict RFC 5424');
  const r = from(frame);
  t.equal(r.text, EVENTS.authentication);
  t.equal(r.kind, 'authentication');
  t.equal(r.host, 'api-1a2b3c4d.duosecurity.com');
  t.equal(r.position, POS);
  t.same(JSON.parse(r.text ?? ''), JSON.parse(EVENTS.authentication));
});

t.test('RFC 3164 with a Devo tag', async (t) => {
  const r = from(`<134>Mar 23 00:01:48 proxyhost auth.duo.authentication-proxy.events: ${EVENTS.authproxy}`);
  t.equal(r.text, EVENTS.authproxy);
  t.equal(r.kind, 'authproxy');
  t.equal(r.host, 'proxyhost');
  const padded = from(`<134>Mar  3 00:01:48 proxyhost auth.duo.telephony.events[42]: ${EVENTS.telephony}`);
  t.equal(padded.text, EVENTS.telephony, 'space-padded day and a [pid]');
  t.equal(padded.kind, 'telephony');
  t.equal(padded.host, 'proxyhost');
});

t.test('RFC 3164 from rsyslog imfile with a tag without colon', async (t) => {
  const r = from(`<134>Mar 23 00:01:48 vm duo-authproxy ${EVENTS.authproxy}`);
  t.equal(r.text, EVENTS.authproxy);
  t.equal(r.host, 'vm');
  t.equal(r.kind, undefined, 'no Devo tag: classified by shape downstream');
  const rfc3339 = from(`<134>2024-05-14T09:30:00.123456+00:00 vm duo-authproxy: ${EVENTS.authproxy}`);
  t.equal(rfc3339.text, EVENTS.authproxy, 'RSYSLOG_ForwardFormat (RFC 3339 time in a 3164 header)');
  t.equal(rfc3339.host, 'vm');
});

t.test('RFC 3164 without HOSTNAME/TAG: a JSON MSG is never mistaken for a tag', async (t) => {
  const json = '{"a":"b: c","d":[1,2]}';
  const r = from(`<13>Mar 23 00:01:48 ${json}`);
  t.equal(r.text, json);
  t.equal(r.host, PEER);
});

t.test('Devo relay line without PRI: tag after the hostchain, host = the origin', async (t) => {
  const r = from(`2021-04-05 21:01:49.732 192.168.0.113=192.168.0.113/devorelay=11.22.33.44 auth.duo.telephony.events: ${EVENTS.telephony}`);
  t.equal(r.text, EVENTS.telephony);
  t.equal(r.kind, 'telephony');
  t.equal(r.host, '192.168.0.113');
  const admin = from(`2021-04-05 21:01:49.732 192.168.0.113=192.168.0.113/devorelay=11.22.33.44 auth.duo.administrator.login: ${EVENTS.administrator}`);
  t.equal(admin.kind, 'administrator');
  t.equal(admin.text, EVENTS.administrator);
});

t.test('rsyslog omfwd RSYSLOG_SyslogProtocol23Format: trailing LF inside the frame is not part of the JSON', async (t) => {
  const r = from(`<134>1 2026-01-02T23:01:23.169590+00:00 vm duo-authproxy - - - ${EVENTS.authproxy}\n`);
  t.equal(r.text, EVENTS.authproxy);
  t.equal(r.host, 'vm');
  t.equal(r.kind, undefined);
  const crlf = from(`<134>1 2026-01-02T23:01:23.169590+00:00 vm duo-authproxy - - - ${EVENTS.authproxy}\r\n`);
  t.equal(crlf.text, EVENTS.authproxy);
});

t.test('SD values holding "]", "{" and " {" do not cut the JSON (strict path)', async (t) => {
  const sd = String.raw`[x@1 a="b\]c { d" e="{\"k\": [1\]}" f="\\"]`;
  const frame = own(EVENTS.telephony, '2021-03-23T00:01:48.721183+00:00', sd);
  const m = parseRfc5424(frame);
  t.same(m.sd[0]?.params, [['a', 'b]c { d'], ['e', '{"k": [1]}'], ['f', '\\']], 'the frame is strict and its SD parses');
  t.equal(from(frame).text, EVENTS.telephony);
});

t.test('SD values holding "]", "{" and " {" do not cut the JSON (tolerant path)', async (t) => {
  const sd = String.raw`[x@1 a="b\]c { d" e="{\"k\": [1]}"][y@1 z="unescaped ] in quotes {"]`;
  const frame = own(EVENTS.telephony, '2021-03-23T00:01:48.7211834+00:00', sd);
  t.throws(() => parseRfc5424(frame), 'the strict parser refuses 7 fraction digits');
  const r = from(frame);
  t.equal(r.text, EVENTS.telephony);
  t.equal(r.host, 'api-1a2b3c4d.duosecurity.com');
  t.equal(r.kind, 'authentication', 'APP-NAME still gives the kind');
});

t.test('property: any escaped SD value keeps MSG intact on both paths', async (t) => {
  const escape = (v: string): string => v.replace(/[\\"\]]/g, (c) => `\\${c}`);
  // Biased towards the characters that confuse a naive split.
  const sdValue = fc.string({ unit: fc.oneof(fc.constantFrom(' {', '{', '}', ']', '[', '"', '\\', ' ', '='), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })), maxLength: 20 });
  const payload = fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.oneof(fc.string(), fc.integer(), fc.boolean()), { maxKeys: 5 }).map((o) => JSON.stringify({ txid: 'x', ...o }));
  fc.assert(
    fc.property(fc.array(sdValue, { minLength: 1, maxLength: 4 }), payload, fc.boolean(), (values, json, strict) => {
      const sd = `[x@1 ${values.map((v, i) => `p${i}="${escape(v)}"`).join(' ')}]`;
      const ts = strict ? '2021-03-23T00:01:48.721183Z' : '2021-03-23T00:01:48.7211834Z';
      const got = from(own(json, ts, sd)).text;
      t.equal(got, json);
      return got === json;
    }),
    { numRuns: 300 },
  );
});

t.test('skipStructuredData: NIL, adjacent elements, unterminated', async (t) => {
  t.equal(skipStructuredData('- x', 0), 1);
  t.equal(skipStructuredData('[a@1 b="]"][c] {', 0), 14);
  t.equal(skipStructuredData('[a@1 b="\\"]" {', 0), -1, 'an escaped quote does not close the value');
  t.equal(skipStructuredData('[a@1 b="x]', 0), -1);
});

t.test('a BOM before MSG is removed on every path', async (t) => {
  const strict = from(Buffer.concat([Buffer.from(`<134>1 2026-01-02T23:01:23.169590Z vm duo-authproxy - - - `), BOM, Buffer.from(EVENTS.authproxy)]));
  t.equal(strict.text, EVENTS.authproxy);
  const tolerant = from(Buffer.concat([Buffer.from(`<134>1 2026-01-02T23:01:23.1695901Z vm duo-authproxy - - - `), BOM, Buffer.from(EVENTS.authproxy)]));
  t.equal(tolerant.text, EVENTS.authproxy);
  const bsd = from(Buffer.concat([Buffer.from('<134>Mar 23 00:01:48 vm duo-authproxy: '), BOM, Buffer.from('not json at all')]));
  t.equal(bsd.text, 'not json at all', 'stripped even when MSG is no JSON');
});

t.test('a 5424 frame with 7 fraction digits still yields the JSON', async (t) => {
  const r = from(`<134>1 2024-05-14T09:30:00.1234567Z authproxy01 auth.duo.authentication-proxy.events - - - ${EVENTS.authproxy}`);
  t.equal(r.text, EVENTS.authproxy);
  t.equal(r.kind, 'authproxy');
  t.equal(r.host, 'authproxy01');
  const nilHost = from(`<134>1 2024-05-14T09:30:00.1234567Z - - - - - ${EVENTS.authproxy}`);
  t.equal(nilHost.host, PEER, 'NIL HOSTNAME: the peer address');
  t.equal(nilHost.text, EVENTS.authproxy);
});

t.test('non-JSON MSG passes through whole (the router dead-letters it)', async (t) => {
  t.equal(from('<134>1 2024-05-14T09:30:00Z h app - - - hello world').text, 'hello world');
  t.equal(from('<134>1 2024-05-14T09:30:00Z h app - - - hello {world').text, 'hello {world', 'no closing brace: nothing cut');
  t.equal(from('<134>1 2024-05-14T09:30:00Z h app - - - user said {"a":1} today').text, 'user said {"a":1} today');
  t.equal(from('<134>1 2024-05-14T09:30:00Z h app - - - free text then {"a":1}').text, 'free text then {"a":1}', 'free text is not a tag prefix');
  t.equal(from('just a line').text, 'just a line');
  t.equal(from('<13>').text, '');
  const r = from('<134>1 2024-05-14T09:30:00Z h app - - - auth.duo.telephony.events: {"context":"x"}');
  t.equal(r.text, '{"context":"x"}', 'a tag: prefix inside MSG is removed');
  t.equal(r.kind, 'telephony');
});

t.test('invalid UTF-8 and arbitrary bytes never throw', async (t) => {
  const bad = Buffer.concat([Buffer.from('<134>1 2024-05-14T09:30:00Z h app - - - {"a":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
  t.equal(from(bad).text, '{"a":"\ufffd\ufffd"}');
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const r = from(Buffer.from(bytes));
      return typeof r.text === 'string' && r.position === POS && typeof r.host === 'string';
    }),
    { numRuns: 500 },
  );
});

t.test('kindFromTag: Devo tags, the authenticationProxy spelling, case, unknown', async (t) => {
  t.equal(kindFromTag('auth.duo.administrator.login'), 'administrator');
  t.equal(kindFromTag('auth.duo.administrator.events'), 'administrator');
  t.equal(kindFromTag('auth.duo.authentication.events'), 'authentication');
  t.equal(kindFromTag('auth.duo.authenticationProxy.events'), 'authproxy');
  t.equal(kindFromTag('AUTH.DUO.TELEPHONY.EVENTS'), 'telephony');
  t.equal(kindFromTag('auth.duo.offline-enrollment.events'), 'offline-enrollment');
  t.equal(kindFromTag('auth.duo.activity.events'), 'activity');
  t.equal(kindFromTag('auth.duo.trust-monitor.events'), 'trust-monitor');
  t.equal(kindFromTag('duo-authproxy'), undefined);
  t.equal(kindFromTag(null), undefined);
  t.equal(kindFromTag(''), undefined);
});

t.test('another duo-relay with an overridden tag: the kind comes from MSGID, only with its origin SD', async (t) => {
  const custom = `<38>1 2021-03-23T00:01:48Z api-x.duosecurity.com my.custom.tag - telephony [origin software="duo-relay" swVersion="0.1.0"] ${EVENTS.telephony}`;
  t.equal(from(custom).kind, 'telephony');
  const stranger = `<38>1 2021-03-23T00:01:48Z api-x.duosecurity.com my.custom.tag - telephony [origin software="other"] ${EVENTS.telephony}`;
  t.equal(from(stranger).kind, undefined, 'a MSGID from another software is not trusted');
  const noSd = `<38>1 2021-03-23T00:01:48Z api-x.duosecurity.com my.custom.tag - telephony - ${EVENTS.telephony}`;
  t.equal(from(noSd).kind, undefined);
});
