/**
 * Small helpers for building ECS documents from untrusted Duo JSON: every value is narrowed
 * before use, and null / empty values are never emitted (Sekoia and Elastic both drop them).
 */
import { isIP } from 'node:net';
import type { JsonObject } from '../event.js';

export function asObject(v: unknown): JsonObject | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as JsonObject) : undefined;
}

/** A non-empty string, else undefined. */
export function asString(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/** A JSON object parsed from text, or undefined when the text is not one (never throws). */
export function parseObject(text: unknown): JsonObject | undefined {
  if (typeof text !== 'string') return undefined;
  // Most descriptions that are not JSON are plain sentences: skip the throw-and-catch for them.
  const t = text.trimStart();
  if (t.charCodeAt(0) !== 123 /* { */) return undefined;
  try {
    return asObject(JSON.parse(t) as unknown);
  } catch {
    return undefined;
  }
}

/** Follows `a.b.c` through nested objects. */
export function at(root: JsonObject | undefined, path: string): unknown {
  let cur: unknown = root;
  for (const key of path.split('.')) {
    const o = asObject(cur);
    if (o === undefined) return undefined;
    cur = o[key];
  }
  return cur;
}

function keep(v: unknown): unknown {
  if (v === null || v === undefined || v === '') return undefined;
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (Array.isArray(v)) {
    const items = v.filter((x): x is string | number | boolean => (typeof x === 'string' && x.length > 0) || typeof x === 'number' || typeof x === 'boolean');
    return items.length > 0 ? items : undefined;
  }
  return undefined;
}

/** Sets `doc.a.b.c = value`, creating objects on the way; null, '', [] and objects are skipped. */
export function put(doc: JsonObject, path: string, value: unknown): void {
  const v = keep(value);
  if (v === undefined) return;
  const keys = path.split('.');
  let cur = doc;
  for (let i = 0; i < keys.length - 1; i++) {
    const k = keys[i] as string;
    let next = asObject(cur[k]);
    if (next === undefined) {
      next = {};
      cur[k] = next;
    }
    cur = next;
  }
  cur[keys[keys.length - 1] as string] = v;
}

/**
 * Splits an address that may carry a port, the forms Elastic's pipeline accepts: `v4:port`,
 * `[v6]:port`, a full 8-group `v6:port`, and `v6` followed by ` port N`, `pN`, `#N` or `.N`.
 * Returns undefined when no valid IP results (ECS `source.ip` must be an IP).
 */
export function splitIpPort(s: string): { ip: string; port?: number } | undefined {
  if (isIP(s) !== 0) return { ip: s };
  const port = (ip: string, p: string): { ip: string; port?: number } | undefined => {
    const n = Number(p);
    if (isIP(ip) === 0 || !/^\d{1,5}$/.test(p) || n > 65535) return undefined;
    return { ip, port: n };
  };
  if (s.startsWith('[')) {
    const close = s.indexOf(']:');
    return close > 0 ? port(s.slice(1, close), s.slice(close + 2)) : undefined;
  }
  const m = /^([0-9A-Fa-f:.]+?)(?: port |p|#|\.|:)(\d{1,5})$/.exec(s);
  if (m === null) return undefined;
  return port(m[1] ?? '', m[2] ?? '');
}
