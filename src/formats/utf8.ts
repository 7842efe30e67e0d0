/**
 * UTF-8 helpers for the hot path. Strings reaching the wire must be well formed: a lone
 * surrogate has no UTF-8 encoding (Buffer writes EF BF BD for it), so we replace it with
 * U+FFFD ourselves and the string we measure is the string we send.
 */

// Node 20 has String.prototype.isWellFormed/toWellFormed (V8 11.3); the es2023 lib does not type them.
interface WellFormedString {
  isWellFormed(): boolean;
  toWellFormed(): string;
}

/** The same string when it is well formed (the usual case), else lone surrogates → U+FFFD. */
export function wellFormed(s: string): string {
  const w = s as unknown as WellFormedString;
  return w.isWellFormed() ? s : w.toWellFormed();
}

export function isWellFormed(s: string): boolean {
  return (s as unknown as WellFormedString).isWellFormed();
}

/** UTF-8 length of a well-formed string. */
export function utf8Bytes(s: string): number {
  // One UTF-16 code unit never needs more than 3 UTF-8 bytes; pure ASCII is the common case.
  return Buffer.byteLength(s, 'utf8');
}

/**
 * The longest prefix of `s` (well formed) whose UTF-8 encoding fits in `maxBytes`, never
 * splitting a character: a cut inside a multi-byte sequence backs off to its lead byte,
 * so no surrogate pair is ever split either.
 */
export function truncateUtf8(s: string, maxBytes: number): string {
  if (maxBytes <= 0) return '';
  if (s.length * 3 <= maxBytes) return s;
  const buf = Buffer.from(s, 'utf8');
  if (buf.length <= maxBytes) return s;
  let end = maxBytes;
  // buf[end] is the first byte left out; while it is a continuation byte (10xxxxxx) the
  // character it belongs to started before `end` and must be left out whole.
  while (end > 0 && ((buf[end] ?? 0) & 0xc0) === 0x80) end--;
  return buf.toString('utf8', 0, end);
}
