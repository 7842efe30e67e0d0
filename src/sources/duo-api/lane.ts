/**
 * A lane is one (account, endpoint): its cursor, its delivered-id memory and its request budget.
 * Both the live poller and backfill drive lanes; the lane makes the signed, paced calls and the
 * emit-then-commit hand-off.
 */
import type { Emit } from '../source.js';
import type { SourceRecord } from '../../event.js';
import type { Logger } from '../../ops/logger.js';
import type { DuoParams } from './sign.js';
import type { DuoClient, DuoResult } from './client.js';
import type { EndpointSpec } from './endpoints.js';
import { CursorStore, cursorKey, type Cursor } from './cursor.js';
import { BoundedIdSet } from './dedupe.js';
import { RequestBudget } from './budget.js';
import { drain, type DrainResult, type Target } from './drain.js';

/** `emit()` rejected: the pipeline is closing. The lane stops without committing. */
export class HandoffRejected extends Error {
  constructor(cause: unknown) {
    super('The pipeline refused the batch; stopping without committing.', { cause });
    this.name = 'HandoffRejected';
  }
}

export interface LaneDeps {
  spec: EndpointSpec;
  target: Target;
  client: DuoClient;
  cursors: CursorStore;
  emit: Emit;
  now: () => number;
  requestIntervalMs: number;
  logger: Logger;
  /** Where to start when the store has no cursor for this lane. */
  start: Cursor;
  /** Whether `next` may be written over what the store holds. @default always */
  commitIf?: (stored: Cursor | undefined, next: Cursor) => boolean;
}

export class Lane {
  readonly key: string;
  readonly spec: EndpointSpec;
  readonly target: Target;
  readonly logger: Logger;
  cursor: Cursor;
  requests = 0;
  readonly #d: LaneDeps;
  readonly #seen = new BoundedIdSet();
  readonly #budget: RequestBudget;

  constructor(d: LaneDeps) {
    this.#d = d;
    this.spec = d.spec;
    this.target = d.target;
    this.logger = d.logger;
    this.key = cursorKey(d.target.account, d.spec.log);
    this.cursor = d.start;
    for (const id of this.cursor.seen) this.#seen.add(id);
    this.#budget = new RequestBudget(d.requestIntervalMs);
  }

  async drainOnce(signal: AbortSignal, onPage?: (events: number, next: Cursor) => void): Promise<DrainResult> {
    const d = this.#d;
    const r = await drain(
      {
        spec: d.spec,
        target: d.target,
        // When Duo's clock is behind ours, a maxtime from our clock would ask for records Duo has not
        // settled yet, and the next window would start past them: go by Duo's clock then.
        now: () => d.now() + Math.min(0, d.client.clockOffsetMs ?? 0),
        seen: this.#seen,
        signal,
        fetch: (params, sig) => this.#fetch(params, sig),
        deliver: (records, ids, next) => this.#deliver(records, ids, next),
        warn: (msg, fields) => this.logger.warn(fields ?? {}, msg),
        ...(onPage !== undefined ? { onPage } : {}),
      },
      this.cursor,
    );
    this.cursor = r.cursor;
    return r;
  }

  async #fetch(params: DuoParams, signal: AbortSignal): Promise<DuoResult> {
    await this.#budget.take(signal);
    this.requests++;
    const p = this.target.account !== null ? { ...params, account_id: this.target.account } : params;
    return this.#d.client.call({ method: 'GET', host: this.target.host, path: this.spec.path, params: p, signal });
  }

  async #deliver(records: SourceRecord[], ids: string[], next: Cursor): Promise<void> {
    if (records.length > 0) {
      try {
        await this.#d.emit(records);
      } catch (err: unknown) {
        throw new HandoffRejected(err);
      }
      // Only now are these delivered: a failed emit must let them through again next time.
      for (const id of ids) this.#seen.add(id);
    }
    const commitIf = this.#d.commitIf;
    if (commitIf === undefined || commitIf(this.#d.cursors.get(this.key), next)) await this.#d.cursors.commit(this.key, next);
    this.cursor = next;
  }
}
