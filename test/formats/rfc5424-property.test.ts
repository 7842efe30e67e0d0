/**
 * Property tests: whatever an event carries (Unicode, control characters, lone surrogates,
 * huge values, odd ids/hosts/tags), the RFC 5424 output is accepted by the strict parser, fits
 * max_message_bytes, and round-trips the SD values and MSG (modulo counted truncation).
 */
import t from 'tap';
import fc from 'fast-check';
import { LOG_KINDS, type RelayEvent } from '../../src/event.js';
import type { FormatOptions } from '../../src/config/schema.js';
import { createRfc5424Formatter, SD_VALUE_MAX_BYTES } from '../../src/formats/rfc5424.js';
import { messageBody } from '../../src/formats/message.js';
import { parseRfc5424 } from '../../src/formats/rfc5424-parse.js';
import { severityOf, facilityNumber } from '../../src/formats/severity.js';
import { isPrintUsAscii } from '../../src/formats/printable.js';
import { toEcs } from '../../src/formats/ecs.js';
import { truncateUtf8, wellFormed } from '../../src/formats/utf8.js';

const odd = fc.constantFrom('\uD800', '\uDFFF', 'a\uD83D', '\uDE00b', '"]\\', '\u0000\n\r\t', '\uFEFF', '-', ' ', '😀', 'é');
const repeated = fc.tuple(fc.constantFrom('a', 'é', '€', '😀', '\uD800', '"', ']', '\\', ' '), fc.integer({ min: 0, max: 20_000 })).map(([c, n]) => c.repeat(n));
const text = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.array(odd, { maxLength: 8 }).map((a) => a.join('')) },
  { weight: 1, arbitrary: repeated },
);
const time = fc.oneof(
  fc.constant(undefined),
  fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom('2020-02-13T18:56:20.351346789+05:30', '2016-12-31T23:59:60Z', '2020-01-01t00:00:00z', '2021-07-20T11: 41: 31+00: 00'),
  text,
);
const fieldValue = fc.oneof(text, fc.double(), fc.boolean(), fc.constant(null), fc.constantFrom('success', 'denied', 'fraud', 'Reject', 'admin_login_error'));

const eventArb: fc.Arbitrary<RelayEvent> = fc.record(
  {
    kind: fc.constantFrom(...LOG_KINDS),
    tag: text,
    msgid: text,
    host: fc.option(text, { nil: undefined }),
    time,
    id: text,
    fields: fc.dictionary(text, fieldValue, { maxKeys: 8 }),
    raw: text,
    account: text,
  },
  { requiredKeys: ['kind', 'tag', 'msgid', 'host', 'time', 'id', 'fields', 'raw'] },
);

const optsArb: fc.Arbitrary<FormatOptions> = fc.record({
  format: fc.constant('rfc5424' as const),
  message: fc.constantFrom('flattened' as const, 'raw' as const, 'ecs' as const),
  facility: fc.oneof(fc.integer({ min: 0, max: 23 }), fc.constantFrom('auth' as const, 'local7' as const, 'authpriv' as const)),
  enterprise_id: fc.integer({ min: 1, max: 2 ** 31 }),
  bom: fc.boolean(),
  max_message_bytes: fc.constantFrom(480, 1024, 2048, 65_536),
});

const ctxArb = fc.record({ fallbackHost: text, software: fc.constantFrom('duo-relay', 'du"o]\\'), swVersion: fc.constantFrom('0.1.0', 'x'.repeat(40)), procid: fc.option(text, { nil: undefined }) });

t.test('every event gives a message the strict parser accepts, within the limit', async (t) => {
  let runs = 0;
  fc.assert(
    fc.property(eventArb, optsArb, ctxArb, (ev, opts, ctx) => {
      runs++;
      const f = createRfc5424Formatter(opts, { ...ctx, now: () => new Date('2024-01-01T00:00:00Z') }, messageBody(opts.message));
      const out = f(ev);
      const bytes = Buffer.from(out, 'utf8');
      if (bytes.length > opts.max_message_bytes) throw new Error(`${bytes.length} bytes > ${opts.max_message_bytes}`);
      const m = parseRfc5424(bytes);
      const s = parseRfc5424(out);
      if (JSON.stringify(m) !== JSON.stringify(s)) throw new Error('string and Buffer parses differ');

      if (m.pri !== facilityNumber(opts.facility) * 8 + severityOf(ev)) throw new Error(`PRI ${m.pri}`);
      if (m.bom !== opts.bom) throw new Error('BOM flag');
      for (const v of [m.hostname, m.appName, m.procid, m.msgid]) if (v !== null && !isPrintUsAscii(v)) throw new Error('header not PRINTUSASCII');
      if (ev.tag.length > 0 && ev.tag.length <= 48 && isPrintUsAscii(ev.tag) && m.appName !== (ev.tag === '-' ? null : ev.tag)) throw new Error('valid APP-NAME changed');

      const truncated = f.stats.truncated === 1;
      const sd = new Map(m.sd.find((e) => e.id === `duo@${opts.enterprise_id}`)?.params);
      const wantId = truncateUtf8(wellFormed(ev.id), SD_VALUE_MAX_BYTES);
      const gotId = sd.get('id');
      if (gotId === undefined) throw new Error('id missing');
      if (truncated ? !wantId.startsWith(gotId) : gotId !== wantId) throw new Error(`id ${JSON.stringify(gotId)} vs ${JSON.stringify(wantId)}`);
      if (sd.get('kind') !== ev.kind) throw new Error('kind');
      if (!truncated && ev.account !== undefined && sd.get('account') !== truncateUtf8(wellFormed(ev.account), SD_VALUE_MAX_BYTES)) throw new Error('account');
      if (ev.account === undefined && sd.has('account')) throw new Error('account without one');

      const body = messageBody(opts.message)(ev);
      if (truncated ? !body.startsWith(m.msg) : m.msg !== body) throw new Error('MSG does not round-trip');
      return true;
    }),
    { numRuns: Number(process.env.FC_RUNS ?? 400) },
  );
  t.equal(runs >= Number(process.env.FC_RUNS ?? 400), true, `${runs} runs`);
});

t.test('toEcs never throws on arbitrary JSON and always gives serialisable output', async (t) => {
  let runs = 0;
  fc.assert(
    fc.property(fc.constantFrom(...LOG_KINDS), fc.jsonValue(), fc.option(text, { nil: undefined }), (kind, value, time) => {
      runs++;
      const raw = JSON.stringify(value);
      const doc = toEcs({ kind, tag: 't', msgid: kind, host: 'h', time, id: 'i', fields: {}, raw });
      const again = JSON.parse(JSON.stringify(doc)) as { event?: { id?: unknown } };
      return again.event?.id === 'i';
    }),
    { numRuns: 300 },
  );
  t.ok(runs >= 300);
});
