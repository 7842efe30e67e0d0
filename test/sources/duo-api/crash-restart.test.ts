/**
 * SIGKILL during paging → restart → no gap, and no duplicate beyond records carrying the same id.
 * The source runs in a child process whose emit appends and fsyncs each batch; it is killed twice
 * mid-paging, then a last run finishes.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMockDuoApi } from '../../mock-duo-api/server.js';
import { IKEY, SKEY, tmpState, waitFor, sleepMs } from '../../mock-duo-api/helpers.js';

const CHILD = fileURLToPath(new URL('../../mock-duo-api/child-source.ts', import.meta.url));

function lines(file: string): string[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
}

t.test('kill -9 twice while paging, then finish: every record once (or repeated with its id)', async (t) => {
  const events = { authentication: 6000, administrator: 3500, activity: 2500 };
  const mock = await startMockDuoApi({ ikey: IKEY, skey: SKEY, events });
  t.teardown(() => mock.close());
  const stateDir = tmpState();
  const out = join(stateDir, 'emitted.tsv');
  const args = JSON.stringify({ host: mock.host, ca: mock.ca, stateDir, out, logs: ['authentication', 'administrator', 'activity'], requestIntervalMs: 150 });
  const children = new Set<ChildProcess>();
  t.teardown(() => {
    for (const c of children) c.kill('SIGKILL');
  });
  const run = async (): Promise<ChildProcess> => {
    const child = spawn(process.execPath, [...process.execArgv, CHILD, args], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.add(child);
    child.on('exit', () => children.delete(child));
    const started = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 20_000);
      child.stdout?.on('data', (d: Buffer) => {
        if (d.toString().includes('started')) {
          clearTimeout(timer);
          resolve(true);
        }
      });
    });
    t.ok(started, 'child source started');
    return child;
  };
  const kill = async (child: ChildProcess): Promise<void> => {
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGKILL');
    await Promise.race([exited, sleepMs(5000)]);
  };

  const total = events.authentication + events.administrator + events.activity;
  for (const atLeast of [2000, 6000]) {
    const child = await run();
    t.ok(await waitFor(() => lines(out).length >= atLeast, 20_000), `paging reached ${atLeast} records`);
    const before = lines(out).length;
    await kill(child);
    t.ok(before < total, `killed mid-paging (${before} of ${total} emitted)`);
    t.ok(existsSync(join(stateDir, `duo-api-127.0.0.1_${mock.port}.lock`)), 'the dead process left its lock behind');
  }
  const last = await run();
  const keys = (): Set<string> => new Set(lines(out));
  t.ok(await waitFor(() => keys().size >= total, 30_000), 'the last run finished');
  await sleepMs(800);
  await kill(last);

  const all = lines(out);
  const unique = new Set(all);
  const want = new Set([
    ...mock.settledKeys('authentication').map((k) => `authentication\t${k}`),
    ...mock.settledKeys('administrator').map((k) => `administrator\t${k}`),
    ...mock.settledKeys('activity').map((k) => `activity\t${k}`),
  ]);
  t.equal(want.size, total);
  t.same([...want].filter((k) => !unique.has(k)), [], 'no gap');
  t.same([...unique].filter((k) => !want.has(k)), [], 'nothing that Duo did not serve');
  const repeats = all.length - unique.size;
  // A kill between emit() resolving and the cursor write can re-send at most that page, per lane.
  t.ok(repeats <= 2 * 3 * 1000, `repeats stay within one page per lane per kill (${repeats})`);
  t.equal(mock.stats().badRequests.length, 0);
});
