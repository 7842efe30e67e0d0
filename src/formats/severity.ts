/**
 * PRI = facility × 8 + severity (RFC 5424 §6.2.1).
 *
 * Severity mapping (documented in the README; SIEM alert rules key on it):
 * - warning (4): a Trust Monitor event (Duo surfaced it for triage), or an authentication
 *   whose `result` is `fraud` (the user reported the push as fraudulent).
 * - notice (5): a refused or failed attempt: authentication `result` other than `success`
 *   (denied, error, failure…); Authentication Proxy `status` Reject or Error; an administrator
 *   action ending in `_error`, `_fail` or `_failed` (admin_login_error, admin_2fa_error,
 *   ad_sync_failed, azure_sync_fail…) or `admin_lockout`.
 * - info (6): everything else.
 * Values are compared case-insensitively (old Duo docs spell results in capitals).
 */
import type { RelayEvent } from '../event.js';
import type { FormatOptions } from '../config/schema.js';
import { FACILITIES } from './facilities.js';
import { RelayError, ErrorCodes } from '../errors.js';

export const SEVERITY = { warning: 4, notice: 5, info: 6 } as const;

function lower(v: unknown): string | undefined {
  return typeof v === 'string' ? v.toLowerCase() : undefined;
}

/** An Authentication Proxy event's severity from its `status` (the router's fast lane asks without the fields). */
export function proxySeverity(status: unknown): number {
  const s = lower(status);
  return s === 'reject' || s === 'error' ? SEVERITY.notice : SEVERITY.info;
}

export function severityOf(ev: RelayEvent): number {
  if (ev.severity !== undefined) return ev.severity;
  const f = ev.fields;
  switch (ev.kind) {
    case 'trust-monitor':
      return SEVERITY.warning;
    case 'authentication': {
      const r = lower(f['result']);
      if (r === undefined || r === '' || r === 'success') return SEVERITY.info;
      return r === 'fraud' ? SEVERITY.warning : SEVERITY.notice;
    }
    case 'authproxy':
      return proxySeverity(f['status']);
    case 'administrator': {
      const a = lower(f['action']);
      if (a === undefined) return SEVERITY.info;
      if (a.endsWith('_error') || a.endsWith('_fail') || a.endsWith('_failed') || a === 'admin_lockout') return SEVERITY.notice;
      return SEVERITY.info;
    }
    default:
      return SEVERITY.info;
  }
}

/** The facility number for a name (`auth`) or number (4), per `FACILITIES` in the schema. */
export function facilityNumber(facility: FormatOptions['facility']): number {
  const n = typeof facility === 'number' ? facility : FACILITIES[facility];
  if (!Number.isInteger(n) || n < 0 || n > 23) {
    throw new RelayError(ErrorCodes.CONFIG, `Invalid syslog facility ${String(facility)}: use a name such as auth or local0, or a number 0-23.`);
  }
  return n;
}
