/**
 * The disk-queue payload (pipeline/event-codec.ts, version 2): every event the router builds (seed
 * and peer samples, proxy lines through the fast lane, MSP accounts) and arbitrary events come back
 * as the same event (same JSON, same severity, same fields text) and format to the same bytes in
 * every wire format; version-1 payloads (queues written before) still decode; a damaged or
 * future-version payload is refused with DR_ERR_QUEUE_CORRUPT.
 */
import t from 'tap';
import fc from 'fast-check';
import type { FlatValue, RelayEvent, SourceRecord } from '../../src/event.js';
import { LOG_KINDS } from '../../src/event.js';
import type { FormatOptions } from '../../src/config/schema.js';
import { createRouter } from '../../src/route/router.js';
import { createFormatter } from '../../src/formats/index.js';
import type { CountingFormatter, SplitMessage } from '../../src/formats/types.js';
import { FrameEncoder } from '../../src/destinations/frame-encoder.js';
import { flatJson } from '../../src/formats/flat-json.js';
import { severityOf } from '../../src/formats/severity.js';
import { decodeEvent, encodeEvent, PayloadBatch } from '../../src/pipeline/event-codec.js';
import { peerSamples, seedSamples } from '../helpers/samples.js';
import { proxyLine } from './relay-child.js';

function routed(records: SourceRecord[]): RelayEvent[] {
  const router = createRouter({ defaultHost: 'relay01' });
  const out: RelayEvent[] = [];
  for (const r of records) {
    const res = router.route(r);
    if (res.ok) out.push(res.event);
  }
  return out;
}

function routerEvents(): RelayEvent[] {
  const records: SourceRecord[] = [];
  for (const s of [...seedSamples(), ...peerSamples()]) {
    records.push({ text: s.line, position: s.origin });
    records.push({ record: JSON.parse(s.line) as Record<string, unknown>, position: s.origin, account: 'DA0CHILD00000000001', host: 'api-x.duosecurity.com' });
  }
  for (let i = 0; i < 50; i++) records.push({ text: proxyLine(i, i % 3 === 0 ? 40 : 0).trimEnd(), kind: 'authproxy', host: 'proxy01', position: `f@1:2:${i}` });
  records.push({ text: '{"timestamp":"2024-05-14T09:30:00Z","msg":"quote \\" backslash \\\\ unicode \\u00e9 \\ud83d\\ude00","nested":{"a":[1,2,{"b":null}]}}', kind: 'authproxy', position: 'f@1:2:x' });
  records.push({ text: '{\n  "timestamp": "2024-05-14T09:30:00Z",\n  "msg": "pretty-printed, LFs in raw"\n}', kind: 'authproxy', position: 'f@1:2:y' });
  return routed(records);
}

const ALL_FORMATS: FormatOptions[] = (['rfc5424', 'rfc3164', 'cef', 'leef', 'json'] as const).flatMap((format) =>
  (['flattened', 'raw', 'ecs'] as const).map((message) => ({ format, message, facility: 'auth' as const, enterprise_id: 32473, bom: false, max_message_bytes: 65536 })),
);
const CTX = { fallbackHost: 'relay', software: 'duo-relay', swVersion: '0.0.0', now: () => new Date(0) };

t.test('router events: decoded = original (JSON, severity, fields text) and the same bytes in every format', async (t) => {
  const events = routerEvents();
  t.ok(events.length > 100, `${events.length} events routed`);
  const batch = new PayloadBatch(256); // small on purpose: the buffer must grow
  for (const ev of events) batch.push(ev);
  const payloads = batch.payloads();
  t.equal(payloads.length, events.length);
  const decoded = payloads.map((p) => decodeEvent(p));
  const mismatch: string[] = [];
  for (const [i, ev] of events.entries()) {
    const d = decoded[i] as RelayEvent;
    if (JSON.stringify(d) !== JSON.stringify(ev)) mismatch.push(`${ev.id}: JSON`);
    if (severityOf(d) !== severityOf(ev)) mismatch.push(`${ev.id}: severity`);
    if (d.fieldsJson !== flatJson(ev.fields)) mismatch.push(`${ev.id}: fields text`);
    if (!encodeEvent(ev).equals(payloads[i] as Buffer)) mismatch.push(`${ev.id}: encodeEvent differs from the batch payload`);
  }
  t.same(mismatch, [], 'every event survives the queue');
  for (const opts of ALL_FORMATS) {
    const before = createFormatter(opts, CTX);
    const after = createFormatter(opts, CTX);
    const diff = events.filter((ev, i) => before(ev) !== after(decoded[i] as RelayEvent)).map((ev) => ev.id);
    t.same(diff, [], `${opts.format}/${opts.message}: same message for every decoded event`);
  }
  t.ok(decoded.some((d) => d.account === 'DA0CHILD00000000001'), 'MSP account kept');
  t.ok(decoded.some((d) => d.raw.includes('\n')), 'a raw with LFs kept whole');
});

/** The batch as a stream destination frames it (split form, body bytes when the event has them). */
function frames(format: CountingFormatter, framing: 'octet-counting' | 'lf', evs: readonly RelayEvent[]): Buffer {
  const enc = new FrameEncoder(framing);
  const parts: SplitMessage = { head: '', body: '' };
  enc.begin(evs.length);
  for (const ev of evs) {
    (format.split as (ev: RelayEvent, out: SplitMessage) => void)(ev, parts);
    if (parts.bodyBytes !== undefined) enc.pushSplitBytes(parts.head, parts.bodyBytes);
    else enc.pushSplit(parts.head, parts.body);
  }
  return enc.finish();
}

t.test('decoded events are framed from their body bytes, to the same bytes as the originals', async (t) => {
  const events = routerEvents();
  const decoded = events.map((ev) => decodeEvent(encodeEvent(ev)));
  t.ok(decoded.every((d) => d.fieldsBytes !== undefined), 'every decoded event carries its body bytes');
  for (const framing of ['octet-counting', 'lf'] as const) {
    for (const max of [65536, 480]) {
      const opts: FormatOptions = { format: 'rfc5424', message: 'flattened', facility: 'auth', enterprise_id: 32473, bom: false, max_message_bytes: max };
      const a = frames(createFormatter(opts, CTX), framing, events);
      const b = frames(createFormatter(opts, CTX), framing, decoded);
      t.ok(a.equals(b), `${framing}, max_message_bytes ${max}: same frames (${a.length} bytes)`);
    }
  }
});

t.test('version-1 payloads (the event as JSON) still decode', async (t) => {
  for (const ev of routerEvents()) {
    const d = decodeEvent(Buffer.from(JSON.stringify(ev)));
    if (JSON.stringify(d) !== JSON.stringify(ev) || severityOf(d) !== severityOf(ev)) t.fail(`${ev.id} changed`);
  }
  t.pass('all decoded');
});

t.test('damaged or unknown payloads are refused with DR_ERR_QUEUE_CORRUPT', async (t) => {
  const good = encodeEvent(routerEvents()[0] as RelayEvent);
  const firstLf = good.indexOf(0x0a);
  const cases: [string, Buffer][] = [
    ['one part', good.subarray(0, firstLf)],
    ['two parts', good.subarray(0, good.indexOf(0x0a, firstLf + 1))],
    ['version 3', Buffer.concat([Buffer.from('[3'), good.subarray(2)])],
  ];
  for (const [name, payload] of cases) {
    t.throws(() => decodeEvent(payload), { code: 'DR_ERR_QUEUE_CORRUPT' }, name);
  }
});

t.test('arbitrary events survive the queue', (t) => {
  const value: fc.Arbitrary<FlatValue> = fc.oneof(fc.string({ unit: 'binary' }), fc.double(), fc.integer(), fc.boolean(), fc.constant(null));
  const event: fc.Arbitrary<RelayEvent> = fc.record(
    {
      kind: fc.constantFrom(...LOG_KINDS),
      tag: fc.string({ unit: 'binary' }),
      msgid: fc.string(),
      host: fc.option(fc.string({ unit: 'binary' }), { nil: undefined }),
      time: fc.option(fc.string(), { nil: undefined }),
      id: fc.string({ unit: 'binary' }),
      fields: fc.dictionary(fc.string({ unit: 'binary' }), value),
      raw: fc.string({ unit: 'binary' }),
      account: fc.string(),
    },
    { requiredKeys: ['kind', 'tag', 'msgid', 'host', 'time', 'id', 'fields', 'raw'] },
  );
  // Lone surrogates become U+FFFD in UTF-8: compare with what a UTF-8 round trip of the same text gives.
  const utf8 = (s: string): string => Buffer.from(s, 'utf8').toString('utf8');
  fc.assert(
    fc.property(event, (ev) => {
      const d = decodeEvent(encodeEvent(ev));
      return (
        utf8(JSON.stringify(d)) === utf8(JSON.stringify(ev)) &&
        d.raw === utf8(ev.raw) &&
        severityOf(d) === severityOf(ev) &&
        d.fieldsJson === utf8(flatJson(ev.fields))
      );
    }),
    { numRuns: 2000 },
  );
  t.pass('2000 random events');
  t.end();
});
