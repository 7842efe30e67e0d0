/**
 * Which Duo log a record is, from its shape alone (notes/normalization.md §5.9). Used when the
 * record reaches the router without a known endpoint or file: `replay` without `--type`, the
 * syslog listener. Tests run in this order, most specific first, because kinds share keys:
 *
 * 1. authproxy       `log_namespace` starting `duoauthproxy`, or `auth_stage`, or `server_section` + `status`
 * 2. trust-monitor   `sekey` + one of `surfaced_timestamp`, `explanations`, `surfaced_auth`, `triage_event_uri`
 * 3. activity        `activity_id`, or an `actor` object + `action` + `ts` (activity also has `access_device`
 *                    and `action`, so it must come before authentication and administrator)
 * 4. telephony       `context` + `phone` (v1 and v2; v2 also has a `txid`, so before authentication)
 * 5. authentication  `txid` + one of `event_type`/`result`/`reason`/`factor`/`access_device`, or an
 *                    `access_device`/`auth_device` object + `event_type`/`result`/`reason`
 *                    (Panther's rule-test logs have no txid)
 * 6. offline-enrollment  `action` starting `o2fa_`
 * 7. administrator   any other string `action` with `username`, `object`, `description`, `isotimestamp`
 *                    or `timestamp` beside it
 * 8. otherwise the client-added `eventtype` decides, when it names a kind (duo_client_python's
 *    `administrator`/`authentication`/`telephony`/`activity`, Sekoia's `admin_log`/`auth_log`/
 *    `telephony_log`/`offline_log`); the shape wins over `eventtype` because Sekoia rewrites it.
 * Anything else is `undefined`: the router does not guess (see router.ts).
 */
import type { JsonObject, LogKind } from '../event.js';

const EVENTTYPE_KINDS: ReadonlyMap<string, LogKind> = new Map<string, LogKind>([
  ['administrator', 'administrator'],
  ['admin_log', 'administrator'],
  ['authentication', 'authentication'],
  ['auth_log', 'authentication'],
  ['telephony', 'telephony'],
  ['telephony_log', 'telephony'],
  ['offline_enrollment', 'offline-enrollment'],
  ['offline-enrollment', 'offline-enrollment'],
  ['offline_log', 'offline-enrollment'],
  ['activity', 'activity'],
  ['activity_log', 'activity'],
  ['trust_monitor', 'trust-monitor'],
  ['trust-monitor', 'trust-monitor'],
  ['authproxy', 'authproxy'],
]);

function isObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function has(r: JsonObject, k: string): boolean {
  return r[k] !== undefined;
}

export function classify(record: JsonObject): LogKind | undefined {
  const ns = record.log_namespace;
  if ((typeof ns === 'string' && ns.startsWith('duoauthproxy')) || has(record, 'auth_stage') || (has(record, 'server_section') && has(record, 'status'))) {
    return 'authproxy';
  }
  if (has(record, 'sekey') && (has(record, 'surfaced_timestamp') || has(record, 'explanations') || has(record, 'surfaced_auth') || has(record, 'triage_event_uri'))) {
    return 'trust-monitor';
  }
  const action = record.action;
  if (has(record, 'activity_id') || (isObject(record.actor) && action !== undefined && has(record, 'ts'))) return 'activity';
  if (has(record, 'context') && has(record, 'phone')) return 'telephony';
  const authDetail = has(record, 'event_type') || has(record, 'result') || has(record, 'reason');
  if (has(record, 'txid') && (authDetail || has(record, 'factor') || has(record, 'access_device'))) return 'authentication';
  if ((isObject(record.access_device) || isObject(record.auth_device)) && authDetail) return 'authentication';
  if (typeof action === 'string') {
    if (action.startsWith('o2fa_')) return 'offline-enrollment';
    if (has(record, 'username') || has(record, 'object') || has(record, 'description') || has(record, 'isotimestamp') || has(record, 'timestamp')) {
      return 'administrator';
    }
  }
  const et = record.eventtype;
  return typeof et === 'string' ? EVENTTYPE_KINDS.get(et) : undefined;
}
