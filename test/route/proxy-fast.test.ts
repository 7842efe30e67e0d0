import t, { type Test } from 'tap';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { FastProxyEvent, ProxyFastPath, plainCanonical, MAX_LAYOUTS } from '../../src/route/proxy-fast.js';
import { severityOf } from '../../src/formats/severity.js';
import { encodeEvent } from '../../src/pipeline/event-codec.js';
import { flattenProxy } from '../../src/route/flatten.js';
import { createRouter } from '../../src/route/router.js';
import { flatJson } from '../../src/formats/flat-json.js';
import { createFormatter } from '../../src/formats/index.js';
import type { FlatRecord, JsonObject } from '../../src/event.js';

const PROXY_LINES = readFileSync(new URL('../fixtures/peers/authproxy/authevents.synthetic.log', import.meta.url), 'utf8').trim().split('\n');

/** The normal path's answer, or undefined when JSON.parse refuses the line or it is no object. */
function slow(line: string): FlatRecord | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  return flattenProxy(v as JsonObject);
}

/** Same names in the same order and the same values (Object.is: -0, NaN), and the same JSON text. */
function sameAsSlow(t: Test, line: string, fast: FlatRecord, note: string): void {
  const want = slow(line);
  t.ok(want !== undefined, `${note}: the fast lane took only a line JSON.parse accepts`);
  if (want === undefined) return;
  t.strictSame(Object.keys(fast), Object.keys(want), `${note}: names and order`);
  const diff = Object.keys(want).filter((k) => !Object.is(fast[k], want[k]));
  t.same(diff, [], `${note}: values`);
  t.equal(flatJson(fast), JSON.stringify(want), `${note}: JSON text`);
}

t.test('the sample proxy lines: same fields and text as the normal path, layouts reused', async (t) => {
  const lane = new ProxyFastPath();
  let taken = 0;
  for (const [i, line] of PROXY_LINES.entries()) {
    const fast = lane.flatten(line);
    if (fast === undefined) continue;
    taken++;
    sameAsSlow(t, line, fast, `line ${i + 1}`);
  }
  t.equal(taken, PROXY_LINES.length, 'every sample line takes the lane');
  t.ok(lane.size >= 1 && lane.size <= PROXY_LINES.length, `few layouts (${lane.size})`);
});

t.test('lines that must take the normal path', async (t) => {
  const lane = new ProxyFastPath();
  const base = { timestamp: '2024-05-14T09:30:00.123456Z', msg: 'ok', status: 'Allow', log_time: 1715679000.123868, nested: { a: 1 } };
  const good = JSON.stringify(base);
  t.ok(lane.flatten(good), 'the plain line is taken (layout learnt)');
  const refuse: Array<[string, string]> = [
    ['escaped quote in a value', JSON.stringify({ ...base, msg: 'say "hi"' })],
    ['unicode escape', good.replace('"ok"', '"\\u006fk"')],
    ['raw tab inside a string (JSON.parse refuses it)', good.replace('"ok"', '"o\tk"')],
    ['non-canonical number 1.50', good.replace('1715679000.123868', '1.50')],
    ['exponent 1E3', good.replace('1715679000.123868', '1E3')],
    ['negative zero', good.replace('1715679000.123868', '-0')],
    ['leading zero (not JSON)', good.replace('1715679000.123868', '01')],
    ['two numbers glued (not JSON)', good.replace('1715679000.123868', '1.2.3')],
    ['an extra key', JSON.stringify({ ...base, extra: true })],
    ['a missing key', JSON.stringify({ timestamp: base.timestamp, msg: 'ok', status: 'Allow', log_time: 1, nested: { a: 1 } }).replace(',"status":"Allow"', '')],
    ['object where a scalar was', JSON.stringify({ ...base, msg: { x: 1 } })],
    ['array value', JSON.stringify({ ...base, msg: ['a'] })],
    ['trailing garbage', good + 'x'],
    ['truncated line', good.slice(0, -1)],
    ['tab as whitespace', good.replace('{', '{\t')],
    ['lone surrogate', good.replace('"ok"', '"\ud800"')],
  ];
  for (const [what, line] of refuse) {
    const fast = lane.flatten(line);
    if (fast === undefined) {
      t.pass(`${what}: normal path`);
    } else {
      // A layout learnt from this very line is fine as long as it is exact.
      sameAsSlow(t, line, fast, what);
    }
  }
  t.ok(lane.flatten(good), 'the lane still takes the plain line afterwards');
});

t.test('layouts the normal path resolves differently are never learnt', async (t) => {
  const cases: Array<[string, string]> = [
    ['duplicate key', '{"a":1,"b":2,"a":3}'],
    ['array-index key (listed first by objects)', '{"b":1,"7":2}'],
    ['__proto__ key', '{"__proto__":1,"b":2}'],
    ['collision: literal a__b beside a.b', '{"a__b":1,"a":{"b":2}}'],
    ['empty record', '{}'],
  ];
  for (const [what, line] of cases) {
    const lane = new ProxyFastPath();
    const fast = lane.flatten(line);
    if (fast !== undefined) sameAsSlow(t, line, fast, what);
    t.equal(lane.size, 0, `${what}: no layout kept`);
  }
});

t.test('renames, empty objects and deep nesting follow flatten.ts', async (t) => {
  const lane = new ProxyFastPath();
  const lines = [
    '{"hostname": "ny1", "log_logger": {"unpersistable": true}, "log_level": {"name": "info", "__class_uuid__": "u"}}',
    '{"a": {}, "b": {"c": {"d": {"e": null}}}, "f": false}',
    '{ "spaced" :  "x" , "n" : -0.0125 , "t":true }',
  ];
  for (const line of lines) {
    lane.flatten(line); // learn
    const fast = lane.flatten(line);
    t.ok(fast, `taken: ${line}`);
    if (fast !== undefined) sameAsSlow(t, line, fast, line);
  }
});

t.test('the layout cache stays bounded and recovers after odd input', async (t) => {
  const lane = new ProxyFastPath();
  for (let i = 0; i < MAX_LAYOUTS * 3; i++) lane.flatten(JSON.stringify({ [`k${i}`]: i, status: 'Allow' }));
  t.ok(lane.size <= MAX_LAYOUTS, `at most ${MAX_LAYOUTS} layouts (${lane.size})`);
  for (let i = 0; i < 200; i++) t.equal(lane.flatten('not json'), undefined);
  const line = JSON.stringify({ fresh: 'layout', n: 1 });
  let taken = false;
  // After the cooldown the lane learns again (bounded: the cooldown is far below this).
  for (let i = 0; i < 200 && !taken; i++) taken = lane.flatten(line) !== undefined;
  t.ok(taken, 'a new layout is learnt after a run of bad lines');
});

/** A proxy-like record: scalars, nested objects, empty objects, awkward keys. */
const scalar = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ maxLength: 12 }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
);
const key = fc.oneof(fc.constantFrom('hostname', 'log_level', 'name', '__class_uuid__', 'a', 'a__b', 'b', '0', '12', 'x y', 'ü'), fc.string({ maxLength: 6 }));
const record: fc.Arbitrary<JsonObject> = fc.letrec((tie) => ({
  obj: fc.dictionary(key, fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, scalar, tie('obj')), { maxKeys: 6 }),
})).obj as fc.Arbitrary<JsonObject>;

function spaced(r: JsonObject): string {
  // Python's json.dumps separators, as the Authentication Proxy writes them.
  return JSON.stringify(r).replace(/([{,:])(?=(?:[^"\\]|\\.|"(?:[^"\\]|\\.)*")*$)/g, '$1 ');
}

t.test('property: whatever the lane takes equals the normal path', async (t) => {
  let taken = 0;
  fc.assert(
    fc.property(fc.array(record, { minLength: 1, maxLength: 4 }), fc.boolean(), (records, pythonStyle) => {
      const lane = new ProxyFastPath();
      for (let round = 0; round < 2; round++) {
        for (const r of records) {
          const line = pythonStyle ? spaced(r) : JSON.stringify(r);
          const fast = lane.flatten(line);
          if (fast === undefined) continue;
          taken++;
          const want = slow(line);
          if (want === undefined) return false;
          const ka = Object.keys(fast);
          const kb = Object.keys(want);
          if (ka.length !== kb.length || ka.some((k, i) => k !== kb[i] || !Object.is(fast[k], want[k]))) return false;
          if (flatJson(fast) !== JSON.stringify(want)) return false;
        }
      }
      return true;
    }),
    { numRuns: 400 },
  );
  t.ok(taken > 100, `the lane took a good share of the generated lines (${taken})`);
});

t.test('plainCanonical agrees with String(Number(t)) whenever it decides', async (t) => {
  const numberText = fc.oneof(
    fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
    fc.integer().map(String),
    fc.tuple(fc.integer({ min: -999999, max: 999999 }), fc.nat({ max: 9999999 }), fc.nat({ max: 7 })).map(([i, f, z]) => `${i}.${'0'.repeat(z)}${f}`),
    fc.constantFrom('0', '-0', '00', '01', '1.0', '-0.0', '0.000001', '0.0000001', '123456789012345', '1234567890123456', '0.1', '-0.5', '1e5', '1.5e-7'),
  );
  fc.assert(
    fc.property(numberText, (s) => {
      const d = plainCanonical(s);
      return d === undefined || d === (String(Number(s)) === s);
    }),
    { numRuns: 5000 },
  );
  t.equal(plainCanonical('1795262400.123'), true);
  t.equal(plainCanonical('-0'), false);
  t.equal(plainCanonical('1.50'), false);
});

t.test('router: proxy lines through the lane give the same events and bytes as the normal path', async (t) => {
  const router = createRouter();
  const format = createFormatter(
    { format: 'rfc5424', message: 'flattened', facility: 'auth', enterprise_id: 32473, bom: false, max_message_bytes: 65536 },
    { fallbackHost: 'relay', software: 'duo-relay', swVersion: '0.0.0', now: () => new Date(0) },
  );
  const lines = [...PROXY_LINES, ...PROXY_LINES.map((l) => l.replace(/, /g, ',').replace(/: /g, ':'))];
  for (const [i, text] of lines.entries()) {
    const fast = router.route({ text, kind: 'authproxy', host: 'authproxy01', position: `f@1:2:${i}` });
    // A parsed record takes the normal path; the text is the raw and the hash input in both.
    const normal = router.route({ text, record: JSON.parse(text) as JsonObject, kind: 'authproxy', host: 'authproxy01', position: `f@1:2:${i}` });
    t.ok(fast.ok && normal.ok, `line ${i + 1} routed`);
    if (!fast.ok || !normal.ok) continue;
    t.same(fast.event, normal.event, `line ${i + 1}: same event`);
    t.ok(fast.event instanceof FastProxyEvent, `line ${i + 1}: through the lane`);
    // The lane's event makes these on demand: each must equal what the normal path stored.
    t.equal(fast.event.fieldsJson, JSON.stringify(normal.event.fields), `line ${i + 1}: same JSON text`);
    t.equal(severityOf(fast.event), severityOf(normal.event), `line ${i + 1}: same severity`);
    t.strictSame(JSON.parse(JSON.stringify(fast.event)), JSON.parse(JSON.stringify(normal.event)), `line ${i + 1}: same JSON shape`);
    t.strictSame({ ...fast.event.fields }, { ...normal.event.fields }, `line ${i + 1}: same fields, in the same order`);
    t.same(Object.keys(fast.event.fields), Object.keys(normal.event.fields));
    t.equal(format(fast.event), format(normal.event), `line ${i + 1}: same wire message`);
    t.equal(encodeEvent(fast.event).toString('utf8'), encodeEvent(normal.event).toString('utf8'), `line ${i + 1}: same queue payload`);
  }
});

t.test('router: a lane event with each status and time layout gives the normal severity and time', async (t) => {
  const router = createRouter();
  const base = { timestamp: '2024-05-14T09:30:00.123456Z', msg: 'm', username: 'u', status: 'Allow', log_level: { name: 'info' }, log_time: 1715679000.5 };
  const variants: Record<string, unknown>[] = [
    base,
    { ...base, status: 'Reject' },
    { ...base, status: 'ERROR' },
    { ...base, status: null },
    { ...base, status: 7 },
    { ...base, timestamp: 'not a time' },
    { ...base, timestamp: null },
    { ...base, timestamp: {} },
    { msg: 'no time, no status', username: 'u' },
    { msg: 'epoch only', log_time: 1715679000 },
  ];
  for (const v of variants) {
    const text = JSON.stringify(v);
    const rec = { text, kind: 'authproxy' as const, host: 'h', position: 'p' };
    router.route(rec); // learns the layout
    const fast = router.route(rec);
    const normal = router.route({ ...rec, record: JSON.parse(text) as JsonObject });
    if (!fast.ok || !normal.ok) {
      t.fail(`${text}: routed`);
      continue;
    }
    t.ok(fast.event instanceof FastProxyEvent, `${text}: through the lane`);
    t.equal(fast.event.time, normal.event.time, `${text}: time`);
    t.equal(severityOf(fast.event), severityOf(normal.event), `${text}: severity`);
    t.strictSame(JSON.parse(JSON.stringify(fast.event)), JSON.parse(JSON.stringify(normal.event)), `${text}: event`);
  }
});
