import { RelayError, ErrorCodes } from '../../errors.js';

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Duo keeps logs this long; older `mintime`s are refused with HTTP 400. */
export const DUO_RETENTION_MS = 180 * UNIT_MS.d;
/** Duo holds back the newest records this long; `maxtime` never goes past it. */
export const DUO_SETTLE_MS = 120_000;
/** Duo wants `mintime` < `maxtime`; narrower windows than this are left for the next cycle. */
export const MIN_WINDOW_MS = 5_000;
/** Keep clear of the 180-day edge: our clock and Duo's may disagree by a little. */
export const RETENTION_MARGIN_MS = 10 * 60_000;

/** `30d`, `12h`, `45m`, `90s` → ms. */
export function parseDuration(text: string, what: string): number {
  const m = /^(\d+)([smhd])$/.exec(text.trim());
  if (m === null) throw new RelayError(ErrorCodes.CONFIG, `${what}: "${text}" is not a duration; write e.g. 30m, 12h or 7d.`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

/** The oldest `mintime` (ms) Duo still accepts, with a safety margin. */
export function oldestAllowedMs(now: number): number {
  return now - DUO_RETENTION_MS + RETENTION_MARGIN_MS;
}

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86_400)}d${String(Math.floor((s % 86_400) / 3600)).padStart(2, '0')}h`;
}
