/**
 * The strict parser: valid messages in their corner forms, then each ABNF rule broken once,
 * each expected to fail with DR_ERR_BAD_RECORD and a message naming that rule.
 */
import t from 'tap';
import { parseRfc5424 } from '../../src/formats/rfc5424-parse.js';
import { isRelayError } from '../../src/errors.js';

const GOOD = '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry...';

t.test('RFC 5424 examples parse', async (t) => {
  const m = parseRfc5424(GOOD);
  t.same(m, {
    pri: 165,
    version: 1,
    timestamp: '2003-10-11T22:14:15.003Z',
    hostname: 'mymachine.example.com',
    appName: 'evntslog',
    procid: null,
    msgid: 'ID47',
    sd: [{ id: 'exampleSDID@32473', params: [['iut', '3'], ['eventSource', 'Application'], ['eventID', '1011']] }],
    msg: 'An application event log entry...',
    bom: false,
  });
  const all = parseRfc5424('<0>1 - - - - - -');
  t.same([all.pri, all.timestamp, all.hostname, all.appName, all.procid, all.msgid, all.sd, all.msg], [0, null, null, null, null, null, [], '']);
  t.equal(parseRfc5424('<191>1 - - - - - - ').msg, '', 'SP then empty MSG');
  t.equal(parseRfc5424('<34>1 1985-04-12T19:20:50.52-04:00 h a p m - x').timestamp, '1985-04-12T19:20:50.52-04:00');
  t.equal(parseRfc5424('<34>1 2003-08-24T05:14:15.000003-07:00 h a p m - x').timestamp, '2003-08-24T05:14:15.000003-07:00');
  t.equal(parseRfc5424('<34>1 2024-02-29T00:00:00Z h a p m - x').timestamp, '2024-02-29T00:00:00Z', 'leap day');
  const two = parseRfc5424('<165>1 - h a p m [a@1 x="1"][b@1 y="2" y="3"] m');
  t.same(two.sd, [{ id: 'a@1', params: [['x', '1']] }, { id: 'b@1', params: [['y', '2'], ['y', '3']] }], 'two elements, a repeated PARAM-NAME is allowed');
  t.same(parseRfc5424('<1>1 - h a p m [a@1 v="q\\"b\\\\s\\]e\\x"]').sd[0]?.params, [['v', 'q"b\\s]e\\x']], 'escapes undone; other backslashes are literal');
  t.same(parseRfc5424('<1>1 - h a p m [a@1 v="été ☃ 𝄞"]').sd[0]?.params, [['v', 'été ☃ 𝄞']], 'UTF-8 PARAM-VALUE');
  t.same(parseRfc5424('<1>1 - h a p m [a@1]').sd, [{ id: 'a@1', params: [] }], 'element without params');
  t.equal(parseRfc5424('<1>1 - h a p m - line1\nline2').msg, 'line1\nline2', 'MSG may hold LF');
  t.equal(parseRfc5424('<1>1 - ' + 'h'.repeat(255) + ' ' + 'a'.repeat(48) + ' ' + 'p'.repeat(128) + ' ' + 'm'.repeat(32) + ' -').hostname?.length, 255, 'fields at their limits');
});

t.test('BOM detection', async (t) => {
  const s = parseRfc5424('<1>1 - h a p m - \uFEFFhello');
  t.equal(s.bom, true);
  t.equal(s.msg, 'hello');
  const b = parseRfc5424(Buffer.concat([Buffer.from('<1>1 - h a p m - '), Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('héllo')]));
  t.equal(b.bom, true);
  t.equal(b.msg, 'héllo');
  t.equal(parseRfc5424('<1>1 - h a p m - hello').bom, false);
  t.throws(
    () => parseRfc5424(Buffer.concat([Buffer.from('<1>1 - h a p m - '), Buffer.from([0xef, 0xbb, 0xbf, 0xff, 0x41])])),
    { code: 'DR_ERR_BAD_RECORD', message: /MSG-UTF8/ },
    'BOM followed by invalid UTF-8',
  );
});

t.test('Buffer input', async (t) => {
  const m = parseRfc5424(Buffer.from(GOOD));
  t.equal(m.msgid, 'ID47');
  const anyBytes = parseRfc5424(Buffer.concat([Buffer.from('<1>1 - h a p m [a@1 v="é"] '), Buffer.from([0xff, 0x41])]));
  t.equal(anyBytes.msg, '\uFFFDA', 'MSG-ANY may hold invalid UTF-8, decoded with U+FFFD');
  t.same(anyBytes.sd[0]?.params, [['v', 'é']]);
  t.throws(() => parseRfc5424(Buffer.concat([Buffer.from('<1>1 - h a p m [a@1 v="'), Buffer.from([0xc3]), Buffer.from('"] x')])), {
    code: 'DR_ERR_BAD_RECORD',
    message: /PARAM-VALUE must be valid UTF-8/,
  });
  t.throws(() => parseRfc5424(Buffer.concat([Buffer.from('<1>1 - h'), Buffer.from([0xe9]), Buffer.from(' a p m - x')])), {
    code: 'DR_ERR_BAD_RECORD',
    message: /HOSTNAME must be printable/,
  });
});

const BROKEN: Array<[string, string, RegExp]> = [
  ['no "<"', '165>1 - h a p m - x', /PRI must start with "<"/],
  ['empty PRIVAL', '<>1 - h a p m - x', /PRIVAL must be 1 to 3 digits/],
  ['4-digit PRIVAL', '<1650>1 - h a p m - x', /PRIVAL must be 1 to 3 digits/],
  ['no ">"', '<16a1 - h a p m - x', /PRI must end with ">"/],
  ['leading zero', '<013>1 - h a p m - x', /leading zeros/],
  ['PRIVAL > 191', '<192>1 - h a p m - x', /PRIVAL must be 0\.\.191/],
  ['no VERSION', '<13> - h a p m - x', /VERSION must follow PRI/],
  ['VERSION 2', '<13>2 - h a p m - x', /VERSION must be 1/],
  ['VERSION 10', '<13>10 - h a p m - x', /VERSION must be 1/],
  ['VERSION without SP', '<13>1- h a p m - x', /VERSION must be followed by SP/],
  ['empty TIMESTAMP', '<13>1  h a p m - x', /TIMESTAMP is empty/],
  ['RFC 3164 date', '<13>1 Oct 11 22:14:15 h a p m - x', /TIMESTAMP must be "-" or an RFC 3339/],
  ['lowercase t', '<13>1 2003-10-11t22:14:15Z h a p m - x', /uppercase "T"/],
  ['space between date and time', '<13>1 2003-10-11 22:14:15Z h a p m - x', /TIMESTAMP must be "-" or an RFC 3339/],
  ['lowercase z', '<13>1 2003-10-11T22:14:15z h a p m - x', /uppercase "Z"/],
  ['7 fraction digits', '<13>1 2003-10-11T22:14:15.1234567Z h a p m - x', /at most 6 fractional digits/],
  ['leap second', '<13>1 2016-12-31T23:59:60Z h a p m - x', /leap second/],
  ['month 13', '<13>1 2003-13-11T22:14:15Z h a p m - x', /RFC 3339/],
  ['Feb 30', '<13>1 2003-02-30T22:14:15Z h a p m - x', /RFC 3339/],
  ['Feb 29 in a common year', '<13>1 2023-02-29T22:14:15Z h a p m - x', /RFC 3339/],
  ['hour 24', '<13>1 2003-10-11T24:00:00Z h a p m - x', /RFC 3339/],
  ['no offset', '<13>1 2003-10-11T22:14:15 h a p m - x', /RFC 3339/],
  ['offset +24:00', '<13>1 2003-10-11T22:14:15+24:00 h a p m - x', /RFC 3339/],
  ['empty fraction', '<13>1 2003-10-11T22:14:15.Z h a p m - x', /RFC 3339/],
  ['TIMESTAMP then end', '<13>1 -', /TIMESTAMP must be followed by SP/],
  ['two spaces (empty HOSTNAME)', '<13>1 -  a p m - x', /HOSTNAME is empty/],
  ['HOSTNAME with a control char', '<13>1 - h\u0001 a p m - x', /HOSTNAME must be printable/],
  ['HOSTNAME with Unicode', '<13>1 - hé a p m - x', /HOSTNAME must be printable/],
  ['HOSTNAME of 256', `<13>1 - ${'h'.repeat(256)} a p m - x`, /HOSTNAME is longer than 255/],
  ['APP-NAME of 49', `<13>1 - h ${'a'.repeat(49)} p m - x`, /APP-NAME is longer than 48/],
  ['PROCID of 129', `<13>1 - h a ${'p'.repeat(129)} m - x`, /PROCID is longer than 128/],
  ['MSGID of 33', `<13>1 - h a p ${'m'.repeat(33)} - x`, /MSGID is longer than 32/],
  ['MSGID then end', '<13>1 - h a p m', /MSGID must be followed by SP/],
  ['no STRUCTURED-DATA', '<13>1 - h a p m x', /STRUCTURED-DATA must be "-" or start with "\["/],
  ['SD NILVALUE glued to MSG', '<13>1 - h a p m -x', /must be followed by SP/],
  ['SD element glued to MSG', '<13>1 - h a p m [a@1]x', /must be followed by SP/],
  ['empty SD-ID', '<13>1 - h a p m [ x="1"] m', /SD-ID is empty/],
  ['SD-ID with "="', '<13>1 - h a p m [a=b x="1"] m', /SD-ID must be printable US-ASCII without/],
  ['SD-ID with a quote', '<13>1 - h a p m [a"b] m', /SD-ID must be printable US-ASCII without/],
  ['SD-ID of 33', `<13>1 - h a p m [${'i'.repeat(33)}] m`, /SD-ID is longer than 32/],
  ['SD-ID twice', '<13>1 - h a p m [a@1 x="1"][a@1 y="2"] m', /appears more than once/],
  ['empty PARAM-NAME', '<13>1 - h a p m [a@1 ="1"] m', /PARAM-NAME is empty/],
  ['PARAM-NAME with "]"', '<13>1 - h a p m [a@1 x]="1"] m', /PARAM-NAME must be followed by "="/],
  ['PARAM-NAME with a quote', '<13>1 - h a p m [a@1 x"="1"] m', /PARAM-NAME must be printable US-ASCII without/],
  ['PARAM-NAME of 33', `<13>1 - h a p m [a@1 ${'n'.repeat(33)}="1"] m`, /PARAM-NAME is longer than 32/],
  ['PARAM-NAME without "="', '<13>1 - h a p m [a@1 x] m', /PARAM-NAME must be followed by "="/],
  ['unquoted PARAM-VALUE', '<13>1 - h a p m [a@1 x=1] m', /PARAM-VALUE must start with/],
  ['unescaped "]" in PARAM-VALUE', '<13>1 - h a p m [a@1 x="a]b"] m', /must be escaped/],
  ['unterminated PARAM-VALUE', '<13>1 - h a p m [a@1 x="abc', /not closed/],
  ['lone surrogate in PARAM-VALUE', '<13>1 - h a p m [a@1 x="\uD800"] m', /lone surrogate/],
  ['two SPs between params', '<13>1 - h a p m [a@1 x="1"  y="2"] m', /PARAM-NAME is empty/],
  ['unclosed element', '<13>1 - h a p m [a@1 x="1"', /SD-ELEMENT must end with "\]"/],
  ['junk after a param', '<13>1 - h a p m [a@1 x="1"y] m', /SD-ELEMENT must end with "\]"/],
];

for (const [name, input, rule] of BROKEN) {
  t.test(`rejects: ${name}`, async (t) => {
    let caught: unknown;
    try {
      parseRfc5424(input);
    } catch (err: unknown) {
      caught = err;
    }
    t.ok(isRelayError(caught), 'throws a RelayError');
    if (isRelayError(caught)) {
      t.equal(caught.code, 'DR_ERR_BAD_RECORD');
      t.match(caught.message, rule);
      t.match(caught.message, /at offset \d+/);
    }
  });
}
