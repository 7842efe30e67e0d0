/**
 * Syslog over UDP (RFC 5426): one datagram per message, no framing.
 *
 * UDP has NO delivery guarantee: "delivered" here means the kernel accepted the datagram (send
 * callback without error). A lost packet, a full receiver buffer or a dead SIEM are invisible,
 * except an ICMP port-unreachable that the connected socket reports on a later send (then the batch
 * is resent, after backoff, to the next host). Use tcp, tls or relp when events must not be lost.
 *
 * Messages longer than min(65507, max_message_bytes) are cut at a UTF-8 character boundary and counted.
 */
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { RelayEvent } from '../event.js';
import type { SyslogDestinationConfig } from '../config/schema.js';
import type { Destination } from './destination.js';
import type { DestinationContext } from './context.js';
import { RelayError, ErrorCodes, isRelayError, errorMessage, systemCode } from '../errors.js';
import { Backoff, sleep } from '../ops/backoff.js';
import { encodeTruncated } from './frame.js';
import { OutageLog } from './outage.js';

/** Largest UDP payload over IPv4 (65535 − 8 UDP − 20 IP header bytes). */
export const MAX_UDP_PAYLOAD = 65_507;
const PROBE_MIN_SETTLE_MS = 200;

interface HostPort {
  host: string;
  port: number;
}

function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => RelayError): Promise<T> {
  if (ms <= 0) return p;
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export class UdpSyslogDestination implements Destination {
  readonly name: string;
  #cfg: SyslogDestinationConfig;
  #ctx: DestinationContext;
  #hosts: HostPort[];
  #hostIdx = 0;
  #cap: number;
  #backoff: Backoff;
  #outage: OutageLog;
  #socket: Socket | undefined;
  /** An asynchronous socket error (ICMP unreachable) not yet reported to a send. */
  #pendingError: RelayError | undefined;
  #tail: Promise<void> = Promise.resolve();
  #closing = false;
  #destroyed = false;
  #abort = new AbortController();
  /** Aborted by close() and destroy(): a send waiting out its backoff gives up at once. */
  #wake = new AbortController();
  #closed: Promise<void> | undefined;
  #truncated = 0;

  constructor(cfg: SyslogDestinationConfig, ctx: DestinationContext) {
    this.#cfg = cfg;
    this.#ctx = ctx;
    this.name = cfg.name ?? `udp://${cfg.host}:${cfg.port}`;
    this.#hosts = [{ host: cfg.host, port: cfg.port }, ...cfg.failover];
    this.#cap = Math.min(MAX_UDP_PAYLOAD, cfg.max_message_bytes);
    this.#backoff = new Backoff(cfg.backoff);
    this.#outage = new OutageLog(ctx.logger);
  }

  /** Messages cut to fit one datagram since start. */
  get truncated(): number {
    return this.#truncated;
  }

  async start(): Promise<void> {
    try {
      await this.#open();
    } catch (err: unknown) {
      this.#ctx.logger.debug({ err: errorMessage(err) }, 'First UDP socket setup failed; sends will retry.');
    }
  }

  send(batch: readonly RelayEvent[]): Promise<void> {
    if (this.#closing || this.#destroyed) return Promise.reject(this.#closedError());
    if (batch.length === 0) return Promise.resolve();
    let datagrams: Buffer[];
    try {
      datagrams = this.#encode(batch);
    } catch (err: unknown) {
      return Promise.reject(err);
    }
    const p = this.#tail.then(() => this.#deliver(datagrams, batch.length));
    this.#tail = p.then(() => undefined, () => undefined);
    return p;
  }

  /** One datagram to the primary host, then a short wait for an ICMP port-unreachable. */
  async probe(ev: RelayEvent): Promise<void> {
    const sock = await this.#open();
    this.#pendingError = undefined;
    const first = this.#hosts[this.#hostIdx] as HostPort;
    await this.#sendAll(sock, this.#encode([ev]), `${first.host}:${first.port}`);
    await sleep(Math.max(this.#cfg.settle_ms, PROBE_MIN_SETTLE_MS));
    const err = this.#pendingError as RelayError | undefined;
    if (err !== undefined) {
      this.#pendingError = undefined;
      throw err;
    }
  }

  close(timeoutMs = Math.min(this.#cfg.write_timeout_ms, 10_000)): Promise<void> {
    if (this.#closed !== undefined) return this.#closed;
    this.#closing = true;
    this.#wake.abort(this.#closedError());
    this.#closed = (async () => {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      const outcome = await Promise.race([this.#tail.then(() => 'drained' as const), deadline]);
      clearTimeout(timer);
      if (outcome === 'timeout') this.destroy(new RelayError(ErrorCodes.SHUTDOWN_TIMEOUT, `Destination ${this.name} did not drain within ${timeoutMs} ms.`));
      else this.#closeSocket();
    })();
    return this.#closed;
  }

  destroy(err?: Error): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#closing = true;
    this.#abort.abort(this.#closedError(err));
    this.#wake.abort(this.#closedError(err));
    this.#closeSocket();
  }

  #closedError(cause?: unknown): RelayError {
    return new RelayError(ErrorCodes.CLOSED, `Destination ${this.name} is closed.`, cause !== undefined ? { cause } : undefined);
  }

  #encode(batch: readonly RelayEvent[]): Buffer[] {
    const out = new Array<Buffer>(batch.length);
    let cut = 0;
    for (let i = 0; i < batch.length; i++) {
      const { bytes, truncated } = encodeTruncated(this.#ctx.format(batch[i] as RelayEvent), this.#cap);
      out[i] = bytes;
      if (truncated) cut++;
    }
    if (cut > 0) {
      if (this.#truncated === 0) this.#ctx.logger.warn({ bytes: this.#cap }, 'UDP messages longer than one datagram are truncated; use tcp or tls for large events.');
      this.#truncated += cut;
    }
    return out;
  }

  #closeSocket(): void {
    const s = this.#socket;
    this.#socket = undefined;
    if (s === undefined) return;
    try {
      s.close();
    } catch {
      // Already closed.
    }
  }

  async #open(): Promise<Socket> {
    if (this.#socket !== undefined) return this.#socket;
    const hp = this.#hosts[this.#hostIdx] as HostPort;
    const peer = `${hp.host}:${hp.port}`;
    const resolved = isIP(hp.host) !== 0
      ? { address: hp.host, family: isIP(hp.host) }
      : await withTimeout(lookup(hp.host), this.#cfg.connect_timeout_ms, () => new RelayError(ErrorCodes.CONNECT_TIMEOUT, `Resolving ${hp.host} took over ${this.#cfg.connect_timeout_ms} ms (connect_timeout_ms).`))
        .catch((err: unknown) => {
          throw isRelayError(err) ? err : new RelayError(ErrorCodes.CONNECT, `Cannot resolve ${hp.host} (${systemCode(err) ?? errorMessage(err)}); check host:.`, { cause: err });
        });
    const sock = createSocket(resolved.family === 6 ? 'udp6' : 'udp4');
    // Asynchronous errors (ICMP port unreachable → ECONNREFUSED) must never crash the relay.
    sock.on('error', (err: Error) => {
      this.#pendingError = new RelayError(ErrorCodes.CONNECT, `UDP peer ${peer} is unreachable (${systemCode(err) ?? err.message}); check host:, port: and that the SIEM listens on UDP.`, { cause: err });
      if (this.#socket === sock) this.#closeSocket();
    });
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        sock.once('connect', () => resolve());
        sock.once('error', reject);
        sock.connect(hp.port, resolved.address);
      }),
      this.#cfg.connect_timeout_ms,
      () => new RelayError(ErrorCodes.CONNECT_TIMEOUT, `UDP socket to ${peer} not ready within ${this.#cfg.connect_timeout_ms} ms.`),
    ).catch((err: unknown) => {
      try {
        sock.close();
      } catch {
        // Never opened.
      }
      throw isRelayError(err) ? err : new RelayError(ErrorCodes.CONNECT, `Cannot open a UDP socket to ${peer} (${systemCode(err) ?? errorMessage(err)}).`, { cause: err });
    });
    if (this.#destroyed) {
      sock.close();
      throw this.#closedError();
    }
    this.#socket = sock;
    return sock;
  }

  /** Sends every datagram; resolves when all send callbacks succeeded. One callback function per batch. */
  #sendAll(sock: Socket, datagrams: readonly Buffer[], peer: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let left = datagrams.length;
      let failed = false;
      const onAbort = (): void => {
        failed = true;
        reject(this.#closedError());
      };
      this.#abort.signal.addEventListener('abort', onAbort, { once: true });
      const cb = (err: Error | null): void => {
        if (failed) return;
        if (err) {
          failed = true;
          this.#abort.signal.removeEventListener('abort', onAbort);
          reject(new RelayError(ErrorCodes.CONNECT, `UDP send to ${peer} failed (${systemCode(err) ?? err.message}); check host:, port: and that the SIEM listens on UDP.`, { cause: err }));
          return;
        }
        if (--left === 0) {
          this.#abort.signal.removeEventListener('abort', onAbort);
          resolve();
        }
      };
      for (const d of datagrams) sock.send(d, cb);
    });
  }

  async #deliver(datagrams: readonly Buffer[], events: number): Promise<void> {
    for (;;) {
      if (this.#destroyed) throw this.#closedError();
      const hp = this.#hosts[this.#hostIdx] as HostPort;
      try {
        const sock = await this.#open();
        const pending = this.#pendingError;
        if (pending !== undefined) {
          this.#pendingError = undefined;
          throw pending;
        }
        await this.#sendAll(sock, datagrams, `${hp.host}:${hp.port}`);
      } catch (err: unknown) {
        if (this.#destroyed) throw this.#closedError();
        const e = isRelayError(err) ? err : new RelayError(ErrorCodes.CONNECT, errorMessage(err), { cause: err });
        this.#closeSocket();
        this.#outage.failure(e, `${hp.host}:${hp.port}`);
        this.#ctx.onEvent?.('error', 1, e.code);
        if (!e.retryable || this.#closing) throw e.retryable ? this.#closedError(e) : e;
        if (this.#hosts.length > 1) {
          const next = (this.#hostIdx + 1) % this.#hosts.length;
          this.#outage.switched(`${hp.host}:${hp.port}`, `${(this.#hosts[next] as HostPort).host}:${(this.#hosts[next] as HostPort).port}`);
          this.#hostIdx = next;
        }
        try {
          await sleep(this.#backoff.next(), this.#wake.signal);
        } catch {
          throw this.#closedError();
        }
        this.#ctx.onEvent?.('reconnect', 1);
        continue;
      }
      this.#backoff.reset();
      this.#outage.recovered(`${hp.host}:${hp.port}`);
      this.#ctx.onEvent?.('sent', events);
      return;
    }
  }
}
