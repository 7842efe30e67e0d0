/**
 * `format: json`: the MSG body alone, on one line (for receivers that ingest JSON lines).
 * JSON never needs a raw line break (JSON.stringify never writes one; in `raw` text one can
 * only sit between tokens), so CR/LF become spaces and the line stays valid JSON.
 */
import type { RelayEvent } from '../event.js';
import type { FormatOptions } from '../config/schema.js';
import type { CountingFormatter, FormatContext, MessageBody } from './types.js';
import { newStats } from './types.js';
import { Fitter } from './fit.js';

function oneLine(s: string): string {
  if (s.indexOf('\n') === -1 && s.indexOf('\r') === -1) return s;
  return s.replace(/[\r\n]/g, ' ');
}

export function createJsonFormatter(opts: FormatOptions, ctx: FormatContext, body: MessageBody): CountingFormatter {
  const stats = newStats();
  const fitter = new Fitter(opts.max_message_bytes, stats, ctx);
  const format = (ev: RelayEvent): string => fitter.line(ev, oneLine(body(ev)));
  return Object.assign(format, { stats });
}
