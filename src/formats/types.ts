/**
 * Types shared by every wire format. A formatter turns one routed event into one message:
 * no framing, no trailing LF (framing is the destination's layer, house style 8).
 */
import type { RelayEvent } from '../event.js';

/** One event → one message (no framing, no trailing LF). */
export type Formatter = (ev: RelayEvent) => string;

/**
 * Builds the MSG body (flattened JSON, the original JSON, or ECS JSON). `bytes`, when the body kind
 * has it, gives the body's UTF-8 bytes without building the string, when the event kept them.
 */
export type MessageBody = ((ev: RelayEvent) => string) & { bytes?: (ev: RelayEvent) => Buffer | undefined };

/** What the formatter needs to know about the relay itself. */
export interface FormatContext {
  /** HEADER hostname when the event carries none (the relay's own hostname). */
  fallbackHost: string;
  /** `origin software=` (RFC 5424 §7.2.5), e.g. "duo-relay". */
  software: string;
  /** `origin swVersion=`, e.g. "0.1.0". */
  swVersion: string;
  /** RFC 5424 PROCID; NILVALUE when unset. */
  procid?: string | undefined;
  /**
   * Called once per message cut to `max_message_bytes` (the metric hook), with the size the
   * message would have had. Also counted in `stats.truncated` on the formatter.
   */
  onTruncate?: ((ev: RelayEvent, fullBytes: number) => void) | undefined;
  /** Clock used when an event has no valid time (tests inject a fixed one). @default () => new Date() */
  now?: (() => Date) | undefined;
}

/** Counters a destination reads to publish metrics (accumulated here, emitted by the caller). */
export interface FormatStats {
  /** Messages cut to `max_message_bytes`. */
  truncated: number;
  /** Events whose own time was absent or invalid, so the relay's clock was used. */
  timeSubstituted: number;
}

/**
 * One message as two strings, `head + body` (filled by `CountingFormatter.split`), or as `head` and
 * `bodyBytes`, the body's UTF-8 bytes, when the event carries them (read back from the disk queue)
 * and nothing needs cutting: then `body` is '' and the bytes are copied as they are.
 */
export interface SplitMessage {
  head: string;
  body: string;
  bodyBytes?: Buffer | undefined;
}

/**
 * A formatter that also carries its counters. Assignable to `Formatter`.
 *
 * `split`, when a format has it, fills `out` so that `out.head + out.body === format(ev)`: a
 * destination that encodes straight into a buffer writes the two parts one after the other and
 * never builds (nor copies) the joined message, which is most of the bytes it handles.
 */
export type CountingFormatter = Formatter & {
  readonly stats: FormatStats;
  readonly split?: (ev: RelayEvent, out: SplitMessage) => void;
};

export function newStats(): FormatStats {
  return { truncated: 0, timeSubstituted: 0 };
}
