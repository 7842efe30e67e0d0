/**
 * One TCP/TLS sender connection: deframe, parse, hand each chunk's records to the pipeline.
 *
 * Backpressure: the socket is paused while its batch is in the pipeline, so the kernel receive
 * buffer fills and TCP flow control slows the sender; memory per connection stays at one read
 * chunk plus one partial frame (≤ max_frame_bytes). The idle timer does not run while a batch is
 * in the pipeline: a slow SIEM must not make us drop a connection we paused ourselves.
 */
import type { Socket } from 'node:net';
import type { DeadLetter, SourceRecord } from '../../event.js';
import type { Logger } from '../../ops/logger.js';
import { Deframer, type FrameEvent } from './deframe.js';
import { recordFromFrame } from './parse.js';

export interface ConnectionDeps {
  transport: 'tcp' | 'tls';
  maxFrameBytes: number;
  /** 0 disables the idle timeout. */
  idleTimeoutMs: number;
  logger: Logger;
  deadLetter: (d: DeadLetter) => void;
  /** Resolves when the batch is handed off (or dead-lettered); never rejects. */
  deliver: (records: SourceRecord[]) => Promise<void>;
  nextSeq: () => number;
  /** True once the source is closing: read nothing more. */
  closing: () => boolean;
}

/** `host:port`, with brackets for IPv6, for positions and logs. */
export function peerLabel(address: string | undefined, port: number | undefined): string {
  const a = address ?? 'unknown';
  return a.includes(':') ? `[${a}]:${port ?? 0}` : `${a}:${port ?? 0}`;
}

export function serveConnection(socket: Socket, deps: ConnectionDeps): void {
  const peer = socket.remoteAddress ?? 'unknown';
  const label = peerLabel(socket.remoteAddress, socket.remotePort);
  const deframer = new Deframer(deps.maxFrameBytes);
  let busy = false;
  let ended = false;
  // Batches leave in order even if a caller resumed the socket early.
  let chain: Promise<void> = Promise.resolve();

  socket.setKeepAlive(true, 30_000);
  if (deps.idleTimeoutMs > 0) socket.setTimeout(deps.idleTimeoutMs);
  socket.on('timeout', () => {
    if (busy) return;
    deps.logger.debug({ peer: label, idle_timeout_ms: deps.idleTimeoutMs }, 'Closing an idle sender connection.');
    socket.destroy();
  });

  const handle = (events: FrameEvent[]): void => {
    const records: SourceRecord[] = [];
    for (const ev of events) {
      const position = `syslog:${deps.transport}://${label}#${deps.nextSeq()}`;
      if (ev.ok) records.push(recordFromFrame(ev.frame, peer, position));
      else deps.deadLetter({ reason: ev.reason, position, preview: ev.preview });
    }
    if (records.length === 0) return;
    busy = true;
    socket.pause();
    const batch = chain.then(() => deps.deliver(records));
    chain = batch;
    void batch.finally(() => {
      if (chain !== batch) return;
      busy = false;
      if (socket.destroyed || deps.closing()) return;
      socket.resume();
      // The timer may have fired (and been ignored) while we were busy; start it afresh.
      if (deps.idleTimeoutMs > 0) socket.setTimeout(deps.idleTimeoutMs);
    });
  };

  socket.on('data', (chunk: Buffer) => handle(deframer.push(chunk)));
  socket.on('end', () => {
    ended = true;
    handle(deframer.end());
  });
  socket.on('error', (err: Error) => deps.logger.debug({ peer: label, err: err.message }, 'Sender connection error.'));
  socket.on('close', () => {
    // A reset (no FIN) inside a frame: report what was buffered instead of losing it quietly.
    if (!ended) handle(deframer.end());
  });
}
