/**
 * RFC 5424 messages: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG`.
 *
 * Per destination (built once): the `<PRI>1 ` prefix for each severity, PROCID, the `origin`
 * SD element and the opening of the private element. Per event: timestamp check, hostname,
 * APP-NAME and MSGID (each cached while it repeats), SD values (scan-escaped), MSG.
 *
 * SD: `[origin software="…" swVersion="…"][duo@<PEN> id="…" kind="…" account="…" timeSource="relay"]`.
 * `account` only for MSP child accounts; `timeSource="relay"` only when the event had no valid
 * time and TIMESTAMP is the relay's clock. SD values are capped at SD_VALUE_MAX_BYTES.
 *
 * Size: the whole message stays within `max_message_bytes`. MSG is cut first; if the header
 * and SD alone are too long (only with a huge hostname, PROCID or id near the 480-byte
 * minimum), PROCID, account, HOSTNAME and then id are shortened so the result still parses.
 */
import type { RelayEvent } from '../event.js';
import type { FormatOptions } from '../config/schema.js';
import type { CountingFormatter, FormatContext, MessageBody } from './types.js';
import { newStats } from './types.js';
import { Fitter } from './fit.js';
import { escapeSdValue } from './escape.js';
import { HEADER_LIMITS, cachedPrintUsAscii, toPrintUsAscii } from './printable.js';
import { facilityNumber, severityOf } from './severity.js';
import { toRfc5424Timestamp } from './timestamp.js';
import { truncateUtf8, utf8Bytes, wellFormed } from './utf8.js';
import { assertSdName } from './sd-name.js';

/** Longest SD value (id, account) in UTF-8 bytes before escaping; longer ones are cut. */
export const SD_VALUE_MAX_BYTES = 256;
/** RFC 5424 §7.2.5 limits for `origin` parameters. */
const SOFTWARE_MAX = 48;
const SW_VERSION_MAX = 32;
const BOM = '\uFEFF';

/** An SD value: well formed, capped, escaped. Returns the same string in the usual case. */
function sdValue(v: string): string {
  const w = wellFormed(v);
  const capped = w.length * 3 <= SD_VALUE_MAX_BYTES ? w : truncateUtf8(w, SD_VALUE_MAX_BYTES);
  return escapeSdValue(capped);
}

interface Parts {
  host: string;
  procid: string;
  id: string;
  account: string | undefined;
}

export function createRfc5424Formatter(opts: FormatOptions, ctx: FormatContext, body: MessageBody): CountingFormatter {
  const facility = facilityNumber(opts.facility);
  const priPrefix: string[] = [];
  for (let sev = 0; sev < 8; sev++) priPrefix.push(`<${facility * 8 + sev}>1 `);

  const sdId = `duo@${opts.enterprise_id}`;
  for (const name of ['origin', 'software', 'swVersion', sdId, 'id', 'kind', 'account', 'timeSource']) assertSdName(name);
  const software = escapeSdValue(wellFormed(ctx.software).slice(0, SOFTWARE_MAX));
  const swVersion = escapeSdValue(wellFormed(ctx.swVersion).slice(0, SW_VERSION_MAX));
  const origin = `[origin software="${software}" swVersion="${swVersion}"]`;
  const duoOpen = `[${sdId} id="`;
  const procidConst = toPrintUsAscii(ctx.procid, HEADER_LIMITS.procid);
  const msgSep = opts.bom ? ' ' + BOM : ' ';
  const now = ctx.now ?? (() => new Date());

  const hostOf = cachedPrintUsAscii(HEADER_LIMITS.hostname);
  const appOf = cachedPrintUsAscii(HEADER_LIMITS.appName);
  const msgidOf = cachedPrintUsAscii(HEADER_LIMITS.msgid);
  const stats = newStats();
  const fitter = new Fitter(opts.max_message_bytes, stats, ctx);

  const format = (ev: RelayEvent): string => {
    let ts = toRfc5424Timestamp(ev.time);
    let timeMark = '';
    if (ts === null) {
      ts = now().toISOString();
      timeMark = ' timeSource="relay"';
      stats.timeSubstituted++;
    }
    const head = priPrefix[severityOf(ev)] + ts + ' ';
    const middle = ' ' + appOf(ev.tag) + ' ';
    const tail = ' ' + msgidOf(ev.msgid) + ' ' + origin;
    const sdEnd = '" kind="' + escapeSdValue(ev.kind) + '"';
    const host = hostOf(ev.host ?? ctx.fallbackHost);
    const id = sdValue(ev.id);
    const account = ev.account !== undefined ? sdValue(ev.account) : undefined;
    const msg = msgSep + body(ev);
    const build = (p: Parts): string =>
      head + p.host + middle + p.procid + tail + duoOpen + p.id + sdEnd + (p.account !== undefined ? ' account="' + p.account + '"' : '') + timeMark + ']';
    const parts: Parts = { host, procid: procidConst, id, account };
    const out = fitter.fit(ev, build(parts), msg);
    return out ?? shrink(ev, parts, build, msg);
  };

  /** Cold path: header + SD exceed the limit by themselves; shorten fields in a fixed order. */
  const shrink = (ev: RelayEvent, parts: Parts, build: (p: Parts) => string, msg: string): string => {
    const over = (): number => utf8Bytes(build(parts)) - fitter.max;
    let excess = over();
    if (excess > 0 && parts.procid !== '-') {
      parts.procid = parts.procid.length - excess >= 1 ? parts.procid.slice(0, parts.procid.length - excess) : '-';
      excess = over();
    }
    if (excess > 0 && parts.account !== undefined) {
      // Dropping `account` costs its ` account=""` framing too; cutting its value may be enough.
      const raw = ev.account ?? '';
      const keep = utf8Bytes(parts.account) - excess;
      parts.account = keep > 0 ? sdValue(truncateUtf8(wellFormed(raw), Math.min(keep, SD_VALUE_MAX_BYTES))) : undefined;
      excess = over();
      if (excess > 0) {
        parts.account = undefined;
        excess = over();
      }
    }
    if (excess > 0) {
      parts.host = parts.host.slice(0, Math.max(1, parts.host.length - excess));
      excess = over();
    }
    // The id goes last: it is what a SIEM deduplicates on. Each pass removes at least `excess`
    // escaped bytes, so two passes always suffice; the bound is defensive.
    for (let i = 0; excess > 0 && i < 4; i++) {
      const raw = truncateUtf8(wellFormed(ev.id), SD_VALUE_MAX_BYTES);
      parts.id = escapeSdValue(truncateUtf8(raw, Math.max(0, utf8Bytes(parts.id) - excess - i)));
      excess = over();
    }
    const out = fitter.fit(ev, build(parts), msg, true);
    // Unreachable with max_message_bytes >= 480 (the fixed parts are bounded far below it);
    // kept so an invariant break can never put an oversized message on the wire.
    return out ?? truncateUtf8(build(parts), fitter.max);
  };

  return Object.assign(format, { stats });
}
