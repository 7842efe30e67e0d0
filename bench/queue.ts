/**
 * Disk queue bench (queue opened as the relay opens it: recycleReads): append + read + ack throughput for 580-byte records in 1000-record batches
 * (one fsync per batch, one cursor write per acknowledged batch), and the peak RSS of a process
 * holding 1M records on disk and reading all of them. The RSS part runs in a child process so
 * the number is not inflated by whatever else the bench runner did.
 */
import { fork } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { DiskQueue } from '../src/queue/index.js';
import { readShebang } from '../test/helpers/shebang.js';

// Under a TypeScript loader (tests) main.ts holds the same shebang as the compiled main.js.
const MAIN = fileURLToPath(new URL(`../src/main${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));

const RECORD_BYTES = 580;
const BATCH = 1000;

/**
 * One batch of buffers, rewritten in place for every append (the queue copies payloads before
 * append resolves): the numbers then show the queue's cost, not the bench's garbage.
 */
function batchMaker(): (start: number) => Buffer[] {
  const head = '{"id":"0000000000","f":"';
  const tpl = Buffer.from(head + 'x'.repeat(RECORD_BYTES - head.length - 2) + '"}');
  const batch = Array.from({ length: BATCH }, () => Buffer.from(tpl));
  return (start) => {
    for (let i = 0; i < BATCH; i++) batch[i]?.write(String(start + i).padStart(10, '0'), 7, 'latin1');
    return batch;
  };
}

async function openQueue(dir: string): Promise<DiskQueue> {
  return DiskQueue.open({ dir, maxBytes: 2 * 1024 ** 3, segmentBytes: 16 * 1024 * 1024, overflow: 'block', consumers: ['siem'], logger: pino({ level: 'silent' }), recycleReads: true });
}

/** Producer and consumer run concurrently, as in the relay. */
async function throughput(records: number): Promise<{ seconds: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'drq-bench-'));
  const q = await openQueue(dir);
  try {
    const start = process.hrtime.bigint();
    const batchOf = batchMaker();
    const producer = (async () => {
      for (let i = 0; i < records; i += BATCH) await q.append(batchOf(i));
    })();
    let done = 0;
    while (done < records) {
      await q.wait('siem', AbortSignal.timeout(30_000));
      const r = await q.read('siem', BATCH);
      const last = r[r.length - 1];
      if (last === undefined) continue;
      done += r.length;
      await q.ack('siem', last.seq);
    }
    await producer;
    return { seconds: Number(process.hrtime.bigint() - start) / 1e9 };
  } finally {
    await q.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Child side: 1M records waiting, then read through once; reports peak RSS in bytes. */
async function rssChild(records: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'drq-bench-rss-'));
  const q = await openQueue(dir);
  const baseRss = process.memoryUsage.rss();
  let peak = 0;
  const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
  try {
    // The same buffers every time: what grows is the queue, not the bench's garbage.
    const batch = batchMaker()(0);
    for (let i = 0; i < records; i += BATCH) await q.append(batch);
    const waiting = q.stats().records;
    let read = 0;
    for (;;) {
      const r = await q.read('siem', BATCH);
      if (r.length === 0) break;
      read += r.length;
    }
    peak = Math.max(peak, process.memoryUsage.rss(), process.resourceUsage().maxRSS * 1024);
    process.send?.({ waiting, read, peakRss: peak, baseRss, bytes: q.stats().bytes });
  } finally {
    clearInterval(sample);
    await q.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export interface RssResult {
  /** Records on disk once all were appended. */
  waiting: number;
  /** Records read back (once, not acknowledged). */
  read: number;
  /** Peak RSS of the child, bytes. */
  peakRss: number;
  /** RSS right after the queue was opened (node, loader, pino), bytes. */
  baseRss: number;
  /** Queue bytes on disk. */
  bytes: number;
}

/**
 * Runs the RSS measurement in a fresh process (same loader flags plus `nodeFlags`, so it works
 * from .ts and from dist/).
 */
export function measureRss(records: number, nodeFlags: string[] = [], timeoutMs = 300_000, env: Record<string, string> = {}): Promise<RssResult> {
  return new Promise((resolve, reject) => {
    const c = fork(fileURLToPath(import.meta.url), [], {
      execArgv: [...process.execArgv, ...nodeFlags],
      env: { ...process.env, ...env, DRQ_BENCH_RSS_CHILD: String(records) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: RssResult | null = null;
    const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('message', (m: unknown) => {
      if (typeof m === 'object' && m !== null && 'peakRss' in m) result = m as RssResult;
    });
    c.on('error', reject);
    c.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (result !== null) resolve(result);
      else reject(new Error(`queue RSS child exited with ${code ?? signal ?? 'nothing'} before reporting`));
    });
  });
}

export async function benchQueue(): Promise<{ lines: string[] }> {
  const n = 200_000;
  const { seconds } = await throughput(n);
  const mb = (n * RECORD_BYTES) / 1024 / 1024;
  const rss = await measureRss(1_000_000);
  // As the relay runs (main.js's shebang): its heap flags and malloc arenas.
  const sb = readShebang(MAIN);
  const prod = await measureRss(1_000_000, sb.flags, 300_000, sb.env);
  const mib = (b: number): string => (b / 1024 / 1024).toFixed(1);
  return {
    lines: [
      `queue append+read+ack: ${n} records of ${RECORD_BYTES} B in ${BATCH}-record batches: ${Math.round(n / seconds)} records/s, ${(mb / seconds).toFixed(1)} MB/s`,
      `queue peak RSS with ${rss.waiting} records (${mib(rss.bytes)} MiB) waiting, all read once, node's default flags: ${mib(rss.peakRss)} MiB (process after open: ${mib(rss.baseRss)} MiB)`,
      `queue peak RSS, same, with the relay's env and flags (${Object.entries(sb.env).map(([k, v]) => `${k}=${v} `).join('')}node ${sb.flags.join(' ')}): ${mib(prod.peakRss)} MiB (after open: ${mib(prod.baseRss)} MiB)`,
    ],
  };
}

const childRecords = process.env['DRQ_BENCH_RSS_CHILD'];
if (childRecords !== undefined) await rssChild(Number(childRecords));
