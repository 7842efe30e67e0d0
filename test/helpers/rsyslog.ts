/**
 * A real rsyslog receiver for integration tests (the reference SIEM: rsyslog 8.2302 on Debian 12).
 *
 * Each receiver lives in its own mkdtemp dir (config, workDirectory, pid file, output). Listeners on
 * 127.0.0.1 only: imptcp (octet-counted and LF framing), imtcp+gtls server-auth, imtcp+gtls mutual
 * TLS (x509/name, permittedPeer relay-client) and, on request, plain imrelp. Every message is
 * written as one JSON object per line (template option.jsonf), so parsing is unambiguous.
 *
 * Cleanup: `stop()` in t.teardown; a process 'exit' hook SIGKILLs what is left; and a detached
 * watchdog shell kills rsyslogd within ~1 s if the test process dies by a signal (tap timeout,
 * SIGKILL) where no JS hook can run. Every process is addressed by its PID, never by name.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, existsSync, mkdirSync, mkdtempSync, openSync, readSync, readFileSync, closeSync, fstatSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { makePki, type TestPki } from './certs.js';

export type { TestPki };

export interface ReceivedMessage {
  input: string;
  fromIp: string;
  pri: string;
  ts: string;
  host: string;
  app: string;
  procid: string;
  msgid: string;
  sd: string;
  /** STRUCTURED-DATA parsed by mmpstrucdata (`{ "id@pen": { param: value } }`), null when SD is `-`. */
  sdjson: unknown;
  msg: string;
  raw: string;
}

export interface RsyslogReceiver {
  dir: string;
  pki: TestPki;
  /** imptcp, octet-counted and LF framing. */
  tcpPort: number;
  /** imtcp gtls, server-auth only (anon). */
  tlsPort: number;
  /** imtcp gtls, x509/name, permittedPeer relay-client. */
  mtlsPort: number;
  /** imrelp (when opts.relp), plain. */
  relpPort?: number;
  /** Everything received so far (parsed from the output file). */
  messages(): ReceivedMessage[];
  /** Resolves with all messages once at least `count` arrived; rejects with got N of M and the stderr tail. */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedMessage[]>;
  /** SIGTERM by PID, waits for exit (SIGKILL after a deadline). Idempotent. */
  stop(): Promise<void>;
  /** stop + start on the SAME ports; messages kept. */
  restart(): Promise<void>;
  /** SIGSTOP: the kernel still accepts connections and buffers bytes, nothing is read (a blackholing SIEM). */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
}

export interface StartRsyslogOptions {
  relp?: boolean;
  /** rsyslog `maxMessageSize`; longer frames are truncated by rsyslog. @default "256k" */
  maxMessageSize?: string;
}

const INSTALL_HINT = 'install rsyslog rsyslog-gnutls rsyslog-relp (see .ci/run)';
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;
const POLL_MS = 25;

/** Live rsyslogd children of this process, killed on exit whatever happens to the tests. */
const live = new Set<ChildProcess>();
/** Dirs to remove on exit (kept when DUO_RELAY_KEEP_RSYSLOG=1, for debugging). */
const dirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) {
      try {
        if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    if (process.env['DUO_RELAY_KEEP_RSYSLOG'] === '1') return;
    for (const dir of dirs) {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        // Best effort: a tmp dir left behind is harmless.
      }
    }
  });
}

export function findRsyslogd(): string | undefined {
  const candidates = (process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== '').map((d) => join(d, 'rsyslogd'));
  candidates.push('/usr/sbin/rsyslogd', '/sbin/rsyslogd');
  for (const c of candidates) {
    try {
      accessSync(c, fsConstants.X_OK);
      return c;
    } catch {
      // Not here; try the next.
    }
  }
  return undefined;
}

/** rsyslogd on PATH or in /usr/sbin. */
export function hasRsyslog(): boolean {
  return findRsyslogd() !== undefined;
}

/** A loopback port nothing listens on (bound, read, released): free for a receiver, or dead for a client. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('Could not read the port of a probe socket.'))));
    });
  });
}

interface Ports {
  tcp: number;
  tls: number;
  mtls: number;
  relp: number | undefined;
}

function q(s: string): string {
  // rsyslog string literals: backslash and double quote need escaping. mkdtemp paths have neither,
  // but stay correct if TMPDIR is odd.
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function renderConfig(dir: string, pki: TestPki, ports: Ports, maxMessageSize: string): string {
  const relp = ports.relp === undefined
    ? ''
    : `module(load="imrelp")\ninput(type="imrelp" address="127.0.0.1" port="${ports.relp}" ruleset="rx" name="relp")\n`;
  return `# Generated by test/helpers/rsyslog.ts. Loopback only.
global(
  workDirectory=${q(join(dir, 'work'))}
  maxMessageSize=${q(maxMessageSize)}
  net.enableDNS="off"
  processInternalMessages="on"
  defaultNetstreamDriverCAFile=${q(pki.ca)}
  defaultNetstreamDriverCertFile=${q(pki.server)}
  defaultNetstreamDriverKeyFile=${q(pki.serverKey)}
)
module(load="mmpstrucdata")
module(load="imptcp")
input(type="imptcp" address="127.0.0.1" port="${ports.tcp}" ruleset="rx" name="tcp" supportOctetCountedFraming="on")
module(load="imtcp" maxSessions="500" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
input(type="imtcp" address="127.0.0.1" port="${ports.tls}" ruleset="rx" name="tls-anon")
input(type="imtcp" address="127.0.0.1" port="${ports.mtls}" ruleset="rx" name="tls-mutual"
      streamDriver.authMode="x509/name" permittedPeer=["relay-client"])
${relp}
template(name="jsonl" type="list" option.jsonf="on") {
  property(outname="input" name="inputname" format="jsonf")
  property(outname="fromIp" name="fromhost-ip" format="jsonf")
  property(outname="pri" name="pri-text" format="jsonf")
  property(outname="ts" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="host" name="hostname" format="jsonf")
  property(outname="app" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="sdjson" name="$!rfc5424-sd" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
  property(outname="raw" name="rawmsg" format="jsonf")
}
ruleset(name="rx") {
  action(type="mmpstrucdata")
  action(type="omfile" file=${q(join(dir, 'out.jsonl'))} template="jsonl")
}
# rsyslogd's own messages (errors such as "peer did not provide a certificate").
action(type="omfile" file=${q(join(dir, 'internal.log'))})
`;
}

function str(o: Record<string, unknown>, k: string): string {
  const v = o[k];
  return typeof v === 'string' ? v : '';
}

function parseLine(line: string): ReceivedMessage | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const sdText = str(o, 'sdjson');
  let sdjson: unknown = null;
  if (sdText !== '') {
    try {
      sdjson = JSON.parse(sdText);
    } catch {
      sdjson = sdText;
    }
  }
  return {
    input: str(o, 'input'), fromIp: str(o, 'fromIp'), pri: str(o, 'pri'), ts: str(o, 'ts'), host: str(o, 'host'), app: str(o, 'app'),
    procid: str(o, 'procid'), msgid: str(o, 'msgid'), sd: str(o, 'sd'), sdjson, msg: str(o, 'msg'), raw: str(o, 'raw'),
  };
}

function execCheck(bin: string, conf: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(bin, ['-N1', '-f', conf], { timeout: START_TIMEOUT_MS }, (err, stdout, stderr) => {
      const out = `${stdout}${stderr}`;
      // rsyslogd -N1 exits non-zero for syntax errors and for modules it cannot load (e.g. imrelp
      // without rsyslog-relp, gtls without rsyslog-gnutls).
      if (err !== null) {
        reject(new Error(`rsyslogd -N1 rejected ${conf} (${INSTALL_HINT}):\n${out.slice(-4000)}`));
        return;
      }
      resolve();
    });
  });
}

/** Waits until `port` accepts; TLS ports get a full handshake (with the client cert) so rsyslog logs no error. */
async function waitPort(port: number, tls: TlsProbe | undefined, deadline: number, alive: () => boolean): Promise<void> {
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    if (!alive()) throw new Error('rsyslogd exited during start-up');
    const ok = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        sock.destroy();
        resolve(false);
      }, 2000);
      const done = (v: boolean): void => {
        clearTimeout(timer);
        sock.destroy();
        resolve(v);
      };
      const sock = tls === undefined
        ? netConnect({ host: '127.0.0.1', port }, () => done(true))
        : tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: tls.ca, cert: tls.cert, key: tls.key }, () => {
          // Close politely: an abrupt RST makes gtls log a session error on stderr.
          clearTimeout(timer);
          sock.end(() => resolve(true));
          setTimeout(() => sock.destroy(), 500).unref();
        });
      sock.once('error', () => done(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, Math.min(200, 20 * (attempt + 1))));
  }
  throw new Error(`port ${port} did not accept connections within ${START_TIMEOUT_MS} ms`);
}

interface TlsProbe {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** A detached shell that SIGKILLs rsyslogd if this process dies without running its exit hook. */
function spawnWatchdog(rsyslogPid: number, conf: string): void {
  // The cmdline check guards against PID reuse: only our rsyslogd runs with this unique config path.
  const script = [
    'p=$1; r=$2; c=$3; n=0',
    'mine() { tr "\\000" "\\n" < /proc/$r/cmdline 2>/dev/null | grep -qxF "$c"; }',
    'while [ $n -lt 86400 ] && kill -0 "$p" 2>/dev/null && mine; do sleep 1; n=$((n+1)); done',
    'if mine; then kill -9 "$r"; fi',
  ].join('\n');
  const w = spawn('sh', ['-c', script, 'watchdog', String(process.pid), String(rsyslogPid), conf], { detached: true, stdio: 'ignore' });
  w.on('error', () => undefined);
  w.unref();
}

/** Starts rsyslogd on free loopback ports; fails loudly when rsyslog is not installed. */
export async function startRsyslog(opts: StartRsyslogOptions = {}): Promise<RsyslogReceiver> {
  const bin = findRsyslogd();
  if (bin === undefined) throw new Error(`rsyslogd not found on PATH or in /usr/sbin: ${INSTALL_HINT}`);
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), 'duo-relay-rsyslog-'));
  dirs.add(dir);
  const pki = makePki(join(dir, 'pki'));
  const tlsProbe: TlsProbe = { ca: readFileSync(pki.ca), cert: readFileSync(pki.client), key: readFileSync(pki.clientKey) };
  const conf = join(dir, 'rsyslog.conf');
  const pidFile = join(dir, 'rsyslogd.pid');
  const outFile = join(dir, 'out.jsonl');
  const internalFile = join(dir, 'internal.log');
  const maxMessageSize = opts.maxMessageSize ?? '256k';
  mkdirSync(join(dir, 'work'));

  let ports: Ports = { tcp: 0, tls: 0, mtls: 0, relp: undefined };
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let stderrTail = '';
  let paused = false;

  // Incremental reader of out.jsonl: only new bytes are parsed on each call.
  const received: ReceivedMessage[] = [];
  let readOffset = 0;
  let partial = '';
  const messages = (): ReceivedMessage[] => {
    if (!existsSync(outFile)) return received.slice();
    const fd = openSync(outFile, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size > readOffset) {
        const buf = Buffer.allocUnsafe(size - readOffset);
        let got = 0;
        while (got < buf.length) {
          const n = readSync(fd, buf, got, buf.length - got, readOffset + got);
          if (n === 0) break;
          got += n;
        }
        readOffset += got;
        const text = partial + buf.subarray(0, got).toString('utf8');
        const lines = text.split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          if (line === '') continue;
          const m = parseLine(line);
          if (m !== undefined) received.push(m);
        }
      }
    } finally {
      closeSync(fd);
    }
    return received.slice();
  };

  const diagnostics = (): string => {
    let internal = '';
    try {
      internal = readFileSync(internalFile, 'utf8').slice(-3000);
    } catch {
      // No internal messages yet.
    }
    const state = child === undefined ? 'not running' : paused ? `paused (pid ${child.pid ?? '?'})` : `running (pid ${child.pid ?? '?'})`;
    return `rsyslogd ${state}, dir ${dir}\n--- rsyslogd stderr tail ---\n${stderrTail.slice(-3000)}\n--- internal.log tail ---\n${internal}`;
  };

  const launch = async (): Promise<void> => {
    writeFileSync(conf, renderConfig(dir, pki, ports, maxMessageSize));
    await execCheck(bin, conf);
    const c = spawn(bin, ['-n', '-f', conf, '-i', pidFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    const onData = (d: Buffer): void => {
      stderrTail = (stderrTail + d.toString('utf8')).slice(-16_384);
    };
    c.stdout?.on('data', onData);
    c.stderr?.on('data', onData);
    let isAlive = true;
    exited = new Promise<void>((resolve) => {
      c.once('exit', () => {
        isAlive = false;
        live.delete(c);
        resolve();
      });
      c.once('error', (err: Error) => {
        stderrTail += `\nspawn error: ${err.message}`;
        isAlive = false;
        live.delete(c);
        resolve();
      });
    });
    child = c;
    paused = false;
    if (c.pid === undefined) {
      await exited;
      throw new Error(`Could not spawn ${bin}: ${INSTALL_HINT}\n${diagnostics()}`);
    }
    live.add(c);
    spawnWatchdog(c.pid, conf);
    const deadline = Date.now() + START_TIMEOUT_MS;
    try {
      await waitPort(ports.tcp, undefined, deadline, () => isAlive);
      await waitPort(ports.tls, tlsProbe, deadline, () => isAlive);
      await waitPort(ports.mtls, tlsProbe, deadline, () => isAlive);
      if (ports.relp !== undefined) await waitPort(ports.relp, undefined, deadline, () => isAlive);
    } catch (err: unknown) {
      await stop();
      throw new Error(`rsyslog receiver did not come up (${INSTALL_HINT}): ${err instanceof Error ? err.message : String(err)}\n${diagnostics()}`);
    }
    // A port taken by someone else between probe and bind: rsyslog keeps running without that listener.
    if (/Address already in use|could not create (tcp )?listener/i.test(stderrTail)) {
      await stop();
      throw new Error(`rsyslog could not bind its ports (${JSON.stringify(ports)}).\n${diagnostics()}`);
    }
  };

  const stop = async (): Promise<void> => {
    const c = child;
    if (c === undefined) return;
    child = undefined;
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      try {
        if (paused) process.kill(c.pid, 'SIGCONT');
        process.kill(c.pid, 'SIGTERM');
      } catch {
        // Already exited.
      }
      const timedOut = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), STOP_TIMEOUT_MS).unref())]);
      if (timedOut) {
        try {
          process.kill(c.pid, 'SIGKILL');
        } catch {
          // Exited just now.
        }
        await Promise.race([exited, new Promise((r) => setTimeout(r, 2000).unref())]);
      }
    }
    paused = false;
    live.delete(c);
  };

  // Ports: bind-0 probes can race with other processes; retry the whole start a few times.
  let lastErr: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    ports = { tcp: await freePort(), tls: await freePort(), mtls: await freePort(), relp: opts.relp === true ? await freePort() : undefined };
    const wanted = [ports.tcp, ports.tls, ports.mtls, ...(ports.relp === undefined ? [] : [ports.relp])];
    if (new Set(wanted).size !== wanted.length) continue;
    try {
      await launch();
      lastErr = undefined;
      break;
    } catch (err: unknown) {
      lastErr = err;
      // A config check failure will not fix itself with other ports.
      if (err instanceof Error && err.message.startsWith('rsyslogd -N1')) break;
    }
  }
  if (lastErr !== undefined || child === undefined) {
    throw lastErr instanceof Error ? lastErr : new Error(`rsyslog receiver did not start.\n${diagnostics()}`);
  }

  const receiver: RsyslogReceiver = {
    dir,
    pki,
    tcpPort: ports.tcp,
    tlsPort: ports.tls,
    mtlsPort: ports.mtls,
    messages,
    waitFor: async (count: number, timeoutMs = 15_000): Promise<ReceivedMessage[]> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const got = messages();
        if (got.length >= count) return got;
        if (Date.now() >= deadline) {
          throw new Error(`rsyslog receiver: got ${got.length} of ${count} messages within ${timeoutMs} ms.\n${diagnostics()}`);
        }
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    },
    stop,
    restart: async (): Promise<void> => {
      await stop();
      await launch();
    },
    pause: (): void => {
      if (child?.pid === undefined || paused) return;
      process.kill(child.pid, 'SIGSTOP');
      paused = true;
      // The stop is asynchronous: wait (bounded) until the kernel reports the process stopped, so
      // bytes sent right after pause() are never read by a still-running rsyslogd.
      const until = Date.now() + 1000;
      const pause = new Int32Array(new SharedArrayBuffer(4));
      while (Date.now() < until) {
        let state = '';
        try {
          const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
          state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
        } catch {
          break;
        }
        if (state === 'T' || state === 't') break;
        Atomics.wait(pause, 0, 0, 5);
      }
    },
    resume: (): void => {
      if (child?.pid === undefined || !paused) return;
      process.kill(child.pid, 'SIGCONT');
      paused = false;
    },
  };
  if (ports.relp !== undefined) receiver.relpPort = ports.relp;
  return receiver;
}
