/**
 * Stream framing for syslog over TCP/TLS (RFC 6587 §3.4, RFC 5425 §4.3) and datagram sizing.
 *
 * - Octet counting: `MSG-LEN SP SYSLOG-MSG`, MSG-LEN in UTF-8 **bytes** (a count in characters
 *   silently desynchronises the receiver: notes/syslog-rfcs-and-shippers.md §4.4).
 * - LF (non-transparent) framing: `SYSLOG-MSG LF`. A raw LF inside the message would split it, so CR
 *   and LF are escaped as `#015` and `#012`: the same escape rsyslog applies on receive
 *   (parser.escapeControlCharactersOnReceive), so a message reads the same at the SIEM whichever
 *   framing carried it. The escape is lossy only for text that already contained "#012".
 *
 * Batch framers build ONE Buffer for many messages: one length pass, one allocation, in-place writes.
 */

export type Framing = 'octet-counting' | 'lf';

/** Builds the wire bytes for a batch of formatted messages. */
export type BatchFramer = (msgs: readonly string[]) => Buffer;

const LF = 0x0a;
const SP = 0x20;

/** Escapes CR/LF so the message stays one line; returns the same string when there is nothing to escape. */
export function escapeLineBreaks(msg: string): string {
  // Scan first: almost every message (JSON with escaped newlines) has neither, and then we allocate nothing.
  if (msg.indexOf('\n') === -1 && msg.indexOf('\r') === -1) return msg;
  let out = '';
  let from = 0;
  for (let i = 0; i < msg.length; i++) {
    const c = msg.charCodeAt(i);
    if (c === 0x0a || c === 0x0d) {
      out += msg.slice(from, i) + (c === 0x0a ? '#012' : '#015');
      from = i + 1;
    }
  }
  return out + msg.slice(from);
}

/** Decimal digits of a non-negative integer (the width of an octet-counting MSG-LEN). */
export function decimalDigits(n: number): number {
  let d = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    d++;
  }
  return d;
}

/** One octet-counted frame: `<bytes> SP msg`. */
export function frameOctet(msg: string): Buffer {
  return frameOctetBatch([msg]);
}

/** One LF-terminated frame, CR/LF inside `msg` escaped (see module doc). */
export function frameLf(msg: string): Buffer {
  return frameLfBatch([msg]);
}

/** Octet-counted frames for many messages, in one Buffer. */
export function frameOctetBatch(msgs: readonly string[]): Buffer {
  const n = msgs.length;
  const lens = new Array<number>(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const len = Buffer.byteLength(msgs[i] as string, 'utf8');
    lens[i] = len;
    total += decimalDigits(len) + 1 + len;
  }
  const buf = Buffer.allocUnsafe(total);
  let off = 0;
  for (let i = 0; i < n; i++) {
    const len = lens[i] as number;
    off += buf.write(String(len), off, 'latin1');
    buf[off++] = SP;
    off += buf.write(msgs[i] as string, off, len, 'utf8');
  }
  return buf;
}

/** LF-terminated frames for many messages, in one Buffer. */
export function frameLfBatch(msgs: readonly string[]): Buffer {
  const n = msgs.length;
  const escaped = new Array<string>(n);
  const lens = new Array<number>(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const m = escapeLineBreaks(msgs[i] as string);
    escaped[i] = m;
    const len = Buffer.byteLength(m, 'utf8');
    lens[i] = len;
    total += len + 1;
  }
  const buf = Buffer.allocUnsafe(total);
  let off = 0;
  for (let i = 0; i < n; i++) {
    off += buf.write(escaped[i] as string, off, lens[i] as number, 'utf8');
    buf[off++] = LF;
  }
  return buf;
}

/** Chosen once per destination, so the hot path does not branch on config. */
export function batchFramer(framing: Framing): BatchFramer {
  return framing === 'lf' ? frameLfBatch : frameOctetBatch;
}

/**
 * Encodes `msg` as UTF-8 and cuts it to at most `maxBytes` without splitting a character.
 * `truncated` tells the caller to count it.
 */
export function encodeTruncated(msg: string, maxBytes: number): { bytes: Buffer; truncated: boolean } {
  const bytes = Buffer.from(msg, 'utf8');
  if (bytes.length <= maxBytes) return { bytes, truncated: false };
  let end = Math.max(0, maxBytes);
  // Back up over continuation bytes (10xxxxxx) to the start of the character that does not fit.
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--;
  return { bytes: bytes.subarray(0, end), truncated: true };
}
