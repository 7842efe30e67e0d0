/**
 * The router: one SourceRecord in, one RelayEvent or one DeadLetter out. Never throws.
 *
 *   parse (rec.record, else JSON.parse(rec.text)) → kind (rec.kind, else classify by shape)
 *   → tag → flatten → time → id
 *
 * Dead letters (DESIGN §5: written to the dead-letter file with the reason, counted, logged):
 * - `Not JSON: <parser message>`; `Not a JSON object: <array|number|string|boolean|null>`;
 *   `Empty record: …` when a source handed neither text nor record; `Not serialisable: …`.
 * - `Unrecognised shape: …` for a JSON object that is no Duo log we know. Such a record is not
 *   dropped and not guessed at: tagging it as, say, an authentication event would put it into the
 *   wrong SIEM table and under detection rules written for another log. A security engineer gets it
 *   in the dead-letter file with its keys in the reason, a metric and a log line, and can replay it
 *   with `--type`. (RelayEvent.kind has no `unknown` value to carry it to the SIEM instead; see
 *   UNRECOGNISED_REASON.)
 * - `Internal router error: …` if anything unexpected throws (a bug): the record is kept, not lost.
 * `preview` is the first 512 characters of the input (never ending in half a surrogate pair).
 *
 * A `rec.kind` that is not a LogKind (a caller bug) is ignored and the shape decides.
 * HEADER host: `rec.host` ?? the record's own `host` (cloud records carry the API host) ?? `defaultHost`.
 */
import type { DeadLetter, JsonObject, LogKind, RelayEvent, SourceRecord } from '../event.js';
import { LOG_KINDS } from '../event.js';
import type { TagOverrides } from '../config/schema.js';
import { classify } from './classify.js';
import { resolveTags, tagFromTable, type TagTable } from './tag.js';
import { flattenCloud, flattenProxy, safeJson } from './flatten.js';
import { eventTime } from './event-time.js';
import { eventId } from './event-id.js';
import { FastProxyEvent, ProxyFastPath } from './proxy-fast.js';

export type RouteResult = { ok: true; event: RelayEvent } | { ok: false; dead: DeadLetter };

export interface RouterOptions {
  tags?: TagOverrides;
  /** HEADER host when the record/source gives none */
  defaultHost?: string;
}

export const PREVIEW_CHARS = 512;
/** Start of the dead-letter reason for JSON objects that are no known Duo log. */
export const UNRECOGNISED_REASON = 'Unrecognised shape: not a known Duo log';
const MAX_KEYS_IN_REASON = 12;

const KINDS: ReadonlySet<string> = new Set(LOG_KINDS);
/** What the authproxy tag and id read of the record: nothing (asserted by the router tests). */
const NO_FIELDS: JsonObject = Object.freeze({});

function isLogKind(k: unknown): k is LogKind {
  return typeof k === 'string' && KINDS.has(k);
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** First PREVIEW_CHARS characters, not cutting a surrogate pair in half. */
export function preview(s: string): string {
  if (s.length <= PREVIEW_CHARS) return s;
  const c = s.charCodeAt(PREVIEW_CHARS - 1);
  return s.slice(0, c >= 0xd800 && c <= 0xdbff ? PREVIEW_CHARS - 1 : PREVIEW_CHARS);
}

function jsonTypeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function dead(reason: string, position: unknown, input: string): RouteResult {
  return { ok: false, dead: { reason, position: typeof position === 'string' ? position : '', preview: preview(input) } };
}

function unrecognised(record: JsonObject): string {
  const keys = Object.keys(record);
  const shown = keys.slice(0, MAX_KEYS_IN_REASON).join(', ');
  return `${UNRECOGNISED_REASON} (keys: ${shown}${keys.length > MAX_KEYS_IN_REASON ? ', …' : ''}); replay it with --type if it is one`;
}

/** The record's precomputed hash of its text, when it may stand for contentHash(text, account). */
function knownHash(rec: SourceRecord): string | undefined {
  return rec.account === undefined ? rec.contentHash : undefined;
}

/**
 * A proxy line from the tailer (kind and host known, text only) through the fast lane; undefined
 * when the lane does not take it. Same event as routeOne would build: for authproxy the tag and id
 * need no field (tag.ts, event-id.ts), and the event makes its time, severity, JSON text and
 * fields from the matched tokens (proxy-fast.ts).
 */
function routeProxyFast(rec: SourceRecord, text: string, host: string, tags: TagTable, fast: ProxyFastPath): RouteResult | undefined {
  const match = fast.match(text);
  if (match === undefined) return undefined;
  const event = new FastProxyEvent(match, tagFromTable(tags, 'authproxy', NO_FIELDS), host, eventId('authproxy', NO_FIELDS, text, rec.account, knownHash(rec)), text);
  if (rec.account !== undefined) event.account = rec.account;
  return { ok: true, event };
}

function routeOne(rec: SourceRecord, tags: TagTable, defaultHost: string | undefined, fast: ProxyFastPath): RouteResult {
  const text = rec.text;
  if (rec.kind === 'authproxy' && rec.record === undefined && typeof text === 'string' && rec.host !== undefined) {
    const r = routeProxyFast(rec, text, rec.host, tags, fast);
    if (r !== undefined) return r;
  }
  let record: JsonObject;
  let raw: string;
  if (rec.record !== undefined) {
    const r: unknown = rec.record;
    if (!isObject(r)) return dead(`Not a JSON object: ${jsonTypeName(r)}`, rec.position, typeof text === 'string' ? text : safeJson(r));
    record = r;
    if (typeof text === 'string') raw = text;
    else {
      try {
        const s = JSON.stringify(record);
        if (typeof s !== 'string') return dead('Not serialisable: JSON.stringify gave no text', rec.position, '');
        raw = s;
      } catch (err: unknown) {
        return dead(`Not serialisable: ${errorMessage(err)}`, rec.position, '');
      }
    }
  } else if (typeof text === 'string') {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (err: unknown) {
      return dead(`Not JSON: ${errorMessage(err)}`, rec.position, text);
    }
    if (!isObject(v)) return dead(`Not a JSON object: ${jsonTypeName(v)}`, rec.position, text);
    record = v;
    raw = text;
  } else {
    return dead('Empty record: the source gave neither text nor a parsed record', rec.position, '');
  }

  const kind = isLogKind(rec.kind) ? rec.kind : classify(record);
  if (kind === undefined) return dead(unrecognised(record), rec.position, raw);

  const recordHost = record.host;
  const event: RelayEvent = {
    kind,
    tag: tagFromTable(tags, kind, record),
    msgid: kind,
    host: rec.host ?? (typeof recordHost === 'string' && recordHost !== '' ? recordHost : defaultHost),
    time: eventTime(record),
    id: eventId(kind, record, raw, rec.account, raw === rec.text ? knownHash(rec) : undefined),
    fields: kind === 'authproxy' ? flattenProxy(record) : flattenCloud(record),
    raw,
  };
  if (rec.account !== undefined) event.account = rec.account;
  return { ok: true, event };
}

export function createRouter(opts?: RouterOptions): { route(rec: SourceRecord): RouteResult } {
  const tags = resolveTags(opts?.tags);
  const defaultHost = opts?.defaultHost;
  const fast = new ProxyFastPath();
  return {
    route(rec: SourceRecord): RouteResult {
      try {
        return routeOne(rec, tags, defaultHost, fast);
      } catch (err: unknown) {
        // A bug, not bad input: keep the record visible rather than crash the relay.
        let input = '';
        try {
          input = typeof rec?.text === 'string' ? rec.text : safeJson(rec?.record);
        } catch {
          input = '';
        }
        let position: unknown;
        try {
          position = rec?.position;
        } catch {
          position = undefined;
        }
        return dead(`Internal router error: ${errorMessage(err)}`, position, input);
      }
    },
  };
}
