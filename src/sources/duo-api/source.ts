/**
 * The live duo-api source: one lane per (account, endpoint), each polling on its own so a failing or
 * rate-limited endpoint never holds the others. MSP parents relist their child accounts every
 * `msp_relist_interval_ms`, starting lanes for new children and stopping those of removed ones.
 */
import type { DuoApiSourceConfig } from '../../config/schema.js';
import type { Emit, Source } from '../source.js';
import { RelayError, ErrorCodes, errorMessage } from '../../errors.js';
import { sleep } from '../../ops/backoff.js';
import { openHost, lanesFor, targetFor, type DuoApiContext, type Opened } from './setup.js';
import { pollLane } from './poller.js';
import { listChildAccounts } from './accounts.js';
import { FaultLog } from './fault-log.js';
import { parseDuration, DUO_RETENTION_MS } from './duration.js';
import type { Cursor } from './cursor.js';

const CLOSE_WAIT_MS = 30_000;

interface Running {
  abort: AbortController;
  done: Promise<void>;
}

export class DuoApiSource implements Source {
  readonly name: string;
  readonly #cfg: DuoApiSourceConfig;
  readonly #ctx: DuoApiContext;
  readonly #initialWindowMs: number;
  readonly #abort = new AbortController();
  #state: 'new' | 'starting' | 'running' | 'closed' = 'new';
  #opened: Opened | undefined;
  readonly #accounts = new Map<string, Running>();
  #msp: Promise<void> | undefined;

  constructor(cfg: DuoApiSourceConfig, ctx: DuoApiContext) {
    this.#cfg = cfg;
    this.#ctx = ctx;
    this.name = cfg.name ?? cfg.host;
    this.#initialWindowMs = Math.min(parseDuration(cfg.initial_window, `duo-api ${cfg.host} initial_window`), DUO_RETENTION_MS);
  }

  async start(emit: Emit): Promise<void> {
    if (this.#state === 'closed') throw new RelayError(ErrorCodes.CLOSED, `The duo-api source ${this.name} is closed; create a new one.`);
    if (this.#state !== 'new') throw new RelayError(ErrorCodes.CONFIG, `The duo-api source ${this.name} was already started.`);
    this.#state = 'starting';
    try {
      this.#opened = await openHost(this.#cfg, this.#ctx);
    } catch (err: unknown) {
      this.#state = 'closed';
      throw err;
    }
    if (this.#abort.signal.aborted) {
      // destroy() raced the start.
      await this.#release();
      return;
    }
    this.#state = 'running';
    const c = this.#cfg;
    this.#ctx.logger.info({ host: c.host, logs: c.logs, msp: c.msp, cursors: this.#opened.cursors.path }, `Polling the Duo Admin API at ${c.host}.`);
    if (c.msp) this.#msp = this.#runMsp(emit);
    else this.#startAccount(null, c.host, emit);
  }

  #startAccount(account: string | null, host: string, emit: Emit): void {
    const opened = this.#opened;
    if (opened === undefined) return;
    const abort = new AbortController();
    const onParent = (): void => abort.abort(this.#abort.signal.reason);
    this.#abort.signal.addEventListener('abort', onParent, { once: true });
    const now = (this.#ctx.now ?? Date.now)();
    const start = (key: string): Cursor => opened.cursors.get(key) ?? { mintime_ms: now - this.#initialWindowMs, seen: [] };
    const lanes = lanesFor(this.#cfg, this.#ctx, opened, targetFor(account, host), emit, start);
    const polls = lanes.map((lane) =>
      pollLane(lane, {
        pollIntervalMs: this.#cfg.poll_interval_ms,
        rateLimitBackoff: this.#cfg.rate_limit_backoff,
        signal: abort.signal,
        ...(this.#ctx.random !== undefined ? { random: this.#ctx.random } : {}),
      }).catch((err: unknown) => lane.logger.error({ err: errorMessage(err) }, 'The endpoint poller stopped on an unexpected error.')),
    );
    const done = Promise.all(polls).then(() => this.#abort.signal.removeEventListener('abort', onParent));
    this.#accounts.set(account ?? 'self', { abort, done });
  }

  async #runMsp(emit: Emit): Promise<void> {
    const faults = new FaultLog(this.#ctx.logger.child({ endpoint: 'accounts' }));
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      let delay = this.#cfg.msp_relist_interval_ms;
      try {
        const children = await listChildAccounts(this.#requireOpened().client, this.#cfg.host, signal);
        faults.ok();
        const wanted = new Map(children.map((c) => [c.id, c]));
        for (const [id, run] of this.#accounts) {
          if (!wanted.has(id)) {
            this.#ctx.logger.info({ account: id }, 'A child account left the MSP parent; its polling stops.');
            run.abort.abort();
            this.#accounts.delete(id);
          }
        }
        for (const child of children) {
          if (this.#accounts.has(child.id)) continue;
          this.#ctx.logger.info({ account: child.id, name: child.name, host: child.host }, 'Polling a child account of the MSP parent.');
          this.#startAccount(child.id, child.host, emit);
        }
      } catch (err: unknown) {
        if (signal.aborted) break;
        faults.report(err);
        delay = Math.min(delay, this.#cfg.poll_interval_ms);
      }
      try {
        await sleep(delay, signal);
      } catch {
        break;
      }
    }
  }

  #requireOpened(): Opened {
    if (this.#opened === undefined) throw new RelayError(ErrorCodes.CLOSED, `The duo-api source ${this.name} is not running.`);
    return this.#opened;
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    const wasRunning = this.#state === 'running';
    this.#state = 'closed';
    this.#abort.abort(new RelayError(ErrorCodes.CLOSED, `The duo-api source ${this.name} is closing.`));
    if (!wasRunning) return;
    // Lanes finish the batch in flight (emit, then cursor) and stop; requests in flight are aborted.
    const all = Promise.allSettled([...[...this.#accounts.values()].map((r) => r.done), this.#msp]);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([all.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
    if (timedOut) this.#ctx.logger.warn(`The duo-api source ${this.name} did not stop within ${CLOSE_WAIT_MS} ms; closing anyway.`);
    await this.#opened?.cursors.flush();
    await this.#release();
  }

  destroy(err?: Error): void {
    if (this.#state === 'closed' && this.#opened === undefined) return;
    this.#state = 'closed';
    this.#abort.abort(err ?? new RelayError(ErrorCodes.CLOSED, `The duo-api source ${this.name} was destroyed.`));
    this.#opened?.client.destroy();
    void this.#opened?.lock.release();
    this.#opened = undefined;
  }

  async #release(): Promise<void> {
    const o = this.#opened;
    this.#opened = undefined;
    if (o === undefined) return;
    await o.client.close().catch(() => undefined);
    await o.lock.release();
  }
}
