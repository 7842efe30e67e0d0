/**
 * `duo-relay backfill --since 30d`: one pass over history for every (account, endpoint), from
 * now − since (at most Duo's 180 days) up to what Duo has settled, through the same lanes, budget and
 * cursor file as `run`. A cursor is only written when the backfill is ahead of it, so a later `run`
 * continues without a gap and without going back. Prints a progress line (events, pages, rate, ETA).
 */
import type { DuoApiSourceConfig } from '../../config/schema.js';
import type { Emit } from '../source.js';
import { RelayError, ErrorCodes, isRelayError, errorMessage } from '../../errors.js';
import { Backoff, sleep } from '../../ops/backoff.js';
import { openHost, lanesFor, targetFor, type DuoApiContext } from './setup.js';
import { listChildAccounts } from './accounts.js';
import { cursorProgressMs, type Cursor } from './cursor.js';
import { parseDuration, oldestAllowedMs, DUO_SETTLE_MS, formatDuration } from './duration.js';
import { HandoffRejected, type Lane } from './lane.js';

export interface BackfillContext extends DuoApiContext {
  /** How far back, e.g. "30d". */
  since: string;
  emit: Emit;
  /** Receives progress lines (about one per second, and a last one). */
  progress: (line: string) => void;
  signal?: AbortSignal;
  /** Consecutive transient failures one endpoint tolerates before the backfill gives up. @default 8 */
  maxFailures?: number;
  /** Minimum time between progress lines. @default 1000 */
  progressIntervalMs?: number;
}

export interface BackfillResult {
  events: number;
  pages: number;
  requests: number;
}

export async function runBackfill(cfg: DuoApiSourceConfig, ctx: BackfillContext): Promise<BackfillResult> {
  const now = ctx.now ?? Date.now;
  const sinceMs = parseDuration(ctx.since, 'backfill --since');
  const t0 = now();
  const from = Math.max(t0 - sinceMs, oldestAllowedMs(t0));
  const end = t0 - DUO_SETTLE_MS;
  if (from > t0 - sinceMs) ctx.progress(`Backfill ${cfg.host}: Duo keeps 180 days of logs; starting at ${new Date(from).toISOString()}.`);
  const abort = new AbortController();
  const onAbort = (): void => abort.abort(ctx.signal?.reason);
  ctx.signal?.addEventListener('abort', onAbort, { once: true });
  const opened = await openHost(cfg, ctx);
  const totals = { events: 0, pages: 0, requests: 0 };
  const started = performance.now();
  try {
    let extraRequests = 0;
    const targets = cfg.msp
      ? (await listChildAccounts(opened.client, cfg.host, abort.signal)).map((c) => targetFor(c.id, c.host))
      : [targetFor(null, cfg.host)];
    if (cfg.msp) extraRequests = 1;
    const ahead = (stored: Cursor | undefined, next: Cursor): boolean => stored === undefined || cursorProgressMs(next) >= cursorProgressMs(stored);
    const lanes = targets.flatMap((t) => lanesFor(cfg, ctx, opened, t, ctx.emit, () => ({ mintime_ms: from, seen: [] }), ahead));
    const position = new Map<Lane, number>(lanes.map((l) => [l, from]));
    let lastLine = 0;
    const report = (final: boolean): void => {
      const t = performance.now();
      if (!final && t - lastLine < (ctx.progressIntervalMs ?? 1000)) return;
      lastLine = t;
      const span = Math.max(1, end - from);
      let covered = 0;
      for (const p of position.values()) covered += Math.min(1, Math.max(0, (p - from) / span));
      const frac = lanes.length > 0 ? covered / lanes.length : 1;
      const elapsed = t - started;
      const rate = elapsed > 0 ? Math.round((totals.events * 1000) / elapsed) : 0;
      const eta = final ? 'done' : frac > 0 ? `ETA ${formatDuration((elapsed * (1 - frac)) / frac)}` : 'ETA unknown';
      ctx.progress(`Backfill ${cfg.host}: ${totals.events} events, ${totals.pages} pages, ${rate} ev/s, ${Math.floor(frac * 100)}% of ${ctx.since}, ${eta}.`);
    };
    const runLane = async (lane: Lane): Promise<void> => {
      const rate = new Backoff(cfg.rate_limit_backoff, ctx.random);
      const faults = new Backoff({ min_ms: 1000, max_ms: 60_000, factor: 2, jitter: 0.5 }, ctx.random);
      let failures = 0;
      for (;;) {
        try {
          await lane.drainOnce(abort.signal, (events, next) => {
            totals.events += events;
            totals.pages++;
            position.set(lane, next.window === undefined && next.mintime_ms > end ? end : cursorProgressMs(next));
            report(false);
          });
          // A drain stops quietly on abort; only a finished one counts as done.
          if (abort.signal.aborted) throw abort.signal.reason ?? new Error('aborted');
          position.set(lane, end);
          return;
        } catch (err: unknown) {
          if (abort.signal.aborted || err instanceof HandoffRejected) throw err;
          const transient = isRelayError(err) && err.retryable;
          failures++;
          if (!transient || failures >= (ctx.maxFailures ?? 8)) throw err;
          const limited = isRelayError(err) && err.code === ErrorCodes.DUO_RATE_LIMIT;
          const delay = limited ? rate.next() : faults.next();
          lane.logger.warn({ code: isRelayError(err) ? err.code : undefined, retry_in_ms: delay, failures }, `Backfill retries in ${delay} ms after: ${errorMessage(err)}`);
          await sleep(delay, abort.signal);
        }
      }
    };
    const results = await Promise.allSettled(lanes.map(runLane));
    totals.requests = lanes.reduce((n, l) => n + l.requests, extraRequests);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) {
      if (abort.signal.aborted) {
        throw new RelayError(ErrorCodes.CLOSED, `Backfill of ${cfg.host} was interrupted after ${totals.events} events; run it again to continue (cursors kept).`, { cause: failed.reason });
      }
      throw failed.reason;
    }
    report(true);
    return totals;
  } finally {
    abort.abort();
    ctx.signal?.removeEventListener('abort', onAbort);
    await opened.cursors.flush();
    await opened.client.close().catch(() => undefined);
    await opened.lock.release();
  }
}
