/**
 * SD-NAME (SD-ID and PARAM-NAME), RFC 5424 §6.3.2: 1*32 PRINTUSASCII except `=`, SP, `]`, `"`.
 */
import { RelayError, ErrorCodes } from '../errors.js';

export const SD_NAME_MAX = 32;

export function isSdNameChar(c: number): boolean {
  return c >= 33 && c <= 126 && c !== 61 && c !== 93 && c !== 34;
}

export function isSdName(s: string): boolean {
  if (s.length === 0 || s.length > SD_NAME_MAX) return false;
  for (let i = 0; i < s.length; i++) if (!isSdNameChar(s.charCodeAt(i))) return false;
  return true;
}

/** Checked once when a formatter is built, so a bad enterprise_id fails at startup, not per event. */
export function assertSdName(s: string): void {
  if (!isSdName(s)) {
    throw new RelayError(
      ErrorCodes.CONFIG,
      `Invalid RFC 5424 SD-NAME "${s}": it must be 1-32 printable ASCII characters without '=', ']', '"' or space; check enterprise_id in the destination's config.`,
    );
  }
}
