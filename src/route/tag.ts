/**
 * Devo-style tags (DESIGN §2, seed `devo-auth-duo-tags.txt`): the RFC 5424 APP-NAME.
 * Administrator records whose `action` is `admin_login` or `admin_login_error` get the `…login`
 * tag, every other administrator record the `…events` one. Each tag can be overridden in config
 * (`tags:`, keys as in `TagOverrides`), e.g. `authproxy: auth.duo.authenticationProxy.events`.
 */
import type { JsonObject, LogKind } from '../event.js';
import type { TagOverrides } from '../config/schema.js';

export type TagKey = keyof TagOverrides;
export type TagTable = Readonly<Record<TagKey, string>>;

export const DEFAULT_TAGS: TagTable = {
  administrator_login: 'auth.duo.administrator.login',
  administrator: 'auth.duo.administrator.events',
  authentication: 'auth.duo.authentication.events',
  telephony: 'auth.duo.telephony.events',
  authproxy: 'auth.duo.authentication-proxy.events',
  'offline-enrollment': 'auth.duo.offline-enrollment.events',
  activity: 'auth.duo.activity.events',
  'trust-monitor': 'auth.duo.trust-monitor.events',
};

/** Every LogKind is also the name of its TagOverrides key; `administrator_login` is the extra one. */
const TAG_KEY: Readonly<Record<LogKind, TagKey>> = {
  authproxy: 'authproxy',
  administrator: 'administrator',
  authentication: 'authentication',
  telephony: 'telephony',
  'offline-enrollment': 'offline-enrollment',
  activity: 'activity',
  'trust-monitor': 'trust-monitor',
};

export function isAdminLogin(record: JsonObject): boolean {
  const a = record.action;
  return a === 'admin_login' || a === 'admin_login_error';
}

/** The defaults with the overrides applied; computed once per router. */
export function resolveTags(overrides?: TagOverrides): TagTable {
  if (overrides === undefined) return DEFAULT_TAGS;
  const out = { ...DEFAULT_TAGS };
  for (const key of Object.keys(DEFAULT_TAGS) as TagKey[]) {
    const v = overrides[key];
    if (typeof v === 'string' && v !== '') out[key] = v;
  }
  return out;
}

/** The tag of one record from an already resolved table (the router's hot path). */
export function tagFromTable(table: TagTable, kind: LogKind, record: JsonObject): string {
  if (kind === 'administrator' && isAdminLogin(record)) return table.administrator_login;
  return table[TAG_KEY[kind]];
}

export function tagFor(kind: LogKind, record: JsonObject, overrides?: TagOverrides): string {
  const key: TagKey = kind === 'administrator' && isAdminLogin(record) ? 'administrator_login' : TAG_KEY[kind];
  const v = overrides?.[key];
  return typeof v === 'string' && v !== '' ? v : DEFAULT_TAGS[key];
}
