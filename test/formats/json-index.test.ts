import t from 'tap';
import type { RelayEvent } from '../../src/event.js';
import type { FormatOptions } from '../../src/config/schema.js';
import { createFormatter, messageBody, parseRfc5424 } from '../../src/formats/index.js';

const BASE: FormatOptions = { format: 'json', message: 'raw', facility: 'auth', enterprise_id: 32473, bom: false, max_message_bytes: 480 };
const CTX = { fallbackHost: 'relay', software: 'duo-relay', swVersion: '1.2.3' };
const ev = (over: Partial<RelayEvent> = {}): RelayEvent => ({
  kind: 'telephony', tag: 'auth.duo.telephony.events', msgid: 'telephony', host: 'api', time: '2023-03-21T22:34:49.466370+00:00', id: 'tel-1',
  fields: { context: 'enrollment', phone: '+12125556707' }, raw: '{\n  "context": "enrollment"\r\n}', ...over,
});

t.test('json: the body alone on one line, still valid JSON', async (t) => {
  const f = createFormatter(BASE, CTX);
  const out = f(ev());
  t.notOk(/[\r\n]/.test(out));
  t.same(JSON.parse(out), { context: 'enrollment' });
  t.same(JSON.parse(createFormatter({ ...BASE, message: 'flattened' }, CTX)(ev())), { context: 'enrollment', phone: '+12125556707' });
  const ecs = JSON.parse(createFormatter({ ...BASE, message: 'ecs', max_message_bytes: 65536 }, CTX)(ev())) as { event: { dataset: string } };
  t.equal(ecs.event.dataset, 'telephony_log');
  const long = f(ev({ raw: 'x'.repeat(1000) }));
  t.equal(Buffer.byteLength(long), 480);
  t.equal(f.stats.truncated, 1);
});

t.test('createFormatter picks each format', async (t) => {
  t.match(createFormatter({ ...BASE, format: 'rfc5424' }, CTX)(ev()), /^<38>1 /);
  t.equal(parseRfc5424(createFormatter({ ...BASE, format: 'rfc5424' }, CTX)(ev())).appName, 'auth.duo.telephony.events');
  t.match(createFormatter({ ...BASE, format: 'rfc3164' }, CTX)(ev()), /^<38>Mar 21 22:34:49 api auth\.duo\.telephony\.events: /);
  t.match(createFormatter({ ...BASE, format: 'cef' }, CTX)(ev()), / CEF:0\|Duo Security\|duo-relay\|1\.2\.3\|telephony\|/);
  t.match(createFormatter({ ...BASE, format: 'leef' }, CTX)(ev()), / LEEF:2\.0\|Duo Security\|duo-relay\|1\.2\.3\|telephony\|x09\|/);
});

t.test('message bodies', async (t) => {
  t.equal(messageBody('raw')(ev({ raw: '\uFEFF\uFEFF{"a":1}' })), '{"a":1}', 'leading BOMs dropped from raw');
  t.equal(messageBody('raw')(ev({ raw: '{"a":"\uD800"}' })), '{"a":"\uFFFD"}', 'lone surrogate repaired');
  t.equal(messageBody('flattened')(ev({ fields: { a: 1, b: null, c: 'x' } })), '{"a":1,"b":null,"c":"x"}');
});
