/**
 * The disk-queue payload of an event is exactly JSON.stringify(event), for every event the router
 * builds (seed and peer samples, proxy lines through the fast lane, MSP accounts) and for arbitrary
 * strings and values; and it decodes back to the same event.
 */
import t from 'tap';
import fc from 'fast-check';
import type { FlatValue, RelayEvent, SourceRecord } from '../../src/event.js';
import { LOG_KINDS } from '../../src/event.js';
import { createRouter } from '../../src/route/router.js';
import { decodeEvent, encodeEvent } from '../../src/pipeline/event-codec.js';
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

t.test('router events: payload = JSON.stringify(event), and back', async (t) => {
  const records: SourceRecord[] = [];
  for (const s of [...seedSamples(), ...peerSamples()]) {
    records.push({ text: s.line, position: s.origin });
    records.push({ record: JSON.parse(s.line) as Record<string, unknown>, position: s.origin, account: 'DA0CHILD00000000001', host: 'api-x.duosecurity.com' });
  }
  for (let i = 0; i < 50; i++) records.push({ text: proxyLine(i, i % 3 === 0 ? 40 : 0).trimEnd(), kind: 'authproxy', host: 'proxy01', position: `f@1:2:${i}` });
  records.push({ text: '{"timestamp":"2024-05-14T09:30:00Z","msg":"quote \\" backslash \\\\ unicode \\u00e9 \\ud83d\\ude00","nested":{"a":[1,2,{"b":null}]}}', kind: 'authproxy', position: 'f@1:2:x' });
  const events = routed(records);
  t.ok(events.length >= records.length - 2, `${events.length} events routed`);
  const bad = events.filter((ev) => encodeEvent(ev) !== JSON.stringify(ev)).map((ev) => ev.id);
  t.same(bad, [], 'every payload equals JSON.stringify(event)');
  t.ok(events.every((ev) => JSON.stringify(decodeEvent(Buffer.from(encodeEvent(ev)))) === JSON.stringify(ev)), 'every payload decodes to the same event');
});

t.test('arbitrary events: payload = JSON.stringify(event)', (t) => {
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
  fc.assert(fc.property(event, (ev) => encodeEvent(ev) === JSON.stringify(ev)), { numRuns: 2000 });
  t.pass('2000 random events');
  t.end();
});
