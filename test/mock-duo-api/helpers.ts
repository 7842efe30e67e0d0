/** Small helpers the duo-api tests share: a config for a mock, a recording emit, bounded waits. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { duoApiSourceSchema, type DuoApiSourceConfig } from '../../src/config/schema.js';
import type { SourceRecord } from '../../src/event.js';
import type { Emit } from '../../src/sources/source.js';
import type { MockDuoApi } from './server.js';

export const IKEY = 'DIMOCKIKEY0000000001';
export const SKEY = 'mockSkeyDoNotLeak0123456789abcdefghijklm';
export const UA = 'duo-relay/0.0.0-test';

/** A parsed config aimed at the mock, with test-speed intervals (set after parsing: the schema's minimums suit production). */
export function mockConfig(mock: MockDuoApi, over: Partial<DuoApiSourceConfig> = {}, input: Record<string, unknown> = {}): DuoApiSourceConfig {
  const parsed = duoApiSourceSchema.parse({ type: 'duo-api', host: mock.host, ikey: IKEY, skey: SKEY, ca: mock.ca, initial_window: '1d', ...input });
  return {
    ...parsed,
    request_interval_ms: 0,
    poll_interval_ms: 200,
    rate_limit_backoff: { min_ms: 300, max_ms: 1000, factor: 2, jitter: 0.5 },
    connect_timeout_ms: 2000,
    headers_timeout_ms: 2000,
    body_timeout_ms: 2000,
    ...over,
  };
}

const made: string[] = [];
process.once('exit', () => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** A fresh state dir, removed when the test process exits. */
export function tmpState(prefix = 'duo-api-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

/** A pino logger that keeps every line, to assert on what was logged (and what never was). */
export function captureLogger(): { logger: Logger; lines: Array<Record<string, unknown>>; text: () => string } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'debug' },
    {
      write(s: string) {
        lines.push(JSON.parse(s) as Record<string, unknown>);
      },
    },
  );
  return { logger, lines, text: () => lines.map((l) => JSON.stringify(l)).join('\n') };
}

export interface Recorder {
  emit: Emit;
  records: SourceRecord[];
  batches: number;
}

export function recorder(delayMs = 0): Recorder {
  const r: Recorder = {
    records: [],
    batches: 0,
    emit: async (batch) => {
      if (delayMs > 0) await new Promise((res) => setTimeout(res, delayMs));
      r.records.push(...batch);
      r.batches++;
    },
  };
  return r;
}

/** Polls `cond` every 20 ms until it holds or `timeoutMs` passes; returns whether it held. */
export async function waitFor(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

export function sleepMs(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
