/**
 * The mock's own check of a Duo signature, written independently of src/sources/duo-api/sign.ts
 * (byte-wise percent-encoding instead of encodeURIComponent) so the two cannot share a mistake.
 * Accepts v2 with HMAC-SHA1 or HMAC-SHA512 and v5, as Duo does.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

const UNRESERVED = /[A-Za-z0-9\-._~]/;

function pct(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += byte < 0x80 && UNRESERVED.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function mockCanonParams(params: Map<string, string[]>): string {
  const entries = [...params.entries()].map(([k, vs]) => [pct(k), vs.map(pct).sort()] as const);
  entries.sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])));
  return entries.flatMap(([k, vs]) => vs.map((v) => `${k}=${v}`)).join('&');
}

function sha512(s: string): string {
  return createHash('sha512').update(s).digest('hex');
}

export interface SignedParts {
  method: string;
  host: string;
  path: string;
  params: Map<string, string[]>;
  date: string;
  body: string;
  /** x-duo-* request headers. */
  duoHeaders: Array<[string, string]>;
}

export type SigKind = 'v2-sha1' | 'v2-sha512' | 'v5';

/** Returns which signature matched, or undefined. */
export function verifySignature(parts: SignedParts, skey: string, hexSig: string): SigKind | undefined {
  const base = [parts.date, parts.method.toUpperCase(), parts.host.toLowerCase(), parts.path, mockCanonParams(parts.params)];
  const headerLine = sha512(
    [...parts.duoHeaders]
      .map(([k, v]) => [k.toLowerCase(), v] as const)
      .sort((a, b) => (a[0] < b[0] ? -1 : 1))
      .map(([k, v]) => `${k}\0${v}`)
      .join('\0'),
  );
  const candidates: Array<[SigKind, 'sha1' | 'sha512', string]> = [
    ['v2-sha1', 'sha1', base.join('\n')],
    ['v2-sha512', 'sha512', base.join('\n')],
    ['v5', 'sha512', [...base, sha512(parts.body), headerLine].join('\n')],
  ];
  const given = Buffer.from(hexSig.toLowerCase(), 'utf8');
  for (const [kind, algo, canon] of candidates) {
    const want = Buffer.from(createHmac(algo, skey).update(canon).digest('hex'), 'utf8');
    if (want.length === given.length && timingSafeEqual(want, given)) return kind;
  }
  return undefined;
}
