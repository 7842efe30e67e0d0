/**
 * RFC 6587 stream deframing: octet counting (`LEN SP MSG`) or non-transparent LF framing,
 * chosen per frame by the first byte (a digit → octet counting), as rsyslog does.
 * Frames over `maxFrameBytes` are reported, skipped and never buffered whole.
 */
export type FrameEvent = { ok: true; frame: Buffer } | { ok: false; reason: string; preview: string };

const SP = 0x20;
const LF = 0x0a;

export class Deframer {
  #buf: Buffer = Buffer.alloc(0);
  /** Bytes of an oversized frame still to skip (octet counting) or -1: skip to the next LF. */
  #skip = 0;
  constructor(private readonly maxFrameBytes: number) {}

  /** Feeds a chunk; returns every complete frame (and oversize reports) in order. */
  push(chunk: Buffer): FrameEvent[] {
    const out: FrameEvent[] = [];
    let data = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    let pos = 0;
    for (;;) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, data.length - pos);
        this.#skip -= n;
        pos += n;
        if (this.#skip > 0) break;
        continue;
      }
      if (this.#skip === -1) {
        const lf = data.indexOf(LF, pos);
        if (lf === -1) {
          pos = data.length;
          break;
        }
        this.#skip = 0;
        pos = lf + 1;
        continue;
      }
      if (pos >= data.length) break;
      const first = data[pos] ?? 0;
      if (first >= 0x30 && first <= 0x39) {
        const sp = data.indexOf(SP, pos);
        if (sp === -1) {
          if (data.length - pos > 10) {
            out.push({ ok: false, reason: 'Octet count without a space after 10 digits; resynchronising at the next LF.', preview: preview(data, pos) });
            this.#skip = -1;
            continue;
          }
          break;
        }
        const lenText = data.toString('latin1', pos, sp);
        const len = /^[1-9][0-9]{0,9}$/.test(lenText) ? Number(lenText) : NaN;
        if (Number.isNaN(len)) {
          out.push({ ok: false, reason: `Invalid octet count "${lenText.slice(0, 12)}"; resynchronising at the next LF.`, preview: preview(data, pos) });
          this.#skip = -1;
          continue;
        }
        if (len > this.maxFrameBytes) {
          out.push({ ok: false, reason: `Frame of ${len} bytes exceeds max_frame_bytes ${this.maxFrameBytes}; skipped.`, preview: preview(data, sp + 1) });
          pos = sp + 1;
          this.#skip = len;
          continue;
        }
        if (data.length - (sp + 1) < len) break;
        out.push({ ok: true, frame: data.subarray(sp + 1, sp + 1 + len) });
        pos = sp + 1 + len;
        continue;
      }
      const lf = data.indexOf(LF, pos);
      if (lf === -1) {
        if (data.length - pos > this.maxFrameBytes) {
          out.push({ ok: false, reason: `LF-framed message longer than max_frame_bytes ${this.maxFrameBytes}; skipped to the next LF.`, preview: preview(data, pos) });
          this.#skip = -1;
          pos = data.length;
        }
        break;
      }
      let end = lf;
      if (end > pos && data[end - 1] === 0x0d) end--;
      // A whole over-long line can arrive in one read: the limit holds however it was chunked.
      if (end - pos > this.maxFrameBytes) {
        out.push({ ok: false, reason: `LF-framed message longer than max_frame_bytes ${this.maxFrameBytes}; skipped to the next LF.`, preview: preview(data, pos) });
      } else if (end > pos) {
        out.push({ ok: true, frame: data.subarray(pos, end) });
      }
      pos = lf + 1;
    }
    // Keep only the unconsumed tail (copied, so the big chunk can be collected).
    this.#buf = pos >= data.length ? Buffer.alloc(0) : Buffer.from(data.subarray(pos));
    data = this.#buf;
    return out;
  }

  /** What is left at connection end: an unterminated LF frame counts as a message. */
  end(): FrameEvent[] {
    const rest = this.#buf;
    this.#buf = Buffer.alloc(0);
    if (rest.length === 0 || this.#skip !== 0) return [];
    const first = rest[0] ?? 0;
    if (first >= 0x30 && first <= 0x39) return [{ ok: false, reason: 'Connection closed inside an octet-counted frame.', preview: preview(rest, 0) }];
    return [{ ok: true, frame: rest }];
  }
}

function preview(buf: Buffer, from: number): string {
  return buf.toString('utf8', from, Math.min(buf.length, from + 200));
}
