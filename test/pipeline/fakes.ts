/**
 * Shared pieces of the pipeline tests: fake destinations that keep the Destination contract
 * (src/destinations/destination.ts) with a controllable send, events with known ids, a real
 * DiskQueue in a tmp dir, metric readers and bounded waits.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RelayEvent } from '../../src/event.js';
import type { Destination } from '../../src/destinations/destination.js';
import type { Metrics } from '../../src/ops/metrics.js';
import { DiskQueue, type DiskQueueOptions } from '../../src/queue/index.js';
import { ErrorCodes, RelayError } from '../../src/errors.js';

export interface Teardown {
  teardown(fn: () => unknown): void;
}

export async function tmp(t: Teardown, prefix = 'duo-relay-pipe-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

import { capture, type LogLine } from '../helpers/capture.js';

export { capture, type LogLine };

export function event(i: number): RelayEvent {
  return {
    kind: 'authproxy',
    tag: 'auth.duo.authentication-proxy.events',
    msgid: 'authproxy',
    host: 'proxy01',
    time: '2024-05-14T09:30:00.000Z',
    id: `ev-${i}`,
    fields: { seq: i, username: `user${i % 97}` },
    raw: `{"seq":${i}}`,
  };
}

export function events(from: number, to: number): RelayEvent[] {
  const out: RelayEvent[] = [];
  for (let i = from; i < to; i++) out.push(event(i));
  return out;
}

export function openQueue(dir: string, consumers: string[], over: Partial<DiskQueueOptions> = {}): Promise<DiskQueue> {
  return DiskQueue.open({ dir, maxBytes: 8 << 20, segmentBytes: 64 * 1024, overflow: 'block', consumers, logger: capture().logger, ...over });
}

type Mode = 'deliver' | 'hang' | 'reject';

/**
 * A destination whose `send` delivers (records the ids), hangs until closed/destroyed, or
 * rejects with a permanent error; the mode can change at any time and applies to the next send.
 */
export class FakeDestination implements Destination {
  readonly received: string[] = [];
  readonly calls: string[][] = [];
  mode: Mode;
  /** Delay before a delivering send resolves. */
  delayMs = 0;
  started = false;
  closedAt: number | undefined;
  destroyed = false;
  /** Ids of the send in flight (resolved or not). */
  inFlight: string[] | undefined;
  /** What unconfirmed() reports: the newest events sent that the destination may still resend. */
  held = 0;
  #pending = new Set<{ resolve: () => void; reject: (err: Error) => void }>();
  #gate: Promise<void> | undefined;
  #tail: Promise<void> = Promise.resolve();
  #release: (() => void) | undefined;

  constructor(readonly name: string, mode: Mode = 'deliver') {
    this.mode = mode;
  }

  async start(): Promise<void> {
    this.started = true;
  }

  /** The next delivering sends wait until the returned function is called. */
  hold(): () => void {
    this.#gate = new Promise((r) => (this.#release = r));
    return () => {
      this.#release?.();
      this.#gate = undefined;
    };
  }

  /** Switches to delivering and lets the hung sends complete. */
  unhang(): void {
    this.mode = 'deliver';
    for (const p of this.#pending) p.resolve();
    this.#pending.clear();
  }

  /** Like the real destinations, a send made while others are in flight is delivered after them. */
  send(batch: readonly RelayEvent[]): Promise<void> {
    const p = this.#tail.then(() => this.#send(batch));
    this.#tail = p.then(() => undefined, () => undefined);
    return p;
  }

  async #send(batch: readonly RelayEvent[]): Promise<void> {
    if (this.closedAt !== undefined || this.destroyed) throw new RelayError(ErrorCodes.CLOSED, `${this.name} is closed.`);
    const ids = batch.map((e) => e.id);
    this.calls.push(ids);
    this.inFlight = ids;
    if (this.mode === 'reject') throw new RelayError(ErrorCodes.TLS_PIN, `${this.name} refuses every batch (test).`);
    if (this.mode === 'hang') {
      await new Promise<void>((resolve, reject) => this.#pending.add({ resolve, reject }));
    } else {
      if (this.#gate !== undefined) await this.#gate;
      if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    }
    if (this.destroyed || this.closedAt !== undefined) throw new RelayError(ErrorCodes.CLOSED, `${this.name} closed with a send in flight.`);
    this.received.push(...ids);
  }

  unconfirmed(): number {
    return this.held;
  }

  async close(): Promise<void> {
    this.closedAt ??= Date.now();
    for (const p of this.#pending) p.reject(new RelayError(ErrorCodes.CLOSED, `${this.name} closed with a send in flight.`));
    this.#pending.clear();
  }

  destroy(): void {
    this.destroyed = true;
    for (const p of this.#pending) p.reject(new RelayError(ErrorCodes.CLOSED, `${this.name} destroyed.`));
    this.#pending.clear();
  }
}

export async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The value of a metric series (0 when it has none yet). */
export async function metricValue(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = metrics.registry.getSingleMetric(name);
  if (m === undefined) throw new Error(`no metric ${name}`);
  const got = await m.get();
  for (const v of got.values) {
    if (Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)) return v.value;
  }
  return 0;
}
