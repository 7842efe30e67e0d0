import type { SourceRecord, RelayEvent } from '../event.js';
import type { Emit, Source } from '../sources/source.js';
import type { DeadLetterFile } from '../ops/dead-letter.js';
import type { Metrics } from '../ops/metrics.js';
import type { Logger } from '../ops/logger.js';
import type { Handoff } from './handoff.js';
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
    const { router, handoff, deadLetters, metrics } = this.parts;
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

  async start(sources: Source[]): Promise<void> {
    await this.parts.handoff.start();
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
    await this.parts.handoff.close(deadline);
    await this.parts.deadLetters.close();
  }

  destroy(err?: Error): void {
    this.#closing = true;
    for (const s of this.#sources) s.destroy(err);
    this.parts.handoff.destroy(err);
  }
}
