/**
 * Fan-out and failover through the built relay with its disk queue: three destinations fed by the
 * tailer — rsyslog over TLS (live), a second rsyslog over TCP that is down at first, and a TCP
 * destination whose first host is a dead port with the live rsyslog as failover. The live ones get
 * every event while the other is down (its lag shows on /metrics); once it comes up it catches up.
 *
 * Needs the built CLI (`npm run build`; `npm test` builds first) and rsyslogd.
 */
import t from 'tap';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRsyslog } from '../helpers/rsyslog.js';
import { Tally, cliProblem, deadPort, metricFrom, missingSeqs, proxyLines, scrape, sleep, startRelay, until, writeConfig } from './relay-child.js';

t.test('fan-out with one destination down, failover to a second host, catch-up after the outage', async (t) => {
  const problem = cliProblem();
  if (problem !== undefined) {
    t.fail(problem);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'duo-relay-fanout-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const rx1 = await startRsyslog();
  t.teardown(() => rx1.stop());
  const rx2 = await startRsyslog();
  t.teardown(() => rx2.stop());
  await rx2.stop();
  const dead = await deadPort();
  const metricsPort = await deadPort();
  const listen = `127.0.0.1:${metricsPort}`;
  const log = join(dir, 'authevents.log');
  const FIRST = 5000;
  const TOTAL = 7000;
  writeFileSync(log, proxyLines(0, FIRST));
  const fast = { min_ms: 100, max_ms: 800, factor: 2, jitter: 0.5 };
  const config = writeConfig(join(dir, 'relay.yaml'), {
    state_dir: join(dir, 'state'),
    log: { level: 'info', file: join(dir, 'relay.log') },
    metrics_listen: listen,
    shutdown_timeout_ms: 5000,
    sources: [{ type: 'authproxy', path: log, poll_interval_ms: 100 }],
    destinations: [
      { type: 'syslog', name: 'live-tls', host: '127.0.0.1', port: rx1.tlsPort, transport: 'tls', ca: rx1.pki.ca, backoff: fast },
      { type: 'syslog', name: 'late-tcp', host: '127.0.0.1', port: rx2.tcpPort, transport: 'tcp', backoff: fast },
      { type: 'syslog', name: 'failover-tcp', host: '127.0.0.1', port: dead, failover: [{ host: '127.0.0.1', port: rx1.tcpPort }], transport: 'tcp', backoff: fast },
    ],
  });
  const relay = startRelay(t, config);
  const tls = new Tally(rx1.dir, 'tls-anon');
  const viaFailover = new Tally(rx1.dir, 'tcp');
  const late = new Tally(rx2.dir);

  const gotFirst = await until(() => tls.update().unique >= FIRST && viaFailover.update().unique >= FIRST, 30_000);
  t.ok(gotFirst, `while late-tcp is down, the TLS destination got ${tls.unique}/${FIRST} and the failover one ${viaFailover.unique}/${FIRST}`);
  // The lag gauge is refreshed every second.
  await sleep(1500);
  const lag = metricFrom(await scrape(listen), 'duo_relay_destination_lag_records', '{destination="late-tcp"}');
  t.equal(lag, FIRST, 'the down destination owes every event (its lag on /metrics)');
  t.equal(metricFrom(await scrape(listen), 'duo_relay_destination_lag_records', '{destination="live-tls"}'), 0, 'the live one owes nothing');

  appendFileSync(log, proxyLines(FIRST, TOTAL));
  t.ok(await until(() => tls.update().unique >= TOTAL && viaFailover.update().unique >= TOTAL, 30_000), 'new events keep flowing to the live destinations');
  await rx2.restart();
  t.ok(await until(() => late.update().unique >= TOTAL, 40_000), `the recovered destination caught up (${late.unique}/${TOTAL})`);
  await sleep(1500);
  t.equal(metricFrom(await scrape(listen), 'duo_relay_destination_lag_records', '{destination="late-tcp"}'), 0, 'its lag is back to 0');
  relay.child.kill('SIGTERM');
  const exit = await relay.waitExit(10_000);
  t.equal(exit?.code, 0, `SIGTERM: clean exit${exit?.code === 0 ? '' : `\n${relay.stderr()}`}`);

  for (const [name, tally] of [['live-tls', tls], ['failover-tcp', viaFailover], ['late-tcp', late]] as const) {
    tally.update();
    t.same(missingSeqs(tally, TOTAL), [], `${name}: every event arrived`);
    t.equal(tally.unique, TOTAL, `${name}: ${TOTAL} distinct ids`);
    t.equal(tally.unparsable, 0, `${name}: every message carries an event id`);
    t.comment(`${name}: ${tally.received} messages, ${tally.duplicates} duplicates`);
  }
  t.equal(tls.duplicates + viaFailover.duplicates + late.duplicates, 0, 'no duplicates: no connection died with data in flight');
});
