import t from 'tap';
import fc from 'fast-check';
import { createRouter, preview, PREVIEW_CHARS, UNRECOGNISED_REASON, type RouteResult } from '../../src/route/router.js';
import { classify } from '../../src/route/classify.js';
import { LOG_KINDS, type JsonObject, type LogKind, type SourceRecord } from '../../src/event.js';

const AUTH = {
  access_device: { hostname: 'h', ip: '192.168.0.112' },
  application: { key: 'DI1', name: 'App' },
  event_type: 'authentication',
  isotimestamp: '2021-03-23T00:01:48.721183+00:00',
  result: 'denied',
  timestamp: 1616457708,
  txid: '5a845249-1cb8-476f-a620-cfe31464d417',
  user: { groups: [], key: 'DU3', name: 'roberto' },
  host: 'api-1a2b3c4d.duosecurity.com',
};
const AUTH_TEXT = JSON.stringify(AUTH);

function deadOf(r: RouteResult): { reason: string; position: string; preview: string } {
  if (r.ok) throw new Error('expected a dead letter');
  return r.dead;
}

t.test('routes text and records to the same event', async (t) => {
  const router = createRouter();
  const a = router.route({ text: AUTH_TEXT, position: 'p1' });
  const b = router.route({ record: JSON.parse(AUTH_TEXT) as JsonObject, position: 'p2' });
  t.ok(a.ok && b.ok);
  if (!a.ok || !b.ok) return;
  t.same(a.event, b.event, 'JSON.stringify of the record equals the compact text here');
  t.same(
    { kind: a.event.kind, tag: a.event.tag, msgid: a.event.msgid, host: a.event.host, time: a.event.time, id: a.event.id },
    {
      kind: 'authentication',
      tag: 'auth.duo.authentication.events',
      msgid: 'authentication',
      host: 'api-1a2b3c4d.duosecurity.com',
      time: '2021-03-23T00:01:48.721183+00:00',
      id: AUTH.txid,
    },
  );
  t.equal(a.event.fields.access_device_hostname2, 'h');
  t.equal(a.event.fields.user_groups_str, '');
  t.notOk('account' in a.event, 'no account key when the source gave none');
  t.equal(JSON.stringify(JSON.parse(JSON.stringify(a.event))), JSON.stringify(a.event), 'the event is plain JSON (the disk queue stores it)');
});

t.test('raw: the text when given (even with a record), else JSON.stringify(record)', async (t) => {
  const router = createRouter();
  const spaced = ` ${AUTH_TEXT.replace(/,/g, ', ')} `;
  const a = router.route({ text: spaced, position: 'p' });
  t.equal(a.ok && a.event.raw, spaced);
  const rec = { context: 'verify', phone: '+1', credits: 1 };
  const b = router.route({ record: rec, text: 'ORIGINAL', position: 'p' });
  t.equal(b.ok && b.event.raw, 'ORIGINAL', 'record wins for parsing, the text stays the raw');
  t.equal(b.ok && b.event.kind, 'telephony');
  const c = router.route({ record: rec, position: 'p' });
  t.equal(c.ok && c.event.raw, JSON.stringify(rec));
});

t.test('host: rec.host, else the record host, else defaultHost', async (t) => {
  const withDefault = createRouter({ defaultHost: 'relay01' });
  const proxyLine = '{"timestamp": "2021-03-17T10:13:13.980350Z", "msg": "m", "auth_stage": "Primary authentication", "status": "Reject", "hostname": "ny1-yoda", "log_namespace": "duoauthproxy.lib.log"}';
  const r1 = withDefault.route({ text: AUTH_TEXT, position: 'p', host: 'sender.example' });
  t.equal(r1.ok && r1.event.host, 'sender.example');
  const r2 = withDefault.route({ text: AUTH_TEXT, position: 'p' });
  t.equal(r2.ok && r2.event.host, 'api-1a2b3c4d.duosecurity.com');
  const r3 = withDefault.route({ text: proxyLine, position: 'p' });
  t.equal(r3.ok && r3.event.host, 'relay01', 'the proxy record hostname is not the HEADER host');
  const r4 = createRouter().route({ text: proxyLine, position: 'p' });
  t.ok(r4.ok && r4.event.host === undefined, 'no host at all: undefined (the formatter uses NILVALUE or its fallback)');
  const r5 = withDefault.route({ text: JSON.stringify({ ...AUTH, host: '' }), position: 'p' });
  t.equal(r5.ok && r5.event.host, 'relay01', 'an empty record host does not count');
  const r6 = withDefault.route({ text: JSON.stringify({ ...AUTH, host: 42 }), position: 'p' });
  t.equal(r6.ok && r6.event.host, 'relay01', 'a non-string record host does not count');
});

t.test('account is carried and salts the content hash', async (t) => {
  const router = createRouter();
  const tel = '{"context": "verify", "credits": 1, "isotimestamp": "2021-08-16T06:03:32+00:00", "phone": "+1", "timestamp": 1629093812, "type": "sms"}';
  const a = router.route({ text: tel, position: 'p', account: 'DA1' });
  const b = router.route({ text: tel, position: 'p', account: 'DA2' });
  const c = router.route({ text: tel, position: 'p', account: 'DA1' });
  t.ok(a.ok && b.ok && c.ok);
  if (!a.ok || !b.ok || !c.ok) return;
  t.equal(a.event.account, 'DA1');
  t.not(a.event.id, b.event.id);
  t.equal(a.event.id, c.event.id, 'repeats carry the same id');
});

t.test('kind: rec.kind wins over the shape; a bogus kind falls back to the shape', async (t) => {
  const router = createRouter();
  const r = router.route({ text: AUTH_TEXT, position: 'p', kind: 'administrator' });
  t.equal(r.ok && r.event.kind, 'administrator', 'the endpoint is trusted');
  t.equal(r.ok && r.event.tag, 'auth.duo.administrator.events');
  const bogus = router.route({ text: AUTH_TEXT, position: 'p', kind: 'nonsense' as LogKind });
  t.equal(bogus.ok && bogus.event.kind, 'authentication');
  for (const kind of LOG_KINDS) {
    const k = router.route({ text: '{"anything": 1}', position: 'p', kind });
    t.ok(k.ok && k.event.kind === kind && k.event.msgid === kind, `known kind ${kind} routes any object`);
  }
});

t.test('tag overrides reach the events', async (t) => {
  const router = createRouter({ tags: { authproxy: 'auth.duo.authenticationProxy.events', administrator_login: 'my.login' } });
  const p = router.route({ text: '{"auth_stage": "Unknown", "status": "Error"}', position: 'p' });
  t.equal(p.ok && p.event.tag, 'auth.duo.authenticationProxy.events');
  const l = router.route({ text: '{"action": "admin_login", "username": "a"}', position: 'p' });
  t.equal(l.ok && l.event.tag, 'my.login');
  const e = router.route({ text: '{"action": "user_update", "username": "a"}', position: 'p' });
  t.equal(e.ok && e.event.tag, 'auth.duo.administrator.events');
});

t.test('dead letters: not JSON, not an object, empty', async (t) => {
  const router = createRouter();
  const nj = deadOf(router.route({ text: 'hello {', position: 'file@1:2:30' }));
  t.match(nj.reason, /^Not JSON: /);
  t.equal(nj.position, 'file@1:2:30');
  t.equal(nj.preview, 'hello {');
  t.match(deadOf(router.route({ text: '', position: 'p' })).reason, /^Not JSON: /);
  t.match(deadOf(router.route({ text: '{"a": 1} trailing', position: 'p' })).reason, /^Not JSON: /);
  const cases: [string, string][] = [
    ['[1, 2]', 'array'],
    ['42', 'number'],
    ['"str"', 'string'],
    ['null', 'null'],
    ['true', 'boolean'],
  ];
  for (const [text, type] of cases) {
    const d = deadOf(router.route({ text, position: 'p' }));
    t.equal(d.reason, `Not a JSON object: ${type}`, text);
    t.equal(d.preview, text);
  }
  const arr = deadOf(router.route({ record: [1, 2] as unknown as JsonObject, position: 'p' }));
  t.equal(arr.reason, 'Not a JSON object: array');
  t.equal(arr.preview, '[1,2]');
  const nul = deadOf(router.route({ record: null as unknown as JsonObject, position: 'p' }));
  t.equal(nul.reason, 'Not a JSON object: null');
  t.match(deadOf(router.route({ position: 'p' })).reason, /^Empty record/);
  t.match(deadOf(router.route({ record: { a: 1n } as unknown as JsonObject, position: 'p' })).reason, /^Not serialisable: /);
  const self: JsonObject = {};
  self.self = self;
  t.match(deadOf(router.route({ record: self, position: 'p' })).reason, /^Not serialisable: /);
  const toJson = { toJSON: () => undefined } as unknown as JsonObject;
  t.match(deadOf(router.route({ record: toJson, position: 'p' })).reason, /^Not serialisable: /);
});

t.test('dead letters: unrecognised shapes are kept, with their keys, never guessed', async (t) => {
  const router = createRouter();
  const d = deadOf(router.route({ text: '{"foo": 1, "bar": {"baz": 2}}', position: 'syslog:10.0.0.5' }));
  t.match(d.reason, UNRECOGNISED_REASON);
  t.match(d.reason, 'keys: foo, bar');
  t.match(d.reason, '--type');
  t.equal(d.preview, '{"foo": 1, "bar": {"baz": 2}}');
  const many: JsonObject = {};
  for (let i = 0; i < 30; i++) many[`k${i}`] = i;
  const dm = deadOf(router.route({ record: many, position: 'p' }));
  t.match(dm.reason, 'k11, …');
  t.notMatch(dm.reason, 'k12');
  t.equal(classify({ foo: 1 }), undefined);
  t.equal(classify({ eventtype: 'auth_log' }), 'authentication', 'eventtype decides when the shape does not');
  t.equal(classify({ eventtype: 'something' }), undefined);
});

t.test('preview: 512 chars, never half a surrogate pair', async (t) => {
  t.equal(PREVIEW_CHARS, 512);
  t.equal(preview('x'.repeat(600)).length, 512);
  t.equal(preview('short'), 'short');
  const emoji = `${'x'.repeat(511)}😀tail`;
  const p = preview(emoji);
  t.equal(p.length, 511, 'cut before the pair');
  t.equal(p, 'x'.repeat(511));
  const exact = `${'x'.repeat(510)}😀tail`;
  t.equal(preview(exact), `${'x'.repeat(510)}😀`, 'a pair that fits is kept');
  const router = createRouter();
  const d = deadOf(router.route({ text: `not json ${'y'.repeat(1000)}`, position: 'p' }));
  t.equal(d.preview.length, 512);
});

t.test('an internal error is a dead letter, not a throw', async (t) => {
  const router = createRouter();
  const evil = {
    position: 'p',
    get text(): string {
      throw new Error('boom');
    },
  } as SourceRecord;
  const d = deadOf(router.route(evil));
  t.match(d.reason, /^Internal router error: boom/);
  t.equal(d.position, 'p');
  const worse = {
    get position(): string {
      throw new Error('no position');
    },
  } as unknown as SourceRecord;
  const w = deadOf(router.route(worse));
  t.match(w.reason, /^Internal router error/);
  t.equal(w.position, '');
  t.match(deadOf(router.route(null as unknown as SourceRecord)).reason, /^Internal router error/);
});

// ---- property tests -------------------------------------------------------------------------

function validResult(r: RouteResult, position: string): boolean {
  if (!r.ok) return typeof r.dead.reason === 'string' && r.dead.reason !== '' && r.dead.position === position && r.dead.preview.length <= PREVIEW_CHARS;
  const e = r.event;
  if (!LOG_KINDS.includes(e.kind) || e.msgid !== e.kind || typeof e.tag !== 'string' || e.tag === '') return false;
  if (typeof e.id !== 'string' || e.id === '' || typeof e.raw !== 'string') return false;
  if (e.time !== undefined && Number.isNaN(Date.parse(e.time))) return false;
  for (const v of Object.values(e.fields)) {
    if (!(v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')) return false;
  }
  return true;
}

const kindArb = fc.option(fc.constantFrom<LogKind>(...LOG_KINDS), { nil: undefined });

t.test('property: arbitrary strings never throw', async (t) => {
  const router = createRouter({ defaultHost: 'h' });
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.json()), kindArb, (text, kind) => {
      const rec: SourceRecord = kind === undefined ? { text, position: 'p' } : { text, position: 'p', kind };
      return validResult(router.route(rec), 'p');
    }),
    { numRuns: 1000 },
  );
  t.pass('held');
});

t.test('property: arbitrary JSON values never throw, as text or as record, and ids are stable', async (t) => {
  const router = createRouter();
  const duoish = fc.record(
    {
      action: fc.constantFrom('admin_login', 'admin_login_error', 'user_update', 'o2fa_x'),
      description: fc.oneof(fc.string(), fc.json()),
      txid: fc.string(),
      context: fc.string(),
      phone: fc.string(),
      isotimestamp: fc.oneof(fc.string(), fc.date({ noInvalidDate: true }).map((d) => d.toISOString())),
      timestamp: fc.oneof(fc.double(), fc.integer(), fc.string()),
      access_device: fc.jsonValue(),
      log_namespace: fc.constant('duoauthproxy.lib.log'),
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(fc.oneof(fc.jsonValue(), duoish, fc.dictionary(fc.string(), fc.jsonValue())), kindArb, (value, kind) => {
      const text = JSON.stringify(value);
      const base = kind === undefined ? { position: 'p' } : { position: 'p', kind };
      const a = router.route({ ...base, text });
      const b = router.route({ ...base, record: value as JsonObject });
      const again = router.route({ ...base, text });
      if (!validResult(a, 'p') || !validResult(b, 'p')) return false;
      return JSON.stringify(a) === JSON.stringify(again) && a.ok === b.ok;
    }),
    { numRuns: 1000 },
  );
  t.pass('held');
});

t.test("a record's precomputed content hash is its id (fast lane and normal path), unless an account is part of the hash", async (t) => {
  const router = createRouter();
  const given = 'c'.repeat(32);
  // The fast lane takes flat proxy lines; a nested array sends a line down the normal path.
  const fast = '{"timestamp":"2024-05-14T09:30:00.123456Z","msg":"ok","status":"Allow","log_namespace":"duoauthproxy.lib.log"}';
  const normal = '{"timestamp":"2024-05-14T09:30:00.123456Z","msg":"ok","list":[1,[2]],"log_namespace":"duoauthproxy.lib.log"}';
  for (const text of [fast, normal]) {
    const base: SourceRecord = { text, position: 'f@1:2:0', kind: 'authproxy', host: 'proxy1' };
    const own = router.route(base);
    const withHash = router.route({ ...base, contentHash: given });
    const withAccount = router.route({ ...base, contentHash: given, account: 'ACC1' });
    const accountOnly = router.route({ ...base, account: 'ACC1' });
    t.ok(own.ok && withHash.ok && withAccount.ok && accountOnly.ok);
    if (!own.ok || !withHash.ok || !withAccount.ok || !accountOnly.ok) return;
    t.equal(withHash.event.id, given, 'the given hash is taken, not computed again');
    t.not(own.event.id, given);
    t.equal(withAccount.event.id, accountOnly.event.id, 'with an account the hash covers it too: computed');
    t.not(withAccount.event.id, given);
  }
});
