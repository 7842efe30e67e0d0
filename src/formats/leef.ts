/**
 * IBM QRadar LEEF 2.0 over syslog:
 * `<PRI>Mmm dd hh:mm:ss HOST LEEF:2.0|Duo Security|duo-relay|<version>|<EventID>|x09|key=value<TAB>key=value…`.
 *
 * The delimiter is a tab, declared as `x09` in the header. LEEF has no escape for its
 * delimiter or for `|` in the header, so those (and line breaks) become spaces in values.
 * EventID is the event class (`authentication:denied`). Attributes (only when known):
 * devTime + devTimeFormat, cat (tag), sev (1–10, as CEF), src, srcPort, usrName,
 * identHostName, accountName (MSP account), then custom keys externalId, action, outcome,
 * reason, duoKind, and last `msg` = the MSG body chosen by `message:` (so a cut to
 * `max_message_bytes` only shortens `msg`).
 */
import type { RelayEvent } from '../event.js';
import type { FormatOptions } from '../config/schema.js';
import type { CountingFormatter, FormatContext, MessageBody } from './types.js';
import { newStats } from './types.js';
import { Fitter } from './fit.js';
import { sanitizeLeef } from './escape.js';
import { bsdHeader } from './rfc3164.js';
import { severityOf } from './severity.js';
import { cefSeverity } from './cef.js';
import { eventClassId } from './event-class.js';
import { toEcs } from './ecs.js';
import { at } from './ecs-util.js';
import { wellFormed } from './utf8.js';

/** Java SimpleDateFormat pattern matching `Date.toISOString()`. */
export const LEEF_TIME_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSX";

function attr(key: string, v: unknown): string {
  if (typeof v === 'number') return '\t' + key + '=' + String(v);
  if (typeof v !== 'string' || v.length === 0) return '';
  return '\t' + key + '=' + sanitizeLeef(v, false);
}

export function createLeefFormatter(opts: FormatOptions, ctx: FormatContext, body: MessageBody): CountingFormatter {
  const stats = newStats();
  const fitter = new Fitter(opts.max_message_bytes, stats, ctx);
  const { header, epochOf } = bsdHeader(opts, ctx, stats);
  const constant = 'LEEF:2.0|Duo Security|' + sanitizeLeef(wellFormed(ctx.software), true) + '|' + sanitizeLeef(wellFormed(ctx.swVersion), true) + '|';
  const format = (ev: RelayEvent): string => {
    const ecs = toEcs(ev);
    const head = header(ev) + constant + sanitizeLeef(eventClassId(ev), true) + '|x09|';
    const attributes =
      'devTime=' + new Date(epochOf(ev)).toISOString() +
      '\tdevTimeFormat=' + LEEF_TIME_FORMAT +
      attr('cat', ev.tag) +
      '\tsev=' + cefSeverity(severityOf(ev)) +
      attr('src', at(ecs, 'source.ip')) +
      attr('srcPort', at(ecs, 'source.port')) +
      attr('usrName', at(ecs, 'user.name') ?? at(ecs, 'user.email')) +
      attr('identHostName', at(ecs, 'host.name')) +
      attr('accountName', ev.account) +
      attr('externalId', ev.id) +
      attr('action', at(ecs, 'event.action')) +
      attr('outcome', at(ecs, 'event.outcome')) +
      attr('reason', at(ecs, 'event.reason')) +
      attr('duoKind', ev.kind) +
      '\tmsg=';
    const prefix = wellFormed(head + attributes);
    return fitter.fit(ev, prefix, sanitizeLeef(body(ev), false)) ?? fitter.line(ev, prefix);
  };
  return Object.assign(format, { stats });
}
