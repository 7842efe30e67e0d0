/**
 * Duo API request signing (DESIGN §6), on node:crypto only.
 *
 * Canonical string, one line each, joined with "\n" and no trailing newline:
 *   v1: METHOD, host, path, params
 *   v2: date, METHOD, host, path, params
 *   v4: v2 + sha512_hex(body)
 *   v5: v4 + sha512_hex(x-duo headers as name\0value\0…, names lower-cased and sorted)
 * The MAC is HMAC-SHA512 (v2 may use the documented HMAC-SHA1); Authorization is
 * `Basic base64(ikey:hex)`. Params follow RFC 3986 / OAuth 1.0 (RFC 5849 §3.4.1.3.2): only
 * `A-Z a-z 0-9 - _ . ~` stay as they are, upper-case hex, sorted by encoded key, a repeated key gives
 * one `k=v` per value with the values sorted.
 */
import { createHash, createHmac } from 'node:crypto';
import { RelayError, ErrorCodes } from '../../errors.js';

export type DuoParams = Record<string, string | string[]>;

export interface SignRequestInput {
  method: string;
  host: string;
  path: string;
  params: DuoParams;
  /** Exactly the string sent in the `Date` header. */
  date: string;
  ikey: string;
  skey: string;
  sigVersion: 2 | 5 | number;
  /** HMAC for v1/v2. @default 'SHA512' (what every official client sends); v4/v5 are always SHA512. */
  digest?: 'SHA1' | 'SHA512';
  /** Request body for v4/v5 (JSON for POST, "" for GET). @default "" */
  body?: string;
  /** Headers to send; only `x-duo-*` ones are signed (v5). */
  headers?: Record<string, string>;
}

export interface SignedRequest {
  authorization: string;
  canonical: string;
}

/** RFC 3986 percent-encoding of a UTF-8 string, upper-case hex. */
export function encodeRfc3986(s: string): string {
  // encodeURIComponent leaves ! ' ( ) * alone; Duo wants them escaped like every other reserved char.
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The params line: encoded keys sorted, one `k=v` per value (values sorted), joined with `&`. */
export function canonParams(params: DuoParams): string {
  const pairs: Array<[string, string[]]> = [];
  for (const [k, v] of Object.entries(params)) {
    const values = (Array.isArray(v) ? v : [v]).map(encodeRfc3986).sort(byCodeUnit);
    pairs.push([encodeRfc3986(k), values]);
  }
  pairs.sort((a, b) => byCodeUnit(a[0], b[0]));
  const out: string[] = [];
  for (const [k, values] of pairs) for (const v of values) out.push(`${k}=${v}`);
  return out.join('&');
}

// Encoded strings are pure ASCII, so UTF-16 code-unit order is byte order (Duo's server sort).
function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function sha512Hex(s: string): string {
  return createHash('sha512').update(s, 'utf8').digest('hex');
}

/** sha512 of the signed `x-duo-*` headers; other headers are not part of the signature. */
export function duoHeadersHash(headers: Record<string, string> | undefined): string {
  const seen = new Map<string, string>();
  for (const [name, value] of Object.entries(headers ?? {})) {
    const lower = name.toLowerCase();
    if (!lower.startsWith('x-duo-')) continue;
    if (lower.includes('\0') || value.includes('\0')) {
      throw new RelayError(ErrorCodes.CONFIG, `Header ${name} contains a NUL character; Duo refuses such headers, so remove it.`);
    }
    if (seen.has(lower)) {
      throw new RelayError(ErrorCodes.CONFIG, `Header ${name} is given twice (names are case-insensitive); send it once.`);
    }
    seen.set(lower, value);
  }
  const names = [...seen.keys()].sort(byCodeUnit);
  return sha512Hex(names.map((n) => `${n}\0${seen.get(n) ?? ''}`).join('\0'));
}

export function canonicalize(req: Omit<SignRequestInput, 'ikey' | 'skey' | 'digest'>): string {
  const head = [req.method.toUpperCase(), req.host.toLowerCase(), req.path, canonParams(req.params)];
  switch (req.sigVersion) {
    case 1:
      return head.join('\n');
    case 2:
      return [req.date, ...head].join('\n');
    case 4:
      return [req.date, ...head, sha512Hex(req.body ?? '')].join('\n');
    case 5:
      return [req.date, ...head, sha512Hex(req.body ?? ''), duoHeadersHash(req.headers)].join('\n');
    default:
      throw new RelayError(ErrorCodes.CONFIG, `Duo signature version ${String(req.sigVersion)} is not supported; use sig_version 5 (or 2).`);
  }
}

/** Signs one request. The skey only feeds the HMAC; it is never part of the returned values. */
export function signRequest(req: SignRequestInput): SignedRequest {
  const canonical = canonicalize(req);
  const digest = req.sigVersion >= 4 ? 'SHA512' : (req.digest ?? 'SHA512');
  if (req.sigVersion >= 4 && req.digest === 'SHA1') {
    throw new RelayError(ErrorCodes.CONFIG, `Duo signature version ${req.sigVersion} is always HMAC-SHA512; drop digest SHA1.`);
  }
  const hex = createHmac(digest === 'SHA1' ? 'sha1' : 'sha512', req.skey).update(canonical, 'utf8').digest('hex');
  return { authorization: `Basic ${Buffer.from(`${req.ikey}:${hex}`, 'utf8').toString('base64')}`, canonical };
}

/** RFC 2822 date as Duo documents it (`Tue, 21 Aug 2012 17:29:18 -0000`); made fresh for every attempt. */
export function duoDate(ms: number): string {
  return new Date(ms).toUTCString().replace(/ GMT$/, ' -0000');
}
