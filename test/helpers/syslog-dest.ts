/** Shared bits for the destination tests: events, a trivial RFC 5424 format, config, a log capture, a deframer. */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { RelayEvent } from '../../src/event.js';
import type { Logger } from '../../src/ops/logger.js';
import { syslogDestinationSchema, type SyslogDestinationConfig } from '../../src/config/schema.js';

export function event(i: number, extra: Partial<RelayEvent> = {}): RelayEvent {
  return {
    kind: 'authentication',
    tag: 'auth.duo.authentication.events',
    msgid: 'authentication',
    host: 'api-test.duosecurity.com',
    time: '2024-05-01T10:11:12.123456Z',
    id: `ev-${i}`,
    fields: { n: i, user: 'alice', result: 'success' },
    raw: '{}',
    ...extra,
  };
}

/** Hand-made RFC 5424 (the real formatter is tested elsewhere): the event id rides in SD and MSG. */
export function format(ev: RelayEvent): string {
  const body = typeof ev.fields['body'] === 'string' ? ev.fields['body'] : JSON.stringify(ev.fields);
  return `<38>1 ${ev.time ?? '-'} ${ev.host ?? '-'} ${ev.tag} - ${ev.msgid} [duo@32473 id="${ev.id}"] ${body}`;
}

/** A full config with schema defaults; fast backoff unless overridden. */
export function destConfig(over: Record<string, unknown>): SyslogDestinationConfig {
  return syslogDestinationSchema.parse({
    type: 'syslog',
    host: '127.0.0.1',
    backoff: { min_ms: 50, max_ms: 250, factor: 2, jitter: 0.2 },
    ...over,
  });
}

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

/** A pino logger whose lines are kept for assertions. */
export function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb): void {
      for (const l of chunk.toString('utf8').split('\n')) {
        if (l === '') continue;
        const v: unknown = JSON.parse(l);
        if (typeof v === 'object' && v !== null && 'msg' in v && 'level' in v) lines.push(v as LogLine);
      }
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

/** RFC 6587 octet-counting deframer (strict: throws on a malformed prefix). */
export function deframeOctets(buf: Buffer): { msgs: string[]; rest: Buffer } {
  const msgs: string[] = [];
  let off = 0;
  for (;;) {
    const sp = buf.indexOf(0x20, off);
    if (sp === -1) break;
    const lenText = buf.subarray(off, sp).toString('latin1');
    if (!/^[1-9][0-9]*$/.test(lenText)) throw new Error(`bad MSG-LEN ${JSON.stringify(lenText)} at ${off}`);
    const len = Number(lenText);
    if (sp + 1 + len > buf.length) break;
    msgs.push(buf.subarray(sp + 1, sp + 1 + len).toString('utf8'));
    off = sp + 1 + len;
  }
  return { msgs, rest: buf.subarray(off) };
}

/** Event ids found in messages (`id="ev-N"`), in order. */
export function ids(msgs: readonly string[]): string[] {
  const out: string[] = [];
  for (const m of msgs) {
    const match = /id="(ev-\d+)"/.exec(m);
    if (match?.[1] !== undefined) out.push(match[1]);
  }
  return out;
}

/** Resolves with 'pending' if `p` has not settled within `ms`. */
export async function stateAfter(p: Promise<unknown>, ms: number): Promise<'resolved' | 'rejected' | 'pending'> {
  let state: 'resolved' | 'rejected' | 'pending' = 'pending';
  p.then(() => { state = 'resolved'; }, () => { state = 'rejected'; });
  await new Promise((r) => setTimeout(r, ms));
  return state;
}
