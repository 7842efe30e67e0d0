/**
 * Stable event ids: the id a SIEM de-duplicates on (RFC 5424 SD), so an event read twice (a
 * destination replaying after a reconnect, a source re-reading after a crash, the administrator log
 * re-polled from the same second) carries the same id every time.
 *
 * - Duo's own id where the log has one: `txid` (authentication), `telephony_id` (telephony v2),
 *   `activity_id` (activity), `sekey` (Trust Monitor). It must be a string of 1–128 printable
 *   US-ASCII characters (it goes into an SD-PARAM); anything else falls back to the hash.
 *   Telephony v2 also carries a `txid`, but that is the authentication it belongs to, so
 *   `telephony_id` is the one used.
 * - Otherwise (administrator, telephony v1, offline enrollment, authproxy, or the id is missing):
 *   the first 32 hex digits of SHA-256 over the raw JSON text — the line exactly as read, or for
 *   records handed over as objects their `JSON.stringify`, which is deterministic for the same
 *   API response. With an MSP child account the account id (and a newline) is hashed first, so the
 *   same record text in two child accounts does not collapse into one event.
 * Same input ⇒ same id; no clock, counter or position goes in.
 */
import { hash } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import type { JsonObject, LogKind } from '../event.js';

/** The field holding Duo's own event id, per kind. */
export const ID_FIELDS: Readonly<Partial<Record<LogKind, string>>> = {
  authentication: 'txid',
  telephony: 'telephony_id',
  activity: 'activity_id',
  'trust-monitor': 'sekey',
};

const MAX_NATURAL_ID = 128;

function isPrintableId(s: string): boolean {
  const n = s.length;
  if (n === 0 || n > MAX_NATURAL_ID) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 33 || c > 126) return false;
  }
  return true;
}

/** Length of a content hash: 32 hex digits. */
export const CONTENT_HASH_CHARS = 32;

/** 32 hex digits (128 bits) of SHA-256 over `account + "\n"` (when set) and the raw text. */
export function contentHash(raw: string, account?: string): string {
  // One-shot hash: no Hash object or digest Buffer per event (a third cheaper than createHash here).
  return hash('sha256', account !== undefined ? account + '\n' + raw : raw, 'hex').slice(0, CONTENT_HASH_CHARS);
}

/**
 * contentHash(text) of the text these bytes decode to, without decoding them, when that is the same
 * thing: valid UTF-8 decodes to a string whose UTF-8 is the bytes again. Undefined otherwise (the
 * decoder puts U+FFFD for invalid sequences, so only the text's own hash is the id).
 */
export function contentHashOfBytes(bytes: Uint8Array): string | undefined {
  return isUtf8(bytes) ? hash('sha256', bytes, 'hex').slice(0, CONTENT_HASH_CHARS) : undefined;
}

/**
 * The event's id. `rawHash`: contentHash(raw, account) when the caller already has it (the tailer's
 * lines are hashed from their bytes on the main thread; SourceRecord.contentHash).
 */
export function eventId(kind: LogKind, record: JsonObject, raw: string, account?: string, rawHash?: string): string {
  const field = ID_FIELDS[kind];
  if (field !== undefined) {
    const v = record[field];
    if (typeof v === 'string' && isPrintableId(v)) return v;
  }
  return rawHash ?? contentHash(raw, account);
}
