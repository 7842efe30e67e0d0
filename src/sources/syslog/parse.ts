/**
 * One received syslog frame → a SourceRecord. Duo events arrive as JSON in MSG (possibly after a
 * `tag: ` prefix, as rsyslog's imfile → omfwd or Devo's relay send them). RFC 5424 is parsed with
 * the strict parser first; RFC 3164 and non-conforming senders fall back to a tolerant header split.
 */
import type { SourceRecord, LogKind } from '../../event.js';
import { parseRfc5424 } from '../../formats/rfc5424-parse.js';

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
  msg: string;
}

const MONTHS = 'Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec';
const RFC3164 = new RegExp(`^<\\d{1,3}>(?:(?:${MONTHS}) [ \\d]\\d \\d\\d:\\d\\d:\\d\\d|\\d{4}-\\d\\d-\\d\\dT\\S+) (\\S+) ([^:\\s\\[]+)(?:\\[[^\\]]*\\])?: ?`);

function tolerantHeader(text: string): Header {
  const m = RFC3164.exec(text);
  if (m) return { host: m[1], tag: m[2], msg: text.slice(m[0].length) };
  // RFC 5424-looking but not strict (7+ fraction digits, over-long fields…): split the header.
  const five = /^<\d{1,3}>1 (\S+) (\S+) (\S+) (\S+) (\S+) /.exec(text);
  if (five) {
    let rest = text.slice(five[0].length);
    if (rest.startsWith('-')) rest = rest.slice(1);
    else if (rest.startsWith('[')) {
      const jsonAt = rest.indexOf(' {');
      rest = jsonAt >= 0 ? rest.slice(jsonAt) : rest;
    }
    return { host: five[2] === '-' ? undefined : five[2], tag: five[3] === '-' ? undefined : five[3], msg: rest.trimStart() };
  }
  const noPri = text.replace(/^<\d{1,3}>/, '');
  return { host: undefined, tag: undefined, msg: noPri };
}

function header(frame: Buffer): Header {
  const text = frame.toString('utf8');
  if (/^<\d{1,3}>1 /.test(text)) {
    try {
      const m = parseRfc5424(frame);
      return { host: m.hostname ?? undefined, tag: m.appName ?? undefined, msg: m.msg };
    } catch {
      // fall through to the tolerant split
    }
  }
  return tolerantHeader(text);
}

/**
 * The JSON payload of MSG: from the first `{` (a `tag: ` or Devo `hostchain tag: ` prefix is
 * skipped). A MSG without `{` is passed on as is, so the router dead-letters it with the reason.
 */
export function recordFromFrame(frame: Buffer, peer: string, position: string): SourceRecord {
  const h = header(frame);
  let msg = h.msg;
  let tag = h.tag;
  const brace = msg.indexOf('{');
  if (brace > 0) {
    const prefix = msg.slice(0, brace);
    const inner = /(auth\.duo\.[A-Za-z.-]+):\s*$/.exec(prefix);
    if (inner) tag = inner[1];
    msg = msg.slice(brace);
  }
  const rec: SourceRecord = { text: msg.trimEnd(), host: h.host ?? peer, position };
  const kind = kindFromTag(tag);
  if (kind !== undefined) rec.kind = kind;
  return rec;
}
