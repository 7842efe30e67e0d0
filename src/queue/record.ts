/**
 * Byte layout of the disk queue (see ./index.ts for the whole picture). All integers are
 * little-endian. Pure functions only: nothing here touches a file.
 */
import * as zlib from 'node:zlib';

/** Segment header: `DRQS` | u32 version | u64 first seq | f64 created ms | u32 reserved | u32 CRC-32 of bytes 0..28. */
export const SEGMENT_MAGIC = 0x53515244; // "DRQS" read as a little-endian u32
export const SEGMENT_VERSION = 1;
export const SEGMENT_HEADER_BYTES = 32;

/** Record header: u32 payload length | u32 CRC-32 of bytes 8..24+len | u64 seq | f64 append time ms. */
export const RECORD_HEADER_BYTES = 24;

const TWO_32 = 0x1_0000_0000;

type Crc32 = (data: Uint8Array, value?: number) => number;

/** The IEEE CRC-32 of zlib; a table-driven copy (same polynomial, same files) where node lacks zlib.crc32 (< 20.15). */
export const crc32: Crc32 = typeof zlib.crc32 === 'function' ? zlib.crc32 : tableCrc32();

function tableCrc32(): Crc32 {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return (data: Uint8Array, value = 0): number => {
    let c = (value ^ 0xffffffff) >>> 0;
    for (let i = 0; i < data.length; i++) c = (table[(c ^ (data[i] ?? 0)) & 0xff] ?? 0) ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
}

export function writeU64(buf: Buffer, value: number, off: number): void {
  buf.writeUInt32LE(value % TWO_32, off);
  buf.writeUInt32LE(Math.floor(value / TWO_32), off + 4);
}

export function readU64(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off) + buf.readUInt32LE(off + 4) * TWO_32;
}

export function encodeSegmentHeader(firstSeq: number, createdMs: number): Buffer {
  const buf = Buffer.alloc(SEGMENT_HEADER_BYTES);
  buf.writeUInt32LE(SEGMENT_MAGIC, 0);
  buf.writeUInt32LE(SEGMENT_VERSION, 4);
  writeU64(buf, firstSeq, 8);
  buf.writeDoubleLE(createdMs, 16);
  buf.writeUInt32LE(crc32(buf.subarray(0, 28)), 28);
  return buf;
}

export interface SegmentHeader {
  firstSeq: number;
  createdMs: number;
}

/** Null when the bytes are not a version-1 segment header (torn creation, foreign file, bit rot). */
export function decodeSegmentHeader(buf: Buffer): SegmentHeader | null {
  if (buf.length < SEGMENT_HEADER_BYTES) return null;
  if (buf.readUInt32LE(0) !== SEGMENT_MAGIC || buf.readUInt32LE(4) !== SEGMENT_VERSION) return null;
  if (buf.readUInt32LE(28) !== crc32(buf.subarray(0, 28))) return null;
  return { firstSeq: readU64(buf, 8), createdMs: buf.readDoubleLE(16) };
}

/** Bytes a payload takes on disk. */
export function recordSize(payload: Buffer): number {
  return RECORD_HEADER_BYTES + payload.length;
}

/** Scratch for the 16 CRC-covered header bytes: the CRC is chained over it and the payload, so no per-record view is allocated. */
const CRC_HEAD = Buffer.alloc(16);

/** CRC of the record whose header is at `off` in `buf`, with `payload` as its payload bytes. */
function recordCrc(buf: Buffer, off: number, payload: Uint8Array): number {
  // 16 bytes by hand: Buffer#copy's argument checks cost more than the copy at this size.
  for (let i = 0; i < 16; i++) CRC_HEAD[i] = buf[off + 8 + i] as number;
  return crc32(payload, crc32(CRC_HEAD));
}

/**
 * Encodes payloads[from, to) as consecutive records numbered from `firstSeq`, all stamped
 * with `timeMs` (one clock read per batch). Written into `scratch` when it is big enough, so
 * steady-state appends allocate nothing large.
 */
export function encodeRecords(payloads: readonly Buffer[], from: number, to: number, firstSeq: number, timeMs: number, scratch?: Buffer): Buffer {
  let total = 0;
  for (let i = from; i < to; i++) total += RECORD_HEADER_BYTES + (payloads[i]?.length ?? 0);
  const buf = scratch !== undefined && scratch.length >= total ? scratch.subarray(0, total) : Buffer.allocUnsafe(total);
  let off = 0;
  let seq = firstSeq;
  for (let i = from; i < to; i++) {
    const p = payloads[i] ?? EMPTY;
    buf.writeUInt32LE(p.length, off);
    writeU64(buf, seq, off + 8);
    buf.writeDoubleLE(timeMs, off + 16);
    // TypedArray#set: a plain native copy, without Buffer#copy's argument handling (measured per record).
    buf.set(p, off + RECORD_HEADER_BYTES);
    buf.writeUInt32LE(recordCrc(buf, off, p), off + 4);
    off += RECORD_HEADER_BYTES + p.length;
    seq++;
  }
  return buf;
}

const EMPTY = Buffer.alloc(0);

/**
 * Checks the record at `off` in `buf`. Returns a view of its payload, or null when the length
 * is implausible, the record does not fit in `buf`, or the CRC does not match. Read the seq
 * with `readU64(buf, off + 8)` and the time with `buf.readDoubleLE(off + 16)`.
 */
export function checkRecord(buf: Buffer, off: number, maxPayload: number): Buffer | null {
  if (off + RECORD_HEADER_BYTES > buf.length) return null;
  const len = buf.readUInt32LE(off);
  if (len > maxPayload || off + RECORD_HEADER_BYTES + len > buf.length) return null;
  const payload = buf.subarray(off + RECORD_HEADER_BYTES, off + RECORD_HEADER_BYTES + len);
  return buf.readUInt32LE(off + 4) === recordCrc(buf, off, payload) ? payload : null;
}
