/**
 * RFC 5424 header fields (HOSTNAME, APP-NAME, PROCID, MSGID) are NILVALUE or 1*N PRINTUSASCII
 * (%d33-126). Anything else a record carries (spaces, control characters, Unicode) is
 * replaced, so a hostile or odd value can never shift the header fields a parser sees.
 */

/** Header field limits of RFC 5424 §6. */
export const HEADER_LIMITS = { hostname: 255, appName: 48, procid: 128, msgid: 32 } as const;

export function isPrintUsAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 33 || c > 126) return false;
  }
  return true;
}

/**
 * `s` cut to `max` characters with every code point outside PRINTUSASCII replaced by `_`;
 * `-` (NILVALUE) when nothing is left. Returns `s` itself when it is already valid.
 */
export function toPrintUsAscii(s: string | undefined, max: number): string {
  if (s === undefined || s.length === 0) return '-';
  if (s.length <= max && isPrintUsAscii(s)) return s;
  let out = '';
  for (const ch of s) {
    if (out.length >= max) break;
    const c = ch.charCodeAt(0);
    out += c >= 33 && c <= 126 ? ch : '_';
  }
  return out;
}

/**
 * A one-entry cache around `toPrintUsAscii`: hosts, tags and kinds repeat from event to event,
 * so the scan runs once per change instead of once per event.
 */
export function cachedPrintUsAscii(max: number): (s: string | undefined) => string {
  let lastIn: string | undefined;
  let lastOut = '-';
  return (s) => {
    if (s === lastIn) return lastOut;
    lastIn = s;
    lastOut = toPrintUsAscii(s, max);
    return lastOut;
  };
}
