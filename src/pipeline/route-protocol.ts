/**
 * Messages between the main thread and the route thread (route-thread.ts ⇄ route-worker.ts), and
 * the packed form records travel in.
 *
 * A batch of records is not posted as an array of objects: the thread would rebuild a thousand
 * objects and strings that all live until the batch is routed, and its GC would copy them from
 * one generation to the next (measured: a fifth of the thread's time). Packed, a batch is one
 * string with every text, plain number arrays, and the fields records share (a tailer's records
 * differ only in text and offset); the thread builds each record when it routes it, and the
 * record dies young.
 */
import type { DeadLetter, LogKind, SourceRecord } from '../event.js';
import type { RouterOptions } from '../route/router.js';

export interface RouteThreadData {
  router: RouterOptions;
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
  /** Per record its position, then its text, end to end. */
  text: string;
  /** Per record: the length of its position in `text` (UTF-16 units). */
  plens: number[];
  /** Per record: the length of its text, or -1 when it has none. */
  lens: number[];
  shared: Shared;
  /** Records whose other fields differ from `shared` (or that carry a parsed `record`), by index, without text and position. */
  others: Record<number, Omit<SourceRecord, 'text' | 'position'>>;
}

export type ToRouteThread =
  /** Route and encode these records. */
  | { t: 'batch'; id: number; records: PackedRecords }
  /** A batch buffer the queue no longer reads (transferred back for reuse). */
  | { t: 'spare'; buf: ArrayBuffer };

export type FromRouteThread =
  /** The thread has loaded its modules and takes batches. */
  | { t: 'ready' }
  /** The payloads of batch `id`: payload i is buf[ends[i-1] .. ends[i]) (transferred). */
  | { t: 'done'; id: number; buf: ArrayBuffer; ends: readonly number[]; dead: DeadLetter[] }
  /** Batch `id` could not be encoded (a bug: the router itself never throws). */
  | { t: 'fail'; id: number; message: string };

function sharedOf(r: SourceRecord): Shared {
  const s: Shared = {};
  if (r.kind !== undefined) s.kind = r.kind;
  if (r.host !== undefined) s.host = r.host;
  if (r.account !== undefined) s.account = r.account;
  return s;
}

/** The packed form of `records` (unpack with RecordUnpacker). */
export function packRecords(records: readonly SourceRecord[]): PackedRecords {
  const parts: string[] = [];
  const plens = new Array<number>(records.length);
  const lens = new Array<number>(records.length);
  const shared = records.length > 0 ? sharedOf(records[0] as SourceRecord) : {};
  const others: PackedRecords['others'] = {};
  for (let i = 0; i < records.length; i++) {
    const r = records[i] as SourceRecord;
    parts.push(r.position);
    plens[i] = r.position.length;
    if (r.text === undefined) lens[i] = -1;
    else {
      parts.push(r.text);
      lens[i] = r.text.length;
    }
    if (r.record !== undefined || r.kind !== shared.kind || r.host !== shared.host || r.account !== shared.account) {
      const { text: _text, position: _position, ...rest } = r;
      others[i] = rest;
    }
  }
  return { text: parts.join(''), plens, lens, shared, others };
}

/** Gives back the records of a packed batch one at a time (texts and positions are slices of the one string). */
export class RecordUnpacker {
  readonly count: number;
  readonly #p: PackedRecords;
  #i = 0;
  #at = 0;

  constructor(p: PackedRecords) {
    this.#p = p;
    this.count = p.lens.length;
  }

  /** The next record; call `count` times. */
  next(): SourceRecord {
    const p = this.#p;
    const i = this.#i++;
    const pl = p.plens[i] as number;
    const r: SourceRecord = { position: p.text.slice(this.#at, this.#at + pl) };
    this.#at += pl;
    const other = p.others[i];
    const o = other ?? p.shared;
    if (o.kind !== undefined) r.kind = o.kind;
    if (o.host !== undefined) r.host = o.host;
    if (o.account !== undefined) r.account = o.account;
    if (other?.record !== undefined) r.record = other.record;
    const n = p.lens[i] as number;
    if (n >= 0) {
      r.text = p.text.slice(this.#at, this.#at + n);
      this.#at += n;
    }
    return r;
  }
}
