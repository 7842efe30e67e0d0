/**
 * Classification and tags for every peer sample (copies in test/fixtures/peers/, see PROVENANCE.md):
 * each record is routed twice, once with its kind unknown (classified by shape) and once with the
 * kind known (as the poller/tailer would pass it); both must give the expected kind and tag.
 */
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { createRouter } from '../../src/route/router.js';
import { classify } from '../../src/route/classify.js';
import type { JsonObject, LogKind, RelayEvent } from '../../src/event.js';

const fixture = (p: string): string => readFileSync(new URL(`../fixtures/peers/${p}`, import.meta.url), 'utf8');
const lines = (p: string): string[] => fixture(p).split('\n').filter((l) => l.trim() !== '');

const TAG: Record<LogKind, string> = {
  administrator: 'auth.duo.administrator.events',
  authentication: 'auth.duo.authentication.events',
  telephony: 'auth.duo.telephony.events',
  authproxy: 'auth.duo.authentication-proxy.events',
  'offline-enrollment': 'auth.duo.offline-enrollment.events',
  activity: 'auth.duo.activity.events',
  'trust-monitor': 'auth.duo.trust-monitor.events',
};
const LOGIN_TAG = 'auth.duo.administrator.login';

const router = createRouter({ defaultHost: 'relay.example' });

function expectedTag(kind: LogKind, rec: JsonObject): string {
  return kind === 'administrator' && (rec.action === 'admin_login' || rec.action === 'admin_login_error') ? LOGIN_TAG : TAG[kind];
}

/** Routes `text` unknown and known; returns the shape-classified event. */
function check(t: Test, name: string, text: string, kind: LogKind): RelayEvent | undefined {
  const rec = JSON.parse(text) as JsonObject;
  t.equal(classify(rec), kind, `${name}: classify`);
  const unknown = router.route({ text, position: name });
  const known = router.route({ text, position: name, kind });
  if (!unknown.ok || !known.ok) {
    t.fail(`${name}: routed`, { unknown, known });
    return undefined;
  }
  t.equal(unknown.event.kind, kind, `${name}: kind by shape`);
  t.equal(unknown.event.tag, expectedTag(kind, rec), `${name}: tag ${unknown.event.tag}`);
  t.same(known.event, unknown.event, `${name}: same event with the kind known`);
  return unknown.event;
}

t.test('authproxy synthetic authevents.log: every line is an authproxy event', async (t) => {
  const all = lines('authproxy/authevents.synthetic.log');
  t.equal(all.length, 10);
  for (const [i, l] of all.entries()) {
    const ev = check(t, `authevents #${i}`, l, 'authproxy');
    if (ev === undefined) continue;
    t.equal(ev.host, 'relay.example', 'proxy host comes from the source/default');
    t.match(ev.time, /^2024-05-14T09:3\d:\d\d\.123456Z$/, 'time from the ISO timestamp');
    t.equal(ev.fields.log_level____class_uuid__, '02e59486-f24d-46ad-8224-3acdf2a5732a');
    t.equal(ev.fields.log_logger__unpersistable, true);
    t.match(ev.id, /^[0-9a-f]{32}$/, 'content hash id');
  }
  // LDAP lines have dn and no username/hostname
  const ldap = router.route({ text: all[7] as string, position: 'ldap' });
  t.ok(ldap.ok && ldap.event.fields.dn === 'CN=John Doe,OU=Staff,DC=example,DC=com' && !('hostname2' in ldap.event.fields));
  const radius = router.route({ text: all[0] as string, position: 'radius' });
  t.ok(radius.ok && radius.event.fields.hostname2 === 'authproxy01' && !('hostname' in radius.event.fields), 'hostname → hostname2');
});

t.test('authproxy text log (authproxy.log, not authevents.log) is dead-lettered as not JSON', async (t) => {
  for (const l of lines('authproxy/authproxy.log.real-excerpt.txt')) {
    const r = router.route({ text: l, position: 'authproxy.log' });
    t.notOk(r.ok);
    if (!r.ok) t.match(r.dead.reason, /^Not JSON: /);
  }
});

t.test('Elastic pipeline test inputs', async (t) => {
  const admin = lines('elastic/test-admin.log');
  t.equal(admin.length, 9);
  for (const [i, l] of admin.entries()) check(t, `elastic admin #${i}`, l, 'administrator');
  // malformed isotimestamp "2021-07-20T11: 41: 31+00: 00" → falls back to the epoch timestamp
  const first = router.route({ text: admin[0] as string, position: 'x' });
  t.equal(first.ok && first.event.time, '2021-07-20T11:41:31Z', 'malformed isotimestamp falls back to timestamp');

  const auth = lines('elastic/test-auth.log');
  t.equal(auth.length, 19);
  for (const [i, l] of auth.entries()) {
    const ev = check(t, `elastic auth #${i}`, l, 'authentication');
    if (ev !== undefined) t.equal(ev.id, (JSON.parse(l) as JsonObject).txid, 'id is the txid');
  }

  const offline = lines('elastic/test-offline-enrollment.log');
  t.equal(offline.length, 1);
  const off = check(t, 'elastic offline', offline[0] as string, 'offline-enrollment');
  t.equal(off?.fields.description_user_agent, 'DuoCredProv/4.0.6.413 (Windows NT 6.3.9600; x64; Server)');
  t.equal(off?.fields.description_hostname, 'WKSW10x64');

  const tel = lines('elastic/test-telephony.log');
  t.equal(tel.length, 3);
  for (const [i, l] of tel.entries()) {
    const ev = check(t, `elastic telephony v1 #${i}`, l, 'telephony');
    if (ev !== undefined) t.match(ev.id, /^[0-9a-f]{32}$/, 'v1 has no id field: content hash');
  }

  const tel2 = lines('elastic/test-telephony-v2.log');
  t.equal(tel2.length, 3);
  for (const [i, l] of tel2.entries()) {
    const rec = JSON.parse(l) as JsonObject;
    const ev = check(t, `elastic telephony v2 #${i}`, l, 'telephony');
    if (ev === undefined) continue;
    t.equal(ev.id, rec.telephony_id, 'id is the telephony_id, not the txid');
    t.equal(ev.time, rec.ts, 'time from ts');
  }
});

t.test('Sekoia test inputs', async (t) => {
  const expected: Record<string, LogKind> = {
    test_admin_log: 'administrator',
    test_admin_log_error: 'administrator',
    test_admin_log_user_update: 'administrator',
    test_auth_log: 'authentication',
    test_auth_log_2: 'authentication',
    test_offline_log: 'offline-enrollment',
    test_telephony_log_admin_login: 'telephony',
    test_telephony_log_auth: 'telephony',
    test_telephony_log_entroll: 'telephony',
  };
  for (const [name, kind] of Object.entries(expected)) {
    const doc = JSON.parse(fixture(`sekoia/${name}.json`)) as { input: { message: string } };
    const ev = check(t, `sekoia ${name}`, doc.input.message, kind);
    if (ev === undefined) continue;
    if (name === 'test_admin_log') {
      t.equal(ev.tag, LOGIN_TAG);
      t.equal(ev.fields.ip_address, '1.2.3.4');
      t.equal(ev.fields.role, 'Owner', 'every description key of a login goes to top level');
      t.equal(ev.fields.email, null);
      t.equal(ev.host, 'example.duosecurity.com');
      t.equal(ev.time, '2024-08-06T09:52:42+00:00');
    }
    if (name === 'test_admin_log_error') t.equal(ev.tag, LOGIN_TAG);
    if (name === 'test_auth_log_2') {
      t.equal(ev.fields.access_device_location_state, 'Île-de-France');
      t.equal(ev.fields.user_groups_str, 'GG_VPN_DUO (from AD sync "AD Sync")');
      t.equal(ev.fields.auth_device_ip, null);
    }
  }
});

t.test('Panther rule-test logs', async (t) => {
  interface PantherTest {
    test_name: string;
    log_types: string[];
    log: JsonObject;
  }
  const admin = JSON.parse(fixture('panther/duo_administrator_rule_tests.json')) as PantherTest[];
  const auth = JSON.parse(fixture('panther/duo_authentication_rule_tests.json')) as PantherTest[];
  t.equal(admin.length, 28);
  t.equal(auth.length, 14);
  for (const p of admin) {
    const ev = check(t, `panther admin ${p.test_name}`, JSON.stringify(p.log), 'administrator');
    // Panther re-renders times as "2022-12-14 20:09:57" (no offset, UTC)
    if (ev !== undefined) t.match(ev.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'offset-less time read as UTC');
  }
  for (const p of auth) {
    const ev = check(t, `panther auth ${p.test_name}`, JSON.stringify(p.log), 'authentication');
    if (ev !== undefined) {
      t.equal(ev.time, undefined, 'no time field in these logs');
      t.match(ev.id, /^[0-9a-f]{32}$/, 'no txid: content hash');
    }
  }
});

t.test('activity and trust monitor (shapes from notes/duo-admin-api.md, DLS fixtures)', async (t) => {
  const activity = {
    action: 'phone_create',
    activity_id: '49922e59-0ebe-421a-9635-9846252f6c0a',
    actor: { details: '{"created": "2022-09-30T23:10:39+00:00"}', key: 'DU123456789012345678', name: 'samplename', type: 'user' },
    target: { details: null, key: 'DP123', name: '+15555550100', type: 'phone' },
    application: { key: 'DI123', name: 'Web SSO', type: 'sso' },
    access_device: { browser: 'Chrome', ip: { address: '192.0.2.1' }, location: { city: 'Ann Arbor', country: 'United States', state: 'Michigan' }, os: 'Mac OS X' },
    akey: 'DA0STO6EVV8EAONUD8P7',
    ts: '2022-09-30T23:10:39.635000+00:00',
  };
  const act = check(t, 'activity', JSON.stringify(activity), 'activity');
  t.equal(act?.id, activity.activity_id);
  t.equal(act?.time, '2022-09-30T23:10:39.635000+00:00');
  t.equal(act?.fields.actor_name, 'samplename');
  t.equal(act?.fields.access_device_ip_address, '192.0.2.1');

  const trust = {
    sekey: 'SEISSBQR6V0LSGE0MU56',
    type: 'auth',
    state: 'new',
    priority_event: false,
    surfaced_timestamp: 1598034349059,
    explanations: [{ type: 'NEW_NETBLOCK', summary: 'amanda_tucker has not logged in from this network recently.' }],
    surfaced_auth: { txid: 'x', access_device: { ip: '203.0.113.5' }, result: 'success', event_type: 'authentication' },
    triage_event_uri: 'https://admin-xxxxxxxx.duosecurity.com/trust-monitor?sekey=SEISSBQR6V0LSGE0MU56',
  };
  const tm = check(t, 'trust monitor', JSON.stringify(trust), 'trust-monitor');
  t.equal(tm?.id, trust.sekey);
  t.equal(tm?.time, '2020-08-21T18:25:49.059Z', 'surfaced_timestamp (ms)');
  t.equal(tm?.fields.surfaced_auth_access_device_ip, '203.0.113.5');
  t.equal(tm?.fields.explanations, JSON.stringify(trust.explanations), 'array of objects → JSON text');
  t.notOk(tm !== undefined && 'explanations_str' in tm.fields, 'no _str for arrays of objects');
});
