/**
 * Types shared across stages. Data flows one way:
 * sources → route (classify → tag → flatten) → queue → destinations.
 */

/** Every kind of Duo log the relay knows. `unknown` = shape not recognised. */
export const LOG_KINDS = [
  'authproxy',
  'administrator',
  'authentication',
  'telephony',
  'offline-enrollment',
  'activity',
  'trust-monitor',
] as const;
export type LogKind = (typeof LOG_KINDS)[number];

/** A JSON object as parsed from the wire: nothing about its content is trusted yet. */
export type JsonObject = { [key: string]: unknown };

/** A flattened value: what a SIEM column can hold. */
export type FlatValue = string | number | boolean | null;
export type FlatRecord = Record<string, FlatValue>;

/**
 * One record as a source hands it to the router. Either `text` (one JSON line as read)
 * or `record` (already parsed, e.g. from the Admin API) is set.
 */
export interface SourceRecord {
  /** The JSON text exactly as read (one line, no trailing newline). */
  text?: string;
  /** The parsed object, when the source parsed it already. */
  record?: JsonObject;
  /** Known log kind (by endpoint or file); absent → classified by shape. */
  kind?: LogKind;
  /** HEADER hostname: API host, proxy host, or the relaying sender. */
  host?: string;
  /** Where the record came from, for dead letters and stable ids: `file@dev:ino:offset`, `api:host/endpoint`. */
  position: string;
  /** MSP child account id, when the poller collected it for a child account. */
  account?: string;
  /**
   * contentHash(text) (route/event-id.ts), when whoever had the text's bytes computed it already
   * (the tailer's lines, hashed on the main thread while the route thread is the busy one). Never
   * set together with `account` (whose hash covers the account too).
   */
  contentHash?: string;
}

/** A routed event: tagged, flattened, with a stable id. Serialisable as JSON (the disk queue stores it). */
export interface RelayEvent {
  kind: LogKind;
  /** Devo-style tag (`auth.duo.authentication.events`); the RFC 5424 APP-NAME. */
  tag: string;
  /** MSGID: the event kind, ≤32 PRINTUSASCII. */
  msgid: string;
  /** HEADER hostname (unsanitised; the formatter enforces RFC limits). */
  host: string | undefined;
  /** Event time as RFC 3339 with at most 6 fractional digits, or undefined when the record has none. */
  time: string | undefined;
  /** Stable event id: txid, telephony_id, activity_id… or a content hash. Repeats carry the same id. */
  id: string;
  /** The flattened record (DESIGN §3). */
  fields: FlatRecord;
  /** The original JSON text (for `message: raw`). */
  raw: string;
  /** MSP child account id, when known. */
  account?: string;
  /**
   * Set on events read back from the disk queue (pipeline/event-codec.ts), which stores what the
   * formatters would otherwise derive from `fields` again: the syslog severity (formats/severity.ts)
   * and the fields' JSON text (formats/flat-json.ts).
   */
  readonly severity?: number;
  readonly fieldsJson?: string;
  /** The UTF-8 bytes of `fieldsJson` (copied into a frame as they are; never holds CR or LF). */
  readonly fieldsBytes?: Buffer;
}

/** A record the router refused; written to the dead-letter file with the reason. */
export interface DeadLetter {
  reason: string;
  position: string;
  /** The offending input, truncated to a preview. */
  preview: string;
}

/**
 * The plain shape of an event, as the router builds it on its normal path: for the toJSON() of
 * events that make some members on demand (the fast lane's, the disk queue's), so JSON.stringify
 * and the version-1 queue payload see every member.
 */
export function plainEvent(ev: RelayEvent): object {
  const o: Record<string, unknown> = { kind: ev.kind, tag: ev.tag, msgid: ev.msgid };
  if (ev.host !== undefined) o['host'] = ev.host;
  if (ev.time !== undefined) o['time'] = ev.time;
  o['id'] = ev.id;
  o['fields'] = ev.fields;
  o['raw'] = ev.raw;
  if (ev.account !== undefined) o['account'] = ev.account;
  return o;
}
