/**
 * Signed HTTPS calls to the Duo Admin and Accounts APIs over undici 7. Each attempt gets a fresh
 * Date and signature; every phase has a timeout, plus an overall deadline so a body that trickles
 * in byte by byte cannot hold a poller forever. Every failure becomes a coded DuoApiError.
 */
import type { Dispatcher } from 'undici';
import { ErrorCodes } from '../../errors.js';
import { signRequest, canonParams, duoDate, type DuoParams } from './sign.js';
import { buildDispatcher } from './dispatcher.js';
import { DuoApiError, httpError, bodyError, transportError, type CallLabel } from './errors.js';

export interface DuoClientOptions {
  ikey: string;
  skey: string;
  sigVersion: 2 | 5;
  userAgent: string;
  ca?: string | undefined;
  proxy?: string | undefined;
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  /** Clock for the Date header (tests shift it). @default Date.now */
  now?: () => number;
  /** Larger bodies are refused (a page of 1000 records is about 1 MB). @default 64 MiB */
  maxBodyBytes?: number;
  env?: NodeJS.ProcessEnv;
}

export interface DuoCall {
  method: 'GET' | 'POST';
  /** host[:port] */
  host: string;
  path: string;
  params: DuoParams;
  signal?: AbortSignal | undefined;
}

export interface DuoResult {
  /** The `response` member of Duo's `{stat:"OK"}` envelope. */
  response: unknown;
  /** Top-level `metadata`, when present (v2 logs keep theirs inside `response`). */
  metadata: unknown;
  /** Duo's clock when it answered (the Date header, whole seconds), when given. */
  dateMs?: number;
}

export class DuoClient {
  readonly #o: DuoClientOptions;
  /** Built on the first call (undici loads lazily, see dispatcher.ts). */
  #dispatcher: Promise<Dispatcher> | undefined;
  readonly #now: () => number;
  #closed = false;
  #clockOffsetMs: number | undefined;

  constructor(o: DuoClientOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  /** Builds the HTTP dispatcher now, so a bad proxy or CA fails at startup rather than on the first poll. */
  async ready(): Promise<void> {
    await this.#getDispatcher();
  }

  #getDispatcher(): Promise<Dispatcher> {
    const o = this.#o;
    this.#dispatcher ??= buildDispatcher({
      ca: o.ca,
      proxy: o.proxy,
      connectTimeoutMs: o.connectTimeoutMs,
      headersTimeoutMs: o.headersTimeoutMs,
      bodyTimeoutMs: o.bodyTimeoutMs,
      ...(o.env !== undefined ? { env: o.env } : {}),
    });
    return this.#dispatcher;
  }

  async call(c: DuoCall): Promise<DuoResult> {
    if (this.#closed) throw new DuoApiError(ErrorCodes.CLOSED, `The Duo client for ${c.host} is closed.`);
    const lbl: CallLabel = { method: c.method, path: c.path, host: c.host };
    const sentAt = this.#now();
    const date = duoDate(sentAt);
    const headers: Record<string, string> = { date, 'user-agent': this.#o.userAgent, accept: 'application/json' };
    let path = c.path;
    let body: string | undefined;
    let signParams: DuoParams = c.params;
    if (c.method === 'GET') {
      const q = canonParams(c.params);
      if (q !== '') path += `?${q}`;
    } else if (this.#o.sigVersion === 5) {
      // v5 POST: the params travel as JSON and are signed through the body hash; the params line is empty.
      body = JSON.stringify(Object.fromEntries(Object.entries(c.params).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
      signParams = {};
      headers['content-type'] = 'application/json';
    } else {
      body = canonParams(c.params);
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    headers.authorization = signRequest({
      method: c.method,
      host: c.host,
      path: c.path,
      params: signParams,
      date,
      ikey: this.#o.ikey,
      skey: this.#o.skey,
      sigVersion: this.#o.sigVersion,
      ...(this.#o.sigVersion === 5 ? { body: body ?? '' } : {}),
    }).authorization;

    // One timer and one controller per call, both released when the call ends: AbortSignal.timeout
    // and AbortSignal.any would keep a signal per request alive until the deadline, pages long after.
    const ac = new AbortController();
    const deadline = setTimeout(() => ac.abort(new Error('deadline')), this.#o.connectTimeoutMs + this.#o.headersTimeoutMs + this.#o.bodyTimeoutMs);
    const onCaller = (): void => ac.abort(c.signal?.reason);
    if (c.signal?.aborted === true) ac.abort(c.signal.reason);
    else c.signal?.addEventListener('abort', onCaller, { once: true });
    let res: Dispatcher.ResponseData;
    let text: string;
    try {
      try {
        const dispatcher = await this.#getDispatcher();
        res = await dispatcher.request({ origin: `https://${c.host}`, path, method: c.method, headers, ...(body !== undefined ? { body } : {}), signal: ac.signal });
      } catch (err: unknown) {
        throw this.#failure(lbl, err, 'request', c.signal, ac.signal);
      }
      try {
        text = await readText(res.body, this.#o.maxBodyBytes ?? 64 * 1024 * 1024, lbl);
      } catch (err: unknown) {
        if (err instanceof DuoApiError) throw err;
        throw this.#failure(lbl, err, 'body', c.signal, ac.signal);
      }
    } finally {
      clearTimeout(deadline);
      c.signal?.removeEventListener('abort', onCaller);
    }
    const contentType = header(res.headers['content-type']);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err: unknown) {
      throw bodyError(lbl, res.statusCode, contentType, text, err);
    }
    const stat = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>).stat : undefined;
    const respDate = Date.parse(header(res.headers.date) ?? '');
    // Any answer tells Duo's time. Date has whole seconds, so this reads up to 1 s low: the safe side.
    if (Number.isFinite(respDate)) this.#clockOffsetMs = respDate - this.#now();
    if (res.statusCode === 200 && stat === 'OK') {
      const env = parsed as Record<string, unknown>;
      return { response: env.response, metadata: env.metadata, ...(Number.isFinite(respDate) ? { dateMs: respDate } : {}) };
    }
    // The Date header has one-second resolution, so a skew under a second reads as 0.
    const skewMs = Number.isFinite(respDate) ? respDate - Math.floor(sentAt / 1000) * 1000 : undefined;
    throw httpError(lbl, res.statusCode, parsed, skewMs);
  }

  #failure(lbl: CallLabel, err: unknown, phase: 'request' | 'body', caller: AbortSignal | undefined, own: AbortSignal): unknown {
    if (caller?.aborted === true) return caller.reason ?? err;
    // Aborted but not by the caller: the overall deadline passed.
    if (own.aborted) {
      return transportError(lbl, Object.assign(new Error('Overall request deadline passed.'), { code: 'DR_ERR_HTTP_TIMEOUT' }), phase);
    }
    return transportError(lbl, err, phase);
  }

  /** Duo's clock minus ours, from the last response's Date header; undefined before any answer. */
  get clockOffsetMs(): number | undefined {
    return this.#clockOffsetMs;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const d = this.#dispatcher;
    if (d !== undefined) await (await d).close();
  }

  destroy(): void {
    this.#closed = true;
    this.#dispatcher?.then((d) => d.destroy()).catch(() => undefined);
  }
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

async function readText(body: Dispatcher.ResponseData['body'], max: number, lbl: CallLabel): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > max) {
      body.destroy();
      throw new DuoApiError(ErrorCodes.DUO_RESPONSE, `The response of ${lbl.method} ${lbl.path} on ${lbl.host} exceeds ${max} bytes; refusing it.`);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}
