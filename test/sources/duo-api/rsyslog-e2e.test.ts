/**
 * Every endpoint end to end into a real rsyslog: the built relay (`node dist/src/main.js run`) polls
 * the mock Admin API over HTTPS (skey from a file, extra CA) and delivers through its disk queue over
 * TCP. Each record arrives once, with its Devo tag as APP-NAME, the kind as MSGID, the API host as
 * HOSTNAME, Duo's id in the SD, and eventtype/host in the message. SIGTERM exits 0.
 *
 * Needs the built CLI (`npm run build`; `npm test` builds first) and rsyslogd.
 */
import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRsyslog } from '../../helpers/rsyslog.js';
import { startMockDuoApi } from '../../mock-duo-api/server.js';
import { recordKey, type MockEndpoint } from '../../mock-duo-api/data.js';
import { IKEY, SKEY, tmpState } from '../../mock-duo-api/helpers.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const mainJs = process.env.DUO_RELAY_MAIN_JS ?? join(root, 'dist', 'src', 'main.js');

const KIND_TO_MOCK: Record<string, MockEndpoint> = {
  administrator: 'administrator',
  authentication: 'authentication',
  telephony: 'telephony',
  'offline-enrollment': 'offline-enrollment',
  activity: 'activity',
  'trust-monitor': 'trust-monitor',
};

t.test('all six endpoints through the built relay into rsyslog', async (t) => {
  if (!existsSync(mainJs) || spawnSync(process.execPath, [mainJs, '--version'], { timeout: 20_000 }).status !== 0) {
    t.fail(`${mainJs} is missing or broken: run \`npm run build\` first (npm test does).`);
    return;
  }
  const events = { administrator: 300, authentication: 1500, telephony: 400, 'offline-enrollment': 20, activity: 300, 'trust-monitor': 250 };
  const mock = await startMockDuoApi({ ikey: IKEY, skey: SKEY, events });
  t.teardown(() => mock.close());
  const rx = await startRsyslog();
  t.teardown(() => rx.stop());
  const dir = tmpState('duo-api-e2e-');
  const skeyFile = join(dir, 'skey');
  writeFileSync(skeyFile, `${SKEY}\n`, { mode: 0o600 });
  const config = join(dir, 'relay.yaml');
  writeFileSync(
    config,
    [
      `state_dir: ${JSON.stringify(join(dir, 'state'))}`,
      'log:',
      '  level: warn',
      `  file: ${JSON.stringify(join(dir, 'relay.log'))}`,
      'sources:',
      '  - type: duo-api',
      `    host: ${JSON.stringify(mock.host)}`,
      `    ikey: ${IKEY}`,
      `    skey_file: ${JSON.stringify(skeyFile)}`,
      `    ca: ${JSON.stringify(mock.ca)}`,
      '    request_interval_ms: 0',
      '    poll_interval_ms: 1000',
      'destinations:',
      '  - type: syslog',
      '    host: 127.0.0.1',
      `    port: ${rx.tcpPort}`,
      '    transport: tcp',
      '',
    ].join('\n'),
  );
  let relay: ChildProcess | undefined = spawn(process.execPath, [mainJs, 'run', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  relay.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  t.teardown(() => relay?.kill('SIGKILL'));

  const total = Object.values(events).reduce((a, b) => a + b, 0);
  const msgs = await rx.waitFor(total, 60_000).catch((err: unknown) => {
    t.fail(`${String(err)}\nrelay stderr: ${stderr}`);
    return rx.messages();
  });
  await new Promise((r) => setTimeout(r, 1500));
  const exit = new Promise<number | null>((resolve) => relay?.once('exit', (code) => resolve(code)));
  relay.kill('SIGTERM');
  t.equal(await exit, 0, 'SIGTERM: clean exit');
  relay = undefined;

  const all = rx.messages();
  t.equal(all.length, total, `each record once (${all.length} of ${total})`);
  t.ok(msgs.length >= total);
  const byApp = new Map<string, number>();
  const problems: string[] = [];
  const keys = new Map<string, Set<string>>();
  for (const m of all) {
    byApp.set(m.app, (byApp.get(m.app) ?? 0) + 1);
    const body = JSON.parse(m.msg) as Record<string, unknown>;
    const mockEndpoint = KIND_TO_MOCK[m.msgid];
    if (mockEndpoint === undefined) {
      problems.push(`unknown MSGID ${m.msgid}`);
      continue;
    }
    if (m.host !== '127.0.0.1' || body.host !== '127.0.0.1') problems.push(`host ${m.host}/${String(body.host)}`);
    if (typeof body.eventtype !== 'string') problems.push(`no eventtype in ${m.msgid}`);
    const set = keys.get(m.msgid) ?? new Set<string>();
    // The flattened message keeps these top-level fields as they are.
    set.add(recordKey(mockEndpoint, body));
    keys.set(m.msgid, set);
  }
  t.same(problems.slice(0, 5), [], 'HOSTNAME, host and eventtype on every message');
  t.same(Object.fromEntries([...byApp].sort()), {
    'auth.duo.activity.events': 300,
    'auth.duo.administrator.events': 270,
    'auth.duo.administrator.login': 30,
    'auth.duo.authentication.events': 1500,
    'auth.duo.offline-enrollment.events': 20,
    'auth.duo.telephony.events': 400,
    'auth.duo.trust-monitor.events': 250,
  });
  for (const [kind, endpoint] of Object.entries(KIND_TO_MOCK)) {
    t.same([...(keys.get(kind) ?? [])].sort(), mock.settledKeys(endpoint).sort(), `${kind}: every record, no gap`);
  }
  const auth = all.filter((m) => m.msgid === 'authentication');
  t.ok(auth.every((m) => JSON.stringify(m.sdjson).includes(String((JSON.parse(m.msg) as { txid?: string }).txid))), "Duo's txid is the SD event id");
});
