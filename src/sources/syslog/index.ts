/**
 * Relay-appliance mode: receives Duo events that other hosts forward over UDP, TCP or TLS
 * (RFC 5424 or 3164; octet-counted or LF framing) and routes them like local ones.
 *
 * Built on node:net/tls/dgram rather than the `syslog-server` package, which is UDP-only, has no
 * framing, no parsing and module-global state (notes/dependencies.md).
 *
 * Plain syslog has no acknowledgements: what a sender wrote is "delivered" for it once in its
 * kernel. So the source never commits anything; it only keeps its own promises:
 * - TCP/TLS: a connection is paused while its batch is in the pipeline (connection.ts), so a slow
 *   SIEM slows the senders instead of growing memory.
 * - UDP: a bounded waiting list, overflow dead-lettered (udp.ts).
 * - A batch the pipeline refuses (it is closing) is dead-lettered with its full text, never lost
 *   silently; so is anything still waiting when close() hits its deadline or destroy() is called.
 * - close(): stop accepting and reading, wait (≤ CLOSE_DRAIN_MS) for batches in the pipeline,
 *   then drop the connections. Bytes the senders wrote that we never read are gone: that is the
 *   loss window of plain syslog (notes/syslog-rfcs-and-shippers.md §0.1); use RELP-capable
 *   forwarders upstream when it matters.
 */
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import type { SyslogSourceConfig } from '../../config/schema.js';
import type { DeadLetter, SourceRecord } from '../../event.js';
import type { Logger } from '../../ops/logger.js';
import type { Emit, Source } from '../source.js';
import { RelayError, ErrorCodes, errorMessage } from '../../errors.js';
import { serveConnection } from './connection.js';
import { UdpIntake } from './udp.js';
import { bindUdp, listenServer } from './listen.js';
import { listenerTlsOptions } from './tls-options.js';

/** How long close() waits for batches already in the pipeline. */
export const CLOSE_DRAIN_MS = 5000;
/** Refused connections and failed handshakes are logged at most this often. */
const LOG_INTERVAL_MS = 60_000;

export interface SyslogSourceContext {
  logger: Logger;
  deadLetter: (d: DeadLetter) => void;
}

export interface SyslogSource extends Source {
  /** The bound port (useful with port 0 in tests). */
  readonly port: number;
}

export function createSyslogSource(cfg: SyslogSourceConfig, ctx: SyslogSourceContext): SyslogSource {
  const { listen } = cfg;
  const target = { name: cfg.name, transport: listen.transport, host: listen.host, port: listen.port };
  const sockets = new Set<Socket>();
  const inflight = new Set<Promise<void>>();
  let server: Server | undefined;
  let udp: UdpSocket | undefined;
  let intake: UdpIntake | undefined;
  let emit: Emit | undefined;
  let boundPort = listen.port;
  let started = false;
  /** No more reading (close or destroy called). */
  let closing = false;
  /** The pipeline may no longer be called: what arrives now is dead-lettered. */
  let closed = false;
  let seq = 0;
  const nextSeq = (): number => ++seq;

  const refuse = (records: SourceRecord[], reason: string): void => {
    for (const r of records) ctx.deadLetter({ reason, position: r.position, preview: r.text ?? '' });
  };

  /** Hands a batch to the pipeline; never rejects. */
  const deliver = (records: SourceRecord[]): Promise<void> => {
    if (records.length === 0) return Promise.resolve();
    if (closed || emit === undefined) {
      refuse(records, 'Syslog listener closed before the record was handed to the pipeline.');
      return Promise.resolve();
    }
    const e = emit;
    // Through then(): an emit that throws synchronously is handled like one that rejects.
    const p = Promise.resolve().then(() => e(records)).catch((err: unknown) => {
      ctx.logger.error({ err: errorMessage(err), records: records.length }, 'The pipeline refused relayed records; they were dead-lettered (plain syslog cannot ask the sender again).');
      refuse(records, `The pipeline refused the record: ${errorMessage(err)}`);
    });
    inflight.add(p);
    return p.finally(() => inflight.delete(p));
  };

  // Refusals can come in floods (a port scanner, a sender in a reconnect loop): one line a minute, with totals.
  let dropped = 0;
  let lastDropLog = 0;
  const onDrop = (): void => {
    dropped++;
    const now = Date.now();
    if (now - lastDropLog < LOG_INTERVAL_MS) return;
    lastDropLog = now;
    ctx.logger.warn({ max_connections: cfg.max_connections, refused: dropped }, 'Sender connections refused: max_connections reached.');
  };
  let handshakeFailures = 0;
  let lastHandshakeLog = 0;
  const onTlsClientError = (err: Error, socket: { remoteAddress?: string | undefined }): void => {
    handshakeFailures++;
    const now = Date.now();
    if (now - lastHandshakeLog < LOG_INTERVAL_MS) return;
    lastHandshakeLog = now;
    ctx.logger.warn({ peer: socket.remoteAddress, err: err.message, failures: handshakeFailures }, 'TLS handshake with a sender failed (wrong CA, no client certificate, or not TLS).');
  };

  const onConnection = (socket: Socket): void => {
    if (closing) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    serveConnection(socket, {
      transport: listen.transport === 'tls' ? 'tls' : 'tcp',
      maxFrameBytes: cfg.max_frame_bytes,
      idleTimeoutMs: cfg.idle_timeout_ms,
      logger: ctx.logger,
      deadLetter: ctx.deadLetter,
      deliver,
      nextSeq,
      closing: () => closing,
    });
  };

  const startStream = async (): Promise<void> => {
    let srv: Server;
    if (listen.transport === 'tls') {
      const tlsOpts = await listenerTlsOptions(cfg.name, listen);
      srv = createTlsServer(tlsOpts, onConnection);
      srv.on('tlsClientError', onTlsClientError);
    } else {
      srv = createTcpServer(onConnection);
    }
    srv.maxConnections = cfg.max_connections;
    srv.on('drop', onDrop);
    server = srv;
    boundPort = await listenServer(srv, target);
    // After listen: accept errors (EMFILE…) must not crash the relay.
    srv.on('error', (err: Error) => ctx.logger.error({ err: err.message }, 'Syslog listener error.'));
  };

  const startUdp = async (): Promise<void> => {
    const sock = createSocket({ type: listen.host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 4 * 1024 * 1024 });
    const udpIntake = new UdpIntake({ maxFrameBytes: cfg.max_frame_bytes, deadLetter: ctx.deadLetter, deliver, nextSeq });
    udp = sock;
    intake = udpIntake;
    sock.on('message', (msg: Buffer, rinfo) => {
      if (!closing) udpIntake.onMessage(msg, rinfo);
    });
    boundPort = await bindUdp(sock, target);
    sock.on('error', (err: Error) => ctx.logger.error({ err: err.message }, 'UDP listener error.'));
  };

  const stopListening = (): void => {
    server?.close();
    if (udp !== undefined) {
      const u = udp;
      udp = undefined;
      try {
        u.close();
      } catch {
        // Never bound (start failed) or closed already.
      }
    }
  };

  const refuseWaiting = (): void => {
    if (intake !== undefined) refuse(intake.takePending(), 'Syslog listener closed before the datagram was handed to the pipeline.');
  };

  return {
    name: cfg.name,
    get port(): number {
      return boundPort;
    },
    async start(e: Emit): Promise<void> {
      if (closing) throw new RelayError(ErrorCodes.CLOSED, `Syslog listener "${cfg.name}" was closed; create a new one to listen again.`);
      if (started) throw new RelayError(ErrorCodes.CLOSED, `Syslog listener "${cfg.name}" is already started.`);
      started = true;
      emit = e;
      try {
        if (listen.transport === 'udp') await startUdp();
        else await startStream();
      } catch (err: unknown) {
        stopListening();
        throw err;
      }
      ctx.logger.info({ transport: listen.transport, host: listen.host, port: boundPort }, 'Syslog listener is up.');
    },
    async close(): Promise<void> {
      if (closing) return;
      closing = true;
      stopListening();
      for (const s of sockets) s.pause();
      const drained = Promise.allSettled([...inflight, ...(intake === undefined ? [] : [intake.idle()])]);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        drained.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), CLOSE_DRAIN_MS);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) ctx.logger.warn({ batches: inflight.size, waiting: intake?.pending ?? 0, ms: CLOSE_DRAIN_MS }, 'Syslog listener closed with batches still in the pipeline.');
      closed = true;
      refuseWaiting();
      for (const s of sockets) s.destroy();
      ctx.logger.info({ transport: listen.transport, port: boundPort }, 'Syslog listener closed.');
    },
    destroy(err?: Error): void {
      closing = true;
      closed = true;
      stopListening();
      refuseWaiting();
      for (const s of sockets) s.destroy();
      if (err !== undefined) ctx.logger.warn({ err: err.message }, 'Syslog listener destroyed.');
    },
  };
}
