/**
 * RELP destination against a real rsyslog imrelp (Debian rsyslog-relp), started here with a
 * minimal config of its own so the test can kill -9 it by PID and restart it on the same ports:
 * plain imrelp, and imrelp over mutual TLS (authMode name, permittedPeer relay-client).
 * rsyslog writes each message's raw text to out.log; ids are read from there.
 */
import t from 'tap';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRelpDestination } from '../../src/destinations/relp.js';
import { makePki, type TestPki } from '../helpers/certs.js';
import { captureLogger, destConfig, event, format } from '../helpers/syslog-dest.js';
import type { RelayEvent } from '../../src/event.js';
import { findRsyslogd, freePort } from '../helpers/rsyslog.js';

const RSYSLOGD = findRsyslogd();


async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.setTimeout(1000, () => {
      s.destroy();
      resolve(false);
    });
  });
}

interface Imrelp {
  port: number;
  tlsPort: number;
  pki: TestPki;
  ids(): string[];
  kill(signal: NodeJS.Signals): Promise<void>;
  start(): Promise<void>;
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) if (c.pid !== undefined) try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ }
});

async function startImrelp(): Promise<Imrelp> {
  if (RSYSLOGD === undefined) throw new Error('rsyslogd not found: install rsyslog rsyslog-relp');
  const dir = mkdtempSync(join(tmpdir(), 'relp-rsyslog-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'work'));
  const pki = makePki(join(dir, 'pki'));
  const port = await freePort();
  const tlsPort = await freePort();
  const out = join(dir, 'out.log');
  const conf = join(dir, 'rsyslog.conf');
  // Direct queues: the message is written by the thread that received it, before imrelp answers,
  // so a kill -9 cannot lose what rsyslog confirmed (rsyslog's default in-memory queue could).
  writeFileSync(
    conf,
    `global(workDirectory="${join(dir, 'work')}" maxMessageSize="64k" net.enableDNS="off")
module(load="imrelp")
input(type="imrelp" address="127.0.0.1" port="${port}" ruleset="rx")
input(type="imrelp" address="127.0.0.1" port="${tlsPort}" ruleset="rx" tls="on"
      tls.caCert="${pki.ca}" tls.myCert="${pki.server}" tls.myPrivKey="${pki.serverKey}"
      tls.authMode="name" tls.permittedPeer=["relay-client"])
template(name="raw" type="string" string="%rawmsg%\\n")
ruleset(name="rx" queue.type="Direct") {
  action(type="omfile" file="${out}" template="raw" flushOnTXEnd="on" asyncWriting="off")
}
`,
  );
  execFileSync(RSYSLOGD, ['-N1', '-f', conf], { stdio: 'pipe' });
  let child: ChildProcess | undefined;
  let stderr = '';
  const start = async (): Promise<void> => {
    const c = spawn(RSYSLOGD, ['-n', '-f', conf, '-i', join(dir, 'pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
    c.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    children.add(c);
    c.once('exit', () => children.delete(c));
    child = c;
    for (let waited = 0; waited < 15_000; waited += 50) {
      if (c.exitCode !== null) throw new Error(`rsyslogd exited: ${stderr}`);
      if ((await accepts(port)) && (await accepts(tlsPort))) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`imrelp did not listen on ${port}/${tlsPort}: ${stderr}`);
  };
  const kill = async (signal: NodeJS.Signals): Promise<void> => {
    const c = child;
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill(signal);
    const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    child = undefined;
  };
  t.teardown(() => kill('SIGKILL'));
  await start();
  return {
    port,
    tlsPort,
    pki,
    ids: () => (existsSync(out) ? [...readFileSync(out, 'utf8').matchAll(/id="(ev-\d+)"/g)].map((m) => m[1] ?? '') : []),
    kill,
    start,
  };
}

async function waitIds(rx: Imrelp, want: readonly string[], ms: number): Promise<Set<string>> {
  let got = new Set<string>();
  for (let waited = 0; waited < ms; waited += 50) {
    got = new Set(rx.ids());
    if (want.every((id) => got.has(id))) return got;
    await new Promise((r) => setTimeout(r, 50));
  }
  return got;
}

const events = (from: number, n: number): RelayEvent[] => Array.from({ length: n }, (_, i) => event(from + i));

if (RSYSLOGD === undefined) {
  t.fail('rsyslogd is not installed (apt-get install rsyslog rsyslog-relp); the RELP interop tests cannot run');
} else {
  const rx = await startImrelp();

  t.test('every message is confirmed by imrelp and present in its output', async (t) => {
    const cap = captureLogger();
    const d = createRelpDestination(destConfig({ transport: 'relp', port: rx.port }), { logger: cap.logger, format });
    t.teardown(() => d.destroy());
    await d.start();
    for (let i = 0; i < 3000; i += 500) await d.send(events(i, 500));
    t.equal(d.stats().acked, 3000, 'rsp 200 for each of 3000 messages');
    const want = events(0, 3000).map((e) => e.id);
    const got = await waitIds(rx, want, 10_000);
    t.equal(want.filter((id) => !got.has(id)).length, 0, 'all 3000 ids are in rsyslog output');
    await d.close();
  });

  for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
    t.test(`rsyslog ${signal === 'SIGKILL' ? 'killed -9' : 'stopped (serverclose)'} mid-stream and restarted: every message arrives`, async (t) => {
      const base = signal === 'SIGKILL' ? 10_000 : 20_000;
      const total = 4000;
      const cap = captureLogger();
      const d = createRelpDestination(destConfig({ transport: 'relp', port: rx.port, backoff: { min_ms: 50, max_ms: 300, factor: 2, jitter: 0.2 } }), { logger: cap.logger, format });
      t.teardown(() => d.destroy());
      let sent = 0;
      const sender = (async () => {
        for (let i = 0; i < total; i += 200) {
          await d.send(events(base + i, 200));
          sent += 200;
        }
      })();
      for (let waited = 0; waited < 20_000 && sent < 1000; waited += 5) await new Promise((r) => setTimeout(r, 5));
      t.ok(sent >= 1000 && sent < total, `interrupted mid-stream (${sent} of ${total} confirmed)`);
      await rx.kill(signal);
      await new Promise((r) => setTimeout(r, 400));
      await rx.start();
      await sender;
      t.equal(sent, total, 'every batch was confirmed in the end');
      t.ok(d.stats().reconnects >= 1, `reconnected (${d.stats().reconnects})`);
      const want = events(base, total).map((e) => e.id);
      const got = await waitIds(rx, want, 10_000);
      const missing = want.filter((id) => !got.has(id));
      t.same(missing, [], '0 lost');
      const all = rx.ids().filter((id) => Number(id.slice(3)) >= base && Number(id.slice(3)) < base + total);
      t.comment(`${all.length - total} duplicates (resent after the restart, same ids)`);
      await d.close();
    });
  }

  t.test('RELP over mutual TLS to imrelp (tls.authMode name)', async (t) => {
    const d = createRelpDestination(
      destConfig({ transport: 'relp', relp_tls: true, port: rx.tlsPort, ca: rx.pki.ca, cert: rx.pki.client, key: rx.pki.clientKey, servername: 'localhost' }),
      { logger: captureLogger().logger, format },
    );
    t.teardown(() => d.destroy());
    await d.start();
    await d.send(events(30_000, 500));
    const want = events(30_000, 500).map((e) => e.id);
    const got = await waitIds(rx, want, 10_000);
    t.equal(want.filter((id) => !got.has(id)).length, 0, 'all 500 delivered over TLS');
    await d.close();
  });
}
