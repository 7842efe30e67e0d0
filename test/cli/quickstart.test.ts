/**
 * The README's quickstart (`npm start` = replay of examples/samples.jsonl to stdout) and replay's
 * handling of bad input, run as the real CLI in a child process (dist/, built by `npm test`).
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseRfc5424 } from '../../src/formats/rfc5424-parse.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const main = join(root, 'dist/src/main.js');
const dir = mkdtempSync(join(tmpdir(), 'duo-relay-quick-'));

function run(args: string[], input?: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [main, ...args], { cwd: root, input, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

t.test('dist is built (npm test builds first)', async (t) => {
  t.ok(existsSync(main), `${main} exists; run npm run build`);
});

t.test('quickstart: every bundled sample comes out as strict RFC 5424 with its tag', async (t) => {
  const samples = readFileSync(join(root, 'examples/samples.jsonl'), 'utf8').split('\n').filter((l) => l.trim() !== '');
  const cfg = join(dir, 'quick.yaml');
  writeFileSync(cfg, readFileSync(join(root, 'examples/quickstart.yaml'), 'utf8').replace('./.duo-relay-state', join(dir, 'state')));
  const r = run(['replay', '--config', cfg, 'examples/samples.jsonl']);
  t.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  t.equal(lines.length, samples.length, 'one message per sample');
  const tags = new Set<string>();
  for (const line of lines) {
    const m = parseRfc5424(line);
    tags.add(m.appName ?? '-');
    t.ok(m.sd.some((e) => e.id === 'duo@32473' && e.params.some(([k]) => k === 'id')), 'event id in SD');
    t.doesNotThrow(() => JSON.parse(m.msg), 'MSG is JSON');
  }
  t.same([...tags].sort(), ['auth.duo.administrator.events', 'auth.duo.administrator.login', 'auth.duo.authentication-proxy.events', 'auth.duo.authentication.events', 'auth.duo.offline-enrollment.events', 'auth.duo.telephony.events']);
  t.match(r.stderr, /replay: 17 events delivered to 1 destination\(s\); 0 dead-lettered/);
});

t.test('replay from stdin with --type, and bad lines go to the dead-letter file with reason and position', async (t) => {
  const cfg = join(dir, 'dl.yaml');
  writeFileSync(cfg, `state_dir: ${join(dir, 'dl-state')}\nlog:\n  level: error\nqueue:\n  enabled: false\ndestinations:\n  - type: stdout\n`);
  const good = '{"timestamp": "2024-05-14T09:30:00.123456Z", "msg": "ok", "status": "Allow", "log_namespace": "duoauthproxy.lib.log"}';
  const r = run(['replay', '--config', cfg, '--type', 'authproxy', '-'], `${good}\nnot json at all\n[1,2]\n\n${good}\n`);
  t.equal(r.code, 1, 'not every record was delivered');
  t.equal(r.stdout.split('\n').filter((l) => l !== '').length, 2, 'the good lines still flow');
  t.match(r.stderr, /2 dead-lettered/);
  const dead = readFileSync(join(dir, 'dl-state', 'dead-letter.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
  t.equal(dead.length, 2);
  t.match(dead[0], { source: 'replay', position: 'stdin:2', preview: 'not json at all' });
  t.match(dead[0]?.['reason'], /^Not JSON/);
  t.match(dead[1], { position: 'stdin:3' });
  t.match(dead[1]?.['reason'], /not an object|object/i);
});

t.test('--version and a config error from the real binary', async (t) => {
  const v = run(['--version']);
  t.equal(v.code, 0);
  t.match(v.stdout.trim(), /^\d+\.\d+\.\d+$/);
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'destinations:\n  - type: syslog\n    port: 99999\n');
  const c = run(['run', '--config', bad]);
  t.equal(c.code, 2);
  t.match(c.stderr, /destinations\.0\.host: /);
  t.match(c.stderr, /destinations\.0\.port: /);
});

t.test('a reader that closes stdout early (check-config | head) ends the CLI quietly, not with a stack trace', async (t) => {
  const cfg = join(dir, 'pipe.yaml');
  writeFileSync(cfg, `state_dir: ${join(dir, 'pipe-state')}\nsources:\n  - type: authproxy\n    path: /var/log/x.log\ndestinations:\n  - type: stdout\n`);
  const child = spawn(process.execPath, [main, 'check-config', '--config', cfg], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  // The read end is gone before the first line is written: every write meets EPIPE.
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  t.equal(code, 0, stderr);
  t.notMatch(stderr, /EPIPE|Unhandled|Error/);
});
