/**
 * The RFC 5424 formatter: exact output for a known event, each header rule, SD escaping,
 * time handling, BOM, and the byte limit (cut at UTF-8 boundaries, counted).
 */
import t, { type Test } from 'tap';
import type { RelayEvent } from '../../src/event.js';
import type { FormatOptions } from '../../src/config/schema.js';
import { createRfc5424Formatter, SD_VALUE_MAX_BYTES } from '../../src/formats/rfc5424.js';
import { messageBody } from '../../src/formats/message.js';
import { parseRfc5424 } from '../../src/formats/rfc5424-parse.js';
import type { FormatContext } from '../../src/formats/types.js';

const OPTS: FormatOptions = { format: 'rfc5424', message: 'flattened', facility: 'auth', enterprise_id: 32473, bom: false, max_message_bytes: 65_536 };
const CTX: FormatContext = { fallbackHost: 'relay.example.com', software: 'duo-relay', swVersion: '1.2.3', procid: '4242', now: () => new Date('2024-05-01T10:11:12.345Z') };

function event(over: Partial<RelayEvent> = {}): RelayEvent {
  return {
    kind: 'authentication',
    tag: 'auth.duo.authentication.events',
    msgid: 'authentication',
    host: 'api-12345678.duosecurity.com',
    time: '2020-02-13T18:56:20.351346+00:00',
    id: '340a23e3-23f3-23c1-87dc-1491a23dfdbb',
    fields: { result: 'success', user_name: 'narroway' },
    raw: '{"result":"success","user":{"name":"narroway"}}',
    ...over,
  };
}

function fmt(opts: Partial<FormatOptions> = {}, ctx: Partial<FormatContext> = {}) {
  const o = { ...OPTS, ...opts };
  return createRfc5424Formatter(o, { ...CTX, ...ctx }, messageBody(o.message));
}

t.test('exact output for a typical event', async (t) => {
  t.equal(
    fmt()(event()),
    '<38>1 2020-02-13T18:56:20.351346+00:00 api-12345678.duosecurity.com auth.duo.authentication.events 4242 authentication ' +
      '[origin software="duo-relay" swVersion="1.2.3"][duo@32473 id="340a23e3-23f3-23c1-87dc-1491a23dfdbb" kind="authentication"] ' +
      '{"result":"success","user_name":"narroway"}',
  );
  t.equal(fmt({ message: 'raw' })(event()).endsWith('] {"result":"success","user":{"name":"narroway"}}'), true, 'message: raw sends the original');
  const ecs = parseRfc5424(fmt({ message: 'ecs' })(event())).msg;
  t.match(JSON.parse(ecs), { event: { dataset: 'auth_log', outcome: 'success' }, user: { name: 'narroway' } }, 'message: ecs sends ECS JSON');
});

t.test('PRI: facility by name or number, severity by event', async (t) => {
  const pri = (ev: RelayEvent, facility: FormatOptions['facility'] = 'auth') => parseRfc5424(fmt({ facility })(ev)).pri;
  t.equal(pri(event()), 4 * 8 + 6, 'auth.info');
  t.equal(pri(event(), 'local7'), 23 * 8 + 6, 'local7 by name');
  t.equal(pri(event(), 0), 6, 'kern by number');
  t.equal(pri(event({ fields: { result: 'denied' } })), 37, 'denied → notice');
  t.equal(pri(event({ fields: { result: 'FRAUD' } })), 36, 'fraud → warning (any case)');
  t.equal(pri(event({ kind: 'authproxy', fields: { status: 'Reject' } })), 37, 'proxy Reject → notice');
  t.equal(pri(event({ kind: 'authproxy', fields: { status: 'Allow' } })), 38);
  t.equal(pri(event({ kind: 'administrator', fields: { action: 'admin_login_error' } })), 37);
  t.equal(pri(event({ kind: 'administrator', fields: { action: 'admin_login' } })), 38);
  t.equal(pri(event({ kind: 'trust-monitor', fields: {} })), 36, 'trust monitor → warning');
  t.throws(() => fmt({ facility: 99 as unknown as FormatOptions['facility'] }), { code: 'DR_ERR_CONFIG' });
});

t.test('TIMESTAMP: kept, normalised, or replaced and marked', async (t) => {
  const f = fmt();
  const ts = (time: string | undefined) => parseRfc5424(f(event({ time }))).timestamp;
  t.equal(ts('2020-02-13T18:56:20Z'), '2020-02-13T18:56:20Z');
  t.equal(ts('2020-02-13T18:56:20.123456789Z'), '2020-02-13T18:56:20.123456Z', 'nanoseconds truncated, not rounded');
  t.equal(ts('2020-02-13t18:56:20.5z'), '2020-02-13T18:56:20.5Z', 'lowercase t/z uppercased');
  t.equal(ts('2020-02-13 18:56:20+01:00'), '2020-02-13T18:56:20+01:00', 'space separator');
  t.equal(ts('2016-12-31T23:59:60Z'), '2016-12-31T23:59:59.999999Z', 'leap second clamped');
  t.equal(f.stats.timeSubstituted, 0);
  for (const bad of [undefined, '', 'yesterday', '2021-07-20T11: 41: 31+00: 00', '2020-02-30T00:00:00Z', '2020-02-13T18:56:20']) {
    const m = parseRfc5424(f(event({ time: bad })));
    t.equal(m.timestamp, '2024-05-01T10:11:12.345Z', `relay clock for ${String(bad)}`);
    t.same(m.sd[1]?.params.at(-1), ['timeSource', 'relay'], 'marked in SD');
  }
  t.equal(f.stats.timeSubstituted, 6, 'substitutions counted');
  t.notOk(f(event()).includes('timeSource'), 'no mark when the event time is used');
});

t.test('HOSTNAME, APP-NAME, PROCID, MSGID: PRINTUSASCII, limits, NILVALUE, fallback', async (t) => {
  const f = fmt();
  const m = (over: Partial<RelayEvent>, ctx: Partial<FormatContext> = {}) => parseRfc5424(fmt({}, ctx)(event(over)));
  t.equal(m({ host: undefined }).hostname, 'relay.example.com', 'fallback host');
  t.equal(m({ host: '' }).hostname, null, 'empty → NILVALUE');
  t.equal(m({ host: 'my host\tname' }).hostname, 'my_host_name');
  t.equal(m({ host: 'hôte-😀' }).hostname, 'h_te-_', 'one _ per code point');
  t.equal(m({ host: 'h'.repeat(300) }).hostname, 'h'.repeat(255));
  t.equal(m({ tag: 'x'.repeat(60) }).appName, 'x'.repeat(48));
  t.equal(m({ tag: '' }).appName, null);
  t.equal(m({ msgid: 'offline-enrollment-and-some-more-words' }).msgid, 'offline-enrollment-and-some-more');
  t.equal(m({}, { procid: undefined }).procid, null, 'no procid → NILVALUE');
  t.equal(m({}, { procid: 'p'.repeat(200) }).procid, 'p'.repeat(128));
  // The host cache must follow changes, not just return the first value.
  t.equal(parseRfc5424(f(event({ host: 'a.example' }))).hostname, 'a.example');
  t.equal(parseRfc5424(f(event({ host: 'b example' }))).hostname, 'b_example');
  t.equal(parseRfc5424(f(event({ host: 'a.example' }))).hostname, 'a.example');
});

t.test('SD: escaping, account, enterprise id', async (t) => {
  const out = fmt({ enterprise_id: 12345 })(event({ id: 'a"b\\c]d', account: 'DA]"x' }));
  t.ok(out.includes('[duo@12345 id="a\\"b\\\\c\\]d" kind="authentication" account="DA\\]\\"x"]'), 'escaped on the wire');
  const m = parseRfc5424(out);
  t.same(m.sd, [
    { id: 'origin', params: [['software', 'duo-relay'], ['swVersion', '1.2.3']] },
    { id: 'duo@12345', params: [['id', 'a"b\\c]d'], ['kind', 'authentication'], ['account', 'DA]"x']] },
  ]);
  t.same(parseRfc5424(fmt()(event({ id: 'x\uD800y' }))).sd[1]?.params[0], ['id', 'x\uFFFDy'], 'lone surrogate → U+FFFD');
  const long = 'é'.repeat(400);
  const idOut = parseRfc5424(fmt()(event({ id: long }))).sd[1]?.params[0]?.[1] ?? '';
  t.equal(Buffer.byteLength(idOut), SD_VALUE_MAX_BYTES, 'long ids capped at a character boundary');
  t.throws(() => fmt({ enterprise_id: 10 ** 30 }), { code: 'DR_ERR_CONFIG', message: /enterprise_id/ }, 'a PEN that is no plain integer is refused at build time');
});

t.test('BOM only when asked', async (t) => {
  t.notOk(fmt()(event()).includes('\uFEFF'));
  const out = fmt({ bom: true })(event());
  t.ok(out.includes('] \uFEFF{'), 'BOM right after the SP that starts MSG');
  const m = parseRfc5424(Buffer.from(out));
  t.equal(m.bom, true);
  t.equal(m.msg, '{"result":"success","user_name":"narroway"}');
});

t.test('max_message_bytes: cut at a UTF-8 boundary and counted', async (t) => {
  const cuts: number[] = [];
  const f = fmt({ max_message_bytes: 600, message: 'raw' }, { onTruncate: (_ev, full) => cuts.push(full) });
  for (const unit of ['a', 'é', '€', '😀']) {
    const raw = unit.repeat(1000);
    const out = f(event({ raw }));
    const bytes = Buffer.byteLength(out);
    t.ok(bytes <= 600, `${unit}: ${bytes} bytes`);
    t.ok(bytes > 600 - Buffer.byteLength(unit), `${unit}: as long as possible`);
    const m = parseRfc5424(Buffer.from(out));
    t.ok(raw.startsWith(m.msg), `${unit}: MSG is a prefix of the body`);
    t.equal(Buffer.from(m.msg).toString(), m.msg, `${unit}: no broken character`);
  }
  t.equal(f.stats.truncated, 4);
  t.equal(cuts.length, 4);
  t.ok(cuts.every((n) => n > 600), 'callback gets the full size');
  t.equal(f(event({ raw: 'short' })).endsWith(' short'), true);
  t.equal(f.stats.truncated, 4, 'short messages are not counted');
});

t.test('oversized header and SD are shortened so the message still parses', async (t) => {
  const f = fmt({ max_message_bytes: 480 }, { procid: 'p'.repeat(128) });
  const ev = event({ host: 'h'.repeat(255), id: '"'.repeat(300), account: ']'.repeat(300), time: undefined });
  const out = f(ev);
  t.ok(Buffer.byteLength(out) <= 480, `${Buffer.byteLength(out)} bytes`);
  const m = parseRfc5424(out);
  t.ok((m.hostname ?? '').length >= 1);
  const params = new Map(m.sd[1]?.params);
  t.ok(params.has('id'), 'the id survives (possibly shortened)');
  t.ok('"'.repeat(300).startsWith(params.get('id') ?? 'x'), 'shortened id is a prefix of the real one');
  t.equal(f.stats.truncated, 1);
  // Only PROCID too long: it is cut first and nothing else changes.
  const g = fmt({ max_message_bytes: 480 }, { procid: 'p'.repeat(128) });
  const m2 = parseRfc5424(g(event({ host: 'h'.repeat(255), fields: {} })));
  t.equal(m2.hostname, 'h'.repeat(255));
  t.ok((m2.procid ?? '').length < 128);
});

t.test('one formatter over a mixed stream writes what a fresh formatter writes for each event', async (t) => {
  // The formatter keeps the header text between events while tag, MSGID and kind repeat.
  const kinds = ['authentication', 'administrator', 'authproxy', 'telephony'] as const;
  const events: RelayEvent[] = [];
  for (let i = 0; i < 40; i++) {
    const kind = kinds[(i * 7) % 4] ?? 'authentication';
    events.push(
      event({
        kind,
        tag: i % 5 === 0 ? 'custom tag with spaces' : `auth.duo.${kind}.events`,
        msgid: i % 3 === 0 ? kind : 'm',
        ...(i % 4 === 0 ? { account: `acct"${i}]` } : {}),
        ...(i % 6 === 0 ? { time: undefined } : {}),
      }),
    );
  }
  const shared = fmt();
  for (const [i, ev] of events.entries()) t.equal(shared(ev), fmt()(ev), `event ${i}`);
});

t.test('split: head + body is exactly the formatted message, cuts included', async (t) => {
  for (const max of [65_536, 600]) await t.test(`max_message_bytes ${max}`, async (t) => splitMatches(t, max));
});

async function splitMatches(t: Test, max: number): Promise<void> {
  const f = fmt({ max_message_bytes: max });
  const whole = fmt({ max_message_bytes: max });
  const out = { head: '', body: '' };
  const cases: RelayEvent[] = [
    event(),
    event({ time: undefined }),
    event({ account: 'DA"1]' }),
    event({ fields: { msg: 'é✓😀'.repeat(100) } }),
    event({ fields: { msg: 'x'.repeat(2000) } }),
    event({ host: 'h'.repeat(400), id: 'i'.repeat(300) }),
  ];
  for (const [i, ev] of cases.entries()) {
    f.split?.(ev, out);
    const joined = out.head + out.body;
    t.equal(joined, whole(ev), `case ${i}: same text`);
    t.ok(Buffer.byteLength(joined) <= max, `case ${i}: within max_message_bytes`);
    if (max > 10_000) t.ok(out.body.length > 0, `case ${i}: MSG comes as the body`);
  }
  t.equal(f.stats.truncated, whole.stats.truncated, 'cuts counted the same way');
  t.equal(f.stats.timeSubstituted, whole.stats.timeSubstituted, 'substituted times counted the same way');
}
