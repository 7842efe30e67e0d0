/**
 * A strict RFC 5424 §6 parser (ABNF), used by tests to prove our output and by the syslog
 * listener to accept relayed messages. Every violation throws RelayError(DR_ERR_BAD_RECORD)
 * naming the rule broken and the offset, so a dead letter says exactly what was wrong.
 *
 * Checked: PRI (`<`, 1–3 digits, no leading zero, 0..191, `>`); VERSION `1`; TIMESTAMP
 * (NILVALUE or FULL-DATE "T" FULL-TIME with uppercase T/Z, ≤6 fraction digits, real calendar
 * dates, no leap second); HOSTNAME/APP-NAME/PROCID/MSGID (NILVALUE or 1*255/48/128/32
 * PRINTUSASCII, single SP between fields); STRUCTURED-DATA (NILVALUE or SD-ELEMENTs; SD-NAME
 * 1*32 PRINTUSASCII except `= ] "` SP; `"` `\` `]` escaped in PARAM-VALUE; PARAM-VALUE valid
 * UTF-8; no SD-ID twice); `[SP MSG]`; a MSG starting with the UTF-8 BOM is MSG-UTF8 and must
 * be valid UTF-8 (reported as `bom: true`, BOM removed from `msg`). MSG-ANY may be any bytes:
 * from a Buffer it is decoded with U+FFFD for invalid sequences.
 */
import { RelayError, ErrorCodes } from '../errors.js';
import { HEADER_LIMITS } from './printable.js';
import { isSdNameChar, SD_NAME_MAX } from './sd-name.js';
import { scanDateTime } from './timestamp.js';
import { isWellFormed } from './utf8.js';

export interface Rfc5424Message {
  pri: number;
  version: 1;
  timestamp: string | null;
  hostname: string | null;
  appName: string | null;
  procid: string | null;
  msgid: string | null;
  sd: Array<{ id: string; params: Array<[string, string]> }>;
  msg: string;
  bom: boolean;
}

const SP = 32;
const fatalUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function fail(rule: string, at: number, s: string): never {
  const near = JSON.stringify(s.slice(Math.max(0, at - 10), at + 20));
  throw new RelayError(ErrorCodes.BAD_RECORD, `Invalid RFC 5424 message: ${rule} (at offset ${at}, near ${near}).`);
}

/** Reads one header field up to the next SP; returns its end. */
function headerField(s: string, start: number, name: string, max: number): number {
  let i = start;
  while (i < s.length && s.charCodeAt(i) !== SP) {
    const c = s.charCodeAt(i);
    if (c < 33 || c > 126) fail(`${name} must be printable US-ASCII (%d33-126)`, i, s);
    i++;
  }
  if (i === start) fail(`${name} is empty (use "-" for no value; two spaces in a row are not allowed)`, start, s);
  if (i - start > max) fail(`${name} is longer than ${max} characters`, start, s);
  if (i >= s.length) fail(`${name} must be followed by SP`, i, s);
  return i;
}

function timestampRule(t: string): string {
  const lenient = scanDateTime(t, false);
  if (lenient === null) return 'TIMESTAMP must be "-" or an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm))';
  if (t[10] !== 'T') return 'TIMESTAMP must use an uppercase "T" between date and time';
  if (t.endsWith('z')) return 'TIMESTAMP must use an uppercase "Z"';
  if (lenient.second === 60) return 'TIMESTAMP must not be a leap second';
  if (lenient.fraction.length > 6) return 'TIMESTAMP must have at most 6 fractional digits';
  return 'TIMESTAMP is not a valid RFC 5424 date-time';
}

function parseSd(s: string, start: number, sd: Rfc5424Message['sd']): number {
  let i = start;
  const seen = new Set<string>();
  while (s[i] === '[') {
    i++;
    const idStart = i;
    while (i < s.length && isSdNameChar(s.charCodeAt(i))) i++;
    const id = s.slice(idStart, i);
    if (id.length === 0) fail('SD-ID is empty', idStart, s);
    if (i < s.length && s.charCodeAt(i) !== SP && s[i] !== ']') fail('SD-ID must be printable US-ASCII without "=", "]", \'"\' or SP', i, s);
    if (id.length > SD_NAME_MAX) fail(`SD-ID is longer than ${SD_NAME_MAX} characters`, idStart, s);
    if (seen.has(id)) fail(`SD-ID "${id}" appears more than once`, idStart, s);
    seen.add(id);
    const params: Array<[string, string]> = [];
    while (s.charCodeAt(i) === SP) {
      i++;
      const nameStart = i;
      while (i < s.length && isSdNameChar(s.charCodeAt(i))) i++;
      const name = s.slice(nameStart, i);
      if (name.length === 0) fail('PARAM-NAME is empty', nameStart, s);
      if (name.length > SD_NAME_MAX) fail(`PARAM-NAME is longer than ${SD_NAME_MAX} characters`, nameStart, s);
      if (s[i] !== '=') {
        const c = s.charCodeAt(i);
        if (i >= s.length || c === SP || s[i] === ']') fail('PARAM-NAME must be followed by "="', i, s);
        fail('PARAM-NAME must be printable US-ASCII without "=", "]", \'"\' or SP', i, s);
      }
      i++;
      if (s[i] !== '"') fail('PARAM-VALUE must start with \'"\'', i, s);
      i++;
      let value = '';
      let chunk = i;
      for (;;) {
        if (i >= s.length) fail('PARAM-VALUE is not closed with \'"\'', i, s);
        const c = s[i];
        if (c === '"') break;
        if (c === ']') fail('"]" inside PARAM-VALUE must be escaped as "\\]"', i, s);
        if (c === '\\') {
          const n = s[i + 1];
          if (n === '"' || n === '\\' || n === ']') {
            value += s.slice(chunk, i) + n;
            i += 2;
            chunk = i;
            continue;
          }
          // RFC 5424 §6.3.3: a backslash before any other character is a literal backslash.
        }
        i++;
      }
      value += s.slice(chunk, i);
      if (!isWellFormed(value)) fail('PARAM-VALUE must be UTF-8 (it contains a lone surrogate)', chunk, s);
      i++; // closing quote
      params.push([name, value]);
    }
    if (s[i] !== ']') fail('SD-ELEMENT must end with "]" (or SP before the next PARAM)', i, s);
    i++;
    sd.push({ id, params });
  }
  return i;
}

/** Parses the text form; `headerEnd` receives the index where MSG starts (or s.length). */
function parseText(s: string): { m: Rfc5424Message; msgStart: number } {
  if (s.charCodeAt(0) !== 60 /* < */) fail('PRI must start with "<"', 0, s);
  let i = 1;
  while (i < s.length && i <= 4 && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) i++;
  const digits = s.slice(1, i);
  if (digits.length === 0 || digits.length > 3) fail('PRIVAL must be 1 to 3 digits', 1, s);
  if (s[i] !== '>') fail('PRI must end with ">" after 1 to 3 digits', i, s);
  if (digits.length > 1 && digits[0] === '0') fail('PRIVAL must not have leading zeros', 1, s);
  const pri = Number(digits);
  if (pri > 191) fail('PRIVAL must be 0..191 (facility 0-23 × 8 + severity 0-7)', 1, s);
  i++;
  const vStart = i;
  while (i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) i++;
  if (i === vStart) fail('VERSION must follow PRI', vStart, s);
  if (s.slice(vStart, i) !== '1') fail('VERSION must be 1', vStart, s);
  if (s.charCodeAt(i) !== SP) fail('VERSION must be followed by SP', i, s);
  i++;

  let end = i;
  while (end < s.length && s.charCodeAt(end) !== SP) end++;
  const ts = s.slice(i, end);
  if (ts.length === 0) fail('TIMESTAMP is empty (use "-" for no value)', i, s);
  if (ts !== '-' && scanDateTime(ts, true) === null) fail(timestampRule(ts), i, s);
  if (end >= s.length) fail('TIMESTAMP must be followed by SP', end, s);
  i = end + 1;

  const fields: Array<string | null> = [];
  const spec: Array<[string, number]> = [
    ['HOSTNAME', HEADER_LIMITS.hostname],
    ['APP-NAME', HEADER_LIMITS.appName],
    ['PROCID', HEADER_LIMITS.procid],
    ['MSGID', HEADER_LIMITS.msgid],
  ];
  for (const [name, max] of spec) {
    end = headerField(s, i, name, max);
    const v = s.slice(i, end);
    fields.push(v === '-' ? null : v);
    i = end + 1;
  }

  const sd: Rfc5424Message['sd'] = [];
  if (s[i] === '-') {
    i++;
  } else if (s[i] === '[') {
    i = parseSd(s, i, sd);
  } else {
    fail('STRUCTURED-DATA must be "-" or start with "["', i, s);
  }
  let msgStart = s.length;
  if (i < s.length) {
    if (s.charCodeAt(i) !== SP) fail('STRUCTURED-DATA must be followed by SP and MSG, or end the message', i, s);
    msgStart = i + 1;
  }
  const m: Rfc5424Message = {
    pri,
    version: 1,
    timestamp: ts === '-' ? null : ts,
    hostname: fields[0] ?? null,
    appName: fields[1] ?? null,
    procid: fields[2] ?? null,
    msgid: fields[3] ?? null,
    sd,
    msg: s.slice(msgStart),
    bom: false,
  };
  return { m, msgStart };
}

export function parseRfc5424(line: string | Buffer): Rfc5424Message {
  if (typeof line === 'string') {
    const { m } = parseText(line);
    if (m.msg.charCodeAt(0) === 0xfeff) {
      m.bom = true;
      m.msg = m.msg.slice(1);
    }
    return m;
  }
  let text: string;
  let exact = true;
  try {
    text = fatalUtf8.decode(line);
  } catch {
    // Invalid UTF-8 is allowed only inside MSG-ANY: parse the lossy text, then prove the
    // header and SD bytes round-trip exactly.
    text = line.toString('utf8');
    exact = false;
  }
  const { m, msgStart } = parseText(text);
  const headBytes = Buffer.byteLength(text.slice(0, msgStart), 'utf8');
  if (!exact) {
    const head = Buffer.from(text.slice(0, msgStart), 'utf8');
    if (headBytes > line.length || !head.equals(line.subarray(0, headBytes))) {
      fail('PARAM-VALUE must be valid UTF-8', 0, text.slice(0, msgStart));
    }
  }
  const rest = line.subarray(Math.min(headBytes, line.length));
  if (rest.length >= 3 && rest[0] === 0xef && rest[1] === 0xbb && rest[2] === 0xbf) {
    m.bom = true;
    try {
      m.msg = fatalUtf8.decode(rest.subarray(3));
    } catch {
      fail('MSG starting with a BOM (MSG-UTF8) must be valid UTF-8', msgStart, text);
    }
  } else if (!exact) {
    m.msg = rest.toString('utf8');
  }
  return m;
}
