/**
 * One drain of one (account, endpoint): every page from the cursor up to what Duo has settled, each
 * page handed off and its cursor committed before the next page is handed off. The request for the
 * next page goes out as soon as its parameters are known, while this page is handed off (prefetch):
 * cursors still move strictly page by page, and a failed hand-off cancels the request ahead.
 *
 * v1 (`mintime` in seconds, the 1000 earliest records): the next `mintime` is the newest second of the
 * page itself, not +1, so records sharing that second are re-read rather than lost; the ids already
 * delivered for that second travel in the cursor and are dropped, so they are not repeated either, even
 * after a restart. Only a page of 1000 records that all share one second forces +1 (Duo cannot page
 * inside a second), and that is logged.
 *
 * Windows (v2 logs, trust monitor): `maxtime` = now − 2 min, `mintime` ≥ now − 180 days, at least 5 s
 * apart; the window and Duo's offset token are saved after each page so a restart resumes the very next
 * page; the next window starts at `maxtime + 1`.
 */
import type { JsonObject, SourceRecord } from '../../event.js';
import { ErrorCodes } from '../../errors.js';
import type { DuoParams } from './sign.js';
import type { DuoResult } from './client.js';
import { DuoApiError } from './errors.js';
import type { EndpointSpec } from './endpoints.js';
import type { Cursor } from './cursor.js';
import type { BoundedIdSet } from './dedupe.js';
import { DUO_SETTLE_MS, MIN_WINDOW_MS, oldestAllowedMs } from './duration.js';

/** Where records come from: the account (null = the configured one) and its API host. */
export interface Target {
  account: string | null;
  /** host[:port] the requests go to. */
  host: string;
  /** The API host as records and HEADERs carry it (no port). */
  recordHost: string;
}

export interface DrainDeps {
  spec: EndpointSpec;
  target: Target;
  /** A signed call, already paced by the request budget. */
  fetch: (params: DuoParams, signal: AbortSignal) => Promise<DuoResult>;
  now: () => number;
  seen: BoundedIdSet;
  /** Hands the page off, then persists `next`; resolves only when both are durable. */
  deliver: (records: SourceRecord[], ids: string[], next: Cursor) => Promise<void>;
  warn: (msg: string, fields?: Record<string, unknown>) => void;
  signal: AbortSignal;
  onPage?: (events: number, next: Cursor) => void;
}

export interface DrainResult {
  cursor: Cursor;
  pages: number;
  events: number;
}

const SEEN_MAX = 2000;

interface Page {
  records: SourceRecord[];
  ids: string[];
  last_ms: number | undefined;
  seen: string[];
}

export function positionOf(target: Target, spec: EndpointSpec): string {
  return `api:${target.recordHost}/${spec.log}`;
}

/** Drops records already delivered, adds `eventtype`/`host`, and works out the newest time and its ids. */
function readPage(d: DrainDeps, rows: unknown[], prev: Cursor): Page {
  const { spec, target } = d;
  const position = positionOf(target, spec);
  const records: SourceRecord[] = [];
  const ids: string[] = [];
  const inPage = new Set<string>();
  const prevSeen = new Set(prev.seen);
  let lastMs: number | undefined;
  let atLast: string[] = [];
  for (const row of rows) {
    if (typeof row !== 'object' || row === null || Array.isArray(row)) continue;
    const rec = row as JsonObject;
    const id = spec.idOf(rec);
    const t = spec.timeMsOf(rec);
    if (t !== undefined) {
      if (lastMs === undefined || t > lastMs) {
        lastMs = t;
        atLast = [id];
      } else if (t === lastMs) {
        atLast.push(id);
      }
    }
    if (d.seen.has(id) || inPage.has(id) || (t === prev.last_ms && prevSeen.has(id))) continue;
    inPage.add(id);
    rec.eventtype = spec.eventtype;
    rec.host = target.recordHost;
    const sr: SourceRecord = { record: rec, kind: spec.kind, host: target.recordHost, position };
    if (target.account !== null) sr.account = target.account;
    records.push(sr);
    ids.push(id);
  }
  if (lastMs === undefined) return { records, ids, last_ms: prev.last_ms, seen: prev.seen };
  const seen = lastMs === prev.last_ms ? [...new Set([...prev.seen, ...atLast])] : atLast;
  return { records, ids, last_ms: lastMs, seen: seen.slice(-SEEN_MAX) };
}

/**
 * The next page, asked for before the current one is handed off: Duo (and the network) prepare it
 * while the pipeline takes this page and the cursor is saved, instead of each waiting for the other
 * (a backfill is a long chain of such pages). Cancelled when the drain stops before using it.
 */
interface Prefetch {
  result: Promise<DuoResult>;
  cancel(): void;
}

function prefetch(d: DrainDeps, params: DuoParams): Prefetch {
  const ac = new AbortController();
  const onParent = (): void => ac.abort(d.signal.reason);
  if (d.signal.aborted) ac.abort(d.signal.reason);
  else d.signal.addEventListener('abort', onParent, { once: true });
  const result = d.fetch(params, ac.signal).finally(() => d.signal.removeEventListener('abort', onParent));
  // Awaited later, or never when the drain fails first: never an unhandled rejection.
  result.catch(() => undefined);
  return {
    result,
    cancel: () => {
      d.signal.removeEventListener('abort', onParent);
      ac.abort(new DuoApiError(ErrorCodes.CLOSED, 'The drain stopped before this page was needed.'));
    },
  };
}

/** Hands the page off while the next one is on its way; cancels that one if the hand-off fails. */
async function deliverOverlapped(d: DrainDeps, page: Page, next: Cursor, changed: boolean, ahead: Prefetch | undefined): Promise<void> {
  if (!changed) return;
  try {
    await d.deliver(page.records, page.ids, next);
  } catch (err: unknown) {
    ahead?.cancel();
    throw err;
  }
}

function rowsOf(d: DrainDeps, res: DuoResult): unknown[] {
  const rows = d.spec.records(res.response);
  if (rows === undefined) {
    throw new DuoApiError(ErrorCodes.DUO_RESPONSE, `Duo answered GET ${d.spec.path} on ${d.target.host} with an unexpected shape (no record list); retrying next cycle.`);
  }
  return rows;
}

function withLast(base: Omit<Cursor, 'seen' | 'last_ms'>, page: Page): Cursor {
  const c: Cursor = { ...base, seen: page.seen };
  if (page.last_ms !== undefined) c.last_ms = page.last_ms;
  return c;
}

function same(a: Cursor, b: Cursor): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Where the next window starts: after this one, unless Duo's own clock (the last page's Date) shows
 * it had not settled that far yet, in which case the unsettled tail is asked for again next time
 * (records already delivered are dropped by id). Under a second of difference is the Date's resolution.
 */
function windowEnd(bounds: { mintime_ms: number; maxtime_ms: number }, duoDateMs: number | undefined): number {
  if (duoDateMs === undefined) return bounds.maxtime_ms;
  const settled = duoDateMs - DUO_SETTLE_MS;
  if (settled + 1000 >= bounds.maxtime_ms) return bounds.maxtime_ms;
  return Math.max(bounds.mintime_ms - 1, settled);
}

export async function drain(d: DrainDeps, start: Cursor): Promise<DrainResult> {
  return d.spec.paging === 'mintime-v1' ? drainV1(d, start) : drainWindows(d, start);
}

async function drainV1(d: DrainDeps, start: Cursor): Promise<DrainResult> {
  let cur = start;
  let pages = 0;
  let events = 0;
  let ahead: Prefetch | undefined;
  while (!d.signal.aborted) {
    const oldest = oldestAllowedMs(d.now());
    if (cur.mintime_ms < oldest) {
      d.warn('The cursor is older than Duo keeps logs (180 days); events before the retention edge are gone.', { endpoint: d.spec.log, from: new Date(cur.mintime_ms).toISOString() });
      cur = { mintime_ms: Math.ceil(oldest / 1000) * 1000, seen: [] };
      ahead?.cancel();
      ahead = undefined;
    }
    const minS = Math.floor(cur.mintime_ms / 1000);
    const res = ahead !== undefined ? await ahead.result : await d.fetch({ mintime: String(minS) }, d.signal);
    ahead = undefined;
    const rows = rowsOf(d, res);
    pages++;
    if (rows.length === 0) break;
    const page = readPage(d, rows, cur);
    const full = rows.length >= d.spec.limit;
    let nextS = page.last_ms !== undefined ? Math.floor(page.last_ms / 1000) : minS;
    let next: Cursor;
    if (full && nextS <= minS) {
      // A full page inside one second: Duo cannot page within it, so step over it and say so.
      nextS = minS + 1;
      d.warn('More than 1000 events share one second; Duo v1 paging cannot reach past the first 1000 of that second.', { endpoint: d.spec.log, second: minS });
      next = { mintime_ms: nextS * 1000, seen: [] };
    } else {
      next = withLast({ mintime_ms: nextS * 1000 }, page);
    }
    const progressed = nextS > minS || page.records.length > 0;
    if (full && progressed) ahead = prefetch(d, { mintime: String(nextS) });
    await deliverOverlapped(d, page, next, page.records.length > 0 || !same(next, cur), ahead);
    events += page.records.length;
    d.onPage?.(page.records.length, next);
    cur = next;
    if (!full || !progressed) break;
  }
  ahead?.cancel();
  return { cursor: cur, pages, events };
}

async function drainWindows(d: DrainDeps, start: Cursor): Promise<DrainResult> {
  let cur = start;
  const now = d.now();
  const oldest = oldestAllowedMs(now);
  let w = cur.window;
  if ((w !== undefined && w.mintime_ms < oldest) || cur.mintime_ms < oldest) {
    d.warn('The cursor is older than Duo keeps logs (180 days); events before the retention edge are gone.', {
      endpoint: d.spec.log,
      from: new Date(w?.mintime_ms ?? cur.mintime_ms).toISOString(),
    });
    cur = { mintime_ms: oldest, seen: [] };
    w = undefined;
  }
  let offset: string | null = null;
  let bounds: { mintime_ms: number; maxtime_ms: number };
  if (w !== undefined) {
    bounds = { mintime_ms: w.mintime_ms, maxtime_ms: w.maxtime_ms };
    offset = w.offset;
  } else {
    bounds = { mintime_ms: cur.mintime_ms, maxtime_ms: now - DUO_SETTLE_MS };
    if (bounds.maxtime_ms - bounds.mintime_ms < MIN_WINDOW_MS) return { cursor: cur, pages: 0, events: 0 };
  }
  let pages = 0;
  let events = 0;
  let ahead: Prefetch | undefined;
  const paramsAt = (at: string | null): DuoParams => {
    const params: DuoParams = { mintime: String(bounds.mintime_ms), maxtime: String(bounds.maxtime_ms), limit: String(d.spec.limit) };
    // Trust Monitor pages by offset alone; the v2 logs need ascending order for a forward-moving cursor.
    if (d.spec.offsetParam === 'next_offset') params.sort = 'ts:asc';
    if (at !== null) params[d.spec.offsetParam] = at;
    return params;
  };
  while (!d.signal.aborted) {
    const res = ahead !== undefined ? await ahead.result : await d.fetch(paramsAt(offset), d.signal);
    ahead = undefined;
    const rows = rowsOf(d, res);
    pages++;
    const nextOffset = d.spec.nextOffset(res.response, res.metadata);
    if (nextOffset !== null && nextOffset === offset) {
      throw new DuoApiError(ErrorCodes.DUO_RESPONSE, `Duo returned the same ${d.spec.offsetParam} twice for ${d.spec.path} on ${d.target.host}; stopping this cycle to avoid a loop.`);
    }
    // The next request needs only the offset: send it before this page's records are gone through.
    if (nextOffset !== null) ahead = prefetch(d, paramsAt(nextOffset));
    const page = readPage(d, rows, cur);
    const next =
      nextOffset !== null
        ? withLast({ mintime_ms: bounds.mintime_ms, window: { ...bounds, offset: nextOffset } }, page)
        : withLast({ mintime_ms: windowEnd(bounds, res.dateMs) + 1 }, page);
    await deliverOverlapped(d, page, next, page.records.length > 0 || !same(next, cur), ahead);
    events += page.records.length;
    d.onPage?.(page.records.length, next);
    cur = next;
    if (nextOffset === null) break;
    offset = nextOffset;
  }
  ahead?.cancel();
  return { cursor: cur, pages, events };
}
