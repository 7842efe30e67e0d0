/**
 * Sekoia.io conformance: for each of their 9 Duo parser tests, every field of `expected` that
 * Sekoia's *parser* produces must be in our ECS output with the same value (lists compared
 * order-insensitively; Sekoia's expected lists are not in source order, e.g. user.roles).
 *
 * Skipped, because Sekoia's platform (not its parser) adds them after parsing:
 * - `message`: the platform keeps the input text there (ours goes out as `message: raw`).
 * - `related.*`: filled by the platform from source.ip / user.name / observer.hostname.
 * - `source.address`: added by the platform wherever source.ip is set.
 * - offline log `user_agent.name`, `user_agent.device.name`, `user_agent.os.*`: the platform's
 *   user-agent parser (uap-core) derives them from user_agent.original, which we do emit.
 */
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { LogKind } from '../../src/event.js';
import { toEcs } from '../../src/formats/ecs.js';
import { eventFromRaw } from './event-fixture.js';

const dir = fileURLToPath(new URL('../fixtures/peers-ecs/sekoia/', import.meta.url));

const KIND_OF: Record<string, LogKind> = {
  admin_log: 'administrator',
  auth_log: 'authentication',
  telephony_log: 'telephony',
  offline_log: 'offline-enrollment',
};

const SKIP: Array<{ test?: RegExp; path: RegExp }> = [
  { path: /^message$/ },
  { path: /^related\./ },
  { path: /^source\.address$/ },
  { test: /offline/, path: /^user_agent\.(name|device\.name|os\.name|os\.version)$/ },
];

/** `{a:{b:1}}` → `[['a.b', 1]]`; arrays are leaves. */
function leaves(v: unknown, prefix = ''): Array<[string, unknown]> {
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    return Object.entries(v).flatMap(([k, x]) => leaves(x, prefix === '' ? k : prefix + '.' + k));
  }
  return [[prefix, v]];
}

function get(doc: unknown, path: string): unknown {
  let cur = doc;
  for (const k of path.split('.')) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

function sorted(v: unknown): unknown {
  return Array.isArray(v) ? [...(v as unknown[])].map(String).sort() : v;
}

const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
t.equal(files.length, 9, 'all 9 Sekoia tests are present');

for (const file of files) {
  t.test(file, async (t) => {
    const spec = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { input: { message: string }; expected: Record<string, unknown> };
    const raw = spec.input.message;
    const eventtype = (JSON.parse(raw) as { eventtype: string }).eventtype;
    const kind = KIND_OF[eventtype];
    if (kind === undefined) throw new Error(`Unknown eventtype ${eventtype} in ${file}.`);
    const ecs = toEcs(eventFromRaw(kind, raw));
    let compared = 0;
    for (const [path, want] of leaves(spec.expected)) {
      if (SKIP.some((s) => s.path.test(path) && (s.test === undefined || s.test.test(file)))) continue;
      compared++;
      t.same(sorted(get(ecs, path)), sorted(want), path);
    }
    t.ok(compared >= 5, `compared ${compared} fields`);
    t.equal(get(ecs, 'ecs.version'), '8.17.0');
    t.equal(get(ecs, 'event.kind'), 'event');
    t.ok(typeof get(ecs, 'event.id') === 'string');
  });
}
