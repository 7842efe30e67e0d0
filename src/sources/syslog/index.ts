/**
 * Relay-appliance mode: receives Duo events that other hosts forward over UDP, TCP or TLS
 * (RFC 5424 or 3164; octet-counted or LF framing) and routes them like local ones.
 *
 * Built on node:net/tls/dgram rather than the `syslog-server` package, which is UDP-only, has no
 * framing, no parsing and module-global state (notes/dependencies.md).
 *
 * Backpressure: a TCP/TLS connection is paused while its batch is in the pipeline, so a slow
 * SIEM slows the senders instead of growing memory. UDP has no backpressure; datagrams that
 * arrive while the pipeline is saturated are counted as dropped by the kernel, not by us.
 */
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import type { SyslogSourceConfig } from '../../config/schema.js';
import type { DeadLetter, SourceRecord } from '../../event.js';
import type { Logger } from '../../ops/logger.js';
import type { Emit, Source } from '../source.js';
import { Deframer } from './deframe.js';
import { recordFromFrame } from './parse.js';
import { RelayError, ErrorCodes, errorMessage } from '../../errors.js';

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
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let udp: UdpSocket | undefined;
  let emit: Emit | undefined;
  let boundPort = listen.port;
  let closed = false;
  let seq = 0;
  const inflight = new Set<Promise<void>>();

  const track = (p: Promise<void>): Promise<void> => {
    inflight.add(p);
    return p.finally(() => inflight.delete(p));
  };

  const deliver = (records: SourceRecord[]): Promise<void> => {
    if (emit === undefined || records.length === 0) return Promise.resolve();
    return track(
      emit(records).catch((err: unknown) => {
        if (!closed) ctx.logger.error({ err: errorMessage(err), records: records.length }, 'Relayed records could not be handed to the pipeline; the senders were not acknowledged (plain syslog has no acks).');
      }),
    );
  };

  const onConnection = (socket: Socket): void => {
    if (sockets.size >= cfg.max_connections) {
      ctx.logger.warn({ peer: socket.remoteAddress, max: cfg.max_connections }, 'Connection refused: max_connections reached.');
      socket.destroy();
      return;
    }
    sockets.add(socket);
    const peer = socket.remoteAddress ?? 'unknown';
    const deframer = new Deframer(cfg.max_frame_bytes);
    socket.setKeepAlive(true, 30_000);
    socket.setTimeout(cfg.idle_timeout_ms, () => socket.destroy());
    const handle = (events: ReturnType<Deframer['push']>): void => {
      const records: SourceRecord[] = [];
      for (const ev of events) {
        const position = `syslog:${listen.transport}://${peer}#${++seq}`;
        if (ev.ok) records.push(recordFromFrame(ev.frame, peer, position));
        else ctx.deadLetter({ reason: ev.reason, position, preview: ev.preview });
      }
      if (records.length === 0) return;
      socket.pause();
      void deliver(records).finally(() => {
        if (!socket.destroyed) socket.resume();
      });
    };
    socket.on('data', (chunk: Buffer) => handle(deframer.push(chunk)));
    socket.on('end', () => handle(deframer.end()));
    socket.on('error', (err) => ctx.logger.debug({ peer, err: err.message }, 'Sender connection error.'));
    socket.on('close', () => sockets.delete(socket));
  };

  return {
    name: cfg.name,
    get port(): number {
      return boundPort;
    },
    async start(e: Emit): Promise<void> {
      emit = e;
      if (listen.transport === 'udp') {
        const sock = createSocket({ type: listen.host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 4 * 1024 * 1024 });
        udp = sock;
        sock.on('message', (msg, rinfo) => {
          if (msg.length > cfg.max_frame_bytes) {
            ctx.deadLetter({ reason: `Datagram of ${msg.length} bytes exceeds max_frame_bytes.`, position: `syslog:udp://${rinfo.address}`, preview: msg.toString('utf8', 0, 200) });
            return;
          }
          let end = msg.length;
          while (end > 0 && (msg[end - 1] === 0x0a || msg[end - 1] === 0x00)) end--;
          void deliver([recordFromFrame(msg.subarray(0, end), rinfo.address, `syslog:udp://${rinfo.address}#${++seq}`)]);
        });
        await new Promise<void>((resolve, reject) => {
          sock.once('error', reject);
          sock.bind(listen.port, listen.host, () => {
            sock.off('error', reject);
            resolve();
          });
        });
        sock.on('error', (err) => ctx.logger.error({ err: err.message }, 'UDP listener error.'));
        boundPort = sock.address().port;
      } else {
        if (listen.transport === 'tls') {
          const read = (what: 'cert' | 'key' | 'ca'): Buffer | undefined => {
            const file = listen[what];
            if (file === undefined) return undefined;
            try {
              return readFileSync(file);
            } catch (err: unknown) {
              throw new RelayError(ErrorCodes.CONFIG, `sources: syslog listener ${what} ${file} cannot be read (${errorMessage(err)}).`);
            }
          };
          const ca = read('ca');
          server = createTlsServer({ cert: read('cert'), key: read('key'), ...(ca ? { ca } : {}), requestCert: listen.require_client_cert, rejectUnauthorized: listen.require_client_cert, minVersion: 'TLSv1.2' }, onConnection);
          server.on('tlsClientError', (err) => ctx.logger.warn({ err: err.message }, 'TLS handshake with a sender failed.'));
        } else {
          server = createTcpServer(onConnection);
        }
        const srv = server;
        srv.maxConnections = cfg.max_connections;
        await new Promise<void>((resolve, reject) => {
          srv.once('error', reject);
          srv.listen(listen.port, listen.host, () => {
            srv.off('error', reject);
            resolve();
          });
        });
        const addr = srv.address();
        if (addr !== null && typeof addr === 'object') boundPort = addr.port;
      }
      ctx.logger.info({ transport: listen.transport, host: listen.host, port: boundPort }, 'Syslog listener is up.');
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      server?.close();
      udp?.close();
      for (const s of sockets) s.end();
      await Promise.race([Promise.allSettled([...inflight]), new Promise((r) => setTimeout(r, 5000).unref())]);
      for (const s of sockets) s.destroy();
    },
    destroy(): void {
      closed = true;
      server?.close();
      try {
        udp?.close();
      } catch {
        // already closed
      }
      for (const s of sockets) s.destroy();
    },
  };
}
