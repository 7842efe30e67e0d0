/**
 * RFC 3164 (BSD syslog): `<PRI>Mmm dd hh:mm:ss HOSTNAME TAG: MSG`.
 *
 * - TIMESTAMP in UTC (3164 has no zone; a relay serving several time zones must pick one),
 *   day of month space-padded (`May  4`), no year, no fraction.
 * - HOSTNAME: PRINTUSASCII, no NILVALUE (3164 has none): the relay's own host when unknown.
 * - TAG: RFC 3164 §4.1.3 says alphanumeric and ≤32 characters, but Devo routes on tags such as
 *   `auth.duo.authentication-proxy.events` (36 characters, dots and dashes) in exactly this
 *   position, and rsyslog/syslog-ng take everything up to `:`/`[`/space. So we keep
 *   `[A-Za-z0-9._/-]`, replace anything else with `_`, and cut at 48 (the RFC 5424 APP-NAME limit).
 * The BSD header (`bsdHeader`) is also the syslog prefix of the CEF and LEEF formats.
 */
import type { RelayEvent } from '../event.js';
import type { FormatOptions } from '../config/schema.js';
import type { CountingFormatter, FormatContext, FormatStats, MessageBody } from './types.js';
import { newStats } from './types.js';
import { Fitter } from './fit.js';
import { HEADER_LIMITS, cachedPrintUsAscii } from './printable.js';
import { facilityNumber, severityOf } from './severity.js';
import { eventEpochMs } from './event-time.js';
import { wellFormed } from './utf8.js';

export const TAG_MAX = 48;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function pad2(n: number): string {
  return n < 10 ? '0' + n : String(n);
}

/** `Mmm dd hh:mm:ss` in UTC, day space-padded. */
export function bsdTimestamp(ms: number): string {
  const d = new Date(ms);
  const day = d.getUTCDate();
  return (
    (MONTHS[d.getUTCMonth()] ?? 'Jan') + ' ' + (day < 10 ? ' ' + day : String(day)) + ' ' + pad2(d.getUTCHours()) + ':' + pad2(d.getUTCMinutes()) + ':' + pad2(d.getUTCSeconds())
  );
}

function isTagChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 46 || c === 95 || c === 47 || c === 45;
}

/** The TAG for a tag (see the module note), `fallback` when nothing is left. */
export function toBsdTag(tag: string, fallback: string): string {
  let ok = tag.length > 0 && tag.length <= TAG_MAX;
  for (let i = 0; ok && i < tag.length; i++) ok = isTagChar(tag.charCodeAt(i));
  if (ok) return tag;
  let out = '';
  for (const ch of tag) {
    if (out.length >= TAG_MAX) break;
    out += isTagChar(ch.charCodeAt(0)) ? ch : '_';
  }
  return out.length > 0 ? out : fallback;
}

/** Builds `<PRI>Mmm dd hh:mm:ss HOST ` for each event; shared by rfc3164, CEF and LEEF. */
export function bsdHeader(opts: FormatOptions, ctx: FormatContext, stats: FormatStats): { header: (ev: RelayEvent) => string; epochOf: (ev: RelayEvent) => number } {
  const facility = facilityNumber(opts.facility);
  const pri: string[] = [];
  for (let sev = 0; sev < 8; sev++) pri.push(`<${facility * 8 + sev}>`);
  const now = ctx.now ?? (() => new Date());
  const hostOf = cachedPrintUsAscii(HEADER_LIMITS.hostname);
  const fallbackHost = cachedPrintUsAscii(HEADER_LIMITS.hostname)(ctx.fallbackHost);
  // The same second repeats across a batch: format it once.
  let lastSecond = NaN;
  let lastStamp = '';
  let lastMs = 0;
  let lastEv: RelayEvent | undefined;
  const epochOf = (ev: RelayEvent): number => {
    if (ev === lastEv) return lastMs;
    lastEv = ev;
    lastMs = eventEpochMs(ev, now, stats);
    return lastMs;
  };
  const header = (ev: RelayEvent): string => {
    const ms = epochOf(ev);
    const second = Math.floor(ms / 1000);
    if (second !== lastSecond) {
      lastSecond = second;
      lastStamp = bsdTimestamp(ms);
    }
    let host = hostOf(ev.host ?? ctx.fallbackHost);
    if (host === '-') host = fallbackHost === '-' ? 'localhost' : fallbackHost;
    return pri[severityOf(ev)] + lastStamp + ' ' + host + ' ';
  };
  return { header, epochOf };
}

export function createRfc3164Formatter(opts: FormatOptions, ctx: FormatContext, body: MessageBody): CountingFormatter {
  const stats = newStats();
  const fitter = new Fitter(opts.max_message_bytes, stats, ctx);
  const { header } = bsdHeader(opts, ctx, stats);
  const fallbackTag = toBsdTag(ctx.software, 'duo-relay');
  let lastTagIn = '';
  let lastTag = fallbackTag;
  const format = (ev: RelayEvent): string => {
    if (ev.tag !== lastTagIn) {
      lastTagIn = ev.tag;
      lastTag = toBsdTag(ev.tag, fallbackTag);
    }
    const prefix = header(ev) + lastTag + ': ';
    // Header parts are ASCII and the prefix is far below the 480-byte minimum, so fit() cannot fail.
    return fitter.fit(ev, prefix, body(ev)) ?? fitter.line(ev, wellFormed(prefix));
  };
  return Object.assign(format, { stats });
}
