/**
 * Flattening (DESIGN §3; the seed's parsed-field tables are the golden reference for names).
 *
 * - Nested keys are joined: `_` for Duo cloud logs (`auth_device_ip`, `access_device_location_city`),
 *   `__` for Authentication Proxy events (`log_level__name`, `log_level____class_uuid__`).
 * - Renames from the tables: `hostname` → `hostname2` (the proxy's own key; Devo's `hostname` column is
 *   the syslog host) and `access_device_hostname` → `access_device_hostname2`.
 * - Values come from the raw event unchanged: JSON null stays null, numbers stay numbers, booleans
 *   stay booleans. Non-finite numbers and bigints (only possible in objects handed over by code) become
 *   strings; `undefined`, functions and symbols are skipped, as JSON.stringify would.
 * - Arrays become their JSON text at `<path>`; an array of scalars also gives `<path><joiner>str`:
 *   the items joined with ", " (strings as they are, other scalars as JSON text), so `user_groups_str`
 *   reads `Duo Users, CorpHQ Users` and `[]` gives "". The JSON text at `<path>` stays exact when an
 *   item itself contains ", ".
 * - An empty object becomes `"{}"` at its path, so a key that was present never vanishes.
 * - Cloud logs also keep `access_device` and `auth_device` whole as JSON columns (the seed's `json`
 *   rows), beside their flattened leaves.
 * - Administrator / offline-enrollment `description` (a record with a string `action`):
 *   kept as the string it is (an object is kept as its JSON text). When it is a JSON object:
 *   * login records (`admin_login`, `admin_login_error`): its keys become top-level fields, as in the
 *     seed (`ip_address`, `device`, `factor`, `primary_auth_method`, `email`, `error`); those six are
 *     null when absent, as the seed shows for `email`/`error`. A key that the record itself already has
 *     goes to `description_<key>` instead, so the description can never overwrite the record.
 *   * every other action: its keys go under `description_<key>`. Outside logins the description
 *     describes the target (user_update's `email`, `status`, `name`…), not the admin who acted, so
 *     putting those at top level would mislead a SIEM rule; Devo's integration_create table shows no
 *     top-level expansion either.
 *   A description that is not a JSON object (plain text, a JSON array, over 64 KiB) stays a string.
 * - Name collisions (a literal key `a_b` beside `a: {b}`): the first one written keeps the name, later
 *   ones get `_2`, `_3`… Deterministic for the same input.
 * - Hot path: joined names are cached per (parent path, key) — Duo records repeat the same few
 *   dozen paths — so the same flat string is reused instead of concatenated and hashed per event,
 *   with the renames folded in. The cache is bounded (MAX_CACHED_PATHS); past that, names are simply
 *   concatenated, so hostile keys cost memory once and never grow it.
 * - Hostile input: nesting deeper than MAX_DEPTH keeps that subtree as JSON text; at most MAX_FIELDS
 *   fields are written, after which `flatten_truncated: true` marks the record (the raw text is kept
 *   whole on the event). JSON text that cannot be produced (nesting deep enough to exhaust the stack)
 *   becomes a short marker string. Nothing here throws for JSON input and recursion is bounded.
 */
import type { FlatRecord, FlatValue, JsonObject } from '../event.js';

export const MAX_DEPTH = 10;
export const MAX_FIELDS = 1000;
export const TRUNCATED_FIELD = 'flatten_truncated';
/** Admin descriptions longer than this are not parsed (kept as a string). */
export const MAX_DESCRIPTION_PARSE = 64 * 1024;
export const ARRAY_JOIN = ', ';
/** The fields an admin login description fills, null when absent (seed: `email`, `error`). */
export const LOGIN_DESCRIPTION_FIELDS = ['ip_address', 'device', 'factor', 'primary_auth_method', 'email', 'error'] as const;

/** Renames from the seed tables, by joined name (before collision handling). */
const RENAMES: ReadonlyMap<string, string> = new Map([
  ['hostname', 'hostname2'],
  ['access_device_hostname', 'access_device_hostname2'],
]);
const CLOUD_JSON_COLUMNS: ReadonlySet<string> = new Set(['access_device', 'auth_device']);
export const MAX_CACHED_PATHS = 20_000;

/** Joined (and renamed) names by parent path, then key; one cache per joiner. */
class PathCache {
  readonly #byParent = new Map<string, Map<string, string>>();
  #size = 0;
  constructor(readonly joiner: string) {}

  join(parent: string, key: string): string {
    let children = this.#byParent.get(parent);
    if (children === undefined) {
      if (this.#size >= MAX_CACHED_PATHS) return rename(parent + this.joiner + key);
      children = new Map();
      this.#byParent.set(parent, children);
    }
    let path = children.get(key);
    if (path === undefined) {
      path = rename(parent + this.joiner + key);
      if (this.#size < MAX_CACHED_PATHS) {
        children.set(key, path);
        this.#size++;
      }
    }
    return path;
  }
}

function rename(name: string): string {
  return RENAMES.get(name) ?? name;
}

const CLOUD_PATHS = new PathCache('_');
const PROXY_PATHS = new PathCache('__');

interface Ctx {
  out: FlatRecord;
  paths: PathCache;
  jsonColumns: ReadonlySet<string> | undefined;
  count: number;
}

type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** JSON text that never throws (stack exhaustion on hostile nesting, bigint, cycles). */
export function safeJson(v: unknown): string {
  try {
    const s = JSON.stringify(v);
    return typeof s === 'string' ? s : 'null';
  } catch (err: unknown) {
    return `[unserialisable: ${err instanceof Error ? err.name : 'error'}]`;
  }
}

/** Writes one field; `key` is final (joined and renamed) apart from collision suffixes. */
function put(ctx: Ctx, name: string, value: FlatValue): void {
  const out = ctx.out;
  if (ctx.count >= MAX_FIELDS) {
    out[TRUNCATED_FIELD] = true;
    return;
  }
  ctx.count++;
  let key = name;
  if (Object.hasOwn(out, key)) {
    let n = 2;
    while (Object.hasOwn(out, `${key}_${n}`)) n++;
    key = `${key}_${n}`;
  }
  if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  else out[key] = value;
}

function scalar(v: unknown): FlatValue | undefined {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      return Number.isFinite(v) ? v : String(v);
    case 'bigint':
      return String(v);
    default:
      return v === null ? null : undefined;
  }
}

function putArray(ctx: Ctx, path: string, arr: readonly unknown[]): void {
  put(ctx, path, safeJson(arr));
  let joined = '';
  for (let i = 0; i < arr.length; i++) {
    const item = arr[i];
    let s: string;
    if (typeof item === 'string') s = item;
    else if (item === null || typeof item === 'number' || typeof item === 'boolean') s = String(item);
    else return; // not an array of scalars: the JSON text alone
    joined = i === 0 ? s : joined + ARRAY_JOIN + s;
  }
  put(ctx, ctx.paths.join(path, 'str'), joined);
}

function putValue(ctx: Ctx, path: string, v: unknown, depth: number): void {
  if (Array.isArray(v)) {
    putArray(ctx, path, v);
    return;
  }
  if (typeof v === 'object' && v !== null) {
    if (depth >= MAX_DEPTH) {
      put(ctx, path, safeJson(v));
      return;
    }
    if (depth === 1 && ctx.jsonColumns !== undefined && ctx.jsonColumns.has(path)) put(ctx, path, safeJson(v));
    walk(ctx, v as Obj, path, depth, undefined);
    return;
  }
  const s = scalar(v);
  if (s !== undefined) put(ctx, path, s);
}

/** Flattens the keys of `obj` (at nesting `depth - 1`) under `prefix`; `skip` is left out. */
function walk(ctx: Ctx, obj: Obj, prefix: string, depth: number, skip: string | undefined): void {
  const keys = Object.keys(obj);
  if (keys.length === 0) {
    if (depth > 0) put(ctx, prefix, '{}');
    return;
  }
  for (const key of keys) {
    if (key === skip) continue;
    putValue(ctx, depth === 0 ? rename(key) : ctx.paths.join(prefix, key), obj[key], depth + 1);
  }
}

/** A JSON object parsed from a description string, or undefined (not JSON, not an object, too big). */
function parseDescription(d: string): Obj | undefined {
  if (d.length > MAX_DESCRIPTION_PARSE) return undefined;
  let i = 0;
  while (i < d.length && (d.charCodeAt(i) === 32 || d.charCodeAt(i) === 9 || d.charCodeAt(i) === 10 || d.charCodeAt(i) === 13)) i++;
  if (d.charCodeAt(i) !== 123) return undefined; // '{'
  try {
    const v: unknown = JSON.parse(d);
    return isObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function expandDescription(ctx: Ctx, record: JsonObject, action: string): void {
  const d = record.description;
  let obj: Obj | undefined;
  if (typeof d === 'string') {
    put(ctx, 'description', d);
    obj = parseDescription(d);
  } else if (isObject(d)) {
    put(ctx, 'description', safeJson(d));
    obj = d;
  } else if (d !== undefined) putValue(ctx, 'description', d, 1);
  const login = action === 'admin_login' || action === 'admin_login_error';
  if (obj !== undefined) {
    for (const key of Object.keys(obj)) {
      const top = login && !Object.hasOwn(record, key);
      putValue(ctx, top ? rename(key) : ctx.paths.join('description', key), obj[key], top ? 1 : 2);
    }
  }
  if (login) {
    for (const f of LOGIN_DESCRIPTION_FIELDS) {
      if (!Object.hasOwn(ctx.out, f) && !Object.hasOwn(record, f)) put(ctx, f, null);
    }
  }
}

function flatten(record: JsonObject, paths: PathCache, cloud: boolean): FlatRecord {
  const ctx: Ctx = { out: {}, paths, jsonColumns: cloud ? CLOUD_JSON_COLUMNS : undefined, count: 0 };
  const action = record.action;
  const withDescription = cloud && typeof action === 'string';
  walk(ctx, record, '', 0, withDescription ? 'description' : undefined);
  if (withDescription) expandDescription(ctx, record, action);
  return ctx.out;
}

/** Duo cloud logs (Admin API): `_` joiner, JSON columns, description expansion. */
export function flattenCloud(record: JsonObject): FlatRecord {
  return flatten(record, CLOUD_PATHS, true);
}

/**
 * The flattened name of `key` inside the proxy object at path `parent` ('' = top level), before
 * collision suffixes: the name `flattenProxy` gives it. proxy-fast.ts builds its layouts with it.
 */
export function proxyFieldName(parent: string, key: string): string {
  return parent === '' ? rename(key) : PROXY_PATHS.join(parent, key);
}

/** Authentication Proxy authevents: `__` joiner (Twisted's `log_level.__class_uuid__` → `log_level____class_uuid__`). */
export function flattenProxy(record: JsonObject): FlatRecord {
  return flatten(record, PROXY_PATHS, false);
}
