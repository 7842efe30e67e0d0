/**
 * ECS documents for `message: ecs`, built from the original record (`ev.raw`) and `ev.kind`.
 *
 * Primary reference: Sekoia.io's Duo parser (notes/normalization.md §1); every field its parser
 * produces in its 9 tests is produced here with the same value (test/formats/ecs-sekoia.test.ts).
 * Elastic's `cisco_duo` integration agrees on event.outcome (authentication), source.ip/port,
 * user.name and event.action; where they disagree we follow Sekoia:
 * - authentication event.type: Sekoia `start`, Elastic `info`;
 * - access-device OS: Sekoia `host.os.*`, Elastic `user_agent.os.*`;
 * - admin outcome: Sekoia only for admin_login(_error), Elastic `success` for every other action;
 * - admin description: Sekoia maps ip_address/email/error/device, Elastic keeps the whole object;
 * - admin login category: Sekoia `authentication`, Elastic `iam`.
 * Beyond Sekoia: `ecs.version`, `event.kind`, `event.id` (the relay's stable id), `event.module`,
 * `@timestamp` from `ev.time` for every kind, ports split off addresses (as Elastic does, so
 * `source.ip` is always a valid IP), a few `duo.security.*` extras, and mappings for the
 * Authentication Proxy, activity and Trust Monitor logs, which Sekoia does not collect.
 * Platform-side enrichment (`related.*`, `source.address`, user-agent parsing, GeoIP) is left
 * to the SIEM.
 */
import type { JsonObject, LogKind, RelayEvent } from '../event.js';
import { asObject, asString, at, parseObject, put, splitIpPort } from './ecs-util.js';
import { toUtcIso } from './timestamp.js';

export const ECS_VERSION = '8.17.0';

/** `event.dataset` per kind: Sekoia's names for the four it knows, the same pattern for the rest. */
export const ECS_DATASET: Record<LogKind, string> = {
  administrator: 'admin_log',
  authentication: 'auth_log',
  telephony: 'telephony_log',
  'offline-enrollment': 'offline_log',
  authproxy: 'authproxy_log',
  activity: 'activity_log',
  'trust-monitor': 'trust_monitor_log',
};

function setSource(doc: JsonObject, address: unknown): void {
  const s = asString(address);
  if (s === undefined) return;
  const split = splitIpPort(s);
  if (split === undefined) return;
  put(doc, 'source.ip', split.ip);
  put(doc, 'source.port', split.port);
}

function outcomeOfResult(result: unknown): string | undefined {
  const r = asString(result);
  if (r === undefined) return undefined;
  // Real records say `success`; old docs say `SUCCESS`: compare without case (notes §5.1).
  return r.toLowerCase() === 'success' ? 'success' : 'failure';
}

function authentication(doc: JsonObject, r: JsonObject): void {
  put(doc, 'event.category', ['authentication']);
  put(doc, 'event.type', ['start']);
  put(doc, 'event.outcome', outcomeOfResult(r['result']));
  put(doc, 'event.reason', r['reason']);
  put(doc, 'user.name', at(r, 'user.name'));
  put(doc, 'user.email', r['email']);
  put(doc, 'user.id', at(r, 'user.key'));
  put(doc, 'user.roles', at(r, 'user.groups'));
  setSource(doc, at(r, 'access_device.ip'));
  put(doc, 'source.geo.city_name', at(r, 'access_device.location.city'));
  put(doc, 'source.geo.country_name', at(r, 'access_device.location.country'));
  put(doc, 'source.geo.region_name', at(r, 'access_device.location.state'));
  put(doc, 'host.name', at(r, 'access_device.hostname'));
  put(doc, 'host.os.name', at(r, 'access_device.os'));
  put(doc, 'host.os.version', at(r, 'access_device.os_version'));
  put(doc, 'user_agent.name', at(r, 'access_device.browser'));
  put(doc, 'user_agent.version', at(r, 'access_device.browser_version'));
  put(doc, 'duo.security.factor', r['factor']);
  put(doc, 'duo.security.application.name', at(r, 'application.name'));
  put(doc, 'duo.security.application.key', at(r, 'application.key'));
  put(doc, 'duo.security.auth_device.name', at(r, 'auth_device.name'));
  put(doc, 'duo.security.auth_device.ip', at(r, 'auth_device.ip'));
}

function administrator(doc: JsonObject, r: JsonObject): void {
  const action = asString(r['action']);
  if (action === 'admin_login' || action === 'admin_login_error') {
    put(doc, 'event.category', ['authentication']);
    put(doc, 'event.type', ['start']);
    put(doc, 'event.outcome', action === 'admin_login' ? 'success' : 'failure');
  } else {
    put(doc, 'event.category', ['iam']);
    put(doc, 'event.type', ['admin']);
  }
  put(doc, 'event.action', action);
  put(doc, 'user.name', r['username']);
  put(doc, 'duo.security.object', r['object']);
  const description = r['description'];
  const d = parseObject(description);
  if (d !== undefined) {
    setSource(doc, d['ip_address']);
    put(doc, 'user.email', d['email']);
    put(doc, 'event.reason', d['error']);
    put(doc, 'duo.security.telephony.phone_number', d['device']);
    put(doc, 'duo.security.factor', d['factor']);
  } else {
    // Plain-text descriptions ("Starting activation process"): Elastic's event.reason.
    put(doc, 'event.reason', description);
  }
}

function telephony(doc: JsonObject, r: JsonObject): void {
  put(doc, 'event.category', ['authentication']);
  put(doc, 'event.type', ['info']);
  put(doc, 'event.reason', r['context']);
  put(doc, 'duo.security.telephony.type', r['type']);
  put(doc, 'duo.security.telephony.phone_number', r['phone']);
  put(doc, 'duo.security.telephony.credits', r['credits']);
}

function offlineEnrollment(doc: JsonObject, r: JsonObject): void {
  put(doc, 'event.category', ['authentication']);
  put(doc, 'event.type', ['info']);
  put(doc, 'event.action', r['action']);
  put(doc, 'duo.security.object', r['object']);
  put(doc, 'user.name', r['username']);
  const d = parseObject(r['description']);
  if (d !== undefined) {
    put(doc, 'user_agent.original', d['user_agent']);
    put(doc, 'host.name', d['hostname']);
    put(doc, 'duo.security.factor', d['factor']);
  }
}

/** Authentication Proxy `status`: Allow → success, Reject/Error → failure, Challenge → unknown. */
function proxyOutcome(status: unknown): string | undefined {
  const s = asString(status)?.toLowerCase();
  if (s === undefined) return undefined;
  if (s === 'allow') return 'success';
  if (s === 'reject' || s === 'error') return 'failure';
  return 'unknown';
}

function authproxy(doc: JsonObject, r: JsonObject): void {
  const outcome = proxyOutcome(r['status']);
  put(doc, 'event.category', ['authentication']);
  put(doc, 'event.type', ['start']);
  put(doc, 'event.outcome', outcome);
  // "Primary authentication" → primary_authentication, in the style of Duo's own actions.
  put(doc, 'event.action', asString(r['auth_stage'])?.toLowerCase().replace(/\s+/g, '_'));
  const msg = asString(r['msg'])?.replace(/[\s-]+$/, '');
  put(doc, 'message', msg);
  if (outcome === 'failure') put(doc, 'event.reason', msg);
  put(doc, 'user.name', r['username']);
  // LDAP events carry the bind DN instead of a username (Google SecOps maps it to the user id).
  put(doc, 'user.id', r['dn']);
  setSource(doc, r['client_ip']);
  put(doc, 'host.name', r['hostname']);
  put(doc, 'log.level', at(r, 'log_level.name'));
  put(doc, 'log.logger', r['log_namespace']);
  put(doc, 'duo.security.factor', r['factor']);
  put(doc, 'duo.security.authproxy.status', r['status']);
  put(doc, 'duo.security.authproxy.server_section', r['server_section']);
  put(doc, 'duo.security.authproxy.server_section_ikey', r['server_section_ikey']);
}

function activity(doc: JsonObject, r: JsonObject): void {
  const action = asString(r['action']);
  put(doc, 'event.category', ['iam']);
  const type = action === undefined ? 'info' : action.includes('create') ? 'creation' : action.includes('delete') ? 'deletion' : action.includes('update') ? 'change' : 'info';
  put(doc, 'event.type', [type]);
  put(doc, 'event.action', action);
  put(doc, 'user.name', at(r, 'actor.name'));
  put(doc, 'user.id', at(r, 'actor.key'));
  put(doc, 'user.target.name', at(r, 'target.name'));
  put(doc, 'user.target.id', at(r, 'target.key'));
  setSource(doc, at(r, 'access_device.ip'));
  put(doc, 'user_agent.name', at(r, 'access_device.browser'));
  put(doc, 'user_agent.version', at(r, 'access_device.browser_version'));
  put(doc, 'duo.security.object', at(r, 'target.name'));
  put(doc, 'duo.security.application.name', at(r, 'application.name'));
}

function trustMonitor(doc: JsonObject, r: JsonObject): void {
  // A Trust Monitor event is Duo's own detection, so it is an alert rather than a plain event.
  put(doc, 'event.kind', 'alert');
  put(doc, 'event.category', ['threat']);
  put(doc, 'event.type', ['indicator']);
  put(doc, 'event.action', r['type']);
  const explanations = r['explanations'];
  if (Array.isArray(explanations)) {
    const summaries = explanations.map((e) => asString(asObject(e)?.['summary'])).filter((s): s is string => s !== undefined);
    put(doc, 'event.reason', summaries.join('; '));
  }
  put(doc, 'event.url', r['triage_event_uri']);
  const auth = asObject(r['surfaced_auth']);
  put(doc, 'user.name', at(auth, 'user.name'));
  put(doc, 'user.email', auth?.['email']);
  setSource(doc, at(auth, 'access_device.ip'));
  put(doc, 'duo.security.trust_monitor.state', r['state']);
  put(doc, 'duo.security.trust_monitor.priority_event', r['priority_event']);
  put(doc, 'duo.security.trust_monitor.sekey', r['sekey']);
}

const MAPPERS: Record<LogKind, (doc: JsonObject, r: JsonObject) => void> = {
  authentication,
  administrator,
  telephony,
  'offline-enrollment': offlineEnrollment,
  authproxy,
  activity,
  'trust-monitor': trustMonitor,
};

/** The ECS document for one event. Never throws: a raw text that is not a JSON object maps to the common fields only. */
export function toEcs(ev: RelayEvent): JsonObject {
  const r = parseObject(ev.raw) ?? {};
  const doc: JsonObject = {};
  if (ev.time !== undefined) put(doc, '@timestamp', toUtcIso(ev.time));
  put(doc, 'ecs.version', ECS_VERSION);
  put(doc, 'event.kind', 'event');
  put(doc, 'event.id', ev.id);
  put(doc, 'event.module', 'duo');
  put(doc, 'event.dataset', ECS_DATASET[ev.kind]);
  put(doc, 'observer.vendor', 'Duo');
  put(doc, 'observer.product', ev.kind === 'authproxy' ? 'Duo Authentication Proxy' : 'Duo Security');
  // Cloud records carry the API host the poller added (Sekoia's observer.hostname); the proxy
  // and relayed events have the HEADER host instead.
  put(doc, 'observer.hostname', asString(r['host']) ?? ev.host);
  put(doc, 'organization.id', ev.account);
  MAPPERS[ev.kind](doc, r);
  return doc;
}
