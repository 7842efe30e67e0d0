/**
 * ArcSight CEF over syslog: `<PRI>Mmm dd hh:mm:ss HOST CEF:0|Duo Security|duo-relay|<version>|<signatureId>|<name>|<severity>|<extension>`.
 *
 * The BSD syslog prefix is what CEF syslog receivers (ArcSight SmartConnector, most SIEMs)
 * expect in front of `CEF:`. Header fields escape `|` and `\`; extension values escape `=`
 * and `\` and write line breaks as `\n`/`\r` (CEF rules). signatureId/name: the event class
 * (`authentication:denied`, see event-class.ts). Severity 0–10 from the syslog severity:
 * warning → 7, notice → 5, info → 3.
 *
 * Extension keys (only when known): rt (event time, epoch ms), cat (tag), externalId (event
 * id), act, outcome, reason, src, spt, suser, suid, shost, dvchost, requestClientApplication,
 * cs1=kind, cs2=account, and last `msg` = the MSG body chosen by `message:`, so that cutting
 * to `max_message_bytes` only ever shortens `msg`.
 */
import type { RelayEvent } from '../event.js';
import type { FormatOptions } from '../config/schema.js';
import type { CountingFormatter, FormatContext, MessageBody } from './types.js';
import { newStats } from './types.js';
import { Fitter } from './fit.js';
import { escapeCefHeader, escapeCefValue } from './escape.js';
import { bsdHeader } from './rfc3164.js';
import { severityOf } from './severity.js';
import { eventClassId, eventClassName } from './event-class.js';
import { toEcs } from './ecs.js';
import { at } from './ecs-util.js';
import { wellFormed } from './utf8.js';

/** Syslog severity (0–7) → CEF severity (0–10). */
export function cefSeverity(syslogSeverity: number): number {
  if (syslogSeverity <= 4) return 7;
  return syslogSeverity === 5 ? 5 : 3;
}

function ext(key: string, v: unknown): string {
  if (typeof v === 'number') return ' ' + key + '=' + String(v);
  if (typeof v !== 'string' || v.length === 0) return '';
  return ' ' + key + '=' + escapeCefValue(v);
}

/** A cut may end inside an escape (`\\` or `\=` split after the backslash): drop that half. */
function dropDanglingEscape(s: string): string {
  let n = 0;
  while (n < s.length && s.charCodeAt(s.length - 1 - n) === 92) n++;
  return n % 2 === 1 ? s.slice(0, -1) : s;
}

export function createCefFormatter(opts: FormatOptions, ctx: FormatContext, body: MessageBody): CountingFormatter {
  const stats = newStats();
  const fitter = new Fitter(opts.max_message_bytes, stats, ctx);
  const { header, epochOf } = bsdHeader(opts, ctx, stats);
  const constant = 'CEF:0|Duo Security|' + escapeCefHeader(wellFormed(ctx.software)) + '|' + escapeCefHeader(wellFormed(ctx.swVersion)) + '|';
  const format = (ev: RelayEvent): string => {
    const ecs = toEcs(ev);
    const sev = cefSeverity(severityOf(ev));
    const head = header(ev) + constant + escapeCefHeader(eventClassId(ev)) + '|' + escapeCefHeader(eventClassName(ev)) + '|' + sev + '|';
    const extension =
      'rt=' + epochOf(ev) +
      ext('cat', ev.tag) +
      ext('externalId', ev.id) +
      ext('act', at(ecs, 'event.action')) +
      ext('outcome', at(ecs, 'event.outcome')) +
      ext('reason', at(ecs, 'event.reason')) +
      ext('src', at(ecs, 'source.ip')) +
      ext('spt', at(ecs, 'source.port')) +
      ext('suser', at(ecs, 'user.name') ?? at(ecs, 'user.email')) +
      ext('suid', at(ecs, 'user.id')) +
      ext('shost', at(ecs, 'host.name')) +
      ext('dvchost', ev.host ?? ctx.fallbackHost) +
      ext('requestClientApplication', at(ecs, 'user_agent.original') ?? at(ecs, 'user_agent.name')) +
      ' cs1Label=duoKind' + ext('cs1', ev.kind) +
      (ev.account !== undefined ? ' cs2Label=duoAccount' + ext('cs2', ev.account) : '') +
      ' msg=';
    const prefix = wellFormed(head + extension);
    const before = stats.truncated;
    const out = fitter.fit(ev, prefix, escapeCefValue(body(ev))) ?? fitter.line(ev, prefix);
    return stats.truncated === before ? out : dropDanglingEscape(out);
  };
  return Object.assign(format, { stats });
}
