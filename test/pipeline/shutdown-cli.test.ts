/**
 * Graceful shutdown of the built relay (tailer → disk queue → TLS into a real rsyslog):
 * - SIGTERM while lines are being written: exit 0 within shutdown_timeout_ms, the tailer
 *   checkpoint and the queue cursor written and consistent with what rsyslog got, close_notify
 *   sent (rsyslog logs no "non-properly terminated" session); after a restart every line arrives
 *   exactly once.
 * - A second SIGTERM/SIGINT exits 1 at once, without draining.
 * - With a dead SIEM, SIGTERM still exits within the timeout; the records stay on disk and are
 *   delivered on the next start.
 *
 * Needs the built CLI (`npm run build`; `npm test` builds first) and rsyslogd.
 */
import t from 'tap';
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRsyslog, type RsyslogReceiver } from '../helpers/rsyslog.js';
import { Tally, type Teardown, cliProblem, missingSeqs, proxyLine, proxyLines, sleep, startRelay, until, writeConfig } from './relay-child.js';

const SHUTDOWN_MS = 4000;

function setup(t: Teardown, rx: RsyslogReceiver, extra: Record<string, unknown> = {}): { dir: string; log: string; state: string; config: string } {
  const dir = mkdtempSync(join(tmpdir(), 'duo-relay-shutdown-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'authevents.log');
  const state = join(dir, 'state');
  writeFileSync(log, '');
  const config = writeConfig(join(dir, 'relay.yaml'), {
    state_dir: state,
    log: { level: 'info', file: join(dir, 'relay.log') },
    shutdown_timeout_ms: SHUTDOWN_MS,
    sources: [{ type: 'authproxy', path: log, poll_interval_ms: 50 }],
    destinations: [
      { type: 'syslog', name: 'siem', host: '127.0.0.1', port: rx.tlsPort, transport: 'tls', ca: rx.pki.ca, backoff: { min_ms: 100, max_ms: 500, factor: 2, jitter: 0.5 } },
    ],
    ...extra,
  });
  return { dir, log, state, config };
}

function cursorNext(state: string): number {
  const dir = join(state, 'queue', 'cursors');
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  if (files.length !== 1) throw new Error(`expected one cursor file in ${dir}, found ${files.join(', ')}`);
  const c = JSON.parse(readFileSync(join(dir, files[0] ?? ''), 'utf8')) as { next: number };
  return c.next;
}

function checkpointOffset(state: string): number {
  const c = JSON.parse(readFileSync(join(state, 'authproxy-authproxy.checkpoint.json'), 'utf8')) as { files: { offset: number }[] };
  return c.files.reduce((a, f) => a + f.offset, 0);
}

/** Appends lines [from, to) in small steps, as a proxy would; stops early when `stop()` says so. */
async function writeLines(log: string, from: number, to: number, perTick: number, stop: () => boolean = () => false): Promise<number> {
  let seq = from;
  while (seq < to && !stop()) {
    const end = Math.min(to, seq + perTick);
    appendFileSync(log, proxyLines(seq, end));
    seq = end;
    await sleep(10);
  }
  return seq;
}

t.test('SIGTERM mid-stream: exit 0 in time, checkpoint and cursor written, close_notify, nothing lost or repeated across the restart', async (t) => {
  const problem = cliProblem();
  if (problem !== undefined) return void t.fail(problem);
  const rx = await startRsyslog();
  t.teardown(() => rx.stop());
  const { log, state, config } = setup(t, rx);
  const TOTAL = 30_000;
  const tally = new Tally(rx.dir);

  let relay = startRelay(t, config);
  let stopWriting = false;
  const writing = writeLines(log, 0, TOTAL, 100, () => stopWriting);
  await until(() => tally.update().unique >= 3000, 20_000);
  const sentAt = Date.now();
  relay.child.kill('SIGTERM');
  const exit = await relay.waitExit(SHUTDOWN_MS + 3000);
  stopWriting = true;
  const written = await writing;
  t.equal(exit?.code, 0, `exit 0 after SIGTERM${exit?.code === 0 ? '' : `\n${relay.stderr()}`}`);
  const took = (exit?.at ?? Infinity) - sentAt;
  t.ok(took <= SHUTDOWN_MS, `exited ${took} ms after SIGTERM (shutdown_timeout_ms ${SHUTDOWN_MS})`);

  tally.update();
  const delivered = tally.unique;
  const next = cursorNext(state);
  t.equal(next - 1, delivered, `the queue cursor (next ${next}) covers exactly the ${delivered} events rsyslog has: drained before exit`);
  let bytes = 0;
  for (let s = 0; s < delivered; s++) bytes += Buffer.byteLength(proxyLine(s));
  t.equal(checkpointOffset(state), bytes, 'the tailer checkpoint stops exactly after the last queued line');
  t.same(missingSeqs(tally, delivered), [], 'what arrived is a gap-free prefix');
  const internal = readFileSync(join(rx.dir, 'internal.log'), 'utf8');
  t.notMatch(internal, /non-properly terminated|will be closed due to error/, 'rsyslog saw a clean TLS close (close_notify)');
  t.ok(written < TOTAL, `the writer was still writing when the relay stopped (${written} lines)`);

  relay = startRelay(t, config);
  await writeLines(log, written, TOTAL, 500);
  t.ok(await until(() => tally.update().unique >= TOTAL, 40_000), `every line arrived after the restart (${tally.unique}/${TOTAL})`);
  relay.child.kill('SIGTERM');
  t.equal((await relay.waitExit(SHUTDOWN_MS + 3000))?.code, 0, 'second run: exit 0');
  tally.update();
  t.same(missingSeqs(tally, TOTAL), [], 'no line lost');
  t.equal(tally.duplicates, 0, 'no line repeated across the graceful restart');
  t.equal(tally.unparsable, 0);
  t.equal(cursorNext(state) - 1, TOTAL, 'the cursor ends at the last record');
});

t.test('a second signal exits 1 at once; with a dead SIEM, SIGTERM exits within the timeout and the next start delivers', async (t) => {
  const problem = cliProblem();
  if (problem !== undefined) return void t.fail(problem);
  const rx = await startRsyslog();
  t.teardown(() => rx.stop());
  await rx.stop();
  // A long timeout: without the second signal the relay would wait for the dead SIEM.
  const long = setup(t, rx, { shutdown_timeout_ms: 30_000 });
  writeFileSync(long.log, proxyLines(0, 500));
  const first = startRelay(t, long.config);
  await until(() => {
    try {
      return cursorNext(long.state) >= 1 && readFileSync(join(long.state, 'authproxy-authproxy.checkpoint.json'), 'utf8').includes('"offset":');
    } catch {
      return false;
    }
  }, 10_000);
  await sleep(500);
  first.child.kill('SIGTERM');
  await sleep(300);
  t.equal(first.child.exitCode, null, 'still draining after the first SIGTERM (the SIEM is down)');
  const sent = Date.now();
  first.child.kill('SIGINT');
  const ex = await first.waitExit(3000);
  t.equal(ex?.code, 1, 'the second signal exits with code 1');
  t.ok((ex?.at ?? Infinity) - sent < 1500, `at once (${(ex?.at ?? Infinity) - sent} ms)`);

  // Dead SIEM with the normal timeout: exit 0 in time, records kept on disk.
  const { log, state, config } = setup(t, rx);
  const N = 2000;
  writeFileSync(log, proxyLines(0, N));
  let relay = startRelay(t, config);
  await until(() => {
    try {
      return checkpointOffset(state) === Buffer.byteLength(proxyLines(0, N));
    } catch {
      return false;
    }
  }, 15_000);
  const sentAt = Date.now();
  relay.child.kill('SIGTERM');
  const exit = await relay.waitExit(SHUTDOWN_MS + 3000);
  t.equal(exit?.code, 0, `dead SIEM: SIGTERM still exits 0${exit?.code === 0 ? '' : `\n${relay.stderr()}`}`);
  const took = (exit?.at ?? Infinity) - sentAt;
  t.ok(took <= SHUTDOWN_MS + 300, `within the timeout (${took} ms of ${SHUTDOWN_MS})`);
  t.equal(cursorNext(state), 1, 'nothing was acknowledged: the queue keeps every record');

  await rx.restart();
  const tally = new Tally(rx.dir);
  relay = startRelay(t, config);
  t.ok(await until(() => tally.update().unique >= N, 20_000), `the next start delivered the queued records (${tally.unique}/${N})`);
  relay.child.kill('SIGTERM');
  t.equal((await relay.waitExit(SHUTDOWN_MS + 3000))?.code, 0);
  tally.update();
  t.same(missingSeqs(tally, N), [], 'none lost');
  t.equal(tally.duplicates, 0, 'none repeated');
});
