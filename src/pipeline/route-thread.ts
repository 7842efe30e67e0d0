/**
 * Routing on a second thread. With the disk queue, one thread would route, encode, append and
 * fsync, then read, frame and encrypt every event again for the destinations; the route thread
 * (route-worker.ts) takes the first half, so the queue's writing and the destinations' sending run
 * beside it on another core (as rsyslog's input and queue workers do). Without the queue it also
 * formats and frames for each destination (frame()), and the main thread only reads and writes.
 *
 * Batches go in and come back in order (one worker, FIFO), as buffers that change owner by
 * transfer: the packed records come back with the reply and hold the next batch; queue payloads go
 * back once the queue has copied them, framed batches once they left a destination's replay window.
 * The thread holds no state the relay depends on: when it dies (a bug, out of memory), the batches
 * in it are refused (their sources read them again, same ids) and the next batch starts a new one.
 */
import { Worker } from 'node:worker_threads';
import type { DeadLetter, LogKind, SourceRecord } from '../event.js';
import type { RouterOptions } from '../route/router.js';
import type { Logger } from '../ops/logger.js';
import { RelayError, ErrorCodes } from '../errors.js';
import { payloadViews } from './event-codec.js';
import { LineBatch, RecordPacker, type FramingSpec, type FromRouteThread, type RouteThreadData, type ToRouteThread } from './route-protocol.js';

/** Loading the thread's modules takes tens of milliseconds; beyond this it is stuck. */
const START_TIMEOUT_MS = 30_000;
/** Young generation of the thread's heap (MB). */
const YOUNG_GENERATION_MB = 1;
/** Smaller buffers are not worth handing back (the thread's framers keep only batch-sized ones). */
const MIN_SPARE_BYTES = 65536;
/** After the thread died, batches are refused for this long before a new one is started (no spawn loop). */
const RESPAWN_MS = 1000;

// The compiled worker next to this module; under a TypeScript loader (tests) the build's.
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? '../../dist/src/pipeline/route-worker.js' : './route-worker.js', import.meta.url);

/** One batch routed, formatted and framed for each destination (RouteThreadOptions.frame). */
export interface FramedBatch {
  /** Per destination, in the order of `frame`: `events` framed messages. */
  bufs: Buffer[];
  events: number;
  /** Records the router refused. */
  dead: DeadLetter[];
}

type Reply = Extract<FromRouteThread, { t: 'done' | 'framed' }>;

/** One batch routed and encoded. */
export interface EncodedBatch {
  /** Disk-queue payloads of the routed events, in record order. */
  payloads: Buffer[];
  /** Records the router refused. */
  dead: DeadLetter[];
  /** Gives the payloads' buffer back to the thread: call only once nothing reads them any more. */
  release(): void;
}

interface Pending {
  resolve(m: Reply): void;
  reject(err: Error): void;
}

export interface RouteThreadOptions {
  router: RouterOptions;
  logger: Logger;
  /** Without the disk queue: format and frame for these destinations (use frame(), not encode()). */
  frame?: FramingSpec[];
  /** Tests only (route-protocol.ts). */
  failOn?: string;
  /** Tests only: another worker module. */
  workerUrl?: URL;
}

export class RouteThread {
  readonly #opts: RouteThreadOptions;
  #worker: Worker | undefined;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  readonly #packer = new RecordPacker();
  #closed = false;
  #diedAt = -Infinity;
  #lastError: Error | undefined;
  /** start() waiting for the thread's first message. */
  #onReady: (() => void) | undefined;
  /** close() waiting for the last batch. */
  #onIdle: (() => void) | undefined;

  constructor(opts: RouteThreadOptions) {
    this.#opts = opts;
  }

  get #url(): URL {
    return this.#opts.workerUrl ?? WORKER_URL;
  }

  /** Starts the thread and waits until it has loaded; rejects with DR_ERR_ROUTE_THREAD when it cannot. */
  async start(): Promise<void> {
    const w = this.#spawn();
    // Held while it loads: awaiting an unreferenced thread would let an otherwise idle process exit.
    w.ref();
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        const failed = (why: string, cause?: Error): void => {
          reject(new RelayError(ErrorCodes.ROUTE_THREAD, `The route thread did not start (${why}); check that ${this.#url.pathname} is installed, or set route_thread: false.`, cause !== undefined ? { cause } : undefined));
        };
        this.#onReady = resolve;
        w.once('error', (err: Error) => failed(err.message, err));
        w.once('exit', (code: number) => failed(`exit code ${code}`));
        timer = setTimeout(() => failed(`no answer within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
      });
    } finally {
      clearTimeout(timer);
      this.#onReady = undefined;
      if (this.#pending.size === 0) w.unref();
    }
  }

  /** True when the thread formats and frames for destinations (frame()), false when it encodes queue payloads (encode()). */
  get frames(): boolean {
    return this.#opts.frame !== undefined;
  }

  /**
   * An empty batch of lines as bytes for encode() or frame(), up to `max` lines of one file
   * (`prefix`: its position prefix). When the thread frames (no disk queue) it is the busy thread,
   * and the batch hashes its lines on this one (LineBatch).
   */
  lineBatch(max: number, prefix: string, kind: LogKind, host: string | undefined): LineBatch {
    return this.#packer.lineBatch(max, prefix, kind, host, this.frames);
  }

  /** Routes and encodes `records` as disk-queue payloads; batches resolve in the order they were given. */
  encode(records: SourceRecord[] | LineBatch): Promise<EncodedBatch> {
    return this.#post(records).then((m) => {
      if (m.t !== 'done') throw new RelayError(ErrorCodes.INTERNAL, 'The route thread framed a batch it was to encode (it was started with frame specs).');
      const ab = m.buf;
      const buf = Buffer.from(ab, 0, m.ends.length > 0 ? (m.ends[m.ends.length - 1] as number) : 0);
      return { payloads: payloadViews(buf, m.ends), dead: m.dead, release: () => this.#giveBack(ab) };
    });
  }

  /** Routes, formats and frames `records` for each destination of `frame`; batches resolve in order. */
  frame(records: SourceRecord[] | LineBatch): Promise<FramedBatch> {
    return this.#post(records).then((m) => {
      if (m.t !== 'framed') throw new RelayError(ErrorCodes.INTERNAL, 'The route thread encoded a batch it was to frame (it was started without frame specs).');
      return { bufs: m.bufs.map((ab, i) => Buffer.from(ab, 0, m.lens[i] as number)), events: m.events, dead: m.dead };
    });
  }

  /**
   * Where destination `dest` (its index in `frame`) gives back buffers that frame() returned, once
   * nothing refers to them: the thread frames the next batches into them.
   */
  recycler(dest: number): (buf: Buffer) => void {
    return (buf) => {
      // Only a buffer that is the whole of its own ArrayBuffer's start (never a slice of Node's
      // shared pool, which is far smaller) may change thread: transferring detaches all of it.
      if (buf.byteOffset !== 0 || !(buf.buffer instanceof ArrayBuffer) || buf.buffer.byteLength < MIN_SPARE_BYTES) return;
      this.#giveBack(buf.buffer, dest);
    };
  }

  /** Packs `records` and posts them to the thread; resolves with its reply. */
  #post(records: SourceRecord[] | LineBatch): Promise<Reply> {
    if (this.#closed) return Promise.reject(new RelayError(ErrorCodes.CLOSED, 'The route thread is closed; the batch is read again on the next start.'));
    let w = this.#worker;
    if (w === undefined) {
      if (performance.now() - this.#diedAt < RESPAWN_MS) {
        return Promise.reject(new RelayError(ErrorCodes.ROUTE_THREAD, `The route thread stopped (${this.#lastError?.message ?? 'exited'}); it is started again within ${RESPAWN_MS} ms and the batch is read again.`));
      }
      w = this.#spawn();
    }
    const id = this.#nextId++;
    const worker = w;
    return new Promise<Reply>((resolve, reject) => {
      try {
        const packed = records instanceof LineBatch ? records.packed() : this.#packer.pack(records);
        worker.postMessage({ t: 'batch', id, records: packed } satisfies ToRouteThread, [packed.buf]);
      } catch (err: unknown) {
        reject(new RelayError(ErrorCodes.INTERNAL, `A batch could not be passed to the route thread: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
        return;
      }
      this.#pending.set(id, { resolve, reject });
      // Referenced only while it holds a batch: an idle thread never keeps the process alive.
      if (this.#pending.size === 1) worker.ref();
    });
  }

  /** Batches given to the thread and not yet back. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /** Waits for the batches in the thread (at most `timeoutMs`, then they are refused), then stops it. */
  async close(timeoutMs = 5000): Promise<void> {
    this.#closed = true;
    if (this.#pending.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.#onIdle = resolve;
        timer = setTimeout(resolve, timeoutMs);
      });
      clearTimeout(timer);
      this.#failAll(new RelayError(ErrorCodes.CLOSED, `The route thread did not finish its batches within ${timeoutMs} ms of shutdown; they are read again on the next start.`));
    }
    const w = this.#worker;
    this.#worker = undefined;
    if (w !== undefined) await w.terminate();
  }

  /** Stops the thread at once; batches in it are refused with DR_ERR_CLOSED. */
  destroy(): void {
    this.#closed = true;
    const w = this.#worker;
    this.#worker = undefined;
    this.#failAll(new RelayError(ErrorCodes.CLOSED, 'The route thread was stopped; the batch is read again on the next start.'));
    if (w !== undefined) void w.terminate();
  }

  #spawn(): Worker {
    const data: RouteThreadData = { router: this.#opts.router, ...(this.#opts.frame !== undefined ? { frame: this.#opts.frame } : {}), ...(this.#opts.failOn !== undefined ? { failOn: this.#opts.failOn } : {}) };
    // The old generation takes the process's heap flags, so a batch the main thread could route
    // fits here too (a tighter cap would fail that batch again on every retry). A small young
    // generation: what the thread keeps between batches is tiny, everything else dies young.
    const w = new Worker(this.#url, { workerData: data, resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } });
    w.unref();
    this.#worker = w;
    this.#lastError = undefined;
    w.on('message', (m: FromRouteThread) => this.#onMessage(m));
    w.on('error', (err: Error) => {
      this.#lastError = err;
    });
    w.on('exit', (code: number) => this.#onExit(w, code));
    return w;
  }

  #onMessage(m: FromRouteThread): void {
    if (m.t === 'ready') {
      this.#onReady?.();
      return;
    }
    const p = this.#pending.get(m.id);
    if (p === undefined) return;
    this.#pending.delete(m.id);
    if (this.#pending.size === 0) this.#idle();
    if (m.t === 'fail') {
      p.reject(new RelayError(ErrorCodes.INTERNAL, `The route thread could not encode a batch: ${m.message}`));
      return;
    }
    this.#packer.recycle(m.packed);
    p.resolve(m);
  }

  #giveBack(ab: ArrayBuffer, dest?: number): void {
    const w = this.#worker;
    if (w === undefined || this.#closed || ab.byteLength === 0) return;
    w.postMessage({ t: 'spare', buf: ab, ...(dest !== undefined ? { dest } : {}) } satisfies ToRouteThread, [ab]);
  }

  #onExit(w: Worker, code: number): void {
    if (w !== this.#worker) return;
    this.#worker = undefined;
    this.#diedAt = performance.now();
    const why = this.#lastError?.message ?? `exit code ${code}`;
    const batches = this.#pending.size;
    if (!this.#closed) this.#opts.logger.error({ code: ErrorCodes.ROUTE_THREAD, err: why, batches }, 'The route thread stopped; its batches are read again and a new thread takes the next one.');
    this.#failAll(new RelayError(ErrorCodes.ROUTE_THREAD, `The route thread stopped (${why}); the batch is read again.`, this.#lastError !== undefined ? { cause: this.#lastError } : undefined));
  }

  #failAll(err: Error): void {
    const all = [...this.#pending.values()];
    this.#pending.clear();
    this.#idle();
    for (const p of all) p.reject(err);
  }

  #idle(): void {
    this.#worker?.unref();
    const done = this.#onIdle;
    this.#onIdle = undefined;
    done?.();
  }
}
