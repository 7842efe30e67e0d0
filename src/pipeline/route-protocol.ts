/**
 * Messages between the main thread and the route thread (route-thread.ts ⇄ route-worker.ts), and
 * the packed form records travel in.
 *
 * A batch of records is not posted as an array of objects: the thread would rebuild a thousand
 * objects and strings that all live until the batch is routed, and its GC would copy them from
 * one generation to the next (measured: a fifth of the thread's time). Nor as one joined string:
 * a batch's text is over V8's large-object size, so the joined string, the message's copy and the
 * thread's copy each took fresh pages from the kernel (a third of the process's page faults).
 * Packed, a batch is one buffer that changes thread by transfer and comes back with the reply for
 * the next batch: per record the byte ends of its position and text, then the UTF-8 bytes; plus
 * the fields records share (a tailer's records differ only in text and offset). The thread
 * decodes each record when it routes it, and the record dies young.
 */
import type { DeadLetter, LogKind, SourceRecord } from '../event.js';
import type { RouterOptions } from '../route/router.js';
import type { FormatOptions } from '../config/schema.js';
import type { Framing } from '../destinations/frame.js';
import { isWellFormed } from '../formats/utf8.js';
import { CONTENT_HASH_CHARS, contentHashOfBytes } from '../route/event-id.js';

/** How the thread formats and frames for one destination (the same as the destination would itself). */
export interface FramingSpec {
  format: FormatOptions;
  framing: Framing;
  /** FormatContext without its hooks: what crosses a thread boundary. */
  context: { fallbackHost: string; software: string; swVersion: string };
}

export interface RouteThreadData {
  router: RouterOptions;
  /**
   * Without the disk queue: each batch is formatted and framed for these destinations, in this
   * order. Absent: events are encoded as disk-queue payloads.
   */
  frame?: FramingSpec[];
  /** Tests only: the thread exits when a batch holds a record with this text. */
  failOn?: string;
}

/** The fields the packed records share, taken from the first record. */
interface Shared {
  kind?: LogKind;
  host?: string;
  account?: string;
}

export interface PackedRecords {
  /**
   * Int32 pairs per record (byte end of its position, byte end of its text or -1 when it has none;
   * -2: the record is wholly in `others`), then the UTF-8 bytes those ends point into. Transferred.
   */
  buf: ArrayBuffer;
  count: number;
  shared: Shared;
  /**
   * By index: the fields of records that differ from `shared` (or carry a parsed `record`), and
   * the whole record when its text or position is not well-formed UTF-16 (a lone surrogate would
   * not survive UTF-8).
   */
  others: Record<number, Partial<SourceRecord>>;
  /** Bytes before the first record's bytes (default 8 × count): a LineBatch reserves room for its most lines. */
  head?: number;
  /** A LineBatch's positions: record i's is prefix + offsets[i] (its position bytes are empty). */
  positions?: { prefix: string; offsets: Float64Array };
  /**
   * A LineBatch's content hashes: byte offset of CONTENT_HASH_CHARS ASCII bytes per record
   * (SourceRecord.contentHash); a record whose first byte there is 0 has none.
   */
  hashes?: number;
}

export type ToRouteThread =
  /** Route and encode these records (records.buf comes back with the reply). */
  | { t: 'batch'; id: number; records: PackedRecords }
  /** A batch buffer nothing reads any more (transferred back for reuse); `dest`: the framing it came from. */
  | { t: 'spare'; buf: ArrayBuffer; dest?: number };

export type FromRouteThread =
  /** The thread has loaded its modules and takes batches. */
  | { t: 'ready' }
  /** The payloads of batch `id`: payload i is buf[ends[i-1] .. ends[i]) (transferred). */
  | { t: 'done'; id: number; buf: ArrayBuffer; ends: readonly number[]; dead: DeadLetter[]; packed: ArrayBuffer }
  /** Batch `id` framed for each destination: bufs[i] (transferred) holds `events` messages in lens[i] bytes. */
  | { t: 'framed'; id: number; bufs: ArrayBuffer[]; lens: number[]; events: number; dead: DeadLetter[]; packed: ArrayBuffer }
  /** Batch `id` could not be encoded (a bug: the router itself never throws). */
  | { t: 'fail'; id: number; message: string };

function sharedOf(r: SourceRecord): Shared {
  const s: Shared = {};
  if (r.kind !== undefined) s.kind = r.kind;
  if (r.host !== undefined) s.host = r.host;
  if (r.account !== undefined) s.account = r.account;
  return s;
}

const WHOLE = -2;
const NO_TEXT = -1;
/** UTF-8 bytes per UTF-16 unit, at most. */
const MAX_UTF8 = 3;

/** A buffer of at least `need` bytes (twice the old size or more) holding the first `used` bytes of `buf`. */
function grown(buf: Buffer, used: number, need: number): Buffer {
  // An ArrayBuffer of its own (never a slice of Node's pool): it is transferred.
  const next = Buffer.from(new ArrayBuffer(Math.max(need, 2 * buf.length)));
  buf.copy(next, 0, 0, used);
  return next;
}

/** Packs batches into buffers (given back with recycle() once the thread returned them). */
export class RecordPacker {
  /** The largest buffer back from the thread: the next batch is packed into it. */
  #spare: ArrayBuffer | undefined;
  /** Bytes per record of the last batch, to size the next buffer. */
  #bytesPerRecord = 1024;

  /** The packed form of `records` (unpack with RecordUnpacker). */
  pack(records: readonly SourceRecord[]): PackedRecords {
    const n = records.length;
    const head = 8 * n;
    let buf = this.#buffer(head + n * this.#bytesPerRecord + 4096);
    let ends = new Int32Array(buf.buffer, 0, 2 * n);
    let off = head;
    const shared = n > 0 ? sharedOf(records[0] as SourceRecord) : {};
    const others: PackedRecords['others'] = {};
    for (let i = 0; i < n; i++) {
      const r = records[i] as SourceRecord;
      const { text, position } = r;
      if (!isWellFormed(position) || (text !== undefined && !isWellFormed(text))) {
        others[i] = r;
        ends[2 * i] = off;
        ends[2 * i + 1] = WHOLE;
        continue;
      }
      const need = off + (position.length + (text?.length ?? 0)) * MAX_UTF8;
      if (need > buf.length) {
        buf = grown(buf, off, need);
        ends = new Int32Array(buf.buffer, 0, 2 * n);
      }
      off += buf.write(position, off, 'utf8');
      ends[2 * i] = off;
      if (text === undefined) ends[2 * i + 1] = NO_TEXT;
      else {
        off += buf.write(text, off, 'utf8');
        ends[2 * i + 1] = off;
      }
      if (r.record !== undefined || r.kind !== shared.kind || r.host !== shared.host || r.account !== shared.account) {
        const { text: _text, position: _position, ...rest } = r;
        others[i] = rest;
      }
    }
    if (n > 0) this.#bytesPerRecord = Math.ceil((off - head) / n) + 64;
    return { buf: buf.buffer as ArrayBuffer, count: n, shared, others };
  }

  /** A buffer that pack() returned, back from the thread: the next batch is packed into it. */
  recycle(ab: ArrayBuffer): void {
    if (this.#spare === undefined || ab.byteLength > this.#spare.byteLength) this.#spare = ab;
  }

  /**
   * An empty LineBatch for up to `max` lines (LineIntake.open), in the spare buffer when it is large
   * enough. `hash`: the batch computes each line's content hash (LineBatch).
   */
  lineBatch(max: number, prefix: string, kind: LogKind, host: string | undefined, hash = false): LineBatch {
    const shared: Shared = host !== undefined ? { kind, host } : { kind };
    return new LineBatch(max, shared, prefix, this.#buffer(LineBatch.headBytes(max, hash) + max * this.#bytesPerRecord + 4096), hash);
  }

  /** The spare when it is large enough, else a new buffer. */
  #buffer(bytes: number): Buffer {
    const spare = this.#spare;
    if (spare !== undefined && spare.byteLength >= bytes) {
      this.#spare = undefined;
      return Buffer.from(spare);
    }
    // An ArrayBuffer of its own (never a slice of Node's pool): it is transferred.
    return Buffer.from(new ArrayBuffer(bytes));
  }
}

/**
 * Lines of one file as bytes, packed as they are read (the tailer's batches with the route thread:
 * the main thread never decodes them; the thread does, once, when it routes each line). The same
 * packed form as RecordPacker's, with the position bytes left empty: a record's position is the
 * file's prefix and the line's byte offset, kept apart.
 *
 * With `hash`, each line's content hash (its event id) is computed here, from the bytes, so that
 * the thread need not: without the disk queue the route thread is the relay's busy thread and the
 * main thread mostly waits (SHA-256 was an eighth of the route thread's time; 1M-line runs +6–35 %
 * with it moved, A/B pairs, same peak RSS). With the queue the main thread is the busy one (2 %
 * slower with it moved), so the thread keeps hashing there.
 */
export class LineBatch {
  readonly #max: number;
  readonly #shared: Shared;
  readonly #prefix: string;
  readonly #offsets: Float64Array;
  #buf: Buffer;
  #ends: Int32Array;
  readonly #hash: boolean;
  #off: number;
  #n = 0;

  constructor(max: number, shared: Shared, prefix: string, buf: Buffer, hash = false) {
    this.#max = max;
    this.#shared = shared;
    this.#prefix = prefix;
    this.#offsets = new Float64Array(max);
    this.#buf = buf;
    this.#hash = hash;
    this.#ends = new Int32Array(buf.buffer, 0, 2 * max);
    this.#off = LineBatch.headBytes(max, hash);
  }

  /** Bytes before the lines: the Int32 ends, then (`hash`) the content hashes. */
  static headBytes(max: number, hash: boolean): number {
    return (hash ? 8 + CONTENT_HASH_CHARS : 8) * max;
  }

  /** Lines taken. */
  get length(): number {
    return this.#n;
  }

  /** Bytes of the lines taken. */
  get bytes(): number {
    return this.#off - LineBatch.headBytes(this.#max, this.#hash);
  }

  /** Appends bytes [s, e) of `src` as one line read at file offset `start` (at most `max` lines). */
  pushBytes(src: Uint8Array, s: number, e: number, start: number): void {
    const i = this.#n;
    if (i >= this.#max) throw new RangeError(`A LineBatch holds at most ${this.#max} lines.`);
    const off = this.#off;
    const end = off + (e - s);
    if (end > this.#buf.length) this.#grow(end);
    const line = src.subarray(s, e);
    this.#buf.set(line, off);
    if (this.#hash) {
      const at = 8 * this.#max + CONTENT_HASH_CHARS * i;
      const h = contentHashOfBytes(line);
      if (h !== undefined) this.#buf.write(h, at, CONTENT_HASH_CHARS, 'latin1');
      else this.#buf[at] = 0;
    }
    this.#ends[2 * i] = off;
    this.#ends[2 * i + 1] = end;
    this.#offsets[i] = start;
    this.#off = end;
    this.#n = i + 1;
  }

  /** The packed batch (its buffer is transferred; the batch is not used after this). */
  packed(): PackedRecords {
    const n = this.#n;
    const max = this.#max;
    const p: PackedRecords = { buf: this.#buf.buffer as ArrayBuffer, count: n, shared: this.#shared, others: {}, head: LineBatch.headBytes(max, this.#hash), positions: { prefix: this.#prefix, offsets: this.#offsets.subarray(0, n) } };
    if (this.#hash) p.hashes = 8 * max;
    return p;
  }

  #grow(need: number): void {
    this.#buf = grown(this.#buf, this.#off, need);
    this.#ends = new Int32Array(this.#buf.buffer, 0, 2 * this.#max);
  }
}

/** The packed form of `records` in a new buffer (RecordPacker without reuse). */
export function packRecords(records: readonly SourceRecord[]): PackedRecords {
  return new RecordPacker().pack(records);
}

/** Gives back the records of a packed batch one at a time (each text decoded when its record is taken). */
export class RecordUnpacker {
  readonly count: number;
  readonly #p: PackedRecords;
  readonly #buf: Buffer;
  readonly #ends: Int32Array;
  #i = 0;
  #at: number;

  constructor(p: PackedRecords) {
    this.#p = p;
    this.count = p.count;
    this.#buf = Buffer.from(p.buf);
    this.#ends = new Int32Array(p.buf, 0, 2 * p.count);
    this.#at = p.head ?? 8 * p.count;
  }

  /** The next record; call `count` times. */
  next(): SourceRecord {
    const p = this.#p;
    const i = this.#i++;
    const ends = this.#ends;
    const pe = ends[2 * i] as number;
    const te = ends[2 * i + 1] as number;
    const other = p.others[i];
    if (te === WHOLE) {
      this.#at = pe;
      return other as SourceRecord;
    }
    const at = p.positions;
    const r: SourceRecord = { position: at !== undefined ? at.prefix + (at.offsets[i] as number) : this.#buf.toString('utf8', this.#at, pe) };
    this.#at = pe;
    const o = other ?? p.shared;
    if (o.kind !== undefined) r.kind = o.kind;
    if (o.host !== undefined) r.host = o.host;
    if (o.account !== undefined) r.account = o.account;
    if (other?.record !== undefined) r.record = other.record;
    if (te !== NO_TEXT) {
      r.text = this.#buf.toString('utf8', pe, te);
      this.#at = te;
    }
    const h = p.hashes;
    if (h !== undefined && this.#buf[h + CONTENT_HASH_CHARS * i] !== 0) r.contentHash = this.#buf.toString('latin1', h + CONTENT_HASH_CHARS * i, h + CONTENT_HASH_CHARS * (i + 1));
    return r;
  }
}
