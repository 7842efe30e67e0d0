/**
 * Syslog over TCP or TLS (RFC 6587 / RFC 5425): format → frame → one write per batch.
 *
 * Delivery rule (DESIGN §5): a batch counts as delivered when its write callback fired AND the
 * connection has been up at least `settle_ms` since the handshake without error. On any error before
 * that, the WHOLE unacknowledged batch is resent on a new connection (at-least-once; repeats carry
 * the same event id). Plain syslog has no receiver ack, so bytes in a dying peer's buffers are
 * invisible: batches acknowledged within the last `settle_ms` before a connection dies are resent
 * too (replay-window.ts).
 *
 * One batch is on the wire at a time (sends queue behind each other), so order is kept and memory is
 * bounded by what the caller hands in. Reconnects are paced by jittered backoff, never a busy loop.
 */
import type { RelayEvent } from '../event.js';
import type { SyslogDestinationConfig } from '../config/schema.js';
import type { Destination, DestinationBatch } from './destination.js';
import type { DestinationContext } from './context.js';
import { RelayError, ErrorCodes, isRelayError, errorMessage } from '../errors.js';
import { Backoff, sleep } from '../ops/backoff.js';
import { batchFramer, type BatchFramer } from './frame.js';
import { MessageFramer } from './message-framer.js';
import { connect, type Connection } from './connector.js';
import { loadTlsMaterial, type TlsMaterial } from './tls-material.js';
import { OutageLog } from './outage.js';
import { ReplayWindow } from './replay-window.js';
import { performance } from 'node:perf_hooks';

/** A probe always watches the connection at least this long: a TLS 1.3 rejection needs a few ms to arrive. */
const PROBE_MIN_SETTLE_MS = 200;
/** close(): how long the peer gets to answer our close_notify/FIN. */
const END_TIMEOUT_MS = 2000;
/**
 * Cap on the memory of acknowledged batches kept for a resend after a peer failure. Bytes a dying
 * peer can still hold are those in our socket send buffer and its receive buffer (Linux autotunes
 * them up to 4 MiB and 6 MiB by default); anything older reached the receiving process. 16 MiB of
 * buffers (~13 MiB of frames: a batch buffer has headroom) covers both with room to spare, where
 * 64 MiB was mostly resident memory that bought nothing.
 */
const REPLAY_MAX_BYTES = 16 * 1024 * 1024;
const EMPTY = Buffer.alloc(0);

interface HostPort {
  host: string;
  port: number;
}

function asRelayError(err: unknown): RelayError {
  if (isRelayError(err)) return err;
  return new RelayError(ErrorCodes.PEER_CLOSED, errorMessage(err), { cause: err });
}

export class StreamSyslogDestination implements Destination {
  readonly name: string;
  #cfg: SyslogDestinationConfig;
  #ctx: DestinationContext;
  #hosts: HostPort[];
  #hostIdx = 0;
  #frame: BatchFramer;
  #framer: MessageFramer;
  /** Where buffers that left the replay window go for reuse (recycleTo). */
  #recycle: (buf: Buffer) => void;
  /** The open batch (begin()); a newer begin() invalidates an older one. */
  #batchGen = 0;
  #backoff: Backoff;
  #outage: OutageLog;
  #material: Promise<TlsMaterial | undefined> | undefined;
  #conn: Connection | undefined;
  #connecting: Promise<Connection> | undefined;
  #tail: Promise<void> = Promise.resolve();
  #closing = false;
  #destroyed = false;
  #destroyReason: unknown;
  #abort = new AbortController();
  /** Aborted by close() and destroy(): a send waiting out its backoff gives up at once. */
  #wake = new AbortController();
  #closed: Promise<void> | undefined;
  #replay: ReplayWindow;
  #replayScheduled = false;
  /** close() finished waiting: nothing may open a connection any more. */
  #drained = false;
  /** What the replay window still held when destroy() dropped it (see unconfirmed()). */
  #unconfirmedAtDestroy = 0;

  constructor(cfg: SyslogDestinationConfig, ctx: DestinationContext) {
    if (cfg.transport !== 'tcp' && cfg.transport !== 'tls') {
      throw new RelayError(ErrorCodes.CONFIG, `StreamSyslogDestination handles tcp and tls, not ${cfg.transport}.`);
    }
    this.#cfg = cfg;
    this.#ctx = ctx;
    this.name = cfg.name ?? `${cfg.transport}://${cfg.host}:${cfg.port}`;
    this.#hosts = [{ host: cfg.host, port: cfg.port }, ...cfg.failover];
    this.#frame = batchFramer(cfg.framing);
    const framer = new MessageFramer(ctx.format, cfg.framing);
    this.#framer = framer;
    this.#recycle = (buf) => framer.recycle(buf);
    this.#backoff = new Backoff(cfg.backoff);
    this.#outage = new OutageLog(ctx.logger);
    this.#replay = new ReplayWindow(cfg.settle_ms, REPLAY_MAX_BYTES, (buf) => this.#recycle(buf));
  }

  /** Reads the TLS files (config errors surface here) and opens the first connection in the background. */
  async start(): Promise<void> {
    await this.#tls();
    if (this.#closing || this.#destroyed) return;
    this.#connection().catch((err: unknown) => {
      // Not fatal: the first send retries with backoff and logs the outage.
      this.#ctx.logger.debug({ err: errorMessage(err) }, 'First connection attempt failed.');
    });
  }

  send(batch: readonly RelayEvent[]): Promise<void> {
    if (batch.length === 0) return this.#closing || this.#destroyed ? Promise.reject(this.#closedError()) : Promise.resolve();
    const b = this.begin(batch.length);
    for (let i = 0; i < batch.length; i++) b.push(batch[i] as RelayEvent);
    return b.send();
  }

  /** Each message is framed as soon as it is formatted (message-framer.ts) and the event dropped. */
  begin(expected: number): DestinationBatch {
    const gen = ++this.#batchGen;
    const framer = this.#framer;
    let failed: unknown;
    framer.begin(expected);
    return {
      push: (ev: RelayEvent): void => {
        if (failed !== undefined) return;
        if (gen !== this.#batchGen) {
          failed = new RelayError(ErrorCodes.INTERNAL, `Destination ${this.name}: a batch was pushed to after a newer one began.`);
          return;
        }
        try {
          framer.push(ev);
        } catch (err: unknown) {
          failed = err;
        }
      },
      send: (): Promise<void> => {
        const count = framer.count;
        const buf = framer.finish();
        if (failed === undefined && gen !== this.#batchGen) failed = new RelayError(ErrorCodes.INTERNAL, `Destination ${this.name}: a batch was sent after a newer one began.`);
        this.#batchGen++;
        if (failed !== undefined && !this.#closing && !this.#destroyed) return Promise.reject(failed);
        return this.sendFramed(buf, count);
      },
    };
  }

  /**
   * A batch formatted and framed elsewhere (the route thread): `buf` holds `events` framed
   * messages in this destination's format and framing. Same contract as send().
   */
  sendFramed(buf: Buffer, events: number): Promise<void> {
    if (this.#closing || this.#destroyed) return Promise.reject(this.#closedError());
    if (events === 0) return Promise.resolve();
    const p = this.#tail.then(() => this.#deliver(buf, events));
    this.#tail = p.then(() => undefined, () => undefined);
    return p;
  }

  /**
   * Buffers that left the replay window go to `fn` from now on instead of back to this
   * destination's own framer: the route thread reuses the ones it framed.
   */
  recycleTo(fn: (buf: Buffer) => void): void {
    this.#recycle = fn;
  }

  /** Events of resolved sends still in the replay window (Destination.unconfirmed). */
  unconfirmed(): number {
    if (this.#destroyed) return this.#unconfirmedAtDestroy;
    return this.#replay.held(performance.now());
  }

  /** One connection to the primary host, one framed event, the settle window; no retry. */
  async probe(ev: RelayEvent): Promise<void> {
    const tls = await this.#tls();
    const first = this.#hosts[0] as HostPort;
    const settleMs = Math.max(this.#cfg.settle_ms, PROBE_MIN_SETTLE_MS);
    const conn = await connect(this.#connectOptions(first, tls, settleMs));
    try {
      await conn.write(this.#frame([this.#ctx.format(ev)]), this.#cfg.write_timeout_ms);
      await conn.settle(settleMs);
    } finally {
      await conn.end(END_TIMEOUT_MS);
    }
  }

  /** Waits for queued sends up to `timeoutMs` (no new connections), then sends close_notify/FIN. */
  close(timeoutMs = Math.min(this.#cfg.write_timeout_ms + this.#cfg.settle_ms, 10_000)): Promise<void> {
    if (this.#closed !== undefined) return this.#closed;
    this.#closing = true;
    // Sends waiting for a reconnect stop now instead of waiting out their backoff.
    this.#wake.abort(this.#closedError());
    this.#closed = (async () => {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      let outcome: 'drained' | 'timeout';
      // A connection lost during the drain queues a resend behind the tail: wait until it is stable.
      for (;;) {
        const tail = this.#tail;
        outcome = await Promise.race([tail.then(() => 'drained' as const), deadline]);
        if (outcome === 'timeout' || tail === this.#tail) break;
      }
      if (timer !== undefined) clearTimeout(timer);
      this.#drained = true;
      if (outcome === 'timeout') {
        this.#ctx.logger.warn({ timeoutMs }, 'Close deadline passed with a batch still in flight; it will be resent after restart.');
        this.destroy(new RelayError(ErrorCodes.SHUTDOWN_TIMEOUT, `Destination ${this.name} did not drain within ${timeoutMs} ms.`));
        return;
      }
      this.#abort.abort(this.#closedError());
      const conn = this.#conn;
      this.#conn = undefined;
      // The peer answered our FIN: it read every byte, so nothing in the window needs a resend.
      if (conn !== undefined && (await conn.end(END_TIMEOUT_MS))) this.#replay.clear();
    })();
    return this.#closed;
  }

  destroy(err?: Error): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#closing = true;
    this.#destroyReason = err;
    const closed = this.#closedError();
    this.#abort.abort(closed);
    this.#wake.abort(closed);
    this.#conn?.destroy(closed);
    this.#conn = undefined;
    this.#unconfirmedAtDestroy = this.#replay.held(performance.now());
    const lost = this.#replay.clear();
    if (lost > 0) {
      this.#ctx.logger.error({ events: lost }, 'Destroyed with events in the replay window: they may not have reached the SIEM and were acknowledged already.');
    }
  }

  #closedError(): RelayError {
    return new RelayError(ErrorCodes.CLOSED, `Destination ${this.name} is closed.`, this.#destroyReason !== undefined ? { cause: this.#destroyReason } : undefined);
  }

  #tls(): Promise<TlsMaterial | undefined> {
    if (this.#material === undefined) {
      this.#material = this.#cfg.transport === 'tls' ? loadTlsMaterial(this.name, this.#cfg.host, this.#cfg) : Promise.resolve(undefined);
    }
    return this.#material;
  }

  #connectOptions(hp: HostPort, tls: TlsMaterial | undefined, settleMs: number): Parameters<typeof connect>[0] {
    // Failover hosts are checked against their own name unless servername pins one name for all.
    const material = tls === undefined || hp.host === this.#cfg.host || this.#cfg.servername !== undefined
      ? tls
      : { ...tls, verifyName: hp.host, sni: tls.sni === undefined ? undefined : hp.host };
    return {
      host: hp.host,
      port: hp.port,
      tls: material,
      connectTimeoutMs: this.#cfg.connect_timeout_ms,
      handshakeTimeoutMs: this.#cfg.handshake_timeout_ms,
      keepaliveMs: this.#cfg.keepalive_ms,
      settleMs,
      signal: this.#abort.signal,
    };
  }

  /** The live connection, or one new attempt against the current host (shared by concurrent callers). */
  #connection(): Promise<Connection> {
    const conn = this.#conn;
    if (conn?.alive === true) return Promise.resolve(conn);
    if (this.#connecting !== undefined) return this.#connecting;
    const hp = this.#hosts[this.#hostIdx] as HostPort;
    const attempt = (async () => {
      const tls = await this.#tls();
      const c = await connect(this.#connectOptions(hp, tls, this.#cfg.settle_ms));
      this.#conn = c;
      c.onDeath((reason) => {
        if (this.#conn === c) this.#conn = undefined;
        if (reason.code === ErrorCodes.CLOSED) return;
        const suspect = this.#replay.connectionLost(performance.now());
        this.#ctx.logger.debug({ peer: c.peer, err: reason.message, resend: suspect }, 'Connection ended.');
        if (suspect > 0) this.#scheduleReplay();
      });
      this.#ctx.logger.debug({ peer: c.peer, protocol: c.protocol }, 'Connected to the syslog destination.');
      return c;
    })();
    this.#connecting = attempt;
    attempt.then(
      () => {
        this.#connecting = undefined;
      },
      () => {
        this.#connecting = undefined;
      },
    );
    return attempt;
  }

  #rotateHost(): void {
    if (this.#hosts.length < 2) return;
    const from = this.#hosts[this.#hostIdx] as HostPort;
    this.#hostIdx = (this.#hostIdx + 1) % this.#hosts.length;
    const to = this.#hosts[this.#hostIdx] as HostPort;
    this.#outage.switched(`${from.host}:${from.port}`, `${to.host}:${to.port}`);
  }

  /** Resends the replay window even if no new batch comes (idle connection died). */
  #scheduleReplay(): void {
    if (this.#replayScheduled || this.#destroyed || this.#drained) return;
    this.#replayScheduled = true;
    const p = this.#tail.then(() => {
      this.#replayScheduled = false;
      return this.#deliver(EMPTY, 0);
    });
    this.#tail = p.then(() => undefined, (err: unknown) => {
      if (!this.#destroyed) this.#ctx.logger.warn({ err: errorMessage(err) }, 'Resending the replay window failed; it will be retried with the next batch.');
    });
  }

  async #deliver(buf: Buffer, events: number): Promise<void> {
    for (;;) {
      if (this.#destroyed || this.#drained) throw this.#closedError();
      const replayCount = this.#replay.pendingCount;
      if (replayCount === 0 && buf.length === 0) return;
      const hp = this.#hosts[this.#hostIdx] as HostPort;
      let conn: Connection | undefined;
      let out = buf;
      try {
        conn = await this.#connection();
        if (replayCount > 0) out = Buffer.concat([...this.#replay.pendingBuffers(replayCount), buf]);
        await conn.write(out, this.#cfg.write_timeout_ms);
        await conn.settle(this.#cfg.settle_ms);
      } catch (err: unknown) {
        if (this.#destroyed) throw this.#closedError();
        const e = asRelayError(err);
        conn?.destroy(e);
        this.#outage.failure(e, conn?.peer ?? `${hp.host}:${hp.port}`);
        this.#ctx.onEvent?.('error', 1, e.code);
        if (!e.retryable) throw e;
        // Closing: a batch accepted before close() gets one attempt, never a backoff-paced retry.
        if (this.#closing) throw this.#closedError();
        this.#rotateHost();
        try {
          await sleep(this.#backoff.next(), this.#wake.signal);
        } catch {
          throw this.#closedError();
        }
        this.#ctx.onEvent?.('reconnect', 1);
        continue;
      }
      if (replayCount > 0) {
        const resent = this.#replay.pendingEvents;
        this.#replay.replayed(replayCount);
        this.#ctx.logger.info({ peer: conn.peer, events: resent - this.#replay.pendingEvents }, 'Resent events acknowledged just before the connection failed.');
        this.#ctx.onEvent?.('replayed', resent - this.#replay.pendingEvents);
      }
      this.#replay.written(out, events, performance.now());
      this.#backoff.reset();
      this.#outage.recovered(conn.peer);
      if (events > 0) this.#ctx.onEvent?.('sent', events);
      return;
    }
  }
}
