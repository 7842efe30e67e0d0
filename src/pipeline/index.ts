import type { SourceRecord, RelayEvent, DeadLetter } from '../event.js';
import type { Emit, LineIntake, Source } from '../sources/source.js';
import { LineBatch } from './route-protocol.js';
import type { DeadLetterFile } from '../ops/dead-letter.js';
import type { RelayMetrics as Metrics } from '../ops/relay-metrics.js';
import type { Logger } from '../ops/logger.js';
import type { Handoff } from './handoff.js';
import type { RouteThread } from './route-thread.js';
import { RelayError, ErrorCodes } from '../errors.js';

/** The router as the pipeline sees it (src/route/router.ts). */
export interface RouteFn {
  route(rec: SourceRecord): { ok: true; event: RelayEvent } | { ok: false; dead: { reason: string; position: string; preview: string } };
}

export interface PipelineParts {
  router: RouteFn;
  handoff: Handoff;
  deadLetters: DeadLetterFile;
  metrics: Metrics;
  logger: Logger;
  /**
   * Routes on a second thread: encoding queue payloads when the handoff takes them (the disk
   * queue), or formatting and framing for the destinations when it takes framed batches (direct);
   * `router` then serves nothing on the main thread.
   */
  routeThread?: RouteThread;
}

/**
 * sources → route → handoff. Owns the order of shutdown: sources first (they stop reading and
 * commit), then the handoff (drain, close destinations).
 */
export class Pipeline {
  #closing = false;
  #sources: Source[] = [];
  constructor(private readonly parts: PipelineParts) {}

  /** The emit a source calls; resolves when its batch is durable (see Handoff). */
  emitFor(source: string): Emit {
    const { router, handoff, deadLetters, metrics, routeThread } = this.parts;
    if (routeThread !== undefined) {
      const appendFramed = handoff.appendFramed?.bind(handoff);
      const appendEncoded = handoff.appendEncoded?.bind(handoff);
      if (routeThread.frames && appendFramed !== undefined) {
        return this.#emitThreaded(source, routeThread, (records) => routeThread.frame(records).then((b) => ({ dead: b.dead, hand: () => appendFramed(b.bufs, b.events) })));
      }
      if (!routeThread.frames && appendEncoded !== undefined) {
        return this.#emitThreaded(source, routeThread, (records) => routeThread.encode(records).then((b) => ({ dead: b.dead, hand: () => appendEncoded(b.payloads, b.release) })));
      }
    }
    // Not async, and no array of events: each event is handed off as soon as it is routed and
    // nothing here keeps the batch alive while the handoff waits (Handoff.begin).
    return (records: SourceRecord[]): Promise<void> => {
      if (this.#closing) return Promise.reject(new RelayError(ErrorCodes.CLOSED, `The pipeline is shutting down; ${source} must stop without committing.`));
      metrics.eventsIn.inc({ source }, records.length);
      const batch = handoff.begin(records.length);
      for (let i = 0; i < records.length; i++) {
        const r = router.route(records[i] as SourceRecord);
        if (r.ok) batch.push(r.event);
        else deadLetters.write(source, r.dead);
      }
      return batch.commit();
    };
  }

  /**
   * The route thread's emit: batches are routed there in emit order and handed off in the order
   * they come back (the same order), so a source's batches stay in sequence.
   */
  #emitThreaded(source: string, thread: RouteThread, route: (records: SourceRecord[] | LineBatch) => Promise<{ dead: DeadLetter[]; hand: () => Promise<void> }>): Emit {
    const { deadLetters, metrics } = this.parts;
    const emit = (records: SourceRecord[] | LineBatch): Promise<void> => {
      if (this.#closing) return Promise.reject(new RelayError(ErrorCodes.CLOSED, `The pipeline is shutting down; ${source} must stop without committing.`));
      metrics.eventsIn.inc({ source }, records.length);
      return route(records).then((b) => {
        for (const d of b.dead) deadLetters.write(source, d);
        return b.hand();
      });
    };
    const lines: LineIntake = {
      open: (max, prefix, kind, host) => thread.lineBatch(max, prefix, kind, host),
      emit: (batch) => (batch instanceof LineBatch ? emit(batch) : Promise.reject(new RelayError(ErrorCodes.INTERNAL, `${source} emitted lines that did not come from lines.open(); a source bug.`))),
    };
    return Object.assign((records: SourceRecord[]) => emit(records), { lines });
  }

  async start(sources: Source[]): Promise<void> {
    await this.parts.handoff.start();
    await this.parts.routeThread?.start();
    this.#sources = sources;
    for (const s of sources) await s.start(this.emitFor(s.name));
  }

  async close(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const { logger } = this.parts;
    // A source stuck on a full queue would hold its close until the timeout: refuse its batch instead.
    this.parts.handoff.unblock?.();
    // Sources first: they finish the in-flight batch and write their checkpoints.
    const sourcesClosed = Promise.allSettled(this.#sources.map((s) => s.close()));
    const firstHalf = Math.max(0, (deadline - Date.now()) / 2);
    const done = await Promise.race([sourcesClosed.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), firstHalf).unref())]);
    this.#closing = true;
    if (!done) {
      logger.warn({ timeoutMs }, 'Sources did not stop in time; destroying them. Uncommitted records are read again on the next start.');
      for (const s of this.#sources) s.destroy();
    }
    // The sources are stopped: nothing new reaches the route thread, and what it still holds was refused or appended.
    await this.parts.routeThread?.close(Math.max(0, (deadline - Date.now()) / 2));
    await this.parts.handoff.close(deadline);
    await this.parts.deadLetters.close();
  }

  destroy(err?: Error): void {
    this.#closing = true;
    for (const s of this.#sources) s.destroy(err);
    this.parts.routeThread?.destroy();
    this.parts.handoff.destroy(err);
  }
}
