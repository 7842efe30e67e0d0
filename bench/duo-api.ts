/**
 * Duo API poller bench (issue 4): backfill of 1M authentication events from the mock Admin API with
 * its rate limit off (events/s, peak RSS; targets ≥ 50k ev/s and ≤ 150 MB), then, with the limit on,
 * the requests made against the minimum ceil(N / 1000). The mock runs in a forked process so only the
 * poller is measured. Run alone with `node dist/bench/duo-api.js`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { runBackfill } from '../src/sources/duo-api/index.js';
import { duoApiSourceSchema, type DuoApiSourceConfig } from '../src/config/schema.js';
import type { MockOptions, MockStats } from '../test/mock-duo-api/server.js';
import { readShebang } from '../test/helpers/shebang.js';

const IKEY = 'DIBENCHIKEY000000001';
const SKEY = 'benchSkeyBenchSkeyBenchSkey0123456789ab';

interface Mock {
  host: string;
  ca: string;
  stats(): Promise<MockStats>;
  close(): Promise<void>;
}

async function startMock(opts: Omit<MockOptions, 'now' | 'pki'>): Promise<Mock> {
  const self = fileURLToPath(import.meta.url);
  // Under a TypeScript loader (tests) the mock is the .ts file; from dist it is the compiled .js.
  const ext = self.endsWith('.ts') ? '.ts' : '.js';
  const script = fileURLToPath(new URL(`../test/mock-duo-api/child-server${ext}`, import.meta.url));
  const child: ChildProcess = fork(script, [JSON.stringify(opts)], { execArgv: process.execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const ready = await new Promise<{ host: string; ca: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('The mock Duo API did not start within 30 s.')), 30_000);
    child.once('error', reject);
    child.on('message', (m: unknown) => {
      const msg = m as { type?: string; host?: string; ca?: string };
      if (msg.type === 'ready' && msg.host !== undefined && msg.ca !== undefined) {
        clearTimeout(timer);
        resolve({ host: msg.host, ca: msg.ca });
      }
    });
  });
  return {
    ...ready,
    stats: () =>
      new Promise<MockStats>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('The mock Duo API did not answer within 10 s.')), 10_000);
        const on = (m: unknown): void => {
          const msg = m as { type?: string; stats?: MockStats };
          if (msg.type === 'stats' && msg.stats !== undefined) {
            clearTimeout(timer);
            child.off('message', on);
            resolve(msg.stats);
          }
        };
        child.on('message', on);
        child.send('stats');
      }),
    close: () =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          resolve();
        }, 5000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        if (child.connected) child.send('close');
        else child.kill('SIGTERM');
      }),
  };
}

function config(mock: Mock, over: Partial<DuoApiSourceConfig>): DuoApiSourceConfig {
  return { ...duoApiSourceSchema.parse({ type: 'duo-api', host: mock.host, ikey: IKEY, skey: SKEY, ca: mock.ca, logs: ['authentication'] }), ...over };
}

const mb = (bytes: number): string => `${Math.round(bytes / 1024 / 1024)} MB`;

interface BackfillFigures {
  events: number;
  pages: number;
  emitted: number;
  seconds: number;
  /** VmHWM of the child: the peak resident set of the process, as the kernel counts it. */
  peakRss: number;
  flags: string;
}

// Under a TypeScript loader (tests) main.ts holds the same shebang as the compiled main.js.
const MAIN = fileURLToPath(new URL(`../src/main${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));

/** Forks this file as `--backfill-child` with the relay's production env and flags. */
function backfillInChild(mock: Mock, n: number, stateDir: string): Promise<BackfillFigures> {
  const sb = readShebang(MAIN);
  const args = [JSON.stringify({ host: mock.host, ca: mock.ca, n, stateDir })];
  const child = fork(fileURLToPath(import.meta.url), ['--backfill-child', ...args], {
    execArgv: [...process.execArgv, ...sb.flags],
    env: { ...process.env, ...sb.env },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  return new Promise<BackfillFigures>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('The backfill bench child did not finish within 10 minutes.'));
    }, 600_000);
    child.once('message', (m: unknown) => {
      clearTimeout(timer);
      resolve({ ...(m as Omit<BackfillFigures, 'flags'>), flags: sb.flags.join(' ') });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`The backfill bench child exited (${String(code)}) without figures.`));
    });
  });
}

function vmHwm(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m === null ? process.memoryUsage().rss : Number(m[1]) * 1024;
}

async function backfillChild(arg: string): Promise<void> {
  const { host, ca, n, stateDir } = JSON.parse(arg) as { host: string; ca: string; n: number; stateDir: string };
  const mock = { host, ca } as Mock;
  let emitted = 0;
  const t0 = performance.now();
  const r = await runBackfill(config(mock, { request_interval_ms: 0 }), {
    stateDir,
    logger: pino({ level: 'warn' }),
    skey: SKEY,
    userAgent: 'duo-relay-bench',
    since: '30d',
    progress: () => undefined,
    emit: async (batch) => {
      emitted += batch.length;
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  process.send?.({ events: r.events, pages: r.pages, emitted, seconds, peakRss: vmHwm() } satisfies Omit<BackfillFigures, 'flags'>, () => process.exit(0));
  void n;
}

export async function benchDuoApi(opts: { events?: number; limitedEvents?: number } = {}): Promise<{ lines: string[] }> {
  const n = opts.events ?? 1_000_000;
  const small = opts.limitedEvents ?? 5000;
  const lines: string[] = [];
  const logger = pino({ level: 'warn' });
  const stateDir = mkdtempSync(join(tmpdir(), 'duo-relay-bench-api-'));
  try {
    // 1. Rate limit off: throughput and memory, measured in a child process that runs like the
    // relay does (main.js's shebang: its environment and heap flags), so RSS is the production figure.
    const fast = await startMock({ ikey: IKEY, skey: SKEY, events: { authentication: n }, spanMs: 20 * 86_400_000 });
    try {
      const r = await backfillInChild(fast, n, join(stateDir, 'fast'));
      lines.push(
        `duo-api: backfill ${r.events} authentication events in ${r.pages} pages, ${r.seconds.toFixed(1)} s: ${Math.round(r.events / r.seconds)} ev/s (target ≥ 50k), peak RSS ${mb(r.peakRss)} (target ≤ 150 MB; node ${r.flags})`,
      );
      if (r.emitted !== n || r.events !== n) lines.push(`duo-api: WARNING emitted ${r.emitted} of ${n} events`);
    } finally {
      await fast.close();
    }

    // 2. Rate limit on: requests against the minimum.
    const limit = 4;
    const windowMs = 1000;
    const limited = await startMock({ ikey: IKEY, skey: SKEY, events: { authentication: small }, rateLimitPerMin: limit, rateWindowMs: windowMs });
    try {
      const t1 = performance.now();
      const r = await runBackfill(config(limited, { request_interval_ms: Math.ceil((windowMs / limit) * 1.25) }), {
        stateDir: join(stateDir, 'limited'),
        logger,
        skey: SKEY,
        userAgent: 'duo-relay-bench',
        since: '1d',
        progress: () => undefined,
        emit: async () => undefined,
      });
      const st = await limited.stats();
      lines.push(
        `duo-api: rate limit ${limit}/${windowMs} ms: ${r.events} events with ${st.requests} requests (minimum ceil(N/1000) = ${Math.ceil(small / 1000)}), ${st.rateLimited} answered 429, ${((performance.now() - t1) / 1000).toFixed(1)} s`,
      );
    } finally {
      await limited.close();
    }
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
  return { lines };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv[2] === '--backfill-child') await backfillChild(process.argv[3] ?? '{}');
  else for (const l of (await benchDuoApi()).lines) console.log(l);
}
