/**
 * The event's instant for formats that write it as a date or epoch (RFC 3164, CEF, LEEF).
 * An absent or invalid time falls back to the relay's clock and is counted.
 */
import type { RelayEvent } from '../event.js';
import type { FormatStats } from './types.js';
import { epochMs, scanDateTime, toRfc5424Timestamp } from './timestamp.js';

export function eventEpochMs(ev: RelayEvent, now: () => Date, stats: FormatStats): number {
  const ts = toRfc5424Timestamp(ev.time);
  const p = ts === null ? null : scanDateTime(ts, true);
  if (p !== null) return epochMs(p);
  stats.timeSubstituted++;
  return now().getTime();
}
