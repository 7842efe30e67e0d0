/**
 * Issue 3's crash test, end to end: a writer child appends 200k proxy-like lines (~580 B, unique
 * `seq`) with Twisted-style rename rotations every 10k lines, while the real relay
 * (`node dist/src/main.js run`) tails them into a real rsyslog over TCP and is killed with SIGKILL
 * at 20 random moments and restarted. At the end every seq has arrived at rsyslog; repeats are
 * counted and printed, and every repeat carries the same event id (RFC 5424 SD) as the first.
 *
 * Needs the built CLI (`npm run build`; `npm test` builds first) and rsyslogd.
 */
import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRsyslog } from '../../helpers/rsyslog.js';
import { GrowingFileLines } from '../../helpers/growing-file.js';
import { sleep, tempDir, waitFor } from '../../fixtures/authproxy/harness.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = join(here, '..', '..', '..');
// DUO_RELAY_MAIN_JS points the test at another build (e.g. a copy while dist/ is being rebuilt).
const mainJs = process.env.DUO_RELAY_MAIN_JS ?? join(root, 'dist', 'src', 'main.js');
const writerJs = join(root, 'test', 'fixtures', 'authproxy', 'writer.mjs');
const TOTAL = 200_000;
const ROTATE_EVERY = 10_000;
const KILLS = 20;

/** Reads rsyslog's out.jsonl incrementally, keeping only seq → event id and counts (not 200k messages). */
class Tally {
  readonly ids = new Map<number, string>();
  received = 0;
  repeats = 0;
  idMismatches: string[] = [];
  /** Seqs delivered more than once (for the summary of repeat runs). */
  readonly repeated = new Set<number>();
  unparsable = 0;
  readonly #lines: GrowingFileLines;
  constructor(file: string) {
    this.#lines = new GrowingFileLines(file);
  }

  update(): void {
    this.#lines.read((l) => this.#take(l));
  }

  #take(line: string): void {
    this.received++;
    let seq: number | undefined;
    let id: string | undefined;
    try {
      const o = JSON.parse(line) as { msg?: unknown; sdjson?: unknown };
      const msg: unknown = typeof o.msg === 'string' ? JSON.parse(o.msg) : undefined;
      if (typeof msg === 'object' && msg !== null && 'seq' in msg && typeof msg.seq === 'number') seq = msg.seq;
      const sd: unknown = typeof o.sdjson === 'string' ? JSON.parse(o.sdjson) : undefined;
      if (typeof sd === 'object' && sd !== null) {
        for (const v of Object.values(sd)) {
          if (typeof v === 'object' && v !== null && 'id' in v && typeof v.id === 'string') id = v.id;
        }
      }
    } catch {
      // Counted below.
    }
    if (seq === undefined || id === undefined) {
      this.unparsable++;
      return;
    }
    const first = this.ids.get(seq);
    if (first === undefined) this.ids.set(seq, id);
    else {
      this.repeats++;
      this.repeated.add(seq);
      if (first !== id && this.idMismatches.length < 10) this.idMismatches.push(`seq ${seq}: ${first} then ${id}`);
    }
  }
}

function cliProblem(): string | undefined {
  if (!existsSync(mainJs)) return `${mainJs} is missing: run \`npm run build\` first (npm test does).`;
  const r = spawnSync(process.execPath, [mainJs, '--help'], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) return `\`node dist/src/main.js --help\` failed (exit ${String(r.status)}): ${(r.stderr ?? '').slice(0, 800)}`;
  return undefined;
}

function exited(c: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) resolve();
    else c.once('exit', () => resolve());
  });
}

t.test('200k lines, rotation every 10k, 20 SIGKILLs of the relay: every line reaches rsyslog, repeats keep their id', async (t) => {
  const problem = cliProblem();
  if (problem !== undefined) {
    t.fail(problem);
    return;
  }
  const rx = await startRsyslog();
  t.teardown(() => rx.stop());
  const dir = await tempDir(t, 'duo-relay-crash-');
  const log = join(dir, 'authevents.log');
  const stateDir = join(dir, 'state');
  const relayLog = join(dir, 'relay.log');
  const config = join(dir, 'relay.yaml');
  await writeFile(
    config,
    [
      `state_dir: ${JSON.stringify(stateDir)}`,
      'log:',
      '  level: warn',
      `  file: ${JSON.stringify(relayLog)}`,
      'queue:',
      '  enabled: false',
      'sources:',
      '  - type: authproxy',
      `    path: ${JSON.stringify(log)}`,
      '    poll_interval_ms: 100',
      '    max_rotated_files: 30',
      'destinations:',
      '  - type: syslog',
      '    host: 127.0.0.1',
      `    port: ${rx.tcpPort}`,
      '    transport: tcp',
      '',
    ].join('\n'),
  );

  const children = new Set<ChildProcess>();
  t.teardown(() => {
    for (const c of children) c.kill('SIGKILL');
  });
  const startRelay = (): ChildProcess => {
    const c = spawn(process.execPath, [mainJs, 'run', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr?.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-4000);
    });
    c.once('exit', (code, signal) => {
      children.delete(c);
      if (signal === null && code !== 0) t.comment(`relay exited ${String(code)}: ${err}`);
    });
    children.add(c);
    return c;
  };

  // The relay is installed before the proxy logs (a first run skips rotated history by design).
  await writeFile(log, '', { mode: 0o640 });
  let relay = startRelay();
  await waitFor(() => existsSync(join(stateDir, 'authproxy-authproxy.checkpoint.json')), 'the relay\'s first checkpoint', 20_000);

  const writer = spawn(process.execPath, [writerJs, JSON.stringify({ path: log, total: TOTAL, rotateEvery: ROTATE_EVERY, keep: 0, batch: 100, tickMs: 20, splitEvery: 4999 })], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.add(writer);
  let writerDone = false;
  writer.once('exit', () => {
    writerDone = true;
    children.delete(writer);
  });

  const tally = new Tally(join(rx.dir, 'out.jsonl'));
  const started = Date.now();
  for (let k = 0; k < KILLS; k++) {
    // Spread over the writer's run (about 40 s), sometimes mid-rotation, sometimes right after a start.
    await sleep(400 + Math.floor(Math.random() * 2200));
    relay.kill('SIGKILL');
    await exited(relay);
    await sleep(Math.floor(Math.random() * 400));
    relay = startRelay();
  }
  t.comment(`${KILLS} kills in ${Date.now() - started} ms; writer ${writerDone ? 'already done' : 'still writing'}`);
  await waitFor(() => writerDone, 'the writer to finish', 90_000);
  t.equal(writer.exitCode, 0, 'the writer finished');

  // Bounded: up to 60 s for the last relay to deliver the rest.
  for (let i = 0; i < 120 && tally.ids.size < TOTAL; i++) {
    await sleep(500);
    tally.update();
  }
  relay.kill('SIGTERM');
  await exited(relay);
  t.equal(relay.exitCode, 0, 'the last relay shut down cleanly on SIGTERM');
  tally.update();

  const missing: number[] = [];
  for (let s = 0; s < TOTAL && missing.length < 20; s++) if (!tally.ids.has(s)) missing.push(s);
  t.comment(`rsyslog received ${tally.received} messages for ${TOTAL} lines: ${tally.repeats} repeats after ${KILLS} SIGKILLs (${(tally.repeats / KILLS).toFixed(0)} per kill)`);
  const runs: number[] = [];
  let prev = -2;
  for (const s of [...tally.repeated].sort((a, b) => a - b)) {
    if (s === prev + 1) runs[runs.length - 1] = (runs[runs.length - 1] ?? 0) + 1;
    else runs.push(1);
    prev = s;
  }
  t.comment(`repeated seqs form ${runs.length} contiguous runs (longest ${Math.max(0, ...runs)} lines); the checkpoint trails delivery by up to checkpoint_interval_ms (250 ms) and one background write, so a kill during catch-up repeats what was sent since`);
  t.same(missing, [], 'every seq arrived');
  t.equal(tally.ids.size, TOTAL);
  t.same(tally.idMismatches, [], 'every repeat carries the event id of its first delivery');
  t.equal(tally.unparsable, 0, 'every message has a seq and an event id');
  t.equal(new Set(tally.ids.values()).size, TOTAL, 'distinct lines have distinct ids');
});
