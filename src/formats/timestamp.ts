/**
 * RFC 3339 / RFC 5424 timestamps, scanned by char code (no per-event regex).
 *
 * RFC 5424 §6.2.3 is RFC 3339 `date-time` narrowed: `T` and `Z` uppercase, at most 6
 * fractional digits, no leap second. Events may carry any RFC 3339 form (Go and .NET
 * write 7–9 digits, some writers use `t`/`z` or a space), so `toRfc5424Timestamp`
 * normalises: uppercase, fraction truncated (never rounded, which could carry into the
 * next second), a leap second `:60` clamped to `:59.999999` (the instant before it).
 */

export interface DateTimeParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** Fraction digits as written (may be empty). */
  fraction: string;
  /** Offset east of UTC in minutes; `Z` → 0. */
  offsetMinutes: number;
  /** `Z`/`z` rather than a numeric offset. */
  zulu: boolean;
}

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

function daysIn(year: number, month: number): number {
  if (month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)) return 29;
  return DAYS[month - 1] ?? 0;
}

/**
 * Checks `s` as a date-time and, when `out` is given, fills it. `strict` applies RFC 5424
 * (uppercase, ≤6 fraction digits, no leap second); otherwise RFC 3339 with its tolerated variants.
 * Without `out` nothing is allocated: the formatter checks every event's time this way.
 */
function scan(s: string, strict: boolean, out: DateTimeParts | undefined): boolean {
  if (s.length < 20) return false;
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 2);
  const day = digits(s, 8, 2);
  const hour = digits(s, 11, 2);
  const minute = digits(s, 14, 2);
  const second = digits(s, 17, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return false;
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > (strict ? 59 : 60)) return false;
  if (s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return false; // - - : :
  const sep = s.charCodeAt(10);
  if (sep !== 84 && (strict || (sep !== 116 && sep !== 32))) return false; // T, or t / space when lenient
  let i = 19;
  let fractionStart = i;
  let fractionEnd = i;
  if (s.charCodeAt(i) === 46) {
    fractionStart = ++i;
    while (i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) i++;
    fractionEnd = i;
    const n = fractionEnd - fractionStart;
    if (n === 0 || (strict && n > 6)) return false;
  }
  const z = s.charCodeAt(i);
  let offsetMinutes = 0;
  let zulu = false;
  if (z === 90 || (!strict && z === 122)) {
    // Z, or z when lenient
    if (i + 1 !== s.length) return false;
    zulu = true;
  } else {
    if ((z !== 43 && z !== 45) || i + 6 !== s.length || s.charCodeAt(i + 3) !== 58) return false; // + - :
    const oh = digits(s, i + 1, 2);
    const om = digits(s, i + 4, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59) return false;
    offsetMinutes = (z === 45 ? -1 : 1) * (oh * 60 + om);
  }
  if (out !== undefined) {
    out.year = year;
    out.month = month;
    out.day = day;
    out.hour = hour;
    out.minute = minute;
    out.second = second;
    out.fraction = s.slice(fractionStart, fractionEnd);
    out.offsetMinutes = offsetMinutes;
    out.zulu = zulu;
  }
  return true;
}

/**
 * Scans `s` as a date-time. `strict` applies RFC 5424 (uppercase, ≤6 fraction digits, no
 * leap second); otherwise RFC 3339 with its tolerated variants. Returns null when invalid.
 */
export function scanDateTime(s: string, strict: boolean): DateTimeParts | null {
  const p: DateTimeParts = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0, fraction: '', offsetMinutes: 0, zulu: false };
  return scan(s, strict, p) ? p : null;
}

function pad2(n: number): string {
  return n < 10 ? '0' + n : String(n);
}

/**
 * An RFC 5424-valid TIMESTAMP for `time`, or null when it is absent or not a date-time.
 * Returns `time` itself when it is already valid (the usual case).
 */
export function toRfc5424Timestamp(time: string | undefined): string | null {
  if (time === undefined) return null;
  if (scan(time, true, undefined)) return time;
  const p = scanDateTime(time, false);
  if (p === null) return null;
  let second = p.second;
  let fraction = p.fraction.slice(0, 6);
  if (second === 60) {
    second = 59;
    fraction = '999999';
  }
  const base = time.slice(0, 10) + 'T' + pad2(p.hour) + ':' + pad2(p.minute) + ':' + pad2(second);
  const frac = fraction.length > 0 ? '.' + fraction : '';
  const off = p.zulu ? 'Z' : time.slice(time.length - 6);
  return base + frac + off;
}

/** Milliseconds since the epoch for a valid timestamp (sub-millisecond digits dropped). */
export function epochMs(p: DateTimeParts): number {
  const ms = p.fraction.length > 0 ? Number((p.fraction + '00').slice(0, 3)) : 0;
  return utcMs(p, ms) - p.offsetMinutes * 60_000;
}

// Date.UTC maps years 0–99 to 1900–1999; setUTCFullYear does not.
function utcMs(p: DateTimeParts, ms: number): number {
  const d = new Date(0);
  d.setUTCFullYear(p.year, p.month - 1, p.day);
  d.setUTCHours(p.hour, p.minute, p.second, ms);
  return d.getTime();
}

/**
 * The same instant in UTC with `Z`, keeping the fraction digits as written (at most 6):
 * `2020-02-13T18:56:20.351346+00:00` → `2020-02-13T18:56:20.351346Z` (Sekoia's @timestamp).
 */
export function toUtcIso(time: string): string | null {
  const ts = toRfc5424Timestamp(time);
  if (ts === null) return null;
  const p = scanDateTime(ts, true);
  if (p === null) return null;
  const frac = p.fraction.length > 0 ? '.' + p.fraction : '';
  if (p.offsetMinutes === 0) return ts.slice(0, 19) + frac + 'Z';
  const d = new Date(utcMs(p, 0) - p.offsetMinutes * 60_000);
  const year = d.getUTCFullYear();
  // Shifting 0000-01-01 or 9999-12-31 across midnight leaves the 4-digit years of RFC 3339.
  if (year < 0 || year > 9999) return null;
  return d.toISOString().slice(0, 19) + frac + 'Z';
}
