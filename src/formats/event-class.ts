/**
 * What kind of event this is in one short id and name, for formats whose header needs an
 * event class (CEF signatureId and name, LEEF EventID): the log kind plus the field Duo uses
 * to tell events of that log apart (action, result, status or type).
 */
import type { LogKind, RelayEvent } from '../event.js';

const SUBTYPE_FIELD: Record<LogKind, string> = {
  administrator: 'action',
  authentication: 'result',
  telephony: 'type',
  authproxy: 'status',
  'offline-enrollment': 'action',
  activity: 'action',
  'trust-monitor': 'type',
};

/** e.g. `authentication:denied`, `administrator:admin_login`, `authproxy:Reject`, or just the kind. */
export function eventClassId(ev: RelayEvent): string {
  const sub = ev.fields[SUBTYPE_FIELD[ev.kind]];
  return typeof sub === 'string' && sub.length > 0 ? ev.kind + ':' + sub : ev.kind;
}

/** e.g. `Duo authentication denied`. */
export function eventClassName(ev: RelayEvent): string {
  const sub = ev.fields[SUBTYPE_FIELD[ev.kind]];
  return typeof sub === 'string' && sub.length > 0 ? 'Duo ' + ev.kind + ' ' + sub : 'Duo ' + ev.kind;
}
