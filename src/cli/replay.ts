import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import split2 from 'split2';
import type { LoadedConfig } from '../config/load.js';
import type { LogKind, SourceRecord } from '../event.js';
import type { Logger } from '../ops/logger.js';
import type { Io } from './context.js';
import { nullMetrics } from '../ops/relay-metrics.js';
import { DeadLetterFile } from '../ops/dead-letter.js';
import { DirectHandoff } from '../pipeline/direct.js';
import { Pipeline } from '../pipeline/index.js';
import { buildDestinations, buildRouter, deadLetterPath } from './build.js';
import { errorMessage } from '../errors.js';

const BATCH = 500;

/**
 * `duo-relay replay FILE|-`: JSON lines once through the router, straight to every destination
 * (no disk queue, so the exit code tells whether everything was delivered). Offsets do not
 * matter here, so split2 frames the input.
 */
export async function replay(loaded: LoadedConfig, logger: Logger, io: Io, opts: { file: string; kind?: LogKind; timeoutMs: number; stdin?: Readable }): Promise<number> {
  const { config } = loaded;
  // Nothing serves metrics during a one-off command.
  const metrics = nullMetrics();
  const deadLetters = new DeadLetterFile(deadLetterPath(config), logger);
  const destinations = buildDestinations(config, logger, metrics);
  const pipeline = new Pipeline({ router: buildRouter(config), handoff: new DirectHandoff(destinations, metrics), deadLetters, metrics, logger });
  const emit = pipeline.emitFor('replay');
  const input = opts.file === '-' ? (opts.stdin ?? process.stdin) : createReadStream(opts.file);
  const label = opts.file === '-' ? 'stdin' : opts.file;

  let lineNo = 0;
  let sent = 0;
  let batch: SourceRecord[] = [];
  const timer = setTimeout(() => pipeline.destroy(), opts.timeoutMs);
  try {
    await pipeline.start([]);
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      const b = batch;
      batch = [];
      await emit(b);
      sent += b.length;
    };
    for await (const line of input.pipe(split2()) as AsyncIterable<string>) {
      lineNo++;
      if (line.trim() === '') continue;
      const rec: SourceRecord = { text: line, position: `${label}:${lineNo}` };
      if (opts.kind !== undefined) rec.kind = opts.kind;
      batch.push(rec);
      if (batch.length >= BATCH) await flush();
    }
    await flush();
    await pipeline.close(10_000);
  } catch (err: unknown) {
    clearTimeout(timer);
    pipeline.destroy();
    io.err(`replay: not everything was delivered: ${errorMessage(err)} (${sent} of ${lineNo} lines handed over).`);
    return 1;
  }
  clearTimeout(timer);
  const dead = deadLetters.count;
  io.err(`replay: ${sent - dead} events delivered to ${destinations.length} destination(s); ${dead} dead-lettered (${deadLetters.path}).`);
  return dead > 0 ? 1 : 0;
}
