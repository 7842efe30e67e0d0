/**
 * The event's own time as an RFC 3339 string that RFC 5424 accepts as TIMESTAMP: `T` and `Z` in
 * upper case, at most 6 fractional digits, an explicit offset (`Z` or `±hh:mm`), no leap second.
 *
 * Candidates, first valid one wins (the same list serves every kind; each kind has only some):
 *   1. `isotimestamp`        admin, authentication v2, telephony v1, offline enrollment (µs, `+00:00`)
 *   2. `ts`                  telephony v2, activity (ISO string, µs)
 *   3. `timestamp`           ISO string with `Z` in authevents.log; epoch seconds in Admin API records
 *   4. `surfaced_timestamp`  Trust Monitor (epoch milliseconds)
 *   5. `log_time`            authevents.log (epoch float seconds, Twisted)
 * A malformed value (Elastic's admin sample has `"2021-07-20T11: 41: 31+00: 00"`) is skipped and the
 * next candidate is tried; with none left the time is `undefined`. Never an invalid date.
 *
 * Strings keep their own offset and digits (the event's own time, not a conversion); only the syntax
 * is normalised (`t`/`z`/space → `T`/`Z`, `+0000`/`+00` → `+00:00`, fraction truncated to 6 digits).
 * A string without any offset (Panther's test logs re-render Duo times as `2022-12-14 20:09:57`) is
 * read as UTC: every time Duo itself writes is UTC. Epoch numbers are rendered in UTC with `Z`; the unit
 * is taken from the magnitude (≥1e17 ns, ≥1e14 µs, ≥1e11 ms, else s) because Duo mixes s and ms.
 * Epoch values ≤ 0 (unset placeholders) and years past 9999 are refused.
 *
 * Hot path: char-code scanning, no regex, no Date parsing for strings.
 */
import type { JsonObject } from '../event.js';

export const TIME_FIELDS = ['isotimestamp', 'ts', 'timestamp', 'surfaced_timestamp', 'log_time'] as const;

const MAX_FRACTION_DIGITS = 6;
/** 10000-01-01T00:00:00Z in ms: the first instant RFC 5424's 4-digit year cannot hold. */
const MAX_EPOCH_MS = 253402300800000;

/** The event time of a record, or undefined when no candidate field holds a valid time. */
export function eventTime(record: JsonObject): string | undefined {
  for (const field of TIME_FIELDS) {
    const v = record[field];
    if (v === undefined || v === null) continue;
    const t = timeFromValue(v);
    if (t !== undefined) return t;
  }
  return undefined;
}

/** One candidate value: an RFC 3339-like string, a numeric string, or an epoch number. */
export function timeFromValue(v: unknown): string | undefined {
  if (typeof v === 'number') return timeFromEpoch(v);
  if (typeof v === 'string') return isNumeric(v) ? timeFromEpoch(Number(v)) : normaliseIsoTime(v);
  return undefined;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** `123`, `123.45`: digits with at most one dot, nothing else. */
function isNumeric(s: string): boolean {
  const n = s.length;
  if (n === 0 || n > 30) return false;
  let dot = false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 46 && !dot && i > 0 && i < n - 1) dot = true;
    else if (!isDigit(c)) return false;
  }
  return true;
}

function num2(s: string, i: number): number {
  const a = s.charCodeAt(i);
  const b = s.charCodeAt(i + 1);
  if (!isDigit(a) || !isDigit(b)) return -1;
  return (a - 48) * 10 + (b - 48);
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * `YYYY-MM-DD(T|t| )hh:mm:ss[.f+][Z|z|±hh[[:]mm]]` → canonical RFC 3339, or undefined when the
 * text is not a valid date-time. Returns the input itself when it is canonical already.
 */
export function normaliseIsoTime(s: string): string | undefined {
  const n = s.length;
  if (n < 19 || n > 64) return undefined;
  const y1 = num2(s, 0);
  const y2 = num2(s, 2);
  const month = num2(s, 5);
  const day = num2(s, 8);
  const hour = num2(s, 11);
  const minute = num2(s, 14);
  const second = num2(s, 17);
  if (y1 < 0 || y2 < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return undefined;
  if (s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return undefined;
  const sep = s.charCodeAt(10);
  if (sep !== 84 && sep !== 116 && sep !== 32) return undefined; // T t space
  if (day > daysInMonth(y1 * 100 + y2, month)) return undefined;
  let canonical = sep === 84;
  let i = 19;
  // The fraction and offset text are cut out only for a non-canonical time (the hot path returns `s`).
  let fractionStart = i;
  let fractionEnd = i;
  if (i < n && s.charCodeAt(i) === 46) {
    fractionStart = ++i;
    while (i < n && isDigit(s.charCodeAt(i))) i++;
    if (i === fractionStart) return undefined;
    fractionEnd = i - fractionStart > MAX_FRACTION_DIGITS ? fractionStart + MAX_FRACTION_DIGITS : i;
    if (fractionEnd !== i) canonical = false;
  }
  let offsetAt = -1;
  let om = 0;
  if (i === n) {
    canonical = false; // no offset at all: Duo writes UTC (see the module comment)
  } else {
    const c = s.charCodeAt(i);
    if (c === 90 || c === 122) {
      if (i + 1 !== n) return undefined;
      if (c === 122) canonical = false;
    } else if (c === 43 || c === 45) {
      const oh = num2(s, i + 1);
      if (oh < 0 || oh > 23) return undefined;
      const rest = n - (i + 3);
      if (rest === 0) canonical = false;
      else if (rest === 3 && s.charCodeAt(i + 3) === 58) om = num2(s, i + 4);
      else if (rest === 2) {
        om = num2(s, i + 3);
        canonical = false;
      } else return undefined;
      if (om < 0 || om > 59) return undefined;
      offsetAt = i;
    } else return undefined;
  }
  if (canonical) return s;
  const offset = offsetAt < 0 ? 'Z' : s.slice(offsetAt, offsetAt + 3) + ':' + (om < 10 ? '0' : '') + om;
  const fraction = fractionEnd > fractionStart ? '.' + s.slice(fractionStart, fractionEnd) : '';
  return s.slice(0, 10) + 'T' + s.slice(11, 19) + fraction + offset;
}

/** Epoch number (unit from magnitude) → `YYYY-MM-DDThh:mm:ss[.ffffff]Z`, or undefined when out of range. */
export function timeFromEpoch(v: number): string | undefined {
  if (!Number.isFinite(v) || v <= 0) return undefined;
  let us: number;
  if (v >= 1e17) us = Math.floor(v / 1000);
  else if (v >= 1e14) us = Math.floor(v);
  else if (v >= 1e11) us = Math.round(v * 1000);
  else us = Math.round(v * 1e6);
  const secs = Math.floor(us / 1e6);
  if (secs * 1000 >= MAX_EPOCH_MS) return undefined;
  let micro = us - secs * 1e6;
  if (!(micro > 0 && micro < 1e6)) micro = 0;
  const base = new Date(secs * 1000).toISOString().slice(0, 19);
  if (micro === 0) return base + 'Z';
  let frac = String(Math.floor(micro)).padStart(6, '0');
  let end = frac.length;
  while (end > 1 && frac.charCodeAt(end - 1) === 48) end--;
  frac = frac.slice(0, end);
  return base + '.' + frac + 'Z';
}
