/**
 * The mock's answers to log requests, with Duo's rules: v1 `mintime` in seconds and the 1000 earliest
 * records; v2 and Trust Monitor `mintime`/`maxtime` in ms (13 digits, mintime < maxtime, within 180
 * days, maxtime at least 2 minutes old), `limit` maximums, `ts:desc` by default, and the offset
 * tokens of each endpoint. Only settled records (older than 2 minutes) are ever served.
 */
import type { DataSet, EndpointInfo, Rec } from './data.js';

export const SETTLE_MS = 120_000;
export const RETENTION_MS = 180 * 86_400_000;

export interface PageRules {
  /** The mock's time (without any injected skew). */
  baseNow: number;
  inclusiveOffset: boolean;
  recentPolicy: 'error' | 'hide';
  /** Builds the HTTP 400 answer for a broken rule. */
  bad: (message: string) => PageReply;
}

export interface PageReply {
  status: number;
  body: unknown;
}

function one(params: Map<string, string[]>, k: string): string | undefined {
  return params.get(k)?.[0];
}

export function serveV1(info: EndpointInfo, ds: DataSet, params: Map<string, string[]>, r: PageRules): PageReply {
  const min = one(params, 'mintime');
  if (min === undefined || !/^\d{1,10}$/.test(min)) return r.bad("'mintime' must be a timestamp in seconds");
  if (Number(min) * 1000 < r.baseNow - RETENTION_MS) return r.bad('mintime must be within the past 180 days');
  const start = ds.lowerBound(Number(min) * 1000);
  const end = ds.upperBound(r.baseNow - SETTLE_MS);
  const out: Rec[] = [];
  for (let i = start; i < end && out.length < info.maxLimit; i++) out.push(ds.record(i));
  return { status: 200, body: { stat: 'OK', response: out } };
}

export function serveWindow(info: EndpointInfo, ds: DataSet, params: Map<string, string[]>, r: PageRules): PageReply {
  const min = one(params, 'mintime');
  const max = one(params, 'maxtime');
  if (min === undefined || max === undefined) return r.bad("'mintime' and 'maxtime' are required");
  if (!/^\d{13}$/.test(min) || !/^\d{13}$/.test(max)) return r.bad("'mintime' and 'maxtime' must be timestamps in milliseconds");
  const minT = Number(min);
  let maxT = Number(max);
  if (maxT <= minT) return r.bad("'maxtime' must be strictly greater than 'mintime'");
  if (minT < r.baseNow - RETENTION_MS) return r.bad('mintime must be within the past 180 days');
  if (maxT > r.baseNow - SETTLE_MS) {
    if (r.recentPolicy === 'error') return r.bad('maxtime must be at least 2 minutes in the past');
    maxT = r.baseNow - SETTLE_MS;
  }
  const limitRaw = one(params, 'limit');
  const limit = limitRaw === undefined ? (info.token === 'index' ? 50 : 100) : /^\d+$/.test(limitRaw) ? Number(limitRaw) : NaN;
  if (!(limit >= 1 && limit <= info.maxLimit)) return r.bad(`'limit' must be between 1 and ${info.maxLimit}`);
  const lo = ds.lowerBound(minT);
  const hi = ds.upperBound(maxT);
  let start = lo;
  let end = hi;
  const desc = info.token !== 'index' && (one(params, 'sort') ?? 'ts:desc') === 'ts:desc';
  if (info.token === 'index') {
    const off = one(params, 'offset');
    if (off !== undefined) {
      if (!/^\d+$/.test(off)) return r.bad("'offset' must be a non-negative integer");
      start = lo + Number(off);
    }
  } else {
    const off = one(params, 'next_offset');
    if (off !== undefined) {
      const m = /^(\d{13}),(.+)$/.exec(off);
      const at = m?.[2] !== undefined ? ds.indexOf(m[2]) : undefined;
      if (at === undefined || ds.timeMs(at) !== Number(m?.[1])) return r.bad("'next_offset' is not a valid offset");
      if (desc) end = Math.min(end, r.inclusiveOffset ? at + 1 : at);
      else start = Math.max(start, r.inclusiveOffset ? at : at + 1);
    }
  }
  const idx: number[] = [];
  if (desc) for (let i = end - 1; i >= start && idx.length < limit; i--) idx.push(i);
  else for (let i = start; i < end && idx.length < limit; i++) idx.push(i);
  const items = idx.map((i) => ds.record(i));
  const last = idx[idx.length - 1];
  const more = last !== undefined && (desc ? last > start : last < end - 1);
  const metadata: Rec = { total_objects: Math.max(0, hi - lo) };
  if (info.token === 'index') {
    if (more) metadata.next_offset = start - lo + idx.length;
  } else {
    metadata.next_offset = more && last !== undefined ? (info.token === 'pair' ? [String(ds.timeMs(last)), ds.id(last)] : `${ds.timeMs(last)},${ds.id(last)}`) : null;
  }
  return { status: 200, body: { stat: 'OK', response: { [info.listKey ?? 'items']: items, metadata } } };
}
