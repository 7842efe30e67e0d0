/**
 * A full queue through the built relay, with the SIEM down while the tailer has far more to send
 * than the queue can hold:
 * - `overflow: block` with the queue on a 2 MB tmpfs (ENOSPC; needs root for mount) and with a
 *   1 MiB `queue.max_bytes` cap: the relay keeps running, the tailer waits (its checkpoint stops
 *   moving), and once the SIEM is back every line arrives.
 * - `overflow: drop_oldest` with the cap: the relay keeps running, counts the drops on /metrics
 *   (duo_relay_queue_dropped_total) and logs them; what arrives is the newest lines, and
 *   delivered + dropped = written.
 *
 * Needs the built CLI (`npm run build`; `npm test` builds first) and rsyslogd.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRsyslog } from '../helpers/rsyslog.js';
import { Tally, checkpointOffset, cliProblem, deadPort, metricFrom, missingSeqs, proxyLines, scrape, sleep, startRelay, until, writeConfig } from './relay-child.js';

const LINES = 20_000;
const PAD = 300;

/** Mounts a tmpfs of `size`; false when this process may not (not root, no CAP_SYS_ADMIN). */
function mountTmpfs(dir: string, size: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

const BLOCK_CASES = [
  ['tmpfs', 'overflow block, queue on a 2 MB tmpfs: sources wait on ENOSPC, nothing lost'],
  ['cap', 'overflow block, queue.max_bytes 1 MiB: sources wait, nothing lost'],
] as const;

/** Whether this process may mount (root with CAP_SYS_ADMIN); the tmpfs case is skipped otherwise. */
function canMount(): boolean {
  const probe = mkdtempSync(join(tmpdir(), 'duo-relay-mount-probe-'));
  const ok = mountTmpfs(probe, '64k');
  if (ok) execFileSync('umount', [probe], { stdio: 'pipe', timeout: 10_000 });
  rmSync(probe, { recursive: true, force: true });
  return ok;
}
const mountable = canMount();

for (const [how, title] of BLOCK_CASES) t.test(title, { skip: how === 'tmpfs' && !mountable ? 'mount -t tmpfs needs root (CAP_SYS_ADMIN); the max_bytes case covers the block policy' : false }, async (t) => {
  const problem = cliProblem();
  if (problem !== undefined) return void t.fail(problem);
  const dir = mkdtempSync(join(tmpdir(), `duo-relay-full-${how}-`));
  const state = join(dir, 'state');
  const queueDir = join(state, 'queue');
  mkdirSync(queueDir, { recursive: true });
  let mounted = false;
  if (how === 'tmpfs') {
    mounted = mountTmpfs(queueDir, '2m');
    t.ok(mounted, 'a 2 MB tmpfs holds the queue');
  }
  const rx = await startRsyslog();
  await rx.stop();
  const log = join(dir, 'authevents.log');
  const text = proxyLines(0, LINES, PAD);
  writeFileSync(log, text);
  const size = Buffer.byteLength(text);
  const config = writeConfig(join(dir, 'relay.yaml'), {
    state_dir: state,
    log: { level: 'info', file: join(dir, 'relay.log') },
    shutdown_timeout_ms: 3000,
    queue: how === 'cap' ? { max_bytes: 1024 * 1024, segment_bytes: 64 * 1024, overflow: 'block' } : { overflow: 'block', segment_bytes: 64 * 1024 },
    sources: [{ type: 'authproxy', path: log, poll_interval_ms: 100, batch_lines: 200 }],
    destinations: [{ type: 'syslog', name: 'siem', host: '127.0.0.1', port: rx.tcpPort, transport: 'tcp', backoff: { min_ms: 100, max_ms: 500, factor: 2, jitter: 0.5 } }],
  });
  const relay = startRelay(t, config);
  // Teardown runs in order: relay first (it holds files on the tmpfs), then unmount, then rm.
  t.teardown(async () => {
    if (relay.child.exitCode === null) relay.child.kill('SIGKILL');
    await relay.exited;
    await rx.stop();
    if (mounted) execFileSync('umount', [queueDir], { stdio: 'pipe', timeout: 10_000 });
    rmSync(dir, { recursive: true, force: true });
  });

  // The checkpoint climbs while the queue fills, then stays put.
  let last = -2;
  let stableSince = Date.now();
  await until(() => {
    const o = checkpointOffset(state);
    if (o !== last) {
      last = o;
      stableSince = Date.now();
    }
    return o > 0 && Date.now() - stableSince >= 2000;
  }, 30_000, 100);
  const held = checkpointOffset(state);
  t.ok(held > 0 && held < size, `the tailer stopped at byte ${held} of ${size}: the full queue holds it back`);
  await sleep(2000);
  t.equal(checkpointOffset(state), held, 'its checkpoint does not move while the queue is full');
  t.equal(relay.child.exitCode, null, 'the relay keeps running');
  const relayLog = readFileSync(join(dir, 'relay.log'), 'utf8');
  if (how === 'tmpfs') t.match(relayLog, /The disk holding the queue is full \(overflow: block\).*No space left on the device|No space left on the device.*The disk holding the queue is full/, 'ENOSPC is logged once, with what to do');
  else t.match(relayLog, /Disk queue is full \(overflow: block\)/, 'the full queue is logged');
  t.notMatch(relayLog, /A batch was not handed off/, 'the tailer waits in its hand-off instead of failing and backing off');

  await rx.restart();
  const tally = new Tally(rx.dir);
  const arrived = await until(() => tally.update().unique >= LINES, 60_000);
  t.ok(arrived, `once the SIEM is back every line arrives (${tally.unique}/${LINES})`);
  if (!arrived) t.comment(`relay log tail:\n${readFileSync(join(dir, 'relay.log'), 'utf8').slice(-4000)}`);
  t.ok(await until(() => checkpointOffset(state) === size, 10_000), 'and the checkpoint reaches the end of the file');
  relay.child.kill('SIGTERM');
  t.equal((await relay.waitExit(6000))?.code, 0, 'SIGTERM: exit 0');
  tally.update();
  t.same(missingSeqs(tally, LINES), [], 'no line lost');
  t.comment(`${tally.received} messages for ${LINES} lines (${tally.duplicates} duplicates)`);
  t.equal(tally.duplicates, 0, 'a refused append is rolled back, so nothing is queued twice');
});

t.test('overflow drop_oldest, queue.max_bytes 1 MiB: keeps running, counts and logs drops, keeps the newest', async (t) => {
  const problem = cliProblem();
  if (problem !== undefined) return void t.fail(problem);
  const dir = mkdtempSync(join(tmpdir(), 'duo-relay-full-drop-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const rx = await startRsyslog();
  t.teardown(() => rx.stop());
  await rx.stop();
  const state = join(dir, 'state');
  const log = join(dir, 'authevents.log');
  const text = proxyLines(0, LINES, PAD);
  writeFileSync(log, text);
  const size = Buffer.byteLength(text);
  const listen = `127.0.0.1:${await deadPort()}`;
  const config = writeConfig(join(dir, 'relay.yaml'), {
    state_dir: state,
    log: { level: 'info', file: join(dir, 'relay.log') },
    metrics_listen: listen,
    shutdown_timeout_ms: 3000,
    queue: { max_bytes: 1024 * 1024, segment_bytes: 64 * 1024, overflow: 'drop_oldest' },
    sources: [{ type: 'authproxy', path: log, poll_interval_ms: 100, batch_lines: 200 }],
    destinations: [{ type: 'syslog', name: 'siem', host: '127.0.0.1', port: rx.tcpPort, transport: 'tcp', backoff: { min_ms: 100, max_ms: 500, factor: 2, jitter: 0.5 } }],
  });
  const relay = startRelay(t, config);
  t.ok(await until(() => checkpointOffset(state) === size, 30_000), 'the tailer is never held back: it read the whole file');
  await sleep(1200);
  const dropped = metricFrom(await scrape(listen), 'duo_relay_queue_dropped_total') ?? 0;
  const kept = metricFrom(await scrape(listen), 'duo_relay_queue_records') ?? 0;
  t.ok(dropped > 0, `duo_relay_queue_dropped_total = ${dropped}`);
  t.equal(dropped + kept, LINES, `dropped ${dropped} + queued ${kept} = ${LINES} written`);
  t.equal(relay.child.exitCode, null, 'the relay keeps running');
  const lines = readFileSync(join(dir, 'relay.log'), 'utf8').split('\n').filter((l) => l.includes('overflow: drop_oldest'));
  t.ok(lines.length > 0, 'the drops are logged');
  t.ok(lines.every((l) => (JSON.parse(l) as { level: number }).level === 50), 'at ERROR (data loss)');

  await rx.restart();
  const tally = new Tally(rx.dir);
  // The pump's batch in flight when its records were dropped from disk is still delivered (and
  // was counted as dropped): up to one read batch (500) more than was kept.
  const newest = LINES - kept;
  t.ok(await until(() => {
    tally.update();
    for (let s = newest; s < LINES; s++) if (!tally.seqs.has(s)) return false;
    return true;
  }, 30_000), `the SIEM gets every kept record (the newest ${kept})`);
  await sleep(500);
  relay.child.kill('SIGTERM');
  t.equal((await relay.waitExit(6000))?.code, 0, 'SIGTERM: exit 0');
  tally.update();
  const extra = tally.unique - kept;
  t.comment(`${tally.unique} delivered: ${kept} kept + ${extra} from the batch in flight when its segment was dropped`);
  t.ok(extra >= 0 && extra <= 500, 'nothing else arrives');
  t.equal(tally.duplicates, 0, 'no duplicates');
  t.ok(tally.seqs.has(LINES - 1), 'the newest was kept');
});
