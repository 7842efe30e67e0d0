/**
 * UDP intake: one datagram = one message. UDP has no backpressure, so datagrams that arrive while a
 * batch is in the pipeline wait in a bounded list and leave as the next batch. When the list is
 * full the datagram is dead-lettered (never dropped silently); the kernel drops what we never read.
 */
import type { RemoteInfo } from 'node:dgram';
import type { DeadLetter, SourceRecord } from '../../event.js';
import { recordFromFrame } from './parse.js';
import { peerLabel } from './connection.js';

/** Records waiting while a batch is in the pipeline. */
export const UDP_PENDING_MAX_RECORDS = 10_000;
/** Bytes waiting while a batch is in the pipeline. */
export const UDP_PENDING_MAX_BYTES = 32 * 1024 * 1024;
/** Records per emit. */
export const UDP_BATCH_RECORDS = 1000;

export interface UdpIntakeDeps {
  maxFrameBytes: number;
  deadLetter: (d: DeadLetter) => void;
  /** Resolves when the batch is handed off (or dead-lettered); never rejects. */
  deliver: (records: SourceRecord[]) => Promise<void>;
  nextSeq: () => number;
}

export class UdpIntake {
  #pending: Array<{ rec: SourceRecord; bytes: number }> = [];
  #pendingBytes = 0;
  #inflight: Promise<void> | undefined;
  #idle: Array<() => void> = [];
  constructor(private readonly deps: UdpIntakeDeps) {}

  /** Records waiting (not yet in the pipeline). */
  get pending(): number {
    return this.#pending.length;
  }

  onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    const position = `syslog:udp://${peerLabel(rinfo.address, rinfo.port)}#${this.deps.nextSeq()}`;
    if (msg.length > this.deps.maxFrameBytes) {
      this.deps.deadLetter({ reason: `Datagram of ${msg.length} bytes exceeds max_frame_bytes ${this.deps.maxFrameBytes}; skipped.`, position, preview: msg.toString('utf8', 0, 200) });
      return;
    }
    // Many senders end a datagram with LF or NUL; neither belongs to the message.
    let end = msg.length;
    while (end > 0 && (msg[end - 1] === 0x0a || msg[end - 1] === 0x00 || msg[end - 1] === 0x0d)) end--;
    if (end === 0) return;
    if (this.#pending.length >= UDP_PENDING_MAX_RECORDS || this.#pendingBytes + end > UDP_PENDING_MAX_BYTES) {
      this.deps.deadLetter({
        reason: `UDP intake full (${this.#pending.length} records waiting for the pipeline); the datagram was not queued. Use TCP or TLS for backpressure.`,
        position,
        preview: msg.toString('utf8', 0, Math.min(end, 200)),
      });
      return;
    }
    this.#pending.push({ rec: recordFromFrame(msg.subarray(0, end), rinfo.address, position), bytes: end });
    this.#pendingBytes += end;
    this.#pump();
  }

  /** Resolves once nothing is pending or in flight. */
  idle(): Promise<void> {
    if (this.#inflight === undefined && this.#pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Hands every waiting record back (for dead-lettering on destroy/close deadline). */
  takePending(): SourceRecord[] {
    const out = this.#pending.map((p) => p.rec);
    this.#pending = [];
    this.#pendingBytes = 0;
    return out;
  }

  #pump(): void {
    if (this.#inflight !== undefined) return;
    if (this.#pending.length === 0) {
      const waiters = this.#idle;
      this.#idle = [];
      for (const w of waiters) w();
      return;
    }
    const batch = this.#pending.splice(0, UDP_BATCH_RECORDS);
    const records: SourceRecord[] = [];
    for (const p of batch) {
      this.#pendingBytes -= p.bytes;
      records.push(p.rec);
    }
    this.#inflight = this.deps.deliver(records).finally(() => {
      this.#inflight = undefined;
      this.#pump();
    });
  }
}
