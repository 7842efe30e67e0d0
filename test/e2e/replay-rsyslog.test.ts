/**
 * Issue 2, item 9: the whole pipeline (`duo-relay replay`: router → RFC 5424 formatter → TCP/TLS/
 * mutual-TLS destination) into a real rsyslog. For every seed sample and every peer sample,
 * rsyslog's parsed fields must match: HOSTNAME, APP-NAME = tag, MSGID, TIMESTAMP = event time,
 * structured data (origin + event id) and MSG = the flattened JSON. Then a 64 KiB message and
 * multi-byte UTF-8, and the TLS failures that must not count anything as sent.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir, hostname } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/index.js';
import { createRouter } from '../../src/route/router.js';
import type { RelayEvent } from '../../src/event.js';
import { startRsyslog, type ReceivedMessage, type RsyslogReceiver } from '../helpers/rsyslog.js';
import { seedSamples, peerSamples } from '../helpers/samples.js';

const dir = mkdtempSync(join(tmpdir(), 'duo-relay-e2e-'));
let rx: RsyslogReceiver;

t.before(async () => {
  rx = await startRsyslog({ maxMessageSize: '256k' });
});
t.teardown(async () => rx?.stop());

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (l) => (out += `${l}\n`), err: (l) => (err += `${l}\n`) });
  return { code, out, err };
}

function config(name: string, dest: Record<string, unknown>): string {
  const file = join(dir, `${name}.yaml`);
  const lines = [`state_dir: ${join(dir, `state-${name}`)}`, 'log:', '  level: error', 'queue:', '  enabled: false', 'destinations:', '  - type: syslog'];
  for (const [k, v] of Object.entries({ host: '127.0.0.1', connect_timeout_ms: 3000, handshake_timeout_ms: 3000, ...dest })) lines.push(`    ${k}: ${JSON.stringify(v)}`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

const router = createRouter({ defaultHost: hostname() });
const samples = [...seedSamples(), ...peerSamples()];
// One expected event per sample line. Ids are not unique across peers' test data (Elastic reuses
// txids with other content), so a received message is matched by id AND flattened content.
const expected: Array<{ ev: RelayEvent; origin: string }> = [];
for (const s of samples) {
  const r = router.route({ text: s.line, position: s.origin });
  if (r.ok) expected.push({ ev: r.event, origin: s.origin });
}
const input = join(dir, 'samples.jsonl');
writeFileSync(input, `${samples.filter((s) => router.route({ text: s.line, position: s.origin }).ok).map((s) => s.line).join('\n')}\n`);

function sdId(m: ReceivedMessage): string | undefined {
  const sd = m.sdjson as Record<string, Record<string, string>> | null;
  return sd?.['duo@32473']?.['id'];
}

function checkMessage(t: Test, m: ReceivedMessage, ev: RelayEvent, origin: string): void {
  t.equal(m.host, ev.host, `${origin}: HOSTNAME`);
  t.equal(m.app, ev.tag, `${origin}: APP-NAME is the tag`);
  t.equal(m.msgid, ev.msgid, `${origin}: MSGID`);
  t.ok(ev.time !== undefined, `${origin}: the sample has an event time`);
  t.equal(Date.parse(m.ts), Date.parse(ev.time ?? ''), `${origin}: TIMESTAMP is the event time (${m.ts} vs ${ev.time})`);
  const sd = m.sdjson as Record<string, Record<string, string>>;
  t.equal(sd['origin']?.['software'], 'duo-relay', `${origin}: origin SD`);
  t.equal(sd['duo@32473']?.['kind'], ev.kind, `${origin}: kind in SD`);
  t.same(JSON.parse(m.msg), ev.fields, `${origin}: MSG is the flattened record`);
}

for (const [label, port, dest] of [
  ['tcp', () => rx.tcpPort, { transport: 'tcp' }],
  ['tls', () => rx.tlsPort, { transport: 'tls', servername: 'localhost' }],
  ['mtls', () => rx.mtlsPort, { transport: 'tls', servername: 'localhost' }],
] as const) {
  t.test(`every seed and peer sample over ${label} arrives with the right fields`, async (t) => {
    const tlsKeys = label === 'tcp' ? {} : label === 'tls' ? { ca: rx.pki.ca } : { ca: rx.pki.ca, cert: rx.pki.client, key: rx.pki.clientKey };
    const before = rx.messages().length;
    const r = await cli('replay', '--config', config(label, { port: port(), ...dest, ...tlsKeys }), input);
    t.equal(r.code, 0, r.err);
    const inputName = label === 'tcp' ? 'tcp' : label === 'tls' ? 'tls-anon' : 'tls-mutual';
    t.ok(expected.length >= 50, `${expected.length} samples (seed + peers)`);
    const all = await rx.waitFor(before + expected.length, 20_000);
    const pool = all.slice(before).filter((m) => m.input === inputName);
    t.equal(pool.length, expected.length, `one message per sample over ${label}`);
    for (const { ev, origin } of expected) {
      const i = pool.findIndex((m) => sdId(m) === ev.id && JSON.stringify(JSON.parse(m.msg)) === JSON.stringify(ev.fields));
      const m = pool[i];
      if (m === undefined) {
        t.fail(`${origin}: no message with id ${ev.id} and its flattened record`);
        continue;
      }
      pool.splice(i, 1);
      checkMessage(t, m, ev, origin);
    }
    t.equal(pool.length, 0, 'no unexpected messages');
  });
}

t.test('a 64 KiB message and multi-byte UTF-8 arrive intact over TLS', async (t) => {
  const big = { txid: 'big-utf8-0001', isotimestamp: '2024-05-01T10:11:12.123456+00:00', timestamp: 1714558272, event_type: 'authentication', result: 'success', user: { name: 'Zoë Łukasiewicz 日本 🔐', groups: ['Ops', 'Zürich'] }, access_device: { ip: '10.0.0.1' }, reason: 'é'.repeat(32 * 1024) };
  const file = join(dir, 'big.jsonl');
  writeFileSync(file, `${JSON.stringify(big)}\n`);
  const before = rx.messages().length;
  const r = await cli('replay', '--config', config('big', { port: rx.tlsPort, transport: 'tls', ca: rx.pki.ca, servername: 'localhost', max_message_bytes: 131072 }), file);
  t.equal(r.code, 0, r.err);
  const all = await rx.waitFor(before + 1, 20_000);
  const m = all.slice(before).find((x) => sdId(x) === 'big-utf8-0001');
  t.ok(m, 'arrived');
  const fields = JSON.parse(m?.msg ?? '{}') as Record<string, unknown>;
  t.ok(Buffer.byteLength(m?.msg ?? '') > 64 * 1024, 'over 64 KiB');
  t.equal(fields['reason'], big.reason, 'multi-byte text intact');
  t.equal(fields['user_name'], big.user.name);
  t.equal(fields['user_groups_str'], 'Ops, Zürich');
});

t.test('TLS failures are clear and nothing counts as sent', async (t) => {
  const cases = [
    ['wrong CA', { port: rx.tlsPort, transport: 'tls', ca: rx.pki.otherCa, servername: 'localhost' }, /ca|certificate|verify/i],
    ['wrong name', { port: rx.tlsPort, transport: 'tls', ca: rx.pki.ca, servername: 'siem.example.com' }, /servername|altname|name/i],
    ['missing client certificate', { port: rx.mtlsPort, transport: 'tls', ca: rx.pki.ca, servername: 'localhost', settle_ms: 500 }, /closed|reset|certificate|refused/i],
  ] as const;
  for (const [label, dest, pattern] of cases) {
    const before = rx.messages().length;
    const cfg = config(label.replace(/ /g, '-'), dest);
    const probe = await cli('test-destination', '--config', cfg, '--timeout-ms', '8000');
    t.equal(probe.code, 1, `${label}: test-destination fails`);
    t.match(probe.out, /^FAIL /m, `${label}: verdict line`);
    t.match(probe.out, pattern, `${label}: the error says what is wrong: ${probe.out.trim()}`);
    const replayed = await cli('replay', '--config', cfg, '--timeout-ms', '4000', input);
    t.equal(replayed.code, 1, `${label}: replay does not claim delivery`);
    t.match(replayed.err, /not everything was delivered/);
    await new Promise((r) => setTimeout(r, 300));
    t.equal(rx.messages().length, before, `${label}: nothing reached the receiver`);
  }
});
