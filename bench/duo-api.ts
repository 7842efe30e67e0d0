/**
 * Duo API poller bench (issue 4): backfill of 1M authentication events from the mock Admin API with
 * its rate limit off (events/s, peak RSS; targets ≥ 50k ev/s and ≤ 150 MB), then, with the limit on,
 * the requests made against the minimum ceil(N / 1000). The mock runs in a forked process so only the
 * poller is measured. Run alone with `node dist/bench/duo-api.js`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { runBackfill } from '../src/sources/duo-api/index.js';
import { duoApiSourceSchema, type DuoApiSourceConfig } from '../src/config/schema.js';
import type { MockOptions, MockStats } from '../test/mock-duo-api/server.js';

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

export async function benchDuoApi(opts: { events?: number; limitedEvents?: number } = {}): Promise<{ lines: string[] }> {
  const n = opts.events ?? 1_000_000;
  const small = opts.limitedEvents ?? 5000;
  const lines: string[] = [];
  const logger = pino({ level: 'warn' });
  const stateDir = mkdtempSync(join(tmpdir(), 'duo-relay-bench-api-'));
  try {
    // 1. Rate limit off: throughput and memory.
    const fast = await startMock({ ikey: IKEY, skey: SKEY, events: { authentication: n }, spanMs: 20 * 86_400_000 });
    let count = 0;
    let peak = process.memoryUsage().rss;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
    const t0 = performance.now();
    try {
      const r = await runBackfill(config(fast, { request_interval_ms: 0 }), {
        stateDir: join(stateDir, 'fast'),
        logger,
        skey: SKEY,
        userAgent: 'duo-relay-bench',
        since: '30d',
        progress: () => undefined,
        emit: async (batch) => {
          count += batch.length;
        },
      });
      const secs = (performance.now() - t0) / 1000;
      peak = Math.max(peak, process.memoryUsage().rss);
      lines.push(
        `duo-api: backfill ${r.events} authentication events in ${r.pages} pages, ${secs.toFixed(1)} s: ${Math.round(r.events / secs)} ev/s (target ≥ 50k), peak RSS ${mb(peak)} (target ≤ 150 MB)`,
      );
      if (count !== n || r.events !== n) lines.push(`duo-api: WARNING emitted ${count} of ${n} events`);
    } finally {
      clearInterval(sampler);
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
  for (const l of (await benchDuoApi()).lines) console.log(l);
}
