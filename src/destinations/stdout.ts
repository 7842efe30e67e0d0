import type { RelayEvent } from '../event.js';
import type { StdoutDestinationConfig } from '../config/schema.js';
import type { Destination } from './destination.js';
import { batchFramer } from './frame.js';
import { RelayError, ErrorCodes } from '../errors.js';

/**
 * Writes formatted messages to stdout (quickstart, debugging, piping into another tool).
 * Delivered = accepted by the stream (write callback); EPIPE means the reader went away.
 */
export function createStdoutDestination(
  cfg: StdoutDestinationConfig,
  ctx: { format: (ev: RelayEvent) => string; out?: NodeJS.WritableStream },
): Destination {
  const out = ctx.out ?? process.stdout;
  const frame = batchFramer(cfg.framing);
  let closed = false;
  return {
    name: cfg.name,
    async start(): Promise<void> {},
    send(batch: readonly RelayEvent[]): Promise<void> {
      if (closed) return Promise.reject(new RelayError(ErrorCodes.CLOSED, `Destination ${cfg.name} is closed.`));
      const msgs = new Array<string>(batch.length);
      for (let i = 0; i < batch.length; i++) msgs[i] = ctx.format(batch[i] as RelayEvent);
      return new Promise((resolve, reject) => {
        out.write(frame(msgs), (err?: Error | null) => {
          if (err) reject(new RelayError(ErrorCodes.PEER_CLOSED, `stdout: ${err.message}; the reader of stdout went away.`, { cause: err }));
          else resolve();
        });
      });
    },
    async probe(ev: RelayEvent): Promise<void> {
      await this.send([ev]);
    },
    async close(): Promise<void> {
      closed = true;
    },
    destroy(): void {
      closed = true;
    },
  };
}
