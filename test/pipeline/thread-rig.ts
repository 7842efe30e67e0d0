/** For the route-thread tests: real records of every shape a source hands the pipeline, and a pipeline to emit them through. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JsonObject, SourceRecord } from '../../src/event.js';
import type { Handoff } from '../../src/pipeline/handoff.js';
import type { RouteThread } from '../../src/pipeline/route-thread.js';
import type { Metrics } from '../../src/ops/metrics.js';
import type { Logger } from '../../src/ops/logger.js';
import type { Emit, Source } from '../../src/sources/source.js';
import { Pipeline } from '../../src/pipeline/index.js';
import { createRouter } from '../../src/route/router.js';
import { DeadLetterFile } from '../../src/ops/dead-letter.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/peers/', import.meta.url));
export const ROUTER = { defaultHost: 'relay01', tags: {} };

function lines(file: string): string[] {
  return readFileSync(join(FIXTURES, file), 'utf8').split('\n').filter((l) => l.trim() !== '');
}

/** Real records of every shape a source gives: proxy lines (text), Admin API records (parsed, MSP account), and junk. */
export function mixedRecords(): SourceRecord[] {
  const out: SourceRecord[] = [];
  lines('authproxy/authevents.synthetic.log').forEach((text, i) => out.push({ text, kind: 'authproxy', host: 'proxy01', position: `/var/log/authevents.log@8:9:${i * 600}` }));
  lines('elastic/test-auth.log').forEach((l, i) => out.push({ record: JSON.parse(l) as JsonObject, kind: 'authentication', host: 'api-x.duosecurity.com', account: 'DA123', position: `api:api-x/auth#${i}` }));
  out.push({ text: 'not json at all', kind: 'authproxy', host: 'proxy01', position: '/var/log/authevents.log@8:9:99999' });
  out.push({ text: '{"something":"else"}', position: 'syslog:10.0.0.9:514#1' });
  lines('elastic/test-admin.log').forEach((text, i) => out.push({ text, host: 'relayed-host', position: `syslog:10.0.0.7:6514#${i}` }));
  return out;
}


class ListSource implements Source {
  emit: Emit | undefined;
  constructor(readonly name: string) {}
  async start(emit: Emit): Promise<void> {
    this.emit = emit;
  }
  async close(): Promise<void> {}
  destroy(): void {}
}

/**
 * A pipeline (with the route thread when given) into `handoff`, dead letters in `dir`/dead.jsonl;
 * every batch is emitted without waiting, as the tailer does with its batches in flight. The
 * caller reads what it needs, then closes the pipeline.
 */
export async function emitAll(opts: { dir: string; handoff: Handoff; routeThread: RouteThread | undefined; metrics: Metrics; logger: Logger; batches: SourceRecord[][] }): Promise<Pipeline> {
  const { dir, handoff, routeThread, metrics, logger } = opts;
  const pipeline = new Pipeline({
    router: createRouter(ROUTER),
    handoff,
    deadLetters: new DeadLetterFile(join(dir, 'dead.jsonl'), logger),
    metrics,
    logger,
    ...(routeThread !== undefined ? { routeThread } : {}),
  });
  const src = new ListSource('mixed');
  await pipeline.start([src]);
  const emit = src.emit as Emit;
  await Promise.all(opts.batches.map((b) => emit(b)));
  return pipeline;
}
