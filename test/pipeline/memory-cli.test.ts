/**
 * Bounded memory of the built relay (issue 5): the destination is down while the tailer feeds 1M
 * small lines, so 1M records wait in the disk queue; the relay's peak RSS (VmHWM) stays ≤ 100 MB.
 * The relay runs with the node flags of its own shebang (what `/usr/bin/duo-relay` runs with).
 * Then the SIEM comes up and the backlog drains; the peak during catch-up is reported and bounded.
 *
 * Needs the built CLI (`npm run build`; `npm test` builds first). Writes ~70 MB of log and ~350 MB
 * of queue under the tmp dir.
 */
import t from 'tap';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkpointOffset, cliProblem, deadPort, metricFrom, scrape, shebangFlags, startRelay, until, writeConfig } from './relay-child.js';

const RECORDS = Number(process.env['MEMORY_RECORDS'] ?? 1_000_000);
const LIMIT_KB = 100 * 1024;

function writeSmallLines(path: string, n: number): number {
  const fd = openSync(path, 'w');
  const base = Date.UTC(2024, 4, 14);
  let chunk: string[] = [];
  for (let i = 0; i < n; i++) {
    chunk.push(JSON.stringify({ timestamp: new Date(base + i).toISOString(), status: 'Allow', seq: i }));
    if (chunk.length === 10_000) {
      writeSync(fd, `${chunk.join('\n')}\n`);
      chunk = [];
    }
  }
  if (chunk.length > 0) writeSync(fd, `${chunk.join('\n')}\n`);
  closeSync(fd);
  return statSync(path).size;
}

t.test(`peak RSS with ${RECORDS} records waiting on disk stays ≤ 100 MB`, async (t) => {
  const problem = cliProblem();
  if (problem !== undefined) return void t.fail(problem);
  const flags = shebangFlags();
  t.ok(flags.length > 0, `main.js carries its heap flags in the shebang (${flags.join(' ')})`);
  const dir = mkdtempSync(join(tmpdir(), 'duo-relay-mem-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'authevents.log');
  const size = writeSmallLines(log, RECORDS);
  const state = join(dir, 'state');
  const port = await deadPort();
  const listen = `127.0.0.1:${await deadPort()}`;
  const config = writeConfig(join(dir, 'relay.yaml'), {
    state_dir: state,
    log: { level: 'warn', file: join(dir, 'relay.log') },
    metrics_listen: listen,
    shutdown_timeout_ms: 3000,
    sources: [{ type: 'authproxy', path: log, poll_interval_ms: 100 }],
    destinations: [{ type: 'syslog', name: 'siem', host: '127.0.0.1', port, transport: 'tcp', backoff: { min_ms: 200, max_ms: 1000, factor: 2, jitter: 0.5 } }],
  });
  const relay = startRelay(t, config, { nodeArgs: flags });
  const started = Date.now();
  const filled = await until(() => checkpointOffset(state) === size, 120_000, 250);
  t.ok(filled, `the tailer queued the whole file (${checkpointOffset(state)} of ${size} bytes) in ${Date.now() - started} ms`);
  const text = await scrape(listen);
  t.equal(metricFrom(text, 'duo_relay_queue_records'), RECORDS, `${RECORDS} records wait in the queue`);
  t.equal(metricFrom(text, 'duo_relay_destination_lag_records', '{destination="siem"}'), RECORDS, 'none was delivered');
  const fillPeak = relay.peakRssKb() ?? Infinity;
  t.comment(`peak RSS while filling: ${(fillPeak / 1024).toFixed(1)} MiB (queue ${((metricFrom(text, 'duo_relay_queue_bytes') ?? 0) / 1048576).toFixed(0)} MiB on disk)`);
  t.ok(fillPeak <= LIMIT_KB, `peak RSS ${(fillPeak / 1024).toFixed(1)} MiB ≤ 100 MiB`);

  // The SIEM comes up on the same port: the backlog drains at full speed.
  let bytes = 0;
  const socks = new Set<Socket>();
  const sink = createServer((s) => {
    socks.add(s);
    s.on('data', (d: Buffer) => (bytes += d.length));
    s.on('close', () => socks.delete(s));
  });
  await new Promise<void>((resolve) => sink.listen(port, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of socks) s.destroy();
    sink.close();
  });
  const drainStart = Date.now();
  let lag: number | undefined = RECORDS;
  for (let i = 0; i < 240 && lag !== 0; i++) {
    await new Promise((r) => setTimeout(r, 500));
    lag = metricFrom(await scrape(listen), 'duo_relay_destination_lag_records', '{destination="siem"}');
  }
  t.equal(lag, 0, `the backlog drained in ${Date.now() - drainStart} ms (${(bytes / 1048576).toFixed(0)} MiB on the wire)`);
  const drainPeak = relay.peakRssKb() ?? Infinity;
  t.comment(`peak RSS including the catch-up: ${(drainPeak / 1024).toFixed(1)} MiB (the 300 ms replay window of sent batches is most of the growth)`);
  t.ok(drainPeak <= 128 * 1024, 'memory stays bounded during the catch-up too (≤ 128 MiB)');
  relay.child.kill('SIGTERM');
  t.equal((await relay.waitExit(6000))?.code, 0, 'SIGTERM: exit 0');
});
