/**
 * Interop: a real rsyslog as the upstream forwarder (imfile → omfwd, notes §2.1 / §4.4) sends the
 * Authentication Proxy's JSON lines to our listener three ways at once: plain TCP octet-counted,
 * plain TCP LF ("traditional") framing, and mutual TLS (gtls, x509/name). Each listener must get
 * every line with its JSON intact, and the router must take the records as proxy events.
 * Fails loudly when rsyslogd is missing: the CI installs it (.ci/run).
 */
import t from 'tap';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { accessSync, appendFileSync, constants as fsConstants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRouter } from '../../../src/route/router.js';
import { makePki } from '../../helpers/certs.js';
import { EVENTS, config, startSource, type Recorder } from '../../fixtures/syslog/harness.js';

const RSYSLOGD = ['/usr/sbin/rsyslogd', '/sbin/rsyslogd'].find((p) => {
  try {
    accessSync(p, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
});
if (RSYSLOGD === undefined) throw new Error('rsyslogd not found in /usr/sbin or /sbin: install rsyslog rsyslog-gnutls (see .ci/run).');

const HOST = 'relay-test-host';
const q = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

function rsyslogConf(dir: string, pki: ReturnType<typeof makePki>, input: string, ports: { octet: number; lf: number; tls: number }): string {
  const fwd = (port: number, extra: string): string =>
    `  action(type="omfwd" target="127.0.0.1" port="${port}" protocol="tcp" template="RSYSLOG_SyslogProtocol23Format" ${extra}
         action.resumeRetryCount="-1" action.resumeInterval="1")`;
  return `global(workDirectory=${q(join(dir, 'work'))} localHostname="${HOST}" maxMessageSize="64k"
  defaultNetstreamDriverCAFile=${q(pki.ca)} defaultNetstreamDriverCertFile=${q(pki.client)} defaultNetstreamDriverKeyFile=${q(pki.clientKey)})
module(load="imfile" mode="inotify")
input(type="imfile" file=${q(input)} tag="duo-authproxy" facility="local0" severity="info" ruleset="fwd" freshStartTail="off")
ruleset(name="fwd") {
${fwd(ports.octet, 'TCP_Framing="octet-counted"')}
${fwd(ports.lf, 'TCP_Framing="traditional"')}
${fwd(ports.tls, 'TCP_Framing="octet-counted" StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name" StreamDriverPermittedPeers="localhost"')}
}
action(type="omfile" file=${q(join(dir, 'internal.log'))})
`;
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    const give = setTimeout(resolve, 7000);
    child.once('exit', () => {
      clearTimeout(kill);
      clearTimeout(give);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

t.test('rsyslog imfile → omfwd (octet-counted, LF, mutual TLS) → listener: JSON intact', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'duo-relay-syslog-rsyslog-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'work'));
  const pki = makePki(join(dir, 'pki'));

  const octetSrc = await startSource(t, config({ transport: 'tcp' }));
  const lfSrc = await startSource(t, config({ transport: 'tcp' }));
  const tlsSrc = await startSource(t, config({ transport: 'tls', cert: pki.server, key: pki.serverKey, ca: pki.ca, require_client_cert: true }));

  // Real proxy lines, plus one with multi-byte UTF-8 and escapes that a naive relay would mangle.
  const tricky = JSON.stringify({ ...(JSON.parse(EVENTS.authproxy) as Record<string, unknown>), username: 'jöhn 日本 😀', msg: 'quote " backslash \\ brace } ]' });
  const peerLines = readFileSync(new URL('../../fixtures/peers/authproxy/authevents.synthetic.log', import.meta.url), 'utf8').trimEnd().split('\n').slice(0, 3);
  const before = [EVENTS.authproxy, tricky];
  const input = join(dir, 'authevents.log');
  writeFileSync(input, before.map((l) => `${l}\n`).join(''));

  const conf = join(dir, 'rsyslog.conf');
  writeFileSync(conf, rsyslogConf(dir, pki, input, { octet: octetSrc.source.port, lf: lfSrc.source.port, tls: tlsSrc.source.port }));
  execFileSync(RSYSLOGD, ['-N1', '-f', conf], { stdio: 'pipe', timeout: 10_000 });
  let stderr = '';
  const child = spawn(RSYSLOGD, ['-n', '-f', conf, '-i', join(dir, 'rsyslogd.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const killOnExit = (): void => {
    if (child.pid !== undefined && child.exitCode === null) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  t.teardown(async () => {
    await stopChild(child);
    process.off('exit', killOnExit);
  });

  // Lines appended while rsyslog runs (inotify path), not just the ones present at start.
  const expected = [...before, ...peerLines];
  setTimeout(() => appendFileSync(input, peerLines.map((l) => `${l}\n`).join('')), 500).unref();

  const diagnostics = (): string => {
    let internal = '';
    try {
      internal = readFileSync(join(dir, 'internal.log'), 'utf8').slice(-3000);
    } catch {
      // rsyslog wrote nothing of its own.
    }
    return `rsyslogd ${child.exitCode === null ? 'running' : `exited ${child.exitCode}`}\n--- stderr ---\n${stderr.slice(-3000)}\n--- internal.log ---\n${internal}`;
  };
  const wait = async (rec: Recorder, what: string): Promise<void> => {
    try {
      await rec.waitRecords(expected.length, 20_000);
    } catch (err: unknown) {
      throw new Error(`${what}: ${(err as Error).message}\n${diagnostics()}`);
    }
  };
  await Promise.all([wait(octetSrc.rec, 'octet-counted'), wait(lfSrc.rec, 'LF framing'), wait(tlsSrc.rec, 'mutual TLS')]);

  const router = createRouter({ defaultHost: 'fallback' });
  for (const [what, { rec }] of [['octet-counted', octetSrc], ['LF', lfSrc], ['mutual TLS', tlsSrc]] as const) {
    t.same(rec.texts(), expected, `${what}: every line, byte-exact JSON, in order`);
    t.ok(rec.records.every((r) => r.host === HOST), `${what}: host is rsyslog's HOSTNAME`);
    t.same(rec.dead, [], `${what}: nothing dead-lettered`);
    const routed = rec.records.map((r) => router.route(r));
    t.ok(routed.every((x) => x.ok && x.event.kind === 'authproxy' && x.event.host === HOST), `${what}: the router takes them as proxy events from ${HOST}`);
  }
});
