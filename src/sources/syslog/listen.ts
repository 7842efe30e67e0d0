/**
 * Binding the listener socket, with bind failures turned into errors an operator can act on
 * (the port is taken, privileged, or the address is not on this host) instead of a bare errno.
 */
import type { Server } from 'node:net';
import type { Socket as UdpSocket } from 'node:dgram';
import { RelayError, ErrorCodes, errorMessage } from '../../errors.js';

/** Binding is local and quick; anything slower is a bug we would rather report than hang on. */
export const LISTEN_TIMEOUT_MS = 10_000;

export interface ListenTarget {
  /** Source name, for the message. */
  name: string;
  transport: 'udp' | 'tcp' | 'tls';
  host: string;
  port: number;
}

export function listenError(t: ListenTarget, err: unknown): RelayError {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
  const where = `${t.transport} ${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`;
  const hint =
    code === 'EADDRINUSE' ? 'the address is already in use: stop the other process or change listen.port'
    : code === 'EACCES' ? 'permission denied: ports below 1024 need CAP_NET_BIND_SERVICE (the systemd unit grants it) or use a port ≥ 1024'
    : code === 'EADDRNOTAVAIL' ? 'the address is not on this host: change listen.host (0.0.0.0 listens on all IPv4 addresses)'
    : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'listen.host does not resolve: use an IP address'
    : errorMessage(err);
  return new RelayError(ErrorCodes.CONFIG, `sources: syslog listener "${t.name}" cannot listen on ${where} (${hint}).`, { cause: err });
}

function deadline<T>(t: ListenTarget, run: (resolve: (v: T) => void, reject: (e: unknown) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(listenError(t, new Error(`no answer from the OS within ${LISTEN_TIMEOUT_MS} ms`))), LISTEN_TIMEOUT_MS);
    run(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(listenError(t, e));
      },
    );
  });
}

/** Listens; resolves with the bound port. */
export function listenServer(server: Server, t: ListenTarget): Promise<number> {
  return deadline<number>(t, (resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(t.port, t.host, () => {
      server.off('error', onError);
      const addr = server.address();
      resolve(addr !== null && typeof addr === 'object' ? addr.port : t.port);
    });
  });
}

/** Binds; resolves with the bound port. */
export function bindUdp(sock: UdpSocket, t: ListenTarget): Promise<number> {
  return deadline<number>(t, (resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    sock.once('error', onError);
    sock.bind(t.port, t.host, () => {
      sock.off('error', onError);
      resolve(sock.address().port);
    });
  });
}
