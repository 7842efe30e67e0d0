/**
 * RelayEvent ⇄ disk-queue payload.
 *
 * Payload (version 2): three UTF-8 parts separated by LF, each plain JSON text, so the queue stays
 * readable with any JSON tool:
 *   1. `[2,kind,tag,msgid,host,time,id,account,severity]` (null for an absent value),
 *   2. the flattened fields (formats/flat-json.ts: built from the pieces the router kept),
 *   3. the original JSON text (`raw`), as is.
 * Neither JSON.stringify nor JSON.parse output ever holds a raw LF, so parts 1 and 2 end at the first
 * and second LF; `raw` is the rest, LFs and all.
 *
 * Why not the event's JSON (version 1): `raw` is JSON inside a JSON string (every quote escaped on
 * the way in, unescaped on the way out), and the fields were parsed on read only to be serialised
 * again by the formatter. A version-2 event keeps its fields' text for the message body and parses
 * it only if a formatter reads a field, and carries its syslog severity so the usual RFC 5424
 * message needs no field at all. Version-1 payloads (queues written before) still decode.
 */
import { plainEvent, type FlatRecord, type LogKind, type RelayEvent } from '../event.js';
import { flatJson } from '../formats/flat-json.js';
import { severityOf } from '../formats/severity.js';
import { RelayError, ErrorCodes } from '../errors.js';

const LF = 0x0a;
const VERSION = 2;

/** Payloads of one batch, encoded into one buffer as events come (no per-event allocation). */
export class PayloadBatch {
  #buf: Buffer;
  #off = 0;
  #ends: number[] = [];

  /** `reuse`: a buffer of an earlier batch whose payloads nobody reads any more (it is written over). */
  constructor(expectedBytes = 64 * 1024, reuse?: Buffer) {
    const size = Math.max(1024, expectedBytes);
    this.#buf = reuse !== undefined && reuse.length >= size ? reuse : unpooled(size);
  }

  /** The buffer the payloads are views of (to reuse once they are no longer read). */
  get buffer(): Buffer {
    return this.#buf;
  }

  get count(): number {
    return this.#ends.length;
  }

  get bytes(): number {
    return this.#off;
  }

  /** Where each payload ends in the buffer (the next one starts there). */
  get ends(): readonly number[] {
    return this.#ends;
  }

  push(ev: RelayEvent): void {
    const head = JSON.stringify([VERSION, ev.kind, ev.tag, ev.msgid, ev.host ?? null, ev.time ?? null, ev.id, ev.account ?? null, severityOf(ev)]);
    const fields = ev.fieldsJson ?? flatJson(ev.fields);
    const raw = ev.raw;
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    const max = (head.length + fields.length + raw.length) * 3 + 2;
    if (this.#off + max > this.#buf.length) this.#grow(max);
    const buf = this.#buf;
    let off = this.#off;
    off += buf.write(head, off, 'utf8');
    buf[off++] = LF;
    off += buf.write(fields, off, 'utf8');
    buf[off++] = LF;
    off += buf.write(raw, off, 'utf8');
    this.#off = off;
    this.#ends.push(off);
  }

  /** One Buffer per event, views of the batch buffer. */
  payloads(): Buffer[] {
    return payloadViews(this.#buf, this.#ends);
  }

  #grow(need: number): void {
    const next = unpooled(Math.max(this.#buf.length * 2, this.#off + need));
    this.#buf.copy(next, 0, 0, this.#off);
    this.#buf = next;
  }
}

/**
 * A buffer with an ArrayBuffer of its own: the route thread hands batch buffers over by transfer,
 * and transferring a slice of Node's shared pool would detach every other buffer in it.
 */
function unpooled(size: number): Buffer {
  return Buffer.allocUnsafeSlow(size);
}

/** One Buffer per payload: views of `buf`, payload i ending at ends[i]. */
export function payloadViews(buf: Buffer, ends: readonly number[]): Buffer[] {
  const out = new Array<Buffer>(ends.length);
  let start = 0;
  for (let i = 0; i < out.length; i++) {
    const end = ends[i] as number;
    out[i] = buf.subarray(start, end);
    start = end;
  }
  return out;
}

/** The payload of one event. */
export function encodeEvent(ev: RelayEvent): Buffer {
  const b = new PayloadBatch(1024);
  b.push(ev);
  return b.payloads()[0] as Buffer;
}

/**
 * An event read back from a version-2 payload. The fields' and raw text stay bytes (views of the
 * payload) until something asks for them: the usual RFC 5424 message copies the fields' bytes into
 * its frame, so neither string is ever built. `fields` is parsed on first use.
 */
class QueuedEvent implements RelayEvent {
  readonly kind: LogKind;
  readonly tag: string;
  readonly msgid: string;
  readonly host: string | undefined;
  readonly time: string | undefined;
  readonly id: string;
  readonly account?: string;
  readonly severity: number;
  readonly fieldsBytes: Buffer;
  readonly #rawBytes: Buffer;
  #fieldsJson: string | undefined;
  #raw: string | undefined;
  #fields: FlatRecord | undefined;

  constructor(head: unknown[], fieldsBytes: Buffer, rawBytes: Buffer) {
    this.kind = head[1] as LogKind;
    this.tag = head[2] as string;
    this.msgid = head[3] as string;
    this.host = (head[4] as string | null) ?? undefined;
    this.time = (head[5] as string | null) ?? undefined;
    this.id = head[6] as string;
    if (head[7] !== null) this.account = head[7] as string;
    this.severity = head[8] as number;
    this.fieldsBytes = fieldsBytes;
    this.#rawBytes = rawBytes;
  }

  get fieldsJson(): string {
    return (this.#fieldsJson ??= this.fieldsBytes.toString('utf8'));
  }

  get raw(): string {
    return (this.#raw ??= this.#rawBytes.toString('utf8'));
  }

  get fields(): FlatRecord {
    return (this.#fields ??= JSON.parse(this.fieldsJson) as FlatRecord);
  }

  /** The version-1 shape (JSON.stringify(event) as the router built it). */
  toJSON(): object {
    return plainEvent(this);
  }
}

/** The event back from its payload (written by encodeEvent, or version 1; CRC-checked by the queue). */
export function decodeEvent(payload: Buffer): RelayEvent {
  if (payload[0] !== 0x5b) return JSON.parse(payload.toString('utf8')) as RelayEvent;
  const a = payload.indexOf(LF);
  const b = a < 0 ? -1 : payload.indexOf(LF, a + 1);
  if (b < 0) throw new RelayError(ErrorCodes.QUEUE_CORRUPT, 'A disk-queue payload has fewer than three parts; it was not written by this relay.');
  const head = JSON.parse(payload.toString('utf8', 0, a)) as unknown[];
  if (head[0] !== VERSION) throw new RelayError(ErrorCodes.QUEUE_CORRUPT, `A disk-queue payload has version ${String(head[0])}; this relay reads versions 1 and 2 (downgraded after an upgrade?).`);
  return new QueuedEvent(head, payload.subarray(a + 1, b), payload.subarray(b + 1));
}
