/**
 * RELP framing (rsyslog's librelp doc/relp.md): pure encode/decode, no sockets.
 *
 * ```
 * RELP-FRAME = TXNR SP COMMAND SP DATALEN [SP DATA] LF
 * TXNR       = 1*9DIGIT   ; 1..999999999 then back to 1; 0 is for server hints (serverclose)
 * COMMAND    = 1*32ALPHA  ; open, syslog, close, rsp, serverclose
 * DATALEN    = 1*9DIGIT   ; octets of DATA; 0 = no SP and no DATA
 * rsp DATA   = 3DIGIT [SP human text] [LF command data]   ; 200 = OK, anything else = error
 * ```
 */
import { ErrorCodes, RelayError } from '../errors.js';

export const RELP_MAX_TXNR = 999_999_999;
/** Responses are tiny (the open response with offers is ~100 bytes); anything bigger is not a RELP server. */
export const RELP_MAX_RESPONSE_BYTES = 128 * 1024;
const MAX_HEADER_BYTES = 9 + 1 + 32 + 1 + 9 + 1;
const LF = 0x0a;
const SP = 0x20;

export function nextTxnr(txnr: number): number {
  return txnr >= RELP_MAX_TXNR ? 1 : txnr + 1;
}

/** One frame as a string (DATALEN counts UTF-8 bytes, not characters). */
export function encodeFrame(txnr: number, command: string, data: string): string {
  const len = Buffer.byteLength(data);
  return len === 0 ? `${txnr} ${command} 0\n` : `${txnr} ${command} ${len} ${data}\n`;
}

/** The offers of our `open`: protocol version 0 (what librelp speaks), who we are, and that we send syslog. */
export function openOffers(software: string): string {
  return `relp_version=0\nrelp_software=${software}\ncommands=syslog`;
}

export interface RelpFrame {
  txnr: number;
  command: string;
  data: Buffer;
}

function protocolError(peer: string, what: string): RelayError {
  return new RelayError(ErrorCodes.RELP_PROTOCOL, `${peer} broke the RELP framing (${what}); is it a RELP port (rsyslog imrelp)? check port: and transport:.`);
}

function digits(buf: Buffer, from: number, to: number): number | null {
  if (to <= from || to - from > 9) return null;
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = buf[i] ?? 0;
    if (c < 0x30 || c > 0x39) return null;
    n = n * 10 + (c - 0x30);
  }
  return n;
}

function isCommand(buf: Buffer, from: number, to: number): boolean {
  if (to <= from || to - from > 32) return false;
  for (let i = from; i < to; i++) {
    const c = (buf[i] ?? 0) | 0x20;
    if (c < 0x61 || c > 0x7a) return false;
  }
  return true;
}

/** Incremental decoder of the frames a RELP server sends; throws DR_ERR_RELP_PROTOCOL on garbage. */
export class RelpFrameParser {
  #buf: Buffer = Buffer.alloc(0);
  readonly #peer: string;

  constructor(peer: string) {
    this.#peer = peer;
  }

  push(chunk: Buffer): RelpFrame[] {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    const out: RelpFrame[] = [];
    for (;;) {
      const f = this.#next();
      if (f === null) break;
      out.push(f);
    }
    return out;
  }

  #next(): RelpFrame | null {
    const buf = this.#buf;
    if (buf.length === 0) return null;
    const sp1 = buf.indexOf(SP);
    const sp2 = sp1 < 0 ? -1 : buf.indexOf(SP, sp1 + 1);
    if (sp2 < 0) {
      if (buf.length > MAX_HEADER_BYTES) throw protocolError(this.#peer, 'no frame header in the first bytes');
      return null;
    }
    // DATALEN ends at SP (data follows) or LF (no data).
    let end = sp2 + 1;
    while (end < buf.length && end - sp2 <= 10 && buf[end] !== SP && buf[end] !== LF) end++;
    if (end >= buf.length) {
      if (end - sp2 > 10) throw protocolError(this.#peer, 'DATALEN too long');
      return null;
    }
    const txnr = digits(buf, 0, sp1);
    const command = buf.toString('latin1', sp1 + 1, sp2);
    const len = digits(buf, sp2 + 1, end);
    if (txnr === null) throw protocolError(this.#peer, `bad TXNR ${JSON.stringify(buf.toString('latin1', 0, Math.min(sp1, 12)))}`);
    if (!isCommand(buf, sp1 + 1, sp2)) throw protocolError(this.#peer, `bad command ${JSON.stringify(command.slice(0, 40))}`);
    if (len === null) throw protocolError(this.#peer, 'bad DATALEN');
    if (len > RELP_MAX_RESPONSE_BYTES) throw protocolError(this.#peer, `a ${len}-byte frame`);
    let dataStart = end;
    if (buf[end] === SP) dataStart = end + 1;
    else if (len > 0) throw protocolError(this.#peer, 'DATALEN > 0 without data');
    const trailer = dataStart + len;
    if (trailer >= buf.length) return null;
    if (buf[trailer] !== LF) throw protocolError(this.#peer, 'frame not terminated by LF');
    const data = buf.subarray(dataStart, trailer);
    this.#buf = buf.subarray(trailer + 1);
    return { txnr, command, data };
  }
}

export interface RelpResponse {
  code: number;
  /** The human-readable text after the code. */
  text: string;
  /** Command data after the first LF (the offers of an open response). */
  body: string;
}

/** Parses the DATA of an `rsp` frame (one per message: no regex). An empty rsp (librelp's answer to close) counts as 200. */
export function parseResponse(data: Buffer, peer: string): RelpResponse {
  if (data.length === 0) return { code: 200, text: '', body: '' };
  const code = digits(data, 0, 3);
  if (code === null || data.length < 3 || (data.length > 3 && data[3] !== SP && data[3] !== LF)) {
    throw protocolError(peer, `bad rsp ${JSON.stringify(data.toString('utf8', 0, Math.min(data.length, 60)))}`);
  }
  if (data.length <= 4) return { code, text: '', body: '' };
  const lf = data.indexOf(LF, 3);
  const textStart = data[3] === SP ? 4 : 3;
  if (lf < 0) return { code, text: data.toString('utf8', textStart), body: '' };
  return { code, text: data.toString('utf8', textStart, Math.max(textStart, lf)), body: data.toString('utf8', lf + 1) };
}

/** `name=value` offers, one per line (values may hold commas: `commands=syslog,eventlog`). */
export function parseOffers(body: string): Map<string, string> {
  const offers = new Map<string, string>();
  for (const line of body.split('\n')) {
    if (line === '') continue;
    const eq = line.indexOf('=');
    if (eq < 0) offers.set(line, '');
    else offers.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return offers;
}
