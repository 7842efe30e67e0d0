/**
 * The Duo log endpoints as data: path, paging style, page size, where the records and the next
 * offset live in the answer, each record's stable id and time. Facts: notes/duo-admin-api.md §1.
 */
import { createHash } from 'node:crypto';
import type { JsonObject, LogKind } from '../../event.js';
import type { DuoApiLog } from '../../config/schema.js';

/**
 * `mintime-v1`: `mintime` in seconds, the 1000 earliest records at or after it, no cursor from Duo.
 * `window`: `mintime`/`maxtime` in ms plus an opaque offset token echoed back until it is null.
 */
export type Paging = 'mintime-v1' | 'window';

export interface EndpointSpec {
  log: DuoApiLog;
  kind: LogKind;
  path: string;
  paging: Paging;
  /** Query parameter that carries Duo's offset token back (window paging). */
  offsetParam: 'next_offset' | 'offset';
  /** Largest page Duo serves; we always ask for it. */
  limit: number;
  /** Added to each record like Duo's own clients do. */
  eventtype: string;
  /** The record list inside `response`, or undefined when the shape is wrong. */
  records(response: unknown): unknown[] | undefined;
  /** Duo's next-page token from `response.metadata` (or the top-level metadata), normalised to a string. */
  nextOffset(response: unknown, metadata: unknown): string | null;
  /** Stable id: Duo's own when the record has one, else a content hash. Computed before we add fields. */
  idOf(rec: JsonObject): string;
  /** Event time in ms since the epoch, when the record has one. */
  timeMsOf(rec: JsonObject): number | undefined;
}

function obj(v: unknown): JsonObject | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as JsonObject) : undefined;
}

function listAt(key: string | null): (response: unknown) => unknown[] | undefined {
  return (response) => {
    const v = key === null ? response : obj(response)?.[key];
    return Array.isArray(v) ? v : undefined;
  };
}

export function normaliseOffset(v: unknown): string | null {
  if (typeof v === 'string') return v === '' ? null : v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  // Authentication logs give `[ms, txid]`; Duo wants them back joined by a comma.
  if (Array.isArray(v) && v.length > 0 && v.every((p) => typeof p === 'string' || typeof p === 'number')) return v.join(',');
  return null;
}

function metaOffset(response: unknown, metadata: unknown): string | null {
  const inner = obj(obj(response)?.metadata);
  if (inner !== undefined && 'next_offset' in inner) return normaliseOffset(inner.next_offset);
  return normaliseOffset(obj(metadata)?.next_offset);
}

function noOffset(): null {
  return null;
}

export function contentHash(rec: JsonObject): string {
  return `h:${createHash('sha256').update(JSON.stringify(rec)).digest('hex').slice(0, 32)}`;
}

function idField(field: string): (rec: JsonObject) => string {
  return (rec) => {
    const v = rec[field];
    return typeof v === 'string' && v !== '' ? v : contentHash(rec);
  };
}

function seconds(rec: JsonObject): number | undefined {
  const v = rec.timestamp;
  return typeof v === 'number' && Number.isFinite(v) ? v * 1000 : undefined;
}

function iso(field: string): (rec: JsonObject) => number | undefined {
  return (rec) => {
    const v = rec[field];
    const ms = typeof v === 'string' ? Date.parse(v) : NaN;
    return Number.isFinite(ms) ? ms : undefined;
  };
}

const v1 = { paging: 'mintime-v1' as const, offsetParam: 'next_offset' as const, limit: 1000, records: listAt(null), nextOffset: noOffset, idOf: contentHash, timeMsOf: seconds };

export const ADMINISTRATOR: EndpointSpec = { ...v1, log: 'administrator', kind: 'administrator', path: '/admin/v1/logs/administrator', eventtype: 'administrator' };

export const OFFLINE_ENROLLMENT: EndpointSpec = {
  ...v1,
  log: 'offline-enrollment',
  kind: 'offline-enrollment',
  path: '/admin/v1/logs/offline_enrollment',
  eventtype: 'offline_enrollment',
};

export const TELEPHONY_V1: EndpointSpec = { ...v1, log: 'telephony', kind: 'telephony', path: '/admin/v1/logs/telephony', eventtype: 'telephony' };

export const AUTHENTICATION: EndpointSpec = {
  log: 'authentication',
  kind: 'authentication',
  path: '/admin/v2/logs/authentication',
  paging: 'window',
  offsetParam: 'next_offset',
  limit: 1000,
  eventtype: 'authentication',
  records: listAt('authlogs'),
  nextOffset: metaOffset,
  idOf: idField('txid'),
  // `timestamp` is whole seconds even in v2; isotimestamp keeps the sub-second part.
  timeMsOf: (rec) => iso('isotimestamp')(rec) ?? seconds(rec),
};

export const TELEPHONY_V2: EndpointSpec = {
  log: 'telephony',
  kind: 'telephony',
  path: '/admin/v2/logs/telephony',
  paging: 'window',
  offsetParam: 'next_offset',
  limit: 1000,
  eventtype: 'telephony',
  records: listAt('items'),
  nextOffset: metaOffset,
  idOf: idField('telephony_id'),
  timeMsOf: iso('ts'),
};

export const ACTIVITY: EndpointSpec = {
  log: 'activity',
  kind: 'activity',
  path: '/admin/v2/logs/activity',
  paging: 'window',
  offsetParam: 'next_offset',
  limit: 1000,
  eventtype: 'activity',
  records: listAt('items'),
  nextOffset: metaOffset,
  idOf: idField('activity_id'),
  timeMsOf: iso('ts'),
};

export const TRUST_MONITOR: EndpointSpec = {
  log: 'trust-monitor',
  kind: 'trust-monitor',
  path: '/admin/v1/trust_monitor/events',
  paging: 'window',
  offsetParam: 'offset',
  limit: 200,
  eventtype: 'trust_monitor',
  records: listAt('events'),
  nextOffset: metaOffset,
  idOf: idField('sekey'),
  timeMsOf: (rec) => (typeof rec.surfaced_timestamp === 'number' ? rec.surfaced_timestamp : undefined),
};

/** The endpoint behind a configured log name (telephony v1 only for old accounts). */
export function endpointFor(log: DuoApiLog, telephonyVersion: 1 | 2): EndpointSpec {
  switch (log) {
    case 'administrator':
      return ADMINISTRATOR;
    case 'authentication':
      return AUTHENTICATION;
    case 'telephony':
      return telephonyVersion === 1 ? TELEPHONY_V1 : TELEPHONY_V2;
    case 'offline-enrollment':
      return OFFLINE_ENROLLMENT;
    case 'activity':
      return ACTIVITY;
    case 'trust-monitor':
      return TRUST_MONITOR;
  }
}
