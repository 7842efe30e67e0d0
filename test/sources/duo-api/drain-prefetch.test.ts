/**
 * drain(): the request for the next page goes out while the current page is handed off, yet pages
 * are handed off and cursors committed strictly in order, no request is wasted on a normal drain,
 * and a failed hand-off cancels the request ahead (no stray rejection).
 */
import t from 'tap';
import { drain, type DrainDeps } from '../../../src/sources/duo-api/drain.js';
import { AUTHENTICATION, ADMINISTRATOR } from '../../../src/sources/duo-api/endpoints.js';
import { BoundedIdSet } from '../../../src/sources/duo-api/dedupe.js';
import type { DuoParams } from '../../../src/sources/duo-api/sign.js';
import type { DuoResult } from '../../../src/sources/duo-api/client.js';
import type { Cursor } from '../../../src/sources/duo-api/cursor.js';

const NOW = Date.UTC(2026, 10, 21, 12, 0, 0);
const PAGES = 5;

/** Authentication v2 pages of 3 records; page i's next_offset is `o<i+1>` until the last one. */
function authPage(i: number): DuoResult {
  const authlogs = [0, 1, 2].map((k) => ({ txid: `tx-${i}-${k}`, isotimestamp: new Date(NOW - 3_600_000 + i * 1000 + k).toISOString() }));
  const next_offset = i + 1 < PAGES ? [String(NOW - 3_600_000 + i * 1000 + 2), `o${i + 1}`] : null;
  return { response: { authlogs, metadata: { next_offset } }, metadata: undefined };
}

function pageIndex(params: DuoParams): number {
  const off = params.next_offset;
  if (off === undefined) return 0;
  const s = Array.isArray(off) ? (off[0] ?? '') : off;
  return Number(s.slice(s.lastIndexOf('o') + 1));
}

interface Harness {
  deps: DrainDeps;
  log: string[];
  signals: AbortSignal[];
}

function harness(failAtPage?: number): Harness {
  const log: string[] = [];
  const signals: AbortSignal[] = [];
  const ac = new AbortController();
  const deps: DrainDeps = {
    spec: AUTHENTICATION,
    target: { account: null, host: 'api-test.duosecurity.com', recordHost: 'api-test.duosecurity.com' },
    now: () => NOW,
    seen: new BoundedIdSet(),
    signal: ac.signal,
    warn: () => undefined,
    fetch: async (params, signal) => {
      const i = pageIndex(params);
      log.push(`fetch ${i}`);
      signals.push(signal);
      await new Promise((r) => setTimeout(r, 5));
      if (signal.aborted) throw signal.reason;
      return authPage(i);
    },
    deliver: async (records) => {
      const i = Number((records[0]?.record?.txid as string).split('-')[1]);
      log.push(`deliver ${i} start`);
      await new Promise((r) => setTimeout(r, 15));
      if (i === failAtPage) throw new Error('pipeline refused the batch');
      log.push(`deliver ${i} done`);
    },
  };
  return { deps, log, signals };
}

const start: Cursor = { mintime_ms: NOW - 7_200_000, seen: [] };

t.test('the next page is fetched while this one is handed off; hand-offs stay in order', async (t) => {
  const h = harness();
  const r = await drain(h.deps, start);
  t.equal(r.pages, PAGES);
  t.equal(r.events, PAGES * 3);
  const fetches = h.log.filter((l) => l.startsWith('fetch'));
  t.same(fetches, Array.from({ length: PAGES }, (_, i) => `fetch ${i}`), 'one request per page, none wasted');
  const delivers = h.log.filter((l) => l.startsWith('deliver') && l.endsWith('done'));
  t.same(delivers, Array.from({ length: PAGES }, (_, i) => `deliver ${i} done`), 'pages handed off in order');
  for (let i = 0; i + 1 < PAGES; i++) {
    t.ok(h.log.indexOf(`fetch ${i + 1}`) < h.log.indexOf(`deliver ${i} done`), `page ${i + 1} was asked for before page ${i} was handed off`);
    t.ok(h.log.indexOf(`deliver ${i} done`) < h.log.indexOf(`deliver ${i + 1} start`), `page ${i + 1} handed off only after page ${i}`);
  }
  t.equal(r.cursor.window, undefined, 'the drain ends past the window');
});

t.test('a refused hand-off cancels the request ahead and rejects the drain', async (t) => {
  const h = harness(2);
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown): void => {
    unhandled.push(err);
  };
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => {
    process.off('unhandledRejection', onUnhandled);
  });
  await t.rejects(drain(h.deps, start), /pipeline refused/);
  t.notOk(h.log.includes('deliver 3 start'), 'nothing after the refused page is handed off');
  const ahead = h.signals[3];
  t.ok(ahead?.aborted === true, 'the request for page 3 was cancelled');
  await new Promise((r) => setTimeout(r, 30));
  t.same(unhandled, [], 'no unhandled rejection from the cancelled request');
});

t.test('v1 paging: the next mintime is asked for while the page is handed off', async (t) => {
  const log: string[] = [];
  const base = Math.floor((NOW - 3_600_000) / 1000);
  // One record per second; three full pages (1000 records), then a short one. The next mintime is
  // the page's newest second, so each page starts with the record the previous one ended with.
  const page = (minS: number): unknown[] => {
    const n = minS - base >= 2997 ? 10 : 1000;
    return Array.from({ length: n }, (_, k) => ({ action: 'x', username: 'u', timestamp: minS + k }));
  };
  const deps: DrainDeps = {
    ...harness().deps,
    spec: ADMINISTRATOR,
    fetch: async (params) => {
      log.push(`fetch ${params.mintime as string}`);
      await new Promise((r) => setTimeout(r, 2));
      return { response: page(Number(params.mintime)), metadata: undefined };
    },
    deliver: async (records) => {
      log.push(`deliver ${records.length} start`);
      await new Promise((r) => setTimeout(r, 10));
      log.push(`deliver done`);
    },
  };
  const r = await drain(deps, { mintime_ms: base * 1000, seen: [] });
  t.equal(r.pages, 4);
  t.equal(log.filter((l) => l.startsWith('fetch')).length, 4, 'no wasted request');
  t.ok(log.indexOf(`fetch ${base + 999}`) < log.indexOf('deliver done'), 'the second page was asked for during the first hand-off');
  t.equal(r.events, 1000 + 999 + 999 + 9, 'the record of each shared second is handed off once');
});
