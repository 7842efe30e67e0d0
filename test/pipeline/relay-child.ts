/**
 * The built relay (`node dist/src/main.js run`) as a child process for end-to-end tests: config
 * files, start/stop with every child killed in teardown, peak RSS from /proc, proxy log lines,
 * and an incremental tally of what a real rsyslog received (event ids from the RFC 5424 SD).
 */
import { readShebang } from '../helpers/shebang.js';
import { GrowingFileLines } from '../helpers/growing-file.js';
import { freePort } from '../helpers/rsyslog.js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

const root = fileURLToPath(new URL('../../', import.meta.url));
/** DUO_RELAY_MAIN_JS points the tests at another build (e.g. a copy while dist/ is being rebuilt). */
export const mainJs = process.env['DUO_RELAY_MAIN_JS'] ?? join(root, 'dist', 'src', 'main.js');

export interface Teardown {
  teardown(fn: () => unknown): void;
  comment(...args: unknown[]): void;
}

/** Why the built CLI cannot run, or undefined when it can. */
export function cliProblem(): string | undefined {
  if (!existsSync(mainJs)) return `${mainJs} is missing: run \`npm run build\` first (npm test does).`;
  const r = spawnSync(process.execPath, [mainJs, '--version'], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) return `\`node ${mainJs} --version\` failed (exit ${String(r.status)}): ${(r.stderr ?? '').slice(0, 800)}`;
  return undefined;
}

export function writeConfig(path: string, config: Record<string, unknown>): string {
  writeFileSync(path, stringify(config));
  return path;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Date.now() when the exit was seen. */
  at: number;
}

export interface RelayChild {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<Exit>;
  stderr(): string;
  /** Peak resident set (VmHWM) in KiB while the process lives; undefined once it is gone. */
  peakRssKb(): number | undefined;
  /** Resolves with the exit, or undefined after `ms`. */
  waitExit(ms: number): Promise<Exit | undefined>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/**
 * tap's process-info hook adds its loader (and coverage) to NODE_OPTIONS of every child it sees
 * spawned, even with a clean env; inside the relay it costs ~25 MB of RSS and some speed. `env -u`
 * drops it just before exec (same pid, so signals and /proc still address the relay).
 */
const UNHOOK = ['-u', 'NODE_OPTIONS', '-u', 'NODE_V8_COVERAGE'];

/** The node flags in main.js's shebang (what `/usr/bin/duo-relay` runs with). */
export function shebangFlags(): string[] {
  return readShebang(mainJs).flags;
}

/**
 * Runs the relay as installed: with its shebang's node flags unless `nodeArgs` says otherwise.
 * DUO_RELAY_NODE_ARGS adds flags for a diagnosis (e.g. `--heapsnapshot-signal=SIGUSR2`).
 */
export function startRelay(t: Teardown, config: string, opts: { nodeArgs?: string[]; env?: NodeJS.ProcessEnv } = {}): RelayChild {
  const extra = (process.env['DUO_RELAY_NODE_ARGS'] ?? '').split(/\s+/).filter((a) => a !== '');
  const child = spawn('/usr/bin/env', [...UNHOOK, process.execPath, ...(opts.nodeArgs ?? shebangFlags()), ...extra, mainJs, 'run', '--config', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...(opts.env ?? process.env), ...readShebang(mainJs).env },
  });
  if (child.pid === undefined) throw new Error(`Could not spawn the relay (${mainJs}).`);
  const pid = child.pid;
  live.add(child);
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err = (err + d.toString('utf8')).slice(-20_000);
  });
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal, at: Date.now() });
    });
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    return exited;
  });
  return {
    child,
    pid,
    exited,
    stderr: () => err,
    peakRssKb: () => vmHwmKb(pid),
    waitExit: async (ms) => {
      let timer: NodeJS.Timeout | undefined;
      const r = await Promise.race([exited, new Promise<undefined>((res) => (timer = setTimeout(() => res(undefined), ms)))]);
      clearTimeout(timer);
      return r;
    },
  };
}

export function vmHwmKb(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] === undefined ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

/** Sum of the committed offsets in the authproxy source's checkpoint, or -1 while there is none. */
export function checkpointOffset(state: string): number {
  try {
    const c = JSON.parse(readFileSync(join(state, 'authproxy-authproxy.checkpoint.json'), 'utf8')) as { files: { offset: number }[] };
    return c.files.reduce((a, f) => a + f.offset, 0);
  } catch {
    return -1;
  }
}

/** A loopback port with nothing listening (bound, read, released). */
export const deadPort = freePort;

/** A small Authentication Proxy event with a unique `seq` (the tests tell lines apart by it). */
export function proxyLine(seq: number, pad = 0): string {
  const ts = new Date(Date.UTC(2024, 4, 14, 9, 30, 0) + seq).toISOString();
  return `${JSON.stringify({ timestamp: ts, msg: 'Primary authentication successful - ', username: `user${seq % 997}`, status: 'Allow', client_ip: `10.0.${(seq >> 8) & 255}.${seq & 255}`, seq, ...(pad > 0 ? { pad: 'x'.repeat(pad) } : {}) })}\n`;
}

export function proxyLines(from: number, to: number, pad = 0): string {
  let s = '';
  for (let i = from; i < to; i++) s += proxyLine(i, pad);
  return s;
}

/** Counts per event id, and the proxy `seq` → id map (to see that a repeat keeps its id). */
export class IdCounts {
  readonly count = new Map<string, number>();
  readonly seqs = new Map<number, string>();
  received = 0;
  unparsable = 0;
  /** A `seq` seen with two different ids (at most 10 kept). */
  readonly idMismatches: string[] = [];

  get unique(): number {
    return this.count.size;
  }

  get duplicates(): number {
    return this.received - this.unparsable - this.count.size;
  }

  take(id: string | undefined, seq: number | undefined): void {
    this.received++;
    if (id === undefined) {
      this.unparsable++;
      return;
    }
    this.count.set(id, (this.count.get(id) ?? 0) + 1);
    if (seq === undefined) return;
    const first = this.seqs.get(seq);
    if (first === undefined) this.seqs.set(seq, id);
    else if (first !== id && this.idMismatches.length < 10) this.idMismatches.push(`seq ${seq}: ${first} then ${id}`);
  }
}

/**
 * What an rsyslog receiver wrote to its out.jsonl, read incrementally (each line parsed once):
 * counts per event id over the accepted input(s), and per rsyslog input (tcp, tls-anon, relp…).
 */
export class Tally extends IdCounts {
  readonly #inputs = new Map<string, IdCounts>();
  readonly #lines: GrowingFileLines;
  readonly #input: string | undefined;

  /** `input`: only messages of this rsyslog input count in the totals (all inputs by default). */
  constructor(rsyslogDir: string, input?: string) {
    super();
    this.#lines = new GrowingFileLines(join(rsyslogDir, 'out.jsonl'));
    this.#input = input;
  }

  /** The counts of one rsyslog input (empty until a message of it arrives). */
  input(name: string): IdCounts {
    let c = this.#inputs.get(name);
    if (c === undefined) {
      c = new IdCounts();
      this.#inputs.set(name, c);
    }
    return c;
  }

  update(): this {
    this.#lines.read((l) => this.#line(l));
    return this;
  }

  #line(line: string): void {
    let o: { input?: unknown; msg?: unknown; sdjson?: unknown };
    try {
      o = JSON.parse(line) as typeof o;
    } catch {
      this.take(undefined, undefined);
      return;
    }
    const input = typeof o.input === 'string' ? o.input : '';
    let id: string | undefined;
    let seq: number | undefined;
    try {
      const sd: unknown = typeof o.sdjson === 'string' ? JSON.parse(o.sdjson) : undefined;
      if (typeof sd === 'object' && sd !== null) {
        for (const v of Object.values(sd)) if (typeof v === 'object' && v !== null && 'id' in v && typeof v.id === 'string') id = v.id;
      }
      const msg: unknown = typeof o.msg === 'string' && o.msg.startsWith('{') ? JSON.parse(o.msg) : undefined;
      if (typeof msg === 'object' && msg !== null && 'seq' in msg && typeof msg.seq === 'number') seq = msg.seq;
    } catch {
      // Counted as unparsable below (no id).
    }
    this.input(input).take(id, seq);
    if (this.#input === undefined || input === this.#input) this.take(id, seq);
  }
}

/** Seqs in [0, total) that never arrived (at most `limit` of them). */
export function missingSeqs(tally: IdCounts, total: number, limit = 20): number[] {
  const out: number[] = [];
  for (let s = 0; s < total && out.length < limit; s++) if (!tally.seqs.has(s)) out.push(s);
  return out;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` until it holds; false after `timeoutMs`. */
export async function until(cond: () => boolean, timeoutMs: number, stepMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (cond()) return true;
    await sleep(stepMs);
  }
  return cond();
}

/** The text of the Prometheus endpoint, or '' when it does not answer. */
export async function scrape(listen: string): Promise<string> {
  try {
    const res = await fetch(`http://${listen}/metrics`, { signal: AbortSignal.timeout(3000) });
    return await res.text();
  } catch {
    return '';
  }
}

export function metricFrom(text: string, name: string, labels = ''): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}${labels} `) || (labels === '' && line.startsWith(`${name} `))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}
