/**
 * Formats: one routed event → one message string (no framing). Wiring only; each wire format
 * lives in its own file. The formatter is chosen once per destination (house style 9).
 *
 * Truncation: every message stays within `max_message_bytes` (cut at a UTF-8 boundary).
 * Callers count cuts through `formatter.stats.truncated` or `ctx.onTruncate`.
 */
import type { FormatOptions } from '../config/schema.js';
import type { CountingFormatter, FormatContext } from './types.js';
import { messageBody } from './message.js';
import { createRfc5424Formatter } from './rfc5424.js';
import { createRfc3164Formatter } from './rfc3164.js';
import { createCefFormatter } from './cef.js';
import { createLeefFormatter } from './leef.js';
import { createJsonFormatter } from './json.js';

export type { Formatter, FormatContext, FormatStats, CountingFormatter, MessageBody } from './types.js';
export { messageBody } from './message.js';
export { toEcs } from './ecs.js';
export { parseRfc5424, type Rfc5424Message } from './rfc5424-parse.js';

/** Picks the wire format and MSG body of a destination. Throws RelayError(DR_ERR_CONFIG) for a bad facility or enterprise_id. */
export function createFormatter(opts: FormatOptions, ctx: FormatContext): CountingFormatter {
  const body = messageBody(opts.message);
  switch (opts.format) {
    case 'rfc5424':
      return createRfc5424Formatter(opts, ctx, body);
    case 'rfc3164':
      return createRfc3164Formatter(opts, ctx, body);
    case 'cef':
      return createCefFormatter(opts, ctx, body);
    case 'leef':
      return createLeefFormatter(opts, ctx, body);
    case 'json':
      return createJsonFormatter(opts, ctx, body);
  }
}
