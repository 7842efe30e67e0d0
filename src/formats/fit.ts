/**
 * Enforces `max_message_bytes`: a message longer than the limit is cut at a UTF-8 character
 * boundary (never inside a multi-byte sequence, never leaving half a surrogate pair) and
 * counted in `stats.truncated` and through `ctx.onTruncate`.
 */
import type { RelayEvent } from '../event.js';
import type { FormatContext, FormatStats } from './types.js';
import { truncateUtf8, utf8Bytes } from './utf8.js';

export class Fitter {
  readonly max: number;
  private readonly stats: FormatStats;
  private readonly onTruncate: ((ev: RelayEvent, fullBytes: number) => void) | undefined;

  constructor(maxBytes: number, stats: FormatStats, ctx: FormatContext) {
    this.max = maxBytes;
    this.stats = stats;
    this.onTruncate = ctx.onTruncate;
  }

  /**
   * `prefix + tail`, with `tail` cut so the whole fits. Returns null (and counts nothing) when
   * `prefix` alone is too long, so the caller can shorten it. `forced` counts a truncation
   * even when `tail` fits (the caller already shortened something).
   */
  fit(ev: RelayEvent, prefix: string, tail: string, forced = false): string | null {
    // Fast path: 3 bytes per UTF-16 unit is the worst case, so short messages need no count.
    if ((prefix.length + tail.length) * 3 <= this.max && !forced) return prefix + tail;
    const pb = utf8Bytes(prefix);
    const tb = utf8Bytes(tail);
    if (pb + tb <= this.max) {
      if (forced) this.count(ev, pb + tb);
      return prefix + tail;
    }
    if (pb > this.max) return null;
    this.count(ev, pb + tb);
    return prefix + truncateUtf8(tail, this.max - pb);
  }

  /** A whole line cut to the limit (formats with no separate header to protect). */
  line(ev: RelayEvent, text: string): string {
    if (text.length * 3 <= this.max) return text;
    const b = utf8Bytes(text);
    if (b <= this.max) return text;
    this.count(ev, b);
    return truncateUtf8(text, this.max);
  }

  count(ev: RelayEvent, fullBytes: number): void {
    this.stats.truncated++;
    this.onTruncate?.(ev, fullBytes);
  }
}
