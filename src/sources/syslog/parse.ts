/**
 * One received syslog frame → a SourceRecord. Duo events arrive as JSON in MSG (possibly after a
 * `tag: ` prefix, as rsyslog's imfile → omfwd or Devo's relay send them). RFC 5424 is parsed with
 * the strict parser first; RFC 3164 and non-conforming senders fall back to a tolerant header split.
 *
 * The text handed on is the MSG from its first `{` when MSG looks like `[prefix ]{…}`; anything
 * else passes through whole, so the router dead-letters it with the full text as the preview.
 */
import type { SourceRecord, LogKind } from '../../event.js';
import { LOG_KINDS } from '../../event.js';
import { parseRfc5424, type Rfc5424Message } from '../../formats/rfc5424-parse.js';
import { SOFTWARE } from '../../version.js';

const TAG_KINDS: ReadonlyArray<[string, LogKind]> = [
  ['auth.duo.administrator.', 'administrator'],
  ['auth.duo.authentication.', 'authentication'],
  ['auth.duo.telephony.', 'telephony'],
  ['auth.duo.authentication-proxy.', 'authproxy'],
  ['auth.duo.authenticationproxy.', 'authproxy'],
  ['auth.duo.offline-enrollment.', 'offline-enrollment'],
  ['auth.duo.activity.', 'activity'],
  ['auth.duo.trust-monitor.', 'trust-monitor'],
];

const KINDS: ReadonlySet<string> = new Set(LOG_KINDS);

/** A Devo-style tag names the kind; anything else is classified by shape downstream. */
export function kindFromTag(tag: string | null | undefined): LogKind | undefined {
  if (!tag) return undefined;
  const t = tag.toLowerCase();
  for (const [prefix, kind] of TAG_KINDS) if (t.startsWith(prefix)) return kind;
  return undefined;
}

interface Header {
  host: string | undefined;
  tag: string | undefined;
  /** A kind the sender stated outright (another duo-relay's MSGID). */
  kind: LogKind | undefined;
  msg: string;
}

const MONTHS = 'Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec';
// The TAG may end with `:` or just a space (rsyslog's imfile `tag="duo-authproxy"` has no colon).
// `{` and `"` are excluded so a JSON MSG after a missing HOSTNAME is never taken for a tag.
const RFC3164 = new RegExp(`^<\\d{1,3}>(?:(?:${MONTHS}) [ \\d]\\d \\d\\d:\\d\\d:\\d\\d|\\d{4}-\\d\\d-\\d\\dT\\S+) ([^\\s{]\\S*) ([^:\\s\\[{"]+)(?:\\[[^\\]\\s]*\\])?(?::\\s?|\\s)`);
// A 3164 header whose HOSTNAME/TAG are missing: only PRI and TIMESTAMP are certain.
const RFC3164_TIME = new RegExp(`^<\\d{1,3}>(?:(?:${MONTHS}) [ \\d]\\d \\d\\d:\\d\\d:\\d\\d|\\d{4}-\\d\\d-\\d\\dT\\S+) `);
const RFC5424_LOOSE = /^<\d{1,3}>1 (\S+) (\S+) (\S+) (\S+) (\S+) /;
// Devo's relay: `YYYY-MM-DD hh:mm:ss.mmm HOSTCHAIN TAG: MSG`, no PRI; HOSTCHAIN is `host=ip/relay=ip`.
const DEVO = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? (\S+=\S*) /;
const BOM = '\ufeff';

/**
 * Index just past the STRUCTURED-DATA starting at `i` (`-` or SD-ELEMENTs), or -1 when an element
 * never closes. Quoted PARAM-VALUEs may hold `]`, `{`, ` {` and escaped quotes (conforming or not),
 * so the JSON in MSG is never cut at a brace that belongs to SD.
 */
export function skipStructuredData(s: string, i: number): number {
  if (s[i] === '-') return i + 1;
  let at = i;
  while (s[at] === '[') {
    at++;
    let quoted = false;
    for (;;) {
      if (at >= s.length) return -1;
      const c = s[at];
      if (quoted) {
        if (c === '\\') {
          at += 2;
          continue;
        }
        if (c === '"') quoted = false;
      } else if (c === '"') {
        quoted = true;
      } else if (c === ']') {
        break;
      }
      at++;
    }
    at++;
  }
  return at;
}

function nil(v: string | undefined): string | undefined {
  return v === undefined || v === '-' ? undefined : v;
}

/** Another duo-relay states the kind in MSGID; trusted only with its own origin SD. */
function relayKind(m: Rfc5424Message): LogKind | undefined {
  if (m.msgid === null || !KINDS.has(m.msgid)) return undefined;
  const origin = m.sd.find((e) => e.id === 'origin');
  const fromRelay = origin?.params.some(([k, v]) => k === 'software' && v === SOFTWARE) ?? false;
  return fromRelay ? (m.msgid as LogKind) : undefined;
}

function tolerantHeader(text: string): Header {
  const m = RFC3164.exec(text);
  if (m) return { host: m[1], tag: m[2], kind: undefined, msg: text.slice(m[0].length) };
  // RFC 5424-looking but not strict (7+ fraction digits, over-long fields…): split the header.
  const five = RFC5424_LOOSE.exec(text);
  if (five) {
    const sdStart = five[0].length;
    const sdEnd = skipStructuredData(text, sdStart);
    // An SD that never closes: keep everything, the router dead-letters it with the full text.
    const msg = sdEnd < 0 ? text.slice(sdStart) : text.slice(sdEnd);
    return { host: nil(five[2]), tag: nil(five[3]), kind: undefined, msg: msg.startsWith(' ') ? msg.slice(1) : msg };
  }
  const time = RFC3164_TIME.exec(text);
  if (time) return { host: undefined, tag: undefined, kind: undefined, msg: text.slice(time[0].length) };
  const noPri = text.replace(/^<\d{1,3}>/, '');
  const devo = DEVO.exec(noPri);
  if (devo) {
    const origin = (devo[1] ?? '').split('/')[0]?.split('=')[0];
    return { host: origin === '' ? undefined : origin, tag: undefined, kind: undefined, msg: noPri.slice(devo[0].length) };
  }
  return { host: undefined, tag: undefined, kind: undefined, msg: noPri };
}

function header(frame: Buffer): Header {
  // Cheap prefix test first: only frames that claim VERSION 1 go through the strict parser.
  if (frame[0] === 0x3c) {
    const head = frame.toString('latin1', 0, 6);
    if (/^<\d{1,3}>1 /.test(head)) {
      try {
        const m = parseRfc5424(frame);
        return { host: m.hostname ?? undefined, tag: m.appName ?? undefined, kind: relayKind(m), msg: m.msg };
      } catch {
        // Not strictly RFC 5424 (common with home-grown senders): the tolerant split below.
      }
    }
  }
  return tolerantHeader(frame.toString('utf8'));
}

/**
 * What precedes the JSON in MSG: nothing, a `tag:` (possibly after other words such as a Devo
 * hostchain), or a single tag-like word. Returns the tag, '' for none, or undefined when the prefix
 * is free text (then MSG is not cut).
 */
function prefixTag(prefix: string): string | undefined {
  const p = prefix.trimEnd();
  if (p === '') return '';
  if (p.endsWith(':')) {
    const words = p.slice(0, -1).split(' ');
    return (words[words.length - 1] ?? '').replace(/\[[^\]]*\]$/, '');
  }
  if (!/\s/.test(p)) return p.replace(/\[[^\]]*\]$/, '');
  return undefined;
}

export function recordFromFrame(frame: Buffer, peer: string, position: string): SourceRecord {
  const h = header(frame);
  let msg = h.msg.startsWith(BOM) ? h.msg.slice(1) : h.msg;
  msg = msg.trimEnd();
  let tag = h.tag;
  const brace = msg.indexOf('{');
  if (brace > 0 && msg.endsWith('}')) {
    const inner = prefixTag(msg.slice(0, brace));
    if (inner !== undefined) {
      if (kindFromTag(inner) !== undefined) tag = inner;
      msg = msg.slice(brace);
    }
  }
  const rec: SourceRecord = { text: msg, host: h.host ?? peer, position };
  const kind = kindFromTag(tag) ?? h.kind;
  if (kind !== undefined) rec.kind = kind;
  return rec;
}
