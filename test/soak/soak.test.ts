/**
 * Issue 5's soak run, bounded and self-stopping. The built relay (`node dist/src/main.js run`, disk
 * queue on) reads two sources at once — a proxy log written with rename rotations (tailer) and the
 * mock Duo Admin API whose records keep settling over the run (poller) — and fans out to one real
 * rsyslog over RELP and over TLS. Meanwhile the receiver is stopped twice for SOAK_DOWN_MS and the
 * relay is SIGKILLed SOAK_KILLS times at random moments and restarted.
 *
 * At the end: over RELP every event id arrived (0 lost); over TLS too (0 lost across relay crashes
 * and receiver restarts); duplicates are counted and printed, and every repeat of a proxy line
 * carries the id of its first delivery. Peak RSS of the relay and the duration are printed.
 *
 * Size (env): SOAK_EVENTS (default 50000; 80% tailer, 20% API), SOAK_DOWN_MS (default 5000),
 * SOAK_KILLS (default 4). The issue's full size:
 *   SOAK_EVENTS=500000 SOAK_DOWN_MS=60000 SOAK_KILLS=10 npx tap test/soak/soak.test.ts --disable-coverage --timeout=1800
 *
 * Needs the built CLI (`npm run build`; `npm test` builds first) and rsyslogd with imrelp.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRsyslog } from '../helpers/rsyslog.js';
import { startMockDuoApi } from '../mock-duo-api/server.js';
import { IKEY, SKEY } from '../mock-duo-api/helpers.js';
import type { MockEndpoint } from '../mock-duo-api/data.js';
import { SETTLE_MS } from '../mock-duo-api/paging.js';
import { Tally, cliProblem, missingSeqs, sleep, startRelay, until, writeConfig, type IdCounts, type RelayChild } from '../pipeline/relay-child.js';

function envInt(name: string, def: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return n;
}

const EVENTS = envInt('SOAK_EVENTS', 50_000);
const DOWN_MS = envInt('SOAK_DOWN_MS', 5000);
const KILLS = envInt('SOAK_KILLS', 4);
const API_EVENTS = Math.floor(EVENTS / 5);
const TAIL_EVENTS = EVENTS - API_EVENTS;
/** How long the proxy log is written and the API keeps producing: room for both outages and every kill. */
const WRITE_MS = Math.max(20_000, 2 * DOWN_MS + KILLS * 2500 + 10_000);
/** API records per endpoint (only endpoints whose Duo id is the event id, so expected ids are known). */
const API_SPLIT: Partial<Record<MockEndpoint, number>> = {
  authentication: Math.floor(API_EVENTS * 0.7),
  telephony: Math.floor(API_EVENTS * 0.1),
  activity: Math.floor(API_EVENTS * 0.1),
  'trust-monitor': API_EVENTS - Math.floor(API_EVENTS * 0.7) - 2 * Math.floor(API_EVENTS * 0.1),
};

const writerJs = fileURLToPath(new URL('../fixtures/authproxy/writer.mjs', import.meta.url));

/** Ids from `expected` that `got` lacks (at most `limit`), and how many in all. */
function missingIds(got: IdCounts, expected: readonly string[], limit = 10): { count: number; some: string[] } {
  const some: string[] = [];
  let count = 0;
  for (const id of expected) {
    if (got.count.has(id)) continue;
    count++;
    if (some.length < limit) some.push(id);
  }
  return { count, some };
}

t.test(`soak: ${EVENTS} events (tailer + API), receiver down 2 × ${DOWN_MS} ms, ${KILLS} SIGKILLs; RELP and TLS lose nothing`, async (t) => {
  const problem = cliProblem();
  if (problem !== undefined) return void t.fail(problem);
  const began = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'duo-relay-soak-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  // The API's records are spread so that a part is settled at once and the rest settles during the run.
  const mock = await startMockDuoApi({ ikey: IKEY, skey: SKEY, events: API_SPLIT, spanMs: SETTLE_MS + 180_000, endAgoMs: SETTLE_MS - WRITE_MS, rateLimitPerMin: null });
  t.teardown(() => mock.close());
  const expectedApi: string[] = [];
  for (const [endpoint, n] of Object.entries(API_SPLIT) as [MockEndpoint, number][]) {
    const ds = mock.dataSet(endpoint);
    for (let i = 0; i < n; i++) expectedApi.push(ds.id(i));
  }
  const rx = await startRsyslog({ relp: true });
  t.teardown(() => rx.stop());
  if (rx.relpPort === undefined) return void t.fail('rsyslog started without imrelp');

  const log = join(dir, 'authevents.log');
  writeFileSync(log, '', { mode: 0o640 });
  const skeyFile = join(dir, 'skey');
  writeFileSync(skeyFile, `${SKEY}\n`, { mode: 0o600 });
  const backoff = { min_ms: 100, max_ms: 2000, factor: 2, jitter: 0.5 };
  const config = writeConfig(join(dir, 'relay.yaml'), {
    state_dir: join(dir, 'state'),
    log: { level: 'info', file: join(dir, 'relay.log') },
    shutdown_timeout_ms: 5000,
    sources: [
      { type: 'authproxy', path: log, poll_interval_ms: 100, max_rotated_files: 1000 },
      {
        type: 'duo-api', host: mock.host, ikey: IKEY, skey_file: skeyFile, ca: mock.ca,
        logs: ['authentication', 'telephony', 'activity', 'trust-monitor'], request_interval_ms: 0, poll_interval_ms: 1000, initial_window: '1d',
        rate_limit_backoff: { min_ms: 1000, max_ms: 5000, factor: 2, jitter: 0.5 },
      },
    ],
    destinations: [
      { type: 'syslog', name: 'relp', host: '127.0.0.1', port: rx.relpPort, transport: 'relp', backoff },
      { type: 'syslog', name: 'tls', host: '127.0.0.1', port: rx.tlsPort, transport: 'tls', ca: rx.pki.ca, backoff },
    ],
  });

  const children = new Set<ChildProcess>();
  t.teardown(() => {
    for (const c of children) c.kill('SIGKILL');
  });
  let peakKb = 0;
  const peaks: number[] = [];
  const notePeak = (r: RelayChild): void => {
    const kb = r.peakRssKb() ?? 0;
    peaks.push(Math.round(kb / 1024));
    peakKb = Math.max(peakKb, kb);
  };
  let relay = startRelay(t, config);

  // The proxy: TAIL_EVENTS lines over WRITE_MS, renamed away every 10k lines (nothing deleted).
  const tickMs = 20;
  const perTick = Math.max(1, Math.ceil((TAIL_EVENTS * tickMs) / WRITE_MS));
  const writer = spawn(process.execPath, [writerJs, JSON.stringify({ path: log, total: TAIL_EVENTS, rotateEvery: 10_000, keep: 0, batch: perTick, tickMs })], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.add(writer);
  const writerDone = new Promise<number | null>((resolve) => writer.once('exit', (code) => {
    children.delete(writer);
    resolve(code);
  }));

  // Receiver outages at 20% and 60% of the writing time; kills at random moments over it.
  const events: string[] = [];
  const outages = (async () => {
    for (const at of [0.2, 0.6]) {
      await sleep(Math.max(0, began + at * WRITE_MS - Date.now()));
      await rx.stop();
      events.push(`${((Date.now() - began) / 1000).toFixed(1)}s receiver down`);
      await sleep(DOWN_MS);
      await rx.restart();
      events.push(`${((Date.now() - began) / 1000).toFixed(1)}s receiver up`);
    }
  })();
  const killAt = Array.from({ length: KILLS }, () => 1500 + Math.random() * (WRITE_MS - 1500)).sort((a, b) => a - b);
  const kills = (async () => {
    for (const at of killAt) {
      await sleep(Math.max(0, began + at - Date.now()));
      notePeak(relay);
      relay.child.kill('SIGKILL');
      await relay.exited;
      events.push(`${((Date.now() - began) / 1000).toFixed(1)}s relay killed`);
      await sleep(Math.floor(Math.random() * 500));
      relay = startRelay(t, config);
    }
  })();
  await Promise.all([outages, kills]);
  t.equal(await writerDone, 0, 'the proxy log writer finished');
  t.comment(events.join('; '));

  // Bounded: the last relay delivers the rest (the API's last records settle WRITE_MS after the start).
  const tally = new Tally(rx.dir);
  const relp = tally.input('relp');
  const tls = tally.input('tls-anon');
  const complete = (c: IdCounts): boolean => c.seqs.size >= TAIL_EVENTS && missingIds(c, expectedApi, 1).count === 0;
  const settleDeadline = Math.max(60_000, EVENTS / 2);
  const done = await until(() => {
    tally.update();
    return complete(relp) && complete(tls);
  }, settleDeadline, 500);
  if (!done) t.comment(`relay stderr tail: ${relay.stderr().slice(-2000)}`);
  await sleep(1000);
  notePeak(relay);
  relay.child.kill('SIGTERM');
  const exit = await relay.waitExit(10_000);
  t.equal(exit?.code, 0, 'the last relay stops cleanly on SIGTERM');
  tally.update();

  for (const [name, c] of [['RELP', relp], ['TLS', tls]] as const) {
    const lostLines = missingSeqs(c, TAIL_EVENTS);
    const lostApi = missingIds(c, expectedApi);
    t.same(lostLines, [], `${name}: every proxy line arrived`);
    t.equal(lostApi.count, 0, `${name}: every API record arrived${lostApi.count > 0 ? ` (missing ${lostApi.count}, e.g. ${lostApi.some.join(', ')})` : ''}`);
    t.equal(c.unique, EVENTS, `${name}: ${EVENTS} distinct event ids`);
    t.same(c.idMismatches, [], `${name}: every repeat carries the id of its first delivery`);
    t.equal(c.unparsable, 0, `${name}: every message carries an event id`);
    t.comment(`${name}: ${c.received} messages for ${EVENTS} events, ${c.duplicates} duplicates (${(c.duplicates / Math.max(1, KILLS + 2)).toFixed(0)} per kill or outage)`);
  }
  const seconds = (Date.now() - began) / 1000;
  t.comment(`soak: ${EVENTS} events (${TAIL_EVENTS} tailer, ${API_EVENTS} API), ${KILLS} kills, 2 outages of ${DOWN_MS} ms, ${seconds.toFixed(1)} s, relay peak RSS ${(peakKb / 1024).toFixed(1)} MiB (per run: ${peaks.join(', ')} MiB)`);
  t.ok(peakKb > 0 && peakKb <= 160 * 1024, `relay peak RSS ${(peakKb / 1024).toFixed(1)} MiB stays bounded`);
});
