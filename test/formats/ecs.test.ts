/**
 * ECS for the logs Sekoia and Elastic do not cover (Authentication Proxy, activity, Trust
 * Monitor), plus the common fields and the defensive paths.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { toEcs, ECS_VERSION } from '../../src/formats/ecs.js';
import { splitIpPort } from '../../src/formats/ecs-util.js';
import { eventFromRaw } from './event-fixture.js';

const proxyLines = readFileSync(fileURLToPath(new URL('../fixtures/peers-ecs/authevents.synthetic.log', import.meta.url)), 'utf8')
  .split('\n')
  .filter((l) => l !== '');

t.test('Authentication Proxy: status → outcome, client_ip, username, hostname, sections', async (t) => {
  t.equal(proxyLines.length, 10);
  const docs = proxyLines.map((l) => toEcs(eventFromRaw('authproxy', l, { host: 'proxy.example.com', time: (JSON.parse(l) as { timestamp: string }).timestamp })));
  t.match(docs[0], {
    '@timestamp': '2024-05-14T09:30:00.123456Z',
    ecs: { version: ECS_VERSION },
    event: { kind: 'event', dataset: 'authproxy_log', category: ['authentication'], type: ['start'], outcome: 'success', action: 'primary_authentication' },
    observer: { vendor: 'Duo', product: 'Duo Authentication Proxy', hostname: 'proxy.example.com' },
    user: { name: 'jdoe' },
    source: { ip: '10.20.30.40' },
    host: { name: 'authproxy01' },
    log: { level: 'info', logger: 'duoauthproxy.lib.log' },
    message: 'Primary authentication successful',
    duo: { security: { authproxy: { status: 'Allow', server_section: 'radius_server_auto', server_section_ikey: 'DIXXXXXXXXXXXXXXXXXX' } } },
  });
  t.equal((docs[0] as { event: { reason?: string } }).event.reason, undefined, 'no reason on success');
  t.match(docs[2], { event: { outcome: 'failure', reason: 'Primary credentials rejected' }, user: { name: 'asmith' } }, 'Reject → failure with reason');
  t.match(docs[1], { duo: { security: { factor: 'push' } }, event: { action: 'secondary_authentication' } });
  t.match(docs[5], { event: { outcome: 'failure', reason: 'No username provided' } }, 'Error → failure');
  t.notOk('user' in (docs[5] ?? {}), 'null username leaves no user');
  t.match(docs[7], { user: { id: 'CN=John Doe,OU=Staff,DC=example,DC=com' }, duo: { security: { authproxy: { server_section: 'ldap_server_auto' } } } }, 'LDAP: the DN as user.id');
  t.notOk('source' in (docs[7] ?? {}), 'LDAP events carry no client_ip');
  const challenge = toEcs(eventFromRaw('authproxy', JSON.stringify({ status: 'Challenge', auth_stage: 'Secondary authentication' })));
  t.match(challenge, { event: { outcome: 'unknown' } });
});

t.test('activity and Trust Monitor, minimally', async (t) => {
  const activity = toEcs(
    eventFromRaw('activity', JSON.stringify({
      action: 'phone_create', activity_id: '49922e59', ts: '2022-09-30T23:10:39.635000+00:00',
      actor: { key: 'DU1', name: 'samplename', type: 'user', details: '{}' }, target: { key: 'DP1', name: '+15555550100', type: 'phone' },
      access_device: { ip: '198.51.100.7', browser: 'Chrome' }, application: { name: 'Admin Panel' },
    })),
  );
  t.match(activity, {
    '@timestamp': '2022-09-30T23:10:39.635000Z',
    event: { id: '49922e59', dataset: 'activity_log', category: ['iam'], type: ['creation'], action: 'phone_create' },
    user: { name: 'samplename', id: 'DU1', target: { name: '+15555550100', id: 'DP1' } },
    source: { ip: '198.51.100.7' },
  });
  t.match(toEcs(eventFromRaw('activity', '{"action":"user_delete"}')), { event: { type: ['deletion'] } });
  t.match(toEcs(eventFromRaw('activity', '{"action":"policy_update"}')), { event: { type: ['change'] } });
  t.match(toEcs(eventFromRaw('activity', '{"action":"admin_view"}')), { event: { type: ['info'] } });

  const tm = toEcs(
    eventFromRaw('trust-monitor', JSON.stringify({
      sekey: 'SEISSBQR6V0LSGE0MU56', type: 'auth', state: 'new', priority_event: false, surfaced_timestamp: 1598034349059,
      explanations: [{ type: 'NEW_NETBLOCK', summary: 'New netblock' }, { type: 'NEW_DEVICE', summary: 'New device' }, 'junk'],
      surfaced_auth: { user: { name: 'jdoe' }, email: 'j@example.com', access_device: { ip: '203.0.113.9' } }, triage_event_uri: 'https://admin.example/tm/1',
    })),
  );
  t.match(tm, {
    event: { kind: 'alert', dataset: 'trust_monitor_log', category: ['threat'], type: ['indicator'], action: 'auth', reason: 'New netblock; New device', url: 'https://admin.example/tm/1' },
    user: { name: 'jdoe', email: 'j@example.com' },
    source: { ip: '203.0.113.9' },
    duo: { security: { trust_monitor: { state: 'new', priority_event: false, sekey: 'SEISSBQR6V0LSGE0MU56' } } },
  });
});

t.test('common fields and defensive paths', async (t) => {
  const d = toEcs({ kind: 'telephony', tag: 't', msgid: 'telephony', host: 'api-x', time: undefined, id: 'i-1', fields: {}, raw: 'not json', account: 'DA9' });
  t.same(d, {
    ecs: { version: ECS_VERSION },
    event: { kind: 'event', id: 'i-1', module: 'duo', dataset: 'telephony_log', category: ['authentication'], type: ['info'] },
    observer: { vendor: 'Duo', product: 'Duo Security', hostname: 'api-x' },
    organization: { id: 'DA9' },
  }, 'non-JSON raw: common fields only, MSP account as organization.id');
  const admin = toEcs(eventFromRaw('administrator', JSON.stringify({ action: 'user_update', username: '', description: '[1,2]', object: null })));
  t.notOk('user' in admin, 'empty username dropped');
  t.equal((admin as { event: { reason?: unknown } }).event.reason, '[1,2]', 'non-object description kept as text');
  t.match(toEcs(eventFromRaw('administrator', JSON.stringify({ action: 'x', description: '  {"ip_address":"192.0.2.1"}' }))), { source: { ip: '192.0.2.1' } }, 'description with leading spaces');
  t.match(toEcs(eventFromRaw('administrator', JSON.stringify({ action: 'x', description: '{"ip_address":"not-an-ip"}' }))), { event: { action: 'x' } });
  t.notOk('source' in toEcs(eventFromRaw('administrator', JSON.stringify({ action: 'x', description: '{"ip_address":"not-an-ip"}' }))), 'invalid IPs are not emitted');
  t.match(toEcs(eventFromRaw('authentication', JSON.stringify({ result: 'SUCCESS' }))), { event: { outcome: 'success' } }, 'result compared case-insensitively');
  t.match(toEcs(eventFromRaw('authentication', JSON.stringify({ result: 'fraud', user: { groups: ['', 'g', null, 3] } }))), { event: { outcome: 'failure' }, user: { roles: ['g', 3] } });
});

t.test('splitIpPort accepts the forms Elastic accepts', async (t) => {
  const v6 = '2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6';
  t.same(splitIpPort('89.160.20.112'), { ip: '89.160.20.112' });
  t.same(splitIpPort('89.160.20.112:1234'), { ip: '89.160.20.112', port: 1234 });
  t.same(splitIpPort(v6), { ip: v6 });
  for (const form of [`[${v6}]:1234`, `${v6}#1234`, `${v6}p1234`, `${v6}:1234`, `${v6} port 1234`, `${v6}.1234`]) t.same(splitIpPort(form), { ip: v6, port: 1234 }, form);
  for (const bad of ['unknown', '1.2.3.4:99999', '[::1', '300.1.1.1:80', '']) t.equal(splitIpPort(bad), undefined, bad);
});
