import t from 'tap';
import { mkdtempSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parseConfigText } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'duo-relay-config-'));
const write = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err: unknown) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

t.test('a minimal config gets documented defaults', async (t) => {
  const cfg = parseConfigText('destinations:\n  - type: stdout\n', 'x.yaml');
  t.equal(cfg.state_dir, '/var/lib/duo-relay');
  t.equal(cfg.queue.overflow, 'block');
  const d = cfg.destinations[0];
  t.equal(d?.type, 'stdout');
  t.equal(d?.format, 'rfc5424');
  t.equal(d?.message, 'flattened');
  t.equal(d?.bom, false);
});

t.test('every problem is reported with its path', async (t) => {
  const problems = problemsOf(() =>
    parseConfigText(
      [
        'state_dir: 5',
        'bogus_key: 1',
        'sources:',
        '  - type: duo-api',
        '    host: "bad host!"',
        '    ikey: DIXXXXXXXXXXXXXXXXXX',
        '  - type: nope',
        'destinations:',
        '  - type: syslog',
        '    host: siem',
        '    port: 70000',
        '    transport: carrier-pigeon',
      ].join('\n'),
      'x.yaml',
    ),
  );
  const joined = problems.join('\n');
  t.match(joined, /^state_dir: /m, 'state_dir named');
  t.match(joined, /bogus_key/, 'unknown top-level key named');
  t.match(joined, /^sources\.0\.host: expected a hostname/m, 'bad host named with what is expected');
  t.match(joined, /^sources\.0\.skey_file: set skey_file/m, 'missing secret named');
  t.match(joined, /^sources\.1\.type: /m, 'unknown source type named');
  t.match(joined, /^destinations\.0\.port: /m, 'port range named');
  t.match(joined, /^destinations\.0\.transport: /m, 'transport named');
  t.ok(problems.length >= 7, `all problems at once (${problems.length})`);
});

t.test('no destination is a problem', async (t) => {
  t.match(problemsOf(() => parseConfigText('sources: []\ndestinations: []\n', 'x.yaml')).join('\n'), /^destinations: at least one destination/m);
});

t.test('YAML syntax errors are config errors', async (t) => {
  t.match(problemsOf(() => parseConfigText('destinations: [\n', 'x.yaml')).join('\n'), /YAML syntax/);
  t.match(problemsOf(() => parseConfigText('- a\n- b\n', 'x.yaml')).join('\n'), /expected a mapping/);
});

t.test('${ENV} substitution, defaults, escapes and missing variables', async (t) => {
  const env = { SIEM_HOST: 'siem.example.com', EMPTY: '' };
  const cfg = parseConfigText('state_dir: ${STATE:-/srv/relay}\ndestinations:\n  - type: syslog\n    host: ${SIEM_HOST}\n    port: 6514\n    name: "$${literal}"\n', 'x.yaml', env);
  const d = cfg.destinations[0];
  t.equal(cfg.state_dir, '/srv/relay');
  t.equal(d?.type === 'syslog' ? d.host : '', 'siem.example.com');
  t.equal(d?.type === 'syslog' ? d.name : '', '${literal}');
  const problems = problemsOf(() => parseConfigText('destinations:\n  - type: syslog\n    host: ${NOPE}\n    port: 1\n', 'x.yaml', env));
  t.match(problems.join('\n'), /^destinations\.0\.host: environment variable NOPE is not set/m);
});

t.test('loadConfig reads the secret file, checks named files, warns on loose modes', async (t) => {
  const skey = write('skey', 'SECRETSECRETSECRET\n');
  chmodSync(skey, 0o644);
  const file = write(
    'ok.yaml',
    `sources:\n  - type: duo-api\n    host: api-12345678.duosecurity.com\n    ikey: DIXXXXXXXXXXXXXXXXXX\n    skey_file: ${skey}\ndestinations:\n  - type: stdout\n`,
  );
  const loaded = await loadConfig(file);
  t.equal(loaded.skeys.get(0), 'SECRETSECRETSECRET', 'trimmed secret');
  t.match(loaded.warnings.join('\n'), /readable by group or others; chmod 600/);

  const bad = write(
    'bad.yaml',
    `sources:\n  - type: duo-api\n    host: api-12345678.duosecurity.com\n    ikey: DIXXXXXXXXXXXXXXXXXX\n    skey_file: ${join(dir, 'missing')}\ndestinations:\n  - type: syslog\n    host: h\n    port: 6514\n    ca: /nonexistent/ca.pem\n    cert: ${skey}\n`,
  );
  const err = await loadConfig(bad).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof ConfigError);
  const text = err instanceof ConfigError ? err.problems.join('\n') : '';
  t.match(text, /^sources\.0\.skey_file: cannot read .*missing \(ENOENT\)/m);
  t.match(text, /^destinations\.0\.ca: cannot read \/nonexistent\/ca\.pem/m);
  t.match(text, /^destinations\.0: cert and key go together/m);
  t.notMatch(text, /SECRETSECRET/, 'the secret never appears in errors');
});

t.test('a missing config file says what to do', async (t) => {
  const err = await loadConfig(join(dir, 'absent.yaml')).catch((e: unknown) => e);
  t.ok(err instanceof ConfigError);
  t.match(err instanceof Error ? err.message : '', /cannot read the config file \(ENOENT\); pass --config PATH/);
});
