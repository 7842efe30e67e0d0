/**
 * One RELP session over TCP or TLS: connect, `open` handshake, syslog commands with their txnr,
 * responses matched back to the items the caller attached, `serverclose`, `close`.
 *
 * Every wait has a deadline: connect (connect_timeout_ms), TLS handshake and the `open` response
 * (handshake_timeout_ms), each command's response (response timeout). Response deadlines use one
 * coarse timer per session that looks at the oldest outstanding frame, not a timer per message.
 * When the session dies for any reason, the items still waiting for a response are handed back
 * once, in send order, so the caller can resend them.
 */
import type { Socket } from 'node:net';
import { ErrorCodes, RelayError, errorMessage, systemCode } from '../errors.js';
import type { TlsMaterial } from './tls-material.js';
import { openSocket } from './connector.js';
import { RelpFrameParser, encodeFrame, nextTxnr, openOffers, parseOffers, parseResponse, type RelpFrame } from './relp-frame.js';

export interface RelpSessionOptions {
  host: string;
  port: number;
  /** TLS settings; undefined for plain TCP. */
  tls: TlsMaterial | undefined;
  connectTimeoutMs: number;
  /** TLS handshake, and then the `open` response. */
  handshakeTimeoutMs: number;
  /** Longest wait for the response to one command. */
  responseTimeoutMs: number;
  /** TCP keepalive probe delay; 0 = off. */
  keepaliveMs: number;
  /** `relp_software` offer: name,version,url. */
  software: string;
  signal?: AbortSignal;
}

export interface RelpSessionHandlers<T> {
  /** A response for `item`: ok = code 200. Called once per sent item unless the session dies first. */
  onResponse(item: T, ok: boolean, code: number, text: string): void;
  /** The session ended; `unacked` are the items without a response, in send order. Called once. */
  onDead(unacked: T[], reason: RelayError): void;
}

interface Outstanding<T> {
  item: T;
  sentAt: number;
}

const TICK_MAX_MS = 1000;

function socketError(err: unknown, peer: string, phase: 'connect' | 'handshake'): RelayError {
  if (err instanceof RelayError) return err;
  const code = systemCode(err);
  if (phase === 'connect') {
    return new RelayError(ErrorCodes.CONNECT, `Cannot connect to RELP peer ${peer} (${code ?? errorMessage(err)}); check host:, port: and that rsyslog imrelp listens there.`, { cause: err });
  }
  return new RelayError(
    ErrorCodes.TLS,
    `TLS handshake with RELP peer ${peer} failed (${code ?? 'error'}: ${errorMessage(err)}); check ca:, servername:, cert:/key: and that imrelp has tls="on".`,
    { cause: err },
  );
}

export class RelpSession<T> {
  readonly peer: string;
  readonly #socket: Socket;
  readonly #handlers: RelpSessionHandlers<T>;
  readonly #parser: RelpFrameParser;
  /** 0 = no deadline (schema allows 0 for "off"). */
  readonly #responseTimeoutMs: number;
  readonly #outstanding = new Map<number, Outstanding<T>>();
  /** Control commands (open, close) waiting for their response: txnr → deadline and settle. */
  readonly #control = new Map<number, { deadline: number; what: string; settle: (err: RelayError | undefined, body: string) => void }>();
  readonly #deathWaiters = new Set<(reason: RelayError) => void>();
  readonly #tick: NodeJS.Timeout;
  #txnr = 0;
  #dead: RelayError | undefined;
  #closing = false;

  private constructor(socket: Socket, peer: string, handlers: RelpSessionHandlers<T>, o: RelpSessionOptions) {
    this.#socket = socket;
    this.peer = peer;
    this.#handlers = handlers;
    this.#parser = new RelpFrameParser(peer);
    this.#responseTimeoutMs = o.responseTimeoutMs;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err: Error) => this.#die(this.#gone(`failed (${systemCode(err) ?? 'error'}: ${err.message})`, err)));
    socket.on('end', () => this.#die(this.#gone('closed the connection', undefined)));
    socket.on('close', () => this.#die(this.#gone('closed the connection', undefined)));
    const shortest = Math.min(...[o.responseTimeoutMs, o.handshakeTimeoutMs].filter((ms) => ms > 0), TICK_MAX_MS * 4);
    this.#tick = setInterval(() => this.#checkDeadlines(), Math.max(10, Math.min(TICK_MAX_MS, Math.floor(shortest / 4))));
    this.#tick.unref();
  }

  /** Connects and runs the `open` handshake; resolves once the peer accepted `commands=syslog`. */
  static async open<T>(o: RelpSessionOptions, handlers: RelpSessionHandlers<T>): Promise<RelpSession<T>> {
    const peer = `${o.host}:${o.port}`;
    const { sock: socket } = await openSocket(o, {
      label: `RELP peer ${peer}`,
      error: (err, phase) => socketError(err, peer, phase),
      handshakeHint: 'does imrelp have tls="on"?',
    });
    const s = new RelpSession<T>(socket, peer, handlers, o);
    const onAbort = (): void => s.destroy(new RelayError(ErrorCodes.CLOSED, `RELP session with ${peer} cancelled: the destination is closed.`));
    o.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const body = await s.#command('open', openOffers(o.software), o.handshakeTimeoutMs, 'handshake_timeout_ms');
      const offers = parseOffers(body);
      const commands = (offers.get('commands') ?? '').split(',');
      if (!offers.has('relp_version') || !commands.includes('syslog')) {
        throw new RelayError(ErrorCodes.RELP_PROTOCOL, `RELP peer ${peer} did not accept the syslog command (offers: ${JSON.stringify(body.slice(0, 200))}); is it rsyslog imrelp?`);
      }
    } catch (err: unknown) {
      const e = err instanceof RelayError ? err : new RelayError(ErrorCodes.RELP_PROTOCOL, errorMessage(err), { cause: err });
      s.destroy(e);
      throw e;
    } finally {
      o.signal?.removeEventListener('abort', onAbort);
    }
    return s;
  }

  get alive(): boolean {
    return this.#dead === undefined && !this.#closing;
  }

  get outstanding(): number {
    return this.#outstanding.size;
  }

  /** Queues frames for many items in one socket write; false (nothing sent) when the session is closing or dead. */
  sendAll(items: readonly T[], data: (item: T) => string): boolean {
    if (!this.alive) return false;
    if (items.length === 0) return true;
    const now = Date.now();
    let out = '';
    for (const item of items) {
      this.#txnr = nextTxnr(this.#txnr);
      this.#outstanding.set(this.#txnr, { item, sentAt: now });
      out += encodeFrame(this.#txnr, 'syslog', data(item));
    }
    this.#socket.write(out);
    return true;
  }

  /** Sends `close`, waits for its response (or the deadline), then ends the socket (TLS close_notify). */
  async close(timeoutMs: number): Promise<void> {
    if (this.#dead !== undefined) return;
    // From here on the peer's serverclose, FIN or reset is the expected end, not a failure.
    this.#closing = true;
    const died = new Promise<void>((resolve) => this.#deathWaiters.add(() => resolve()));
    try {
      await Promise.race([this.#command('close', '', timeoutMs, 'the close deadline'), died]);
    } catch {
      // A peer that does not answer close is closed anyway.
    }
    if (this.#dead === undefined) {
      const timer = setTimeout(() => this.destroy(), Math.max(1, timeoutMs));
      this.#socket.end();
      await died;
      clearTimeout(timer);
    }
  }

  destroy(reason?: RelayError): void {
    this.#die(reason ?? new RelayError(ErrorCodes.CLOSED, `RELP session with ${this.peer} closed by the relay.`));
  }

  /** Resolves with the reason once the session is dead. */
  dead(): Promise<RelayError> {
    const d = this.#dead;
    if (d !== undefined) return Promise.resolve(d);
    return new Promise<RelayError>((resolve) => this.#deathWaiters.add(resolve));
  }

  #command(command: 'open' | 'close', data: string, timeoutMs: number, what: string): Promise<string> {
    const dead = this.#dead;
    if (dead !== undefined) return Promise.reject(dead);
    this.#txnr = nextTxnr(this.#txnr);
    const txnr = this.#txnr;
    return new Promise<string>((resolve, reject) => {
      const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : Number.POSITIVE_INFINITY;
      this.#control.set(txnr, { deadline, what: `${command} (${what}, ${timeoutMs} ms)`, settle: (err, body) => (err === undefined ? resolve(body) : reject(err)) });
      this.#socket.write(encodeFrame(txnr, command, data));
    });
  }

  #onData(chunk: Buffer): void {
    let frames: RelpFrame[];
    try {
      frames = this.#parser.push(chunk);
    } catch (err: unknown) {
      this.#die(err instanceof RelayError ? err : new RelayError(ErrorCodes.RELP_PROTOCOL, errorMessage(err), { cause: err }));
      return;
    }
    for (const f of frames) {
      if (this.#dead !== undefined) return;
      if (f.command === 'serverclose') {
        this.#die(
          this.#closing
            ? new RelayError(ErrorCodes.CLOSED, `RELP session with ${this.peer} closed.`)
            : new RelayError(ErrorCodes.PEER_CLOSED, `RELP peer ${this.peer} announced it is closing the session (serverclose); unacknowledged messages will be resent.`),
        );
        return;
      }
      if (f.command !== 'rsp') {
        this.#die(new RelayError(ErrorCodes.RELP_PROTOCOL, `RELP peer ${this.peer} sent an unexpected ${JSON.stringify(f.command)} command.`));
        return;
      }
      let rsp;
      try {
        rsp = parseResponse(f.data, this.peer);
      } catch (err: unknown) {
        this.#die(err instanceof RelayError ? err : new RelayError(ErrorCodes.RELP_PROTOCOL, errorMessage(err)));
        return;
      }
      const control = this.#control.get(f.txnr);
      if (control !== undefined) {
        this.#control.delete(f.txnr);
        if (rsp.code === 200) control.settle(undefined, rsp.body);
        else control.settle(new RelayError(ErrorCodes.RELP_PROTOCOL, `RELP peer ${this.peer} refused the session: ${rsp.code} ${rsp.text}.`), '');
        continue;
      }
      const o = this.#outstanding.get(f.txnr);
      if (o === undefined) {
        this.#die(new RelayError(ErrorCodes.RELP_PROTOCOL, `RELP peer ${this.peer} answered txnr ${f.txnr}, which is not outstanding.`));
        return;
      }
      this.#outstanding.delete(f.txnr);
      this.#handlers.onResponse(o.item, rsp.code === 200, rsp.code, rsp.text);
    }
  }

  #checkDeadlines(): void {
    const now = Date.now();
    for (const c of this.#control.values()) {
      if (now > c.deadline) {
        this.#die(new RelayError(ErrorCodes.WRITE_TIMEOUT, `RELP peer ${this.peer} did not answer ${c.what}; is it a RELP port, and is the peer alive?`));
        return;
      }
    }
    if (this.#responseTimeoutMs <= 0) return;
    // The Map keeps send order, so the first entry is the oldest.
    const first = this.#outstanding.values().next();
    if (first.done !== true && now - first.value.sentAt > this.#responseTimeoutMs) {
      this.#die(
        new RelayError(ErrorCodes.WRITE_TIMEOUT, `RELP peer ${this.peer} sent no response within ${this.#responseTimeoutMs} ms (write_timeout_ms); the session is dropped and unacknowledged messages resent.`),
      );
    }
  }

  #gone(what: string, cause: unknown): RelayError {
    if (this.#closing) return new RelayError(ErrorCodes.CLOSED, `RELP session with ${this.peer} closed.`, { cause });
    return new RelayError(ErrorCodes.PEER_CLOSED, `RELP peer ${this.peer} ${what}; unacknowledged messages will be resent.`, { cause });
  }

  #die(reason: RelayError): void {
    if (this.#dead !== undefined) return;
    this.#dead = reason;
    clearInterval(this.#tick);
    this.#socket.destroy();
    for (const c of this.#control.values()) c.settle(reason, '');
    this.#control.clear();
    const unacked: T[] = [];
    for (const o of this.#outstanding.values()) unacked.push(o.item);
    this.#outstanding.clear();
    this.#handlers.onDead(unacked, reason);
    for (const w of [...this.#deathWaiters]) w(reason);
    this.#deathWaiters.clear();
  }
}
