/**
 * One TCP or TLS connection to a syslog receiver, with a timeout on each phase (connect, handshake,
 * write) and a watch on the read side. A syslog receiver never talks back: any data, FIN or RST
 * means the connection is dead, and so is anything written after that (notes §0.1, §3 #8).
 *
 * In TLS 1.3 the client's handshake completes before the server has checked our certificate; a
 * mutual-TLS rejection arrives a few ms later as a reset or alert (notes §4.4). `settle()` lets the
 * caller count bytes as delivered only once the connection has stayed up past that window.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, checkServerIdentity, type TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { RelayError, ErrorCodes, errorMessage, systemCode } from '../errors.js';
import { checkPin, type TlsMaterial } from './tls-material.js';

export interface ConnectOptions {
  host: string;
  port: number;
  /** TLS settings; undefined for plain TCP. */
  tls: TlsMaterial | undefined;
  /** 0 = no timeout. */
  connectTimeoutMs: number;
  /** 0 = no timeout. */
  handshakeTimeoutMs: number;
  /** TCP keepalive probe delay; 0 = off. */
  keepaliveMs: number;
  /** A TLS connection dropped within this time after the handshake is reported as a rejection of us. */
  settleMs: number;
  signal?: AbortSignal;
}

type DeathListener = (reason: RelayError) => void;

/** Certificate problems the operator fixes with ca: (chain) or servername: (name). */
const CHAIN_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE',
  'CERT_REVOKED', 'INVALID_CA', 'INVALID_PURPOSE',
]);

function hint(code: string | undefined, tls: TlsMaterial | undefined): string {
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `check servername: (the certificate must name ${tls?.verifyName ?? 'the host'})`;
  if (code !== undefined && CHAIN_CODES.has(code)) return 'check ca: (the CA bundle that signed the SIEM certificate) or fingerprint_sha256:';
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') return 'the port does not speak TLS; check port: and transport:';
  if (code === 'ERR_SSL_UNSUPPORTED_PROTOCOL' || code === 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION') return 'no common TLS version; check min_version:';
  if (code !== undefined && /CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|ACCESS_DENIED|HANDSHAKE_FAILURE/.test(code)) {
    return 'the receiver refused our client certificate; check cert: and key: and the receiver permitted peers';
  }
  if (code === 'ECONNRESET' || code === 'EPIPE') {
    return 'the receiver dropped the handshake; check port: and transport: (is it a TLS port?), min_version:, and cert:/key: if it wants mutual TLS';
  }
  return 'check host:, port: and transport:';
}

/** An error before the connection was ready. */
function connectError(err: unknown, peer: string, phase: 'connect' | 'handshake', tls: TlsMaterial | undefined): RelayError {
  if (err instanceof RelayError) return err;
  const code = systemCode(err);
  if (phase === 'connect') {
    return new RelayError(ErrorCodes.CONNECT, `Cannot connect to ${peer} (${code ?? errorMessage(err)}); check host:, port: and that the SIEM listens there.`, { cause: err });
  }
  return new RelayError(ErrorCodes.TLS, `TLS handshake with ${peer} failed (${code ?? 'error'}: ${errorMessage(err)}); ${hint(code, tls)}.`, { cause: err });
}

export class Connection {
  readonly peer: string;
  /** performance.now() when the connection became usable (after the TLS handshake). */
  readonly readyAt: number;
  readonly protocol: string | undefined;
  #socket: Socket;
  #tls: boolean;
  #settleMs: number;
  #reason: RelayError | undefined;
  #ending = false;
  /** The peer closed its side (FIN), i.e. it read everything up to our FIN when we were ending. */
  #peerEnded = false;
  #listeners = new Set<DeathListener>();

  /** `raw` is the TCP socket under a TLS socket (its errors must be seen too); the same socket for plain TCP. */
  constructor(socket: Socket, raw: Socket, peer: string, tls: boolean, settleMs: number) {
    this.#socket = socket;
    this.peer = peer;
    this.#tls = tls;
    this.#settleMs = settleMs;
    this.readyAt = performance.now();
    this.protocol = tls ? ((socket as TLSSocket).getProtocol() ?? undefined) : undefined;
    socket.on('data', (chunk: Buffer) => {
      this.#die(new RelayError(ErrorCodes.PEER_CLOSED, `${peer} sent ${chunk.length} unexpected bytes; a syslog receiver never answers, so the connection is treated as broken.`));
    });
    const onError = (err: Error): void => this.#die(this.#peerGone(`failed (${systemCode(err) ?? 'error'}: ${err.message})`, err));
    socket.on('end', () => {
      this.#peerEnded = true;
      this.#die(this.#peerGone('closed the connection (FIN)', undefined));
    });
    socket.on('error', onError);
    socket.on('close', () => this.#die(this.#peerGone('closed the connection', undefined)));
    if (raw !== socket) raw.on('error', onError);
  }

  get alive(): boolean {
    return this.#reason === undefined;
  }

  /** Why the connection died; undefined while alive. */
  get reason(): RelayError | undefined {
    return this.#reason;
  }

  #peerGone(what: string, cause: unknown): RelayError {
    if (this.#ending) return new RelayError(ErrorCodes.CLOSED, `Connection to ${this.peer} closed by the relay.`, { cause });
    const code = systemCode(cause);
    const afterMs = Math.round(performance.now() - this.readyAt);
    if (this.#tls && afterMs < this.#settleMs) {
      // TLS 1.3: the server checks our certificate after our handshake callback fired (notes §4.4).
      return new RelayError(
        ErrorCodes.TLS,
        `${this.peer} ${what} ${afterMs} ms after the TLS handshake: the receiver rejected the session, usually our client certificate (mutual TLS); ` +
          `${code !== undefined && code.startsWith('ERR_SSL') ? hint(code, undefined) : 'check cert: and key: and the receiver permitted peers'}.`,
        { cause },
      );
    }
    return new RelayError(ErrorCodes.PEER_CLOSED, `${this.peer} ${what}; unacknowledged messages will be resent.`, { cause });
  }

  #die(reason: RelayError): void {
    if (this.#reason !== undefined) return;
    this.#reason = reason;
    this.#socket.destroy();
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    for (const l of listeners) l(reason);
  }

  /** Resolves when `buf` was handed to the kernel; rejects when the connection dies or the write times out. */
  write(buf: Buffer, timeoutMs: number): Promise<void> {
    const dead = this.#reason;
    if (dead !== undefined) return Promise.reject(dead);
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onDeath: DeathListener = (reason) => {
        if (timer !== undefined) clearTimeout(timer);
        reject(reason);
      };
      this.#listeners.add(onDeath);
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          this.#die(new RelayError(ErrorCodes.WRITE_TIMEOUT, `Writing ${buf.length} bytes to ${this.peer} did not finish within ${timeoutMs} ms (write_timeout_ms); the receiver is not reading.`));
        }, timeoutMs);
      }
      this.#socket.write(buf, (err?: Error | null) => {
        if (err) {
          // The death listener rejects with the first cause; this only covers a write error seen first.
          this.#die(this.#peerGone(`failed during write (${systemCode(err) ?? err.message})`, err));
          return;
        }
        if (timer !== undefined) clearTimeout(timer);
        this.#listeners.delete(onDeath);
        if (this.#reason !== undefined) reject(this.#reason);
        else resolve();
      });
    });
  }

  /** Resolves once the connection has been up `settleMs` since the handshake; rejects if it dies first. */
  settle(settleMs: number): Promise<void> {
    const dead = this.#reason;
    if (dead !== undefined) return Promise.reject(dead);
    const wait = this.readyAt + settleMs - performance.now();
    if (wait <= 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onDeath: DeathListener = (reason) => {
        clearTimeout(timer);
        reject(reason);
      };
      const timer = setTimeout(() => {
        this.#listeners.delete(onDeath);
        if (this.#reason !== undefined) reject(this.#reason);
        else resolve();
      }, Math.ceil(wait));
      this.#listeners.add(onDeath);
    });
  }

  /** Calls `fn` once when the connection dies (immediately if it is dead). */
  onDeath(fn: DeathListener): void {
    if (this.#reason !== undefined) fn(this.#reason);
    else this.#listeners.add(fn);
  }

  /** Graceful close: TLS close_notify, then FIN; destroys after `timeoutMs` if the peer does not close. */
  /** Sends FIN (close_notify first on TLS); resolves true when the peer answered with its own FIN in time. */
  end(timeoutMs: number): Promise<boolean> {
    if (this.#reason !== undefined) return Promise.resolve(false);
    this.#ending = true;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => this.destroy(), timeoutMs);
      this.onDeath(() => {
        clearTimeout(timer);
        resolve(this.#peerEnded);
      });
      this.#socket.end();
    });
  }

  /** Immediate teardown. */
  destroy(reason?: RelayError): void {
    this.#die(reason ?? new RelayError(ErrorCodes.CLOSED, `Connection to ${this.peer} closed by the relay.`));
  }
}

/** What opening a socket needs (ConnectOptions minus what only a Connection uses). */
export type SocketOptions = Pick<ConnectOptions, 'host' | 'port' | 'tls' | 'connectTimeoutMs' | 'handshakeTimeoutMs' | 'keepaliveMs' | 'signal'>;

/** How errors name the peer and what to check: the syslog and RELP destinations word them for their own setups. */
export interface PeerWords {
  /** `127.0.0.1:6514`, or `RELP peer 127.0.0.1:2514`. */
  label: string;
  /** A socket or TLS error in its phase, as a coded RelayError. */
  error(err: unknown, phase: 'connect' | 'handshake'): RelayError;
  /** Ends the handshake-timeout message: what to check. */
  handshakeHint: string;
}

/**
 * TCP (+TLS) with connect and handshake deadlines, cancellable by `o.signal`. Resolves with the
 * socket to use and the TCP socket under it (the same for plain TCP); rejects with a coded
 * RelayError (DR_ERR_CONNECT*, DR_ERR_HANDSHAKE_TIMEOUT, DR_ERR_TLS*, DR_ERR_CLOSED).
 */
export function openSocket(o: SocketOptions, words: PeerWords): Promise<{ sock: Socket; raw: Socket }> {
  const peer = `${o.host}:${o.port}`;
  const { label } = words;
  return new Promise((resolve, reject) => {
    if (o.signal?.aborted === true) {
      reject(new RelayError(ErrorCodes.CLOSED, `Connecting to ${label} was cancelled: the destination is closed.`));
      return;
    }
    let phase: 'connect' | 'handshake' = 'connect';
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const raw = netConnect({ host: o.host, port: o.port, noDelay: true, keepAlive: o.keepaliveMs > 0, keepAliveInitialDelay: o.keepaliveMs });
    let sock: Socket = raw;

    const finish = (err: RelayError | undefined): void => {
      if (done) return;
      done = true;
      if (timer !== undefined) clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      raw.removeListener('error', onError);
      sock.removeListener('error', onError);
      if (err !== undefined) {
        sock.destroy();
        raw.destroy();
        reject(err);
        return;
      }
      resolve({ sock, raw });
    };
    const onError = (err: Error): void => finish(words.error(err, phase));
    const onAbort = (): void => finish(new RelayError(ErrorCodes.CLOSED, `Connecting to ${label} was cancelled: the destination is closed.`));
    const arm = (ms: number, make: () => RelayError): void => {
      if (timer !== undefined) clearTimeout(timer);
      timer = ms > 0 ? setTimeout(() => finish(make()), ms) : undefined;
    };

    o.signal?.addEventListener('abort', onAbort, { once: true });
    raw.on('error', onError);
    arm(o.connectTimeoutMs, () => new RelayError(ErrorCodes.CONNECT_TIMEOUT, `No TCP connection to ${label} within ${o.connectTimeoutMs} ms (connect_timeout_ms); check host:, port: and firewalls.`));
    raw.once('connect', () => {
      const m = o.tls;
      if (m === undefined) {
        finish(undefined);
        return;
      }
      phase = 'handshake';
      arm(o.handshakeTimeoutMs, () => new RelayError(ErrorCodes.HANDSHAKE_TIMEOUT, `TLS handshake with ${label} not finished within ${o.handshakeTimeoutMs} ms (handshake_timeout_ms); ${words.handshakeHint}`));
      const t = tlsConnect({
        socket: raw,
        host: o.host,
        ...(m.sni !== undefined ? { servername: m.sni } : {}),
        ...(m.ca !== undefined ? { ca: m.ca } : {}),
        ...(m.cert !== undefined ? { cert: m.cert } : {}),
        ...(m.key !== undefined ? { key: m.key } : {}),
        minVersion: m.minVersion,
        // With a pin and no CA the pin alone authenticates the peer (self-signed SIEM certificates).
        rejectUnauthorized: !m.pinOnly,
        checkServerIdentity: (_host, cert) => checkServerIdentity(m.verifyName, cert),
      });
      sock = t;
      t.on('error', onError);
      t.once('secureConnect', () => finish(checkPin(m, t.getPeerCertificate(), peer)));
    });
  });
}

/** Opens a syslog connection; rejects with a coded RelayError (see openSocket). */
export async function connect(o: ConnectOptions): Promise<Connection> {
  const peer = `${o.host}:${o.port}`;
  const { sock, raw } = await openSocket(o, {
    label: peer,
    error: (err, phase) => connectError(err, peer, phase, o.tls),
    handshakeHint: 'is it a TLS port? check port: and transport:.',
  });
  return new Connection(sock, raw, peer, o.tls !== undefined, o.settleMs);
}
