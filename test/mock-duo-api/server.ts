/**
 * A faithful mock of the Duo Admin API (and the Accounts API list call) over HTTPS, for tests and
 * benches. It verifies every request's signature (v2 SHA1/SHA512, v5) and Date, enforces the 2-minute
 * settling delay, the 180-day window, `limit` maximums and a configurable per (account, endpoint)
 * rate limit answering 429 / 42901, serves deterministic records with the real paging shapes, and
 * injects faults on demand.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makePki, type TestPki } from '../helpers/certs.js';
import { DataSet, ENDPOINTS, endpointByPath, recordKey, type MockEndpoint } from './data.js';
import { serveV1, serveWindow, SETTLE_MS } from './paging.js';
import { verifySignature, type SigKind } from './verify.js';

export type MockFault = 'http500' | 'html502' | 'slowBody' | 'slowHeaders' | 'reset' | 'truncated' | 'badJson' | 'http429' | 'clockSkew';

export interface MockChild {
  id: string;
  name?: string;
  events?: Partial<Record<MockEndpoint, number>>;
}

export interface MockOptions {
  ikey: string;
  skey: string;
  /** Records per endpoint (the parent account, or every child without its own). */
  events?: Partial<Record<MockEndpoint, number>>;
  /** Records spread from now − spanMs to now − endAgoMs. @default 3 h / 5 min */
  spanMs?: number;
  endAgoMs?: number;
  /** Requests per (account, endpoint) per rate window; null/undefined = no limit. */
  rateLimitPerMin?: number | null;
  /** @default 60000 */
  rateWindowMs?: number;
  now?: () => number;
  /** Largest Date skew accepted. @default 300000 */
  dateToleranceMs?: number;
  /** maxtime newer than now − 2 min: `error` (HTTP 400) or `hide` (served empty, as Duo's docs say). @default 'error' */
  recentPolicy?: 'error' | 'hide';
  /** The next page repeats the record the offset token names (forces an overlap). @default false */
  inclusiveOffset?: boolean;
  /** MSP parent: these children are listed and every log request must name one in account_id. */
  children?: MockChild[];
  /** v1 records per second. @default 7 */
  v1PerSecond?: number;
  /** Endpoints (name or path) answering 403. */
  forbidden?: string[];
  /** Varies the generated ids, so two mocks in one test serve different records. @default 1 */
  seed?: number;
  pki?: TestPki;
}

export interface RequestLogEntry {
  at: number;
  path: string;
  account: string | null;
  status: number;
}

export interface MockStats {
  requests: number;
  byPath: Record<string, number>;
  byStatus: Record<string, number>;
  rateLimited: number;
  badSignatures: number;
  badDates: number;
  sigKinds: Partial<Record<SigKind, number>>;
  userAgents: string[];
  /** 400 messages, to see what a client got wrong. */
  badRequests: string[];
  log: RequestLogEntry[];
}

export interface MockDuoApi {
  /** 127.0.0.1:port */
  host: string;
  port: number;
  /** CA file (PEM path) that verifies the server certificate. */
  ca: string;
  pki: TestPki;
  stats(): MockStats;
  /** One-shot faults for the next `count` matching requests; `clockSkew` sets a lasting skew (`ms: 0` clears). */
  inject(fault: MockFault, opts?: { count?: number; path?: string; ms?: number }): void;
  forbid(endpointOrPath: string, on?: boolean): void;
  addChild(child: MockChild): void;
  removeChild(id: string): void;
  dataSet(endpoint: MockEndpoint, account?: string | null): DataSet;
  /** Keys (see recordKey) of every record settled by now. */
  settledKeys(endpoint: MockEndpoint, account?: string | null): string[];
  close(): Promise<void>;
}

class Reply {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {}
}

function fail(status: number, code: number, message: string, detail?: string): Reply {
  return new Reply(status, { stat: 'FAIL', code, message, ...(detail !== undefined ? { message_detail: detail } : {}) });
}

function multiMap(sp: URLSearchParams): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const [k, v] of sp) m.set(k, [...(m.get(k) ?? []), v]);
  return m;
}

function one(params: Map<string, string[]>, k: string): string | undefined {
  return params.get(k)?.[0];
}

// One throw-away PKI per process: openssl takes about a second to make it.
let processPki: TestPki | undefined;

function makeProcessPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'duo-mock-pki-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return makePki(dir);
}

export async function startMockDuoApi(opts: MockOptions): Promise<MockDuoApi> {
  const pki = opts.pki ?? (processPki ??= makeProcessPki());
  const now = opts.now ?? Date.now;
  const t0 = now();
  const startMs = t0 - (opts.spanMs ?? 3 * 3_600_000);
  const endMs = t0 - (opts.endAgoMs ?? 5 * 60_000);
  const forbidden = new Set(opts.forbidden ?? []);
  const children = new Map<string, MockChild>((opts.children ?? []).map((c) => [c.id, c]));
  const msp = opts.children !== undefined;
  const sets = new Map<string, DataSet>();
  let salt = (opts.seed ?? 1) * 101;
  let skewMs = 0;
  const faults: Array<{ fault: MockFault; left: number; path: string | undefined; ms: number | undefined }> = [];
  const accepted = new Map<string, number[]>();
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  const st: MockStats = { requests: 0, byPath: {}, byStatus: {}, rateLimited: 0, badSignatures: 0, badDates: 0, sigKinds: {}, userAgents: [], badRequests: [], log: [] };

  function dataSet(endpoint: MockEndpoint, account: string | null = null): DataSet {
    const key = `${account ?? ''}|${endpoint}`;
    let ds = sets.get(key);
    if (ds === undefined) {
      const info = ENDPOINTS.find((e) => e.endpoint === endpoint);
      if (info === undefined) throw new Error(`unknown endpoint ${endpoint}`);
      const counts = (account !== null ? children.get(account)?.events : undefined) ?? opts.events ?? {};
      const countKey = endpoint === 'telephony-v1' ? (counts['telephony-v1'] ?? counts.telephony ?? 0) : (counts[endpoint] ?? 0);
      ds = new DataSet(info, account, countKey, startMs, endMs, opts.v1PerSecond ?? 7, salt++);
      sets.set(key, ds);
    }
    return ds;
  }

  function takeFault(path: string): { fault: MockFault; ms: number | undefined } | undefined {
    const i = faults.findIndex((f) => f.path === undefined || path.includes(f.path));
    if (i < 0) return undefined;
    const f = faults[i];
    if (f === undefined) return undefined;
    f.left--;
    if (f.left <= 0) faults.splice(i, 1);
    return { fault: f.fault, ms: f.ms };
  }

  function authenticate(req: IncomingMessage, method: string, path: string, params: Map<string, string[]>, body: string, mockNow: number): Reply | undefined {
    const auth = req.headers.authorization;
    const date = req.headers.date;
    if (auth === undefined || date === undefined) return fail(401, 40101, 'Missing request credentials');
    const sent = Date.parse(date);
    if (!Number.isFinite(sent) || Math.abs(mockNow - sent) > (opts.dateToleranceMs ?? 300_000)) {
      st.badDates++;
      return fail(401, 40105, 'Bad request timestamp');
    }
    const m = /^Basic (.+)$/.exec(auth);
    const decoded = m?.[1] !== undefined ? Buffer.from(m[1], 'base64').toString('utf8') : '';
    const colon = decoded.indexOf(':');
    if (colon < 0 || decoded.slice(0, colon) !== opts.ikey) return fail(401, 40101, 'Invalid integration key in request credentials');
    const duoHeaders = Object.entries(req.headers)
      .filter(([k, v]) => k.startsWith('x-duo-') && typeof v === 'string')
      .map(([k, v]) => [k, String(v)] as [string, string]);
    const kind = verifySignature({ method, host: req.headers.host ?? '', path, params, date, body, duoHeaders }, opts.skey, decoded.slice(colon + 1));
    if (kind === undefined) {
      st.badSignatures++;
      return fail(401, 40103, 'Invalid signature in request credentials');
    }
    st.sigKinds[kind] = (st.sigKinds[kind] ?? 0) + 1;
    return undefined;
  }

  function rateLimited(key: string): boolean {
    const limit = opts.rateLimitPerMin;
    if (limit === undefined || limit === null) return false;
    const window = opts.rateWindowMs ?? 60_000;
    const t = performance.now();
    const times = (accepted.get(key) ?? []).filter((x) => t - x < window);
    if (times.length >= limit) {
      accepted.set(key, times);
      return true;
    }
    times.push(t);
    accepted.set(key, times);
    return false;
  }

  function badRequest(message: string): Reply {
    st.badRequests.push(message);
    return fail(400, 40002, 'Invalid request parameters', message);
  }

  function route(method: string, path: string, params: Map<string, string[]>, baseNow: number): Reply {
    if (path === '/accounts/v1/account/list') {
      if (method !== 'POST') return fail(405, 40501, 'Method not allowed');
      if (!msp) return fail(403, 40301, 'Access forbidden', 'This integration is not an Accounts API application');
      const host = `127.0.0.1:${port}`;
      return new Reply(200, { stat: 'OK', response: [...children.values()].map((c) => ({ account_id: c.id, name: c.name ?? c.id, api_hostname: host })) });
    }
    const info = endpointByPath(path);
    if (info === undefined) return fail(404, 40401, 'Resource not found');
    if (method !== 'GET') return fail(405, 40501, 'Method not allowed');
    const account = one(params, 'account_id') ?? null;
    if (msp && (account === null || !children.has(account))) return badRequest(`'account_id' must name a child account (got ${account ?? 'none'})`);
    if (!msp && account !== null) return badRequest("'account_id' is only valid for Accounts API applications");
    if (forbidden.has(info.endpoint) || forbidden.has(path)) return fail(403, 40301, 'Access forbidden');
    if (rateLimited(`${account ?? ''}|${path}`)) {
      st.rateLimited++;
      return fail(429, 42901, 'Too Many Requests');
    }
    const ds = dataSet(info.endpoint, account);
    const rules = { baseNow, inclusiveOffset: opts.inclusiveOffset === true, recentPolicy: opts.recentPolicy ?? 'error', bad: badRequest };
    const page = info.paging === 'v1' ? serveV1(info, ds, params, rules) : serveWindow(info, ds, params, rules);
    return new Reply(page.status, page.body);
  }

  function send(res: ServerResponse, reply: Reply, mockNow: number, fault: { fault: MockFault; ms: number | undefined } | undefined): void {
    const body = JSON.stringify(reply.body);
    const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), date: new Date(mockNow).toUTCString() };
    if (fault?.fault === 'truncated') {
      res.writeHead(reply.status, headers);
      res.write(body.slice(0, Math.floor(body.length / 2)));
      const t = setTimeout(() => res.socket?.destroy(), 20);
      timers.add(t);
      return;
    }
    if (fault?.fault === 'slowBody') {
      res.writeHead(reply.status, headers);
      res.write(body.slice(0, 10));
      const t = setTimeout(() => {
        timers.delete(t);
        if (!res.destroyed) res.end(body.slice(10));
      }, fault.ms ?? 10_000);
      timers.add(t);
      return;
    }
    res.writeHead(reply.status, headers);
    res.end(body);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'https://mock.invalid');
    const path = url.pathname;
    st.requests++;
    st.byPath[path] = (st.byPath[path] ?? 0) + 1;
    const ua = req.headers['user-agent'] ?? '';
    if (!st.userAgents.includes(ua)) st.userAgents.push(ua);
    const baseNow = now();
    const mockNow = baseNow + skewMs;
    let params: Map<string, string[]>;
    const ctype = req.headers['content-type'] ?? '';
    if (method === 'GET') params = multiMap(url.searchParams);
    else if (ctype.startsWith('application/json')) params = new Map();
    else params = multiMap(new URLSearchParams(body));
    const account = one(params, 'account_id') ?? null;
    let reply = authenticate(req, method, path, params, method === 'GET' ? '' : body, mockNow) ?? route(method, path, params, baseNow);
    const fault = reply.status === 200 || reply.status === 429 ? takeFault(path) : undefined;
    const record = (status: number): void => {
      st.byStatus[status] = (st.byStatus[status] ?? 0) + 1;
      st.log.push({ at: performance.now(), path, account, status });
    };
    if (fault?.fault === 'reset') {
      record(0);
      req.socket.destroy();
      return;
    }
    if (fault?.fault === 'slowHeaders') {
      await new Promise<void>((r) => {
        const t = setTimeout(() => {
          timers.delete(t);
          r();
        }, fault.ms ?? 10_000);
        timers.add(t);
      });
      if (res.destroyed) return;
    }
    if (fault?.fault === 'http500') reply = fail(500, 50001, 'Internal server error');
    if (fault?.fault === 'http429') {
      st.rateLimited++;
      reply = fail(429, 42901, 'Too Many Requests');
    }
    if (fault?.fault === 'html502') {
      record(502);
      const html = '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>';
      res.writeHead(502, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(html), date: new Date(mockNow).toUTCString() });
      res.end(html);
      return;
    }
    if (fault?.fault === 'badJson') {
      record(200);
      const text = '{"stat": "OK", "response": {"authlogs": [{"txid": "';
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    record(reply.status);
    send(res, reply, mockNow, fault);
  }

  const server: Server = createServer({ key: readFileSync(pki.serverKey), cert: readFileSync(pki.server) }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ stat: 'FAIL', code: 50000, message: String(err) }));
      }
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    host: `127.0.0.1:${port}`,
    port,
    ca: pki.ca,
    pki,
    stats: () => structuredClone(st),
    inject(fault, o = {}) {
      if (fault === 'clockSkew') {
        skewMs = o.ms ?? 600_000;
        return;
      }
      faults.push({ fault, left: o.count ?? 1, path: o.path, ms: o.ms });
    },
    forbid(endpointOrPath, on = true) {
      if (on) forbidden.add(endpointOrPath);
      else forbidden.delete(endpointOrPath);
    },
    addChild(child) {
      children.set(child.id, child);
    },
    removeChild(id) {
      children.delete(id);
    },
    dataSet,
    settledKeys(endpoint, account = null) {
      const ds = dataSet(endpoint, account);
      const end = ds.upperBound(now() - SETTLE_MS);
      const keys: string[] = [];
      for (let i = 0; i < end; i++) keys.push(recordKey(endpoint, ds.record(i)));
      return keys;
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
