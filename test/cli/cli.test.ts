import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/index.js';
import { startConfigEarly } from '../../src/cli/early-config.js';
import { loadConfigOffThread } from '../../src/config/load-thread.js';
import { VERSION } from '../../src/version.js';

const dir = mkdtempSync(join(tmpdir(), 'duo-relay-cli-'));

async function cliWith(early: Parameters<typeof main>[2], argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (l) => (out += `${l}\n`), err: (l) => (err += `${l}\n`) }, early);
  return { code, out, err };
}

function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  return cliWith(undefined, argv);
}

t.test('--version and --help', async (t) => {
  const v = await cli('--version');
  t.equal(v.code, 0);
  t.equal(v.out.trim(), VERSION);
  t.match(VERSION, /^\d+\.\d+\.\d+/);
  const h = await cli('--help');
  t.equal(h.code, 0);
  for (const cmd of ['run', 'check-config', 'replay', 'test-destination', 'backfill']) t.match(h.out, cmd);
});

t.test('usage errors exit 2', async (t) => {
  t.equal((await cli()).code, 2, 'no command');
  const u = await cli('frobnicate');
  t.equal(u.code, 2);
  t.match(u.err, /Unknown command "frobnicate"/);
  t.equal((await cli('run', '--bogus')).code, 2, 'unknown option');
  const k = await cli('replay', '--type', 'nope', 'x');
  t.equal(k.code, 2);
  t.match(k.err, /--type nope: expected one of authproxy/);
});

t.test('check-config prints every problem with its path and exits 2', async (t) => {
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'destinations:\n  - type: syslog\n    host: h\n    port: 0\n    transport: tls\n    format: yaml\n');
  const r = await cli('check-config', '--config', bad);
  t.equal(r.code, 2);
  t.match(r.err, new RegExp(`Invalid configuration in ${bad.replace(/[.]/g, '\\.')}`));
  t.match(r.err, /destinations\.0\.port: /);
  t.match(r.err, /destinations\.0\.format: /);
  const missing = await cli('check-config', '--config', join(dir, 'nope.yaml'));
  t.equal(missing.code, 2);
  t.match(missing.err, /cannot read the config file \(ENOENT\)/);
});

t.test('run refuses a bad config with the same messages', async (t) => {
  const bad = join(dir, 'bad2.yaml');
  writeFileSync(bad, 'sources:\n  - type: authproxy\n    start_at: middle\ndestinations:\n  - type: stdout\n');
  const r = await cli('run', '--config', bad);
  t.equal(r.code, 2);
  t.match(r.err, /sources\.0\.start_at: /);
});

t.test('check-config summarises a good config', async (t) => {
  const good = join(dir, 'good.yaml');
  writeFileSync(good, `state_dir: ${dir}\nsources:\n  - type: authproxy\n    path: /var/log/x.log\ndestinations:\n  - type: syslog\n    host: 127.0.0.1\n    port: 6514\n`);
  const r = await cli('check-config', '--config', good);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /OK/);
  t.match(r.out, /source\s+authproxy \/var\/log\/x\.log/);
  t.match(r.out, /destination tls:\/\/127\.0\.0\.1:6514 format=rfc5424 message=flattened/);
});

t.test('backfill needs --since and a duo-api source', async (t) => {
  const good = join(dir, 'good3.yaml');
  writeFileSync(good, `state_dir: ${dir}\ndestinations:\n  - type: stdout\n`);
  const a = await cli('backfill', '--config', good);
  t.equal(a.code, 2);
  t.match(a.err, /--since DURATION is required/);
  const b = await cli('backfill', '--config', good, '--since', '1d');
  t.equal(b.code, 2);
  t.match(b.err, /no duo-api source/);
});

t.test('the config read main.ts starts early is the one main() uses, for the same file only', async (t) => {
  for (const argv of [[], ['--help'], ['-v'], ['frobnicate'], ['run', '--bogus'], ['check-config', '--version']]) {
    t.equal(startConfigEarly(argv), undefined, `nothing started for ${JSON.stringify(argv)}`);
  }
  const good = join(dir, 'early.yaml');
  writeFileSync(good, `state_dir: ${dir}\nsources:\n  - type: authproxy\n    path: /var/log/early.log\ndestinations:\n  - type: syslog\n    host: 127.0.0.1\n    port: 6514\n`);
  const early = startConfigEarly(['check-config', '--config', good]);
  t.equal(early?.file, good);
  t.same((await early?.loaded)?.config, (await loadConfigOffThread(good)).config, 'the same config as a read started later');

  // A stand-in result for the same path proves main() takes it instead of reading the file again.
  const other = join(dir, 'early-other.yaml');
  writeFileSync(other, `state_dir: ${dir}\nsources:\n  - type: authproxy\n    path: /var/log/other.log\ndestinations:\n  - type: stdout\n`);
  const stand = { file: good, loaded: loadConfigOffThread(other) };
  const used = await cliWith(stand, ['check-config', '--config', good]);
  t.equal(used.code, 0, used.err);
  t.match(used.out, /source\s+authproxy \/var\/log\/other\.log/, 'the early result was used');
  const ignored = await cliWith({ file: other, loaded: stand.loaded }, ['check-config', '--config', good]);
  t.match(ignored.out, /source\s+authproxy \/var\/log\/early\.log/, 'an early read of another file is ignored');

  // Its failure is reported like any config error.
  const bad = join(dir, 'early-bad.yaml');
  writeFileSync(bad, 'sources:\n  - type: authproxy\n    start_at: middle\ndestinations:\n  - type: stdout\n');
  const failed = await cliWith(startConfigEarly(['run', '--config', bad]), ['run', '--config', bad]);
  t.equal(failed.code, 2);
  t.match(failed.err, /sources\.0\.start_at: /);
});
