import t from 'tap';
import fc from 'fast-check';
import { flattenCloud, flattenProxy, safeJson, MAX_CACHED_PATHS, MAX_DEPTH, MAX_FIELDS, TRUNCATED_FIELD } from '../../src/route/flatten.js';
import type { FlatRecord, JsonObject } from '../../src/event.js';

t.test('cloud: `_` joiner, values unchanged, renames', async (t) => {
  const f = flattenCloud({
    a: { b: { c: 1 } },
    n: null,
    yes: true,
    s: 'x',
    access_device: { hostname: 'h', ip: '10.0.0.1', location: { city: null } },
    auth_device: { ip: '1.1.1.1' },
  });
  t.same(f, {
    a_b_c: 1,
    n: null,
    yes: true,
    s: 'x',
    access_device: '{"hostname":"h","ip":"10.0.0.1","location":{"city":null}}',
    access_device_hostname2: 'h',
    access_device_ip: '10.0.0.1',
    access_device_location_city: null,
    auth_device: '{"ip":"1.1.1.1"}',
    auth_device_ip: '1.1.1.1',
  });
  t.notOk('access_device_hostname' in f);
});

t.test('proxy: `__` joiner and the awkward Twisted keys', async (t) => {
  const f = flattenProxy({
    hostname: 'ny1-yoda',
    log_logger: { unpersistable: true },
    log_level: { name: 'info', __class_uuid__: 'u' },
    access_device: { hostname: 'not a proxy key' },
  });
  t.same(f, {
    hostname2: 'ny1-yoda',
    log_logger__unpersistable: true,
    log_level__name: 'info',
    log_level____class_uuid__: 'u',
    access_device__hostname: 'not a proxy key',
  });
});

t.test('arrays', async (t) => {
  const f = flattenCloud({ user: { groups: ['Duo Users', 'CorpHQ Users'] }, empty: [], mixed: [1, null, true, 'a'], objs: [{ a: 1 }], nested: [[1]] });
  t.equal(f.user_groups, '["Duo Users","CorpHQ Users"]', 'array as JSON text');
  t.equal(f.user_groups_str, 'Duo Users, CorpHQ Users', 'scalars joined with ", "');
  t.equal(f.empty, '[]');
  t.equal(f.empty_str, '');
  t.equal(f.mixed_str, '1, null, true, a');
  t.equal(f.objs, '[{"a":1}]');
  t.notOk('objs_str' in f, 'no _str for arrays of objects');
  t.notOk('nested_str' in f, 'no _str for arrays of arrays');
  const p = flattenProxy({ list: ['a', 'b'] });
  t.same(p, { list: '["a","b"]', list__str: 'a, b' }, 'proxy uses its own joiner for _str');
});

t.test('empty objects and collisions', async (t) => {
  t.same(flattenCloud({ a: {} }), { a: '{}' }, 'an empty object keeps its key');
  t.same(flattenCloud({}), {});
  t.same(flattenCloud({ a: { b: 1 }, a_b: 2, c_d: 3, c: { d: 4 } }), { a_b: 1, a_b_2: 2, c_d: 3, c_d_2: 4 }, 'first written keeps the name');
  t.same(flattenCloud({ hostname: 'x', hostname2: 'y' }), { hostname2: 'x', hostname2_2: 'y' });
});

t.test('non-JSON values handed over by code', async (t) => {
  const f = flattenCloud({ nan: Number.NaN, inf: Number.POSITIVE_INFINITY, big: 12n, u: undefined, fn: () => 1, sym: Symbol('s') } as unknown as JsonObject);
  t.same(f, { nan: 'NaN', inf: 'Infinity', big: '12' });
});

t.test('__proto__ keys are kept as data and pollute nothing', async (t) => {
  const rec = JSON.parse('{"__proto__": {"polluted": 1}, "a": {"__proto__": "x"}}') as JsonObject;
  const f = flattenCloud(rec);
  t.equal(Object.getPrototypeOf(f), Object.prototype);
  t.equal(f.__proto___polluted, 1);
  t.equal(f.a___proto__, 'x');
  t.notOk('polluted' in f);
  t.equal(({} as Record<string, unknown>).polluted, undefined);
  const top = flattenCloud(JSON.parse('{"__proto__": 5}') as JsonObject);
  t.ok(Object.hasOwn(top, '__proto__'));
  t.equal(JSON.stringify(top), '{"__proto__":5}');
});

t.test('depth limit: deeper subtrees become JSON text', async (t) => {
  let deep: JsonObject = { leaf: 1 };
  for (let i = 0; i < MAX_DEPTH + 5; i++) deep = { d: deep };
  const f = flattenCloud(deep);
  const keys = Object.keys(f);
  t.equal(keys.length, 1);
  const key = keys[0] as string;
  t.equal(key.split('_').filter((s) => s === 'd').length, MAX_DEPTH, 'path stops at MAX_DEPTH');
  t.equal(typeof f[key], 'string');
  t.match(JSON.parse(f[key] as string), { d: {} });
});

t.test('hostile nesting does not blow the stack', async (t) => {
  const n = 200_000;
  const rec = JSON.parse(`{"a":${'['.repeat(n)}${']'.repeat(n)},"b":${'{"x":'.repeat(n)}1${'}'.repeat(n)}}`) as JsonObject;
  const f = flattenCloud(rec);
  t.equal(f.a, '[unserialisable: RangeError]');
  t.ok(Object.keys(f).some((k) => k.startsWith('b_x')));
  t.equal(safeJson(10n), '[unserialisable: TypeError]');
  t.equal(safeJson(undefined), 'null');
});

t.test('field limit', async (t) => {
  const rec: JsonObject = {};
  for (let i = 0; i < MAX_FIELDS + 50; i++) rec[`k${i}`] = i;
  const f = flattenCloud(rec);
  t.equal(Object.keys(f).length, MAX_FIELDS + 1);
  t.equal(f[TRUNCATED_FIELD], true);
  t.equal(f.k0, 0);
  t.notOk(`k${MAX_FIELDS}` in f);
});

t.test('admin description', async (t) => {
  const base = { isotimestamp: '2021-03-23T16:11:49+00:00', object: null, timestamp: 1616515909, username: 'Roberto' };

  const login = flattenCloud({ ...base, action: 'admin_login', description: '{"ip_address": "1.2.3.4", "factor": "sms", "role": "Owner", "username": "other", "nested": {"a": 1}}' });
  t.equal(login.description, '{"ip_address": "1.2.3.4", "factor": "sms", "role": "Owner", "username": "other", "nested": {"a": 1}}', 'kept as the string');
  t.equal(login.ip_address, '1.2.3.4');
  t.equal(login.factor, 'sms');
  t.equal(login.role, 'Owner');
  t.equal(login.nested_a, 1);
  t.equal(login.username, 'Roberto', 'the description never overwrites the record');
  t.equal(login.description_username, 'other', 'a clashing description key goes under description_');
  t.same([login.device, login.primary_auth_method, login.email, login.error], [null, null, null, null], 'login fields null when absent');

  const err = flattenCloud({ ...base, action: 'admin_login_error', description: '{"ip_address": "1.2.3.4", "email": "a@b.c", "error": "Invalid password"}' });
  t.equal(err.email, 'a@b.c');
  t.equal(err.error, 'Invalid password');
  t.equal(err.device, null);

  const text = flattenCloud({ ...base, action: 'admin_login', description: 'Admin temporarily locked out' });
  t.equal(text.description, 'Admin temporarily locked out', 'not JSON: stays a string');
  t.equal(text.ip_address, null);

  const broken = flattenCloud({ ...base, action: 'admin_lockout', description: '{"message": "cut' });
  t.equal(broken.description, '{"message": "cut');
  t.notOk(Object.keys(broken).some((k) => k.startsWith('description_')));

  const arr = flattenCloud({ ...base, action: 'admin_login', description: '[1, 2]' });
  t.equal(arr.description, '[1, 2]', 'a JSON array stays a string');
  t.notOk('description_0' in arr);

  const other = flattenCloud({ ...base, action: 'user_update', description: '{"email": "new@x.y", "status": "Bypass"}' });
  t.equal(other.description_email, 'new@x.y', 'non-login: under description_');
  t.equal(other.description_status, 'Bypass');
  t.notOk('email' in other, 'non-login description never reaches top level');
  t.notOk('ip_address' in other, 'no null fill outside logins');

  const nul = flattenCloud({ ...base, action: 'activation_begin', description: null });
  t.equal(nul.description, null);
  const missing = flattenCloud({ ...base, action: 'admin_login' });
  t.notOk('description' in missing);
  t.equal(missing.email, null, 'login without description still gets the login fields');

  const obj = flattenCloud({ ...base, action: 'admin_login', description: { ip_address: '5.6.7.8' } });
  t.equal(obj.description, '{"ip_address":"5.6.7.8"}', 'an object description is kept as JSON text');
  t.equal(obj.ip_address, '5.6.7.8');

  const huge = flattenCloud({ ...base, action: 'admin_login', description: `{"a": "${'x'.repeat(70_000)}"}` });
  t.notOk('a' in huge, 'over-long descriptions are not parsed');

  const spaced = flattenCloud({ ...base, action: 'policy_update', description: ' \n{"x": 1}' });
  t.equal(spaced.description_x, 1, 'leading whitespace is fine');

  const offline = flattenCloud({ ...base, action: 'o2fa_user_provisioned', description: '{"user_agent": "DuoCredProv", "hostname": "WKS", "factor": "duo_otp"}' });
  t.same([offline.description_user_agent, offline.description_hostname, offline.description_factor], ['DuoCredProv', 'WKS', 'duo_otp']);

  const proxy = flattenProxy({ action: 'admin_login', description: '{"a": 1}' });
  t.same(proxy, { action: 'admin_login', description: '{"a": 1}' }, 'the proxy flattener does not expand descriptions');
});

t.test('the name cache is bounded and names stay right past the bound', async (t) => {
  for (let i = 0; i < MAX_CACHED_PATHS + 100; i++) {
    const f = flattenProxy({ [`p${i % 50}`]: { [`k${i}`]: i } });
    if (f[`p${i % 50}__k${i}`] !== i) {
      t.fail(`wrong name at ${i}`, { f });
      return;
    }
  }
  t.same(flattenProxy({ fresh: { a: 1 }, hostname: 'h' }), { fresh__a: 1, hostname2: 'h' }, 'uncached parent');
  t.same(flattenProxy({ p0: { new_key: 1 } }), { p0__new_key: 1 }, 'cached parent, uncached key');
  t.same(flattenCloud({ access_device: { hostname: 'h' } }).access_device_hostname2, 'h', 'cloud cache unaffected');
});

// ---- property tests -------------------------------------------------------------------------

function isFlatValue(v: unknown): boolean {
  return v === null || typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number';
}

function checkFlat(f: FlatRecord): boolean {
  for (const k of Object.keys(f)) {
    if (typeof k !== 'string') return false;
    if (!isFlatValue(f[k])) return false;
  }
  return Object.getPrototypeOf(f) === Object.prototype;
}

const jsonObject = fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 6 }), { maxKeys: 12 }) as fc.Arbitrary<JsonObject>;
const adminLike = fc.record({
  action: fc.constantFrom('admin_login', 'admin_login_error', 'user_update', 'o2fa_user_provisioned'),
  description: fc.oneof(fc.string(), fc.json({ maxDepth: 4 }), fc.jsonValue({ maxDepth: 3 })),
  username: fc.string(),
}) as fc.Arbitrary<JsonObject>;

t.test('property: flatteners never throw, give string keys and FlatValues, and are deterministic', async (t) => {
  for (const flatten of [flattenCloud, flattenProxy]) {
    fc.assert(
      fc.property(fc.oneof(jsonObject, adminLike), (rec) => {
        const a = flatten(rec);
        const b = flatten(JSON.parse(JSON.stringify(rec)) as JsonObject);
        return checkFlat(a) && JSON.stringify(a) === JSON.stringify(b);
      }),
      { numRuns: 400 },
    );
  }
  t.pass('held');
});

t.test('property: anything JSON.parse can give never throws', async (t) => {
  fc.assert(
    fc.property(fc.json({ maxDepth: 8 }), (text) => {
      const v: unknown = JSON.parse(text);
      const rec = (typeof v === 'object' && v !== null && !Array.isArray(v) ? v : { v }) as JsonObject;
      return checkFlat(flattenCloud(rec)) && checkFlat(flattenProxy(rec));
    }),
    { numRuns: 400 },
  );
  t.pass('held');
});
