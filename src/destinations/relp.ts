/**
 * RELP destination (rsyslog imrelp): every message is a `syslog` command and counts as delivered
 * only when the peer answered it with `rsp 200`. A batch resolves when all of its messages did.
 *
 * - Up to RELP_WINDOW messages are outstanding at once (rsyslog omrelp's default window).
 * - Connection lost, `serverclose`, or no response within write_timeout_ms: the session is
 *   dropped; messages without a response go back to the front of the line and are resent on the
 *   next session (same bytes, same event id). Confirmed messages are never resent.
 * - A NACK (any code other than 200) keeps the session; that message alone is resent after a
 *   jittered backoff. It is retried until accepted (logged at WARN, at ERROR after 10 tries).
 * - Reconnects are paced by backoff and rotate through `host` then `failover` hosts.
 * - Non-retryable failures (TLS pin mismatch, a peer that is not a RELP server) reject the
 *   batches in flight; everything else is retried here, so send() rejects only on close/destroy.
 */
import type { RelayEvent } from '../event.js';
import type { SyslogDestinationConfig } from '../config/schema.js';
import type { Destination } from './destination.js';
import type { DestinationContext } from './context.js';
import { ErrorCodes, RelayError, errorMessage, isRelayError } from '../errors.js';
import { Backoff, sleep } from '../ops/backoff.js';
import { SOFTWARE, VERSION } from '../version.js';
import { loadTlsMaterial, type TlsMaterial } from './tls-material.js';
import { OutageLog } from './outage.js';
import { RelpSession, type RelpSessionOptions } from './relp-session.js';

/** Outstanding messages per session (omrelp's default windowSize). */
export const RELP_WINDOW = 128;
/** close(): how long the peer gets to answer our `close`. */
const CLOSE_ANSWER_MS = 2000;
/** A message refused or resent this often is reported at ERROR (once). */
const LOUD_AFTER = 10;

interface Batch {
  left: number;
  events: number;
  resolve(): void;
  reject(err: unknown): void;
  settled: boolean;
  /** Settles (never rejects) when the batch is confirmed or rejected. */
  done: Promise<void>;
}

const noop = (): void => undefined;

interface Msg {
  data: string;
  batch: Batch;
  /** Times sent without a 200 (NACKed or lost with a session). */
  tries: number;
}

interface HostPort {
  host: string;
  port: number;
}

export interface RelpStats {
  /** Messages confirmed with rsp 200. */
  acked: number;
  /** Negative responses received. */
  nacked: number;
  /** Messages sent again after a NACK or a lost session. */
  resent: number;
  /** Sessions opened after the first. */
  reconnects: number;
  /** Messages waiting for a response right now. */
  outstanding: number;
  /** Messages waiting to be sent. */
  pending: number;
}

export interface RelpDestination extends Destination {
  /** Waits up to `timeoutMs` (default min(write_timeout_ms, 10 s)) for unconfirmed batches, then sends `close`. */
  close(timeoutMs?: number): Promise<void>;
  stats(): RelpStats;
}

export function createRelpDestination(cfg: SyslogDestinationConfig, ctx: DestinationContext): RelpDestination {
  return new Relp(cfg, ctx);
}

class Relp implements RelpDestination {
  readonly name: string;
  readonly #cfg: SyslogDestinationConfig;
  readonly #ctx: DestinationContext;
  readonly #hosts: HostPort[];
  #hostIdx = 0;
  readonly #backoff: Backoff;
  readonly #nackBackoff: Backoff;
  readonly #outage: OutageLog;
  #material: Promise<TlsMaterial | undefined> | undefined;
  /** Messages waiting for a session or a free window slot, oldest first. */
  #pending: Msg[] = [];
  /** NACKed messages waiting out their backoff. */
  #nacked: Msg[] = [];
  #nackTimer: NodeJS.Timeout | undefined;
  readonly #batches = new Set<Batch>();
  #session: RelpSession<Msg> | undefined;
  #loop: Promise<void> | undefined;
  #work: (() => void) | undefined;
  /** Aborted by close()'s end and by destroy(): backoff sleeps and connects stop at once. */
  readonly #stop = new AbortController();
  #closing = false;
  #destroyed = false;
  #destroyReason: unknown;
  #closed: Promise<void> | undefined;
  #sessions = 0;
  readonly #stats = { acked: 0, nacked: 0, resent: 0 };

  constructor(cfg: SyslogDestinationConfig, ctx: DestinationContext) {
    if (cfg.transport !== 'relp') throw new RelayError(ErrorCodes.CONFIG, `createRelpDestination handles transport relp, not ${cfg.transport}.`);
    this.#cfg = cfg;
    this.#ctx = ctx;
    this.name = cfg.name ?? `relp://${cfg.host}:${cfg.port}`;
    this.#hosts = [{ host: cfg.host, port: cfg.port }, ...cfg.failover];
    this.#backoff = new Backoff(cfg.backoff);
    this.#nackBackoff = new Backoff(cfg.backoff);
    this.#outage = new OutageLog(ctx.logger);
  }

  /** Reads the TLS files (config errors surface here) and opens the first session in the background. */
  async start(): Promise<void> {
    await this.#tls();
    if (this.#closing || this.#destroyed) return;
    this.#ensureLoop(true);
  }

  send(batch: readonly RelayEvent[]): Promise<void> {
    if (this.#closing || this.#destroyed) return Promise.reject(this.#closedError());
    if (batch.length === 0) return Promise.resolve();
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const p = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const b: Batch = { left: batch.length, events: batch.length, resolve, reject, settled: false, done: p.then(noop, noop) };
    const msgs = new Array<Msg>(batch.length);
    try {
      for (let i = 0; i < batch.length; i++) msgs[i] = { data: this.#ctx.format(batch[i] as RelayEvent), batch: b, tries: 0 };
    } catch (err: unknown) {
      // Formatting is pure: a throw there is a bug, surfaced as a rejected send.
      return Promise.reject(err);
    }
    this.#batches.add(b);
    for (const m of msgs) this.#pending.push(m);
    this.#ensureLoop(false);
    this.#pump();
    return p;
  }

  /** One session to the primary host, one event, its response; no retry, clear errors. */
  async probe(ev: RelayEvent): Promise<void> {
    const tls = await this.#tls();
    const first = this.#hosts[0] as HostPort;
    let answer: ((ok: boolean, code: number, text: string) => void) | undefined;
    let lost: ((err: RelayError) => void) | undefined;
    const outcome = new Promise<void>((resolve, reject) => {
      answer = (ok, code, text) => (ok ? resolve() : reject(new RelayError(ErrorCodes.RELP_NACK, `RELP peer ${first.host}:${first.port} refused the test event: ${code} ${text}.`)));
      lost = reject;
    });
    const s = await RelpSession.open<null>(this.#sessionOptions(first, tls), {
      onResponse: (_item, ok, code, text) => answer?.(ok, code, text),
      onDead: (_unacked, reason) => lost?.(reason),
    });
    try {
      if (!s.sendAll([null], () => this.#ctx.format(ev))) throw new RelayError(ErrorCodes.PEER_CLOSED, `RELP session with ${first.host}:${first.port} ended before the test event was sent.`);
      await outcome;
    } finally {
      await s.close(CLOSE_ANSWER_MS);
    }
  }

  /** Waits (up to `timeoutMs`) until every accepted batch is confirmed, then sends `close`. */
  close(timeoutMs = Math.min(this.#cfg.write_timeout_ms, 10_000)): Promise<void> {
    if (this.#closed !== undefined) return this.#closed;
    this.#closing = true;
    this.#closed = (async () => {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      const drained = Promise.all([...this.#batches].map((b) => b.done)).then(() => 'drained' as const);
      const outcome = await Promise.race([drained, deadline]);
      if (timer !== undefined) clearTimeout(timer);
      if (this.#destroyed) return;
      if (outcome === 'timeout') {
        this.#ctx.logger.warn({ timeoutMs, pending: this.#pending.length + this.#nacked.length, outstanding: this.#session?.outstanding ?? 0 }, 'Close deadline passed with RELP messages unconfirmed; they stay queued and are resent after restart.');
        this.destroy(new RelayError(ErrorCodes.SHUTDOWN_TIMEOUT, `Destination ${this.name} did not drain within ${timeoutMs} ms.`));
        return;
      }
      const s = this.#session;
      this.#session = undefined;
      this.#stop.abort(this.#closedError());
      this.#work?.();
      if (s !== undefined) await s.close(CLOSE_ANSWER_MS);
      let loopTimer: NodeJS.Timeout | undefined;
      await Promise.race([this.#loop, new Promise<void>((resolve) => (loopTimer = setTimeout(resolve, CLOSE_ANSWER_MS)))]);
      clearTimeout(loopTimer);
    })();
    return this.#closed;
  }

  destroy(err?: Error): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#closing = true;
    this.#destroyReason = err;
    const closed = this.#closedError();
    this.#stop.abort(closed);
    this.#work?.();
    if (this.#nackTimer !== undefined) clearTimeout(this.#nackTimer);
    this.#session?.destroy(closed);
    this.#session = undefined;
    this.#pending = [];
    this.#nacked = [];
    for (const b of [...this.#batches]) this.#settle(b, closed);
  }

  stats(): RelpStats {
    return {
      ...this.#stats,
      reconnects: Math.max(0, this.#sessions - 1),
      outstanding: this.#session?.outstanding ?? 0,
      pending: this.#pending.length + this.#nacked.length,
    };
  }

  // ------------------------------------------------------------------ internals

  #closedError(): RelayError {
    return new RelayError(ErrorCodes.CLOSED, `Destination ${this.name} is closed.`, this.#destroyReason !== undefined ? { cause: this.#destroyReason } : undefined);
  }

  #tls(): Promise<TlsMaterial | undefined> {
    if (this.#material === undefined) {
      this.#material = this.#cfg.relp_tls ? loadTlsMaterial(this.name, this.#cfg.host, this.#cfg) : Promise.resolve(undefined);
    }
    return this.#material;
  }

  #sessionOptions(hp: HostPort, tls: TlsMaterial | undefined): RelpSessionOptions {
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
      responseTimeoutMs: this.#cfg.write_timeout_ms,
      keepaliveMs: this.#cfg.keepalive_ms,
      software: `${SOFTWARE},${VERSION},https://github.com/duo-relay/duo-relay`,
      signal: this.#stop.signal,
    };
  }

  #hasWork(): boolean {
    return this.#pending.length > 0 || this.#nacked.length > 0;
  }

  #ensureLoop(eager: boolean): void {
    if (this.#loop !== undefined || this.#destroyed) return;
    this.#loop = this.#run(eager).catch((err: unknown) => {
      this.#ctx.logger.error({ err: errorMessage(err) }, 'RELP delivery loop failed; pending batches are rejected and retried by the pipeline.');
      for (const b of [...this.#batches]) this.#settle(b, err);
    });
  }

  /** Wakes the loop when work arrives (or on close/destroy). */
  #waitForWork(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#work = () => {
        this.#work = undefined;
        resolve();
      };
    });
  }

  async #run(eager: boolean): Promise<void> {
    let connectNow = eager;
    while (!this.#stop.signal.aborted) {
      if (!connectNow && !this.#hasWork()) {
        await this.#waitForWork();
        continue;
      }
      connectNow = false;
      const hp = this.#hosts[this.#hostIdx] as HostPort;
      const peer = `${hp.host}:${hp.port}`;
      let s: RelpSession<Msg>;
      try {
        s = await RelpSession.open<Msg>(this.#sessionOptions(hp, await this.#tls()), {
          onResponse: (m, ok, code, text) => this.#onResponse(m, ok, code, text, peer),
          onDead: (unacked) => this.#requeue(unacked),
        });
      } catch (err: unknown) {
        if (this.#stop.signal.aborted) return;
        const e = isRelayError(err) ? err : new RelayError(ErrorCodes.CONNECT, errorMessage(err), { cause: err });
        this.#fail(e, peer);
        await this.#pause();
        continue;
      }
      if (this.#stop.signal.aborted) {
        // close() or destroy() ran while the handshake was finishing.
        await s.close(CLOSE_ANSWER_MS);
        return;
      }
      this.#sessions++;
      if (this.#sessions > 1) this.#ctx.onEvent?.('reconnect', 1);
      this.#ctx.logger.debug({ peer }, 'RELP session open.');
      this.#session = s;
      this.#pump();
      const reason = await s.dead();
      if (this.#session === s) this.#session = undefined;
      if (this.#stop.signal.aborted || reason.code === ErrorCodes.CLOSED) continue;
      if (!this.#hasWork()) {
        // An idle session ended (receiver restart, idle timeout): reconnect when there is work.
        this.#ctx.logger.debug({ peer, err: reason.message }, 'Idle RELP session ended.');
        continue;
      }
      this.#fail(reason, peer);
      // A peer that drops every session must not turn the loop into a busy reconnect.
      await this.#pause();
    }
  }

  /** Logs, counts, and for a permanent failure rejects the batches in flight (the pipeline retries later). */
  #fail(e: RelayError, peer: string): void {
    this.#outage.failure(e, peer);
    this.#ctx.onEvent?.('error', 1, e.code);
    if (!e.retryable) {
      this.#pending = [];
      this.#nacked = [];
      for (const b of [...this.#batches]) this.#settle(b, e);
    }
  }

  async #pause(): Promise<void> {
    this.#rotateHost();
    await sleep(this.#backoff.next(), this.#stop.signal).catch(() => undefined);
  }

  #rotateHost(): void {
    if (this.#hosts.length < 2) return;
    const from = this.#hosts[this.#hostIdx] as HostPort;
    this.#hostIdx = (this.#hostIdx + 1) % this.#hosts.length;
    const to = this.#hosts[this.#hostIdx] as HostPort;
    this.#outage.switched(`${from.host}:${from.port}`, `${to.host}:${to.port}`);
  }

  /** Fills the window of the live session. */
  #pump(): void {
    const s = this.#session;
    if (s === undefined || !s.alive || this.#pending.length === 0) {
      if (this.#hasWork()) this.#work?.();
      return;
    }
    const room = RELP_WINDOW - s.outstanding;
    if (room <= 0) return;
    const take = this.#pending.length <= room ? this.#pending : this.#pending.slice(0, room);
    this.#pending = take === this.#pending ? [] : this.#pending.slice(room);
    const live: Msg[] = [];
    for (const m of take) if (!m.batch.settled) live.push(m);
    if (!s.sendAll(live, (m) => m.data)) {
      this.#pending = [...live, ...this.#pending];
      return;
    }
    let resent = 0;
    for (const m of live) if (m.tries > 0) resent++;
    if (resent > 0) {
      this.#stats.resent += resent;
      this.#ctx.onEvent?.('replayed', resent);
    }
  }

  #onResponse(m: Msg, ok: boolean, code: number, text: string, peer: string): void {
    if (ok) {
      this.#stats.acked++;
      this.#nackBackoff.reset();
      this.#backoff.reset();
      this.#outage.recovered(peer);
      const b = m.batch;
      if (!b.settled && --b.left === 0) {
        this.#ctx.onEvent?.('sent', b.events);
        this.#settle(b, undefined);
      }
    } else {
      this.#stats.nacked++;
      m.tries++;
      const fields = { peer, code, text, tries: m.tries };
      if (m.tries === LOUD_AFTER) this.#ctx.logger.error(fields, 'RELP peer keeps refusing a message; it is retried until accepted (check the receiver, e.g. imrelp maxDataSize against max_message_bytes).');
      else this.#ctx.logger.warn(fields, 'RELP peer refused a message; it is resent after a backoff.');
      this.#ctx.onEvent?.('error', 1, ErrorCodes.RELP_NACK);
      this.#nacked.push(m);
      this.#armNackTimer();
    }
    this.#pump();
  }

  #armNackTimer(): void {
    if (this.#nackTimer !== undefined || this.#destroyed) return;
    this.#nackTimer = setTimeout(() => {
      this.#nackTimer = undefined;
      // Refused messages go first: they are the oldest.
      this.#pending = [...this.#nacked, ...this.#pending];
      this.#nacked = [];
      this.#pump();
    }, this.#nackBackoff.next());
  }

  /** Messages of a dead session go back to the front, in their order, for the next session. */
  #requeue(unacked: Msg[]): void {
    if (unacked.length === 0 || this.#destroyed) return;
    for (const m of unacked) {
      m.tries++;
      if (m.tries === LOUD_AFTER) {
        this.#ctx.logger.error({ tries: m.tries, bytes: Buffer.byteLength(m.data) }, 'A RELP message was in flight on 10 sessions that all died; if the receiver drops the session on it, check imrelp maxDataSize against max_message_bytes.');
      }
    }
    this.#pending = [...unacked, ...this.#pending];
    this.#ctx.logger.debug({ messages: unacked.length }, 'RELP session ended with unconfirmed messages; they will be resent.');
    this.#work?.();
  }

  #settle(b: Batch, err: unknown): void {
    if (b.settled) return;
    b.settled = true;
    this.#batches.delete(b);
    if (err === undefined) b.resolve();
    else b.reject(err);
  }
}
