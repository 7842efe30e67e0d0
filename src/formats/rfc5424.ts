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
 *
 * `split` gives the same message as header and MSG (types.ts: a stream destination encodes the two
 * one after the other and never builds the joined string); a message that may need cutting comes
 * back whole in `head`.
 */
import type { RelayEvent } from '../event.js';
import type { FormatOptions } from '../config/schema.js';
import type { CountingFormatter, FormatContext, MessageBody, SplitMessage } from './types.js';
import { newStats } from './types.js';
import { Fitter } from './fit.js';
import { escapeSdValue } from './escape.js';
import { HEADER_LIMITS, cachedPrintUsAscii, toPrintUsAscii } from './printable.js';
import { facilityNumber, severityOf } from './severity.js';
import { toRfc5424Timestamp } from './timestamp.js';
import { truncateUtf8, utf8Bytes, wellFormed } from './utf8.js';
import { assertSdName } from './sd-name.js';
import { RelayError, ErrorCodes } from '../errors.js';

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

/** The pieces of header + SD that the cold path may shorten (raw* = before escaping). */
interface PrefixParts {
  head: string;
  middle: string;
  tail: string;
  sdEnd: string;
  timeMark: string;
  host: string;
  procid: string;
  rawId: string;
  id: string;
  rawAccount: string | undefined;
  account: string | undefined;
}

function buildPrefix(p: PrefixParts, duoOpen: string, msgSep: string): string {
  const acc = p.account !== undefined ? ' account="' + p.account + '"' : '';
  return p.head + p.host + p.middle + p.procid + p.tail + duoOpen + p.id + p.sdEnd + acc + p.timeMark + ']' + msgSep;
}

/** Cuts `raw` by at least `excess` UTF-8 bytes; escaping then shrinks by at least as much. */
function cutBy(raw: string, excess: number): string {
  return truncateUtf8(raw, utf8Bytes(raw) - excess);
}

export function createRfc5424Formatter(opts: FormatOptions, ctx: FormatContext, body: MessageBody): CountingFormatter {
  const facility = facilityNumber(opts.facility);
  const priPrefix: string[] = [];
  for (let sev = 0; sev < 8; sev++) priPrefix.push(`<${facility * 8 + sev}>1 `);

  if (!Number.isSafeInteger(opts.enterprise_id) || opts.enterprise_id < 1) {
    throw new RelayError(ErrorCodes.CONFIG, `Invalid enterprise_id ${opts.enterprise_id}: use your IANA Private Enterprise Number (a whole number such as 32473).`);
  }
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

  // The header text between HOSTNAME and the id (APP-NAME … `id="`) and after the id (`" kind=…] `)
  // repeats from event to event: built once per change, so each message is a few pieces, not
  // twenty (every piece of a concatenation costs again when the message is encoded).
  let lastTag: string | undefined;
  let lastMsgid: string | undefined;
  let midText = '';
  let lastKind: string | undefined;
  let sdEndText = '';
  let endText = '';

  // What the last header() built, for the cold path (fitted) and for `split`.
  let lastPri = '';
  let lastTs = '';
  let lastTimeMark = '';
  let lastHost = '';
  let lastId = '';
  let lastAccount: string | undefined;

  /** Header + SD (everything before MSG, with its SP or optional BOM). */
  const header = (ev: RelayEvent): string => {
    let ts = toRfc5424Timestamp(ev.time);
    let timeMark = '';
    if (ts === null) {
      ts = now().toISOString();
      timeMark = ' timeSource="relay"';
      stats.timeSubstituted++;
    }
    if (ev.tag !== lastTag || ev.msgid !== lastMsgid) {
      lastTag = ev.tag;
      lastMsgid = ev.msgid;
      midText = ' ' + appOf(ev.tag) + ' ' + procidConst + ' ' + msgidOf(ev.msgid) + ' ' + origin + duoOpen;
    }
    if (ev.kind !== lastKind) {
      lastKind = ev.kind;
      sdEndText = '" kind="' + escapeSdValue(ev.kind) + '"';
      endText = sdEndText + ']' + msgSep;
    }
    const host = hostOf(ev.host ?? ctx.fallbackHost);
    const id = sdValue(ev.id);
    const account = ev.account !== undefined ? sdValue(ev.account) : undefined;
    const pri = priPrefix[severityOf(ev)] as string;
    lastPri = pri;
    lastTs = ts;
    lastTimeMark = timeMark;
    lastHost = host;
    lastId = id;
    lastAccount = account;
    // The SP and optional BOM belong with the header: a cut shortens only the body.
    const end = account === undefined && timeMark === '' ? endText : sdEndText + (account !== undefined ? ' account="' + account + '"' : '') + timeMark + ']' + msgSep;
    return pri + ts + ' ' + host + midText + id + end;
  };

  /** Right after header(ev): the message when it may exceed max_message_bytes (MSG cut, or the header shortened). */
  const fitted = (ev: RelayEvent, prefix: string, msg: string): string => {
    const out = fitter.fit(ev, prefix, msg);
    if (out !== null) return out;
    const parts: PrefixParts = {
      head: lastPri + lastTs + ' ',
      middle: ' ' + appOf(ev.tag) + ' ',
      tail: ' ' + msgidOf(ev.msgid) + ' ' + origin,
      sdEnd: sdEndText,
      timeMark: lastTimeMark,
      host: lastHost,
      procid: procidConst,
      rawId: ev.id,
      id: lastId,
      rawAccount: ev.account,
      account: lastAccount,
    };
    return shrink(ev, parts, msg);
  };

  const format = (ev: RelayEvent): string => {
    const prefix = header(ev);
    const msg = body(ev);
    // Fast path of Fitter.fit: 3 bytes per UTF-16 unit is the worst case.
    if ((prefix.length + msg.length) * 3 <= fitter.max) return prefix + msg;
    return fitted(ev, prefix, msg);
  };

  const bodyBytes = body.bytes;
  const split = (ev: RelayEvent, out: SplitMessage): void => {
    const prefix = header(ev);
    const bytes = bodyBytes?.(ev);
    if (bytes !== undefined && prefix.length * 3 + bytes.length <= fitter.max) {
      out.head = prefix;
      out.body = '';
      out.bodyBytes = bytes;
      return;
    }
    out.bodyBytes = undefined;
    const msg = body(ev);
    if ((prefix.length + msg.length) * 3 <= fitter.max) {
      out.head = prefix;
      out.body = msg;
    } else {
      out.head = fitted(ev, prefix, msg);
      out.body = '';
    }
  };

  /** Cold path: header + SD exceed the limit by themselves; shorten fields in a fixed order. */
  const shrink = (ev: RelayEvent, p: PrefixParts, msg: string): string => {
    const over = (): number => utf8Bytes(buildPrefix(p, duoOpen, msgSep)) - fitter.max;
    p.rawId = truncateUtf8(wellFormed(p.rawId), SD_VALUE_MAX_BYTES);
    if (p.rawAccount !== undefined) p.rawAccount = truncateUtf8(wellFormed(p.rawAccount), SD_VALUE_MAX_BYTES);
    let excess = over();
    if (excess > 0 && p.procid !== '-') {
      p.procid = p.procid.length - excess >= 1 ? p.procid.slice(0, p.procid.length - excess) : '-';
      excess = over();
    }
    if (excess > 0 && p.rawAccount !== undefined) {
      p.rawAccount = cutBy(p.rawAccount, excess);
      // An empty account says nothing; drop the parameter with its framing.
      p.account = p.rawAccount.length > 0 ? escapeSdValue(p.rawAccount) : undefined;
      excess = over();
    }
    if (excess > 0) {
      p.host = p.host.slice(0, Math.max(1, p.host.length - excess));
      excess = over();
    }
    // The id goes last: it is what a SIEM deduplicates on. One cut removes at least `excess`
    // escaped bytes; the bound is defensive.
    for (let i = 0; excess > 0 && i < 4; i++) {
      p.rawId = cutBy(p.rawId, excess);
      p.id = escapeSdValue(p.rawId);
      excess = over();
    }
    const out = fitter.fit(ev, buildPrefix(p, duoOpen, msgSep), msg, true);
    // Unreachable with max_message_bytes >= 480 (the fixed parts are bounded far below it);
    // kept so an invariant break can never put an oversized message on the wire.
    return out ?? truncateUtf8(buildPrefix(p, duoOpen, msgSep), fitter.max);
  };

  return Object.assign(format, { stats, split });
}
