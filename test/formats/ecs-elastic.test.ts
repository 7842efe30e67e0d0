/**
 * Elastic `cisco_duo` cross-check: on the core ECS fields where Elastic and Sekoia agree, our
 * output must match Elastic's expected documents event by event.
 *
 * Compared: authentication event.outcome, event.reason, source.ip, source.port, user.name,
 * user.email, user.id, user_agent.name/version; administrator event.action, user.name and
 * (plain-text descriptions) event.reason; offline user.name; telephony v2 event.id and the
 * @timestamp instant (Elastic keeps milliseconds).
 * Not compared (peers disagree, notes/normalization.md §5; we follow Sekoia): auth event.type
 * (`start` vs `info`), access-device OS (`host.os` vs `user_agent.os`), admin event.outcome
 * (Elastic defaults to success), admin user.email / user.changes (Elastic maps per action),
 * admin category/type lists, @timestamp of auth/admin (Elastic uses epoch seconds, losing the
 * fraction). Elastic's GeoIP/ASN enrichment comes from its test databases and is ignored.
 */
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { LogKind } from '../../src/event.js';
import { toEcs } from '../../src/formats/ecs.js';
import { eventFromRaw } from './event-fixture.js';

const base = fileURLToPath(new URL('../fixtures/peers-ecs/elastic/', import.meta.url));

function get(doc: unknown, path: string): unknown {
  let cur = doc;
  for (const k of path.split('.')) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

function load(stream: string, file: string): Array<{ line: string; expected: Record<string, unknown> }> {
  const lines = readFileSync(`${base}${stream}/${file}`, 'utf8').split('\n').filter((l) => l.trim() !== '');
  const expected = (JSON.parse(readFileSync(`${base}${stream}/${file}-expected.json`, 'utf8')) as { expected: Array<Record<string, unknown>> }).expected;
  if (lines.length !== expected.length) throw new Error(`${stream}: ${lines.length} inputs but ${expected.length} expected documents.`);
  return lines.map((line, i) => ({ line, expected: expected[i] ?? {} }));
}

function compare(t: Test, kind: LogKind, stream: string, file: string, paths: string[], minCompared: number): void {
  let compared = 0;
  for (const [i, { line, expected }] of load(stream, file).entries()) {
    const ecs = toEcs(eventFromRaw(kind, line));
    for (const p of paths) {
      const want = get(expected, p);
      // Elastic drops empty values; so do we. Absent on their side must be absent on ours.
      t.same(get(ecs, p), want, `${stream} #${i} ${p}`);
      if (want !== undefined) compared++;
    }
  }
  t.ok(compared >= minCompared, `${stream}: ${compared} non-empty values compared`);
}

t.test('authentication', async (t) => {
  compare(t, 'authentication', 'auth', 'test-auth.log', ['event.outcome', 'event.reason', 'source.ip', 'source.port', 'user.name', 'user.email', 'user.id', 'user_agent.name', 'user_agent.version'], 100);
});

t.test('administrator', async (t) => {
  compare(t, 'administrator', 'admin', 'test-admin.log', ['event.action', 'user.name'], 15);
  // Plain-text descriptions: Elastic puts the text in event.reason, and so do we.
  for (const { line, expected } of load('admin', 'test-admin.log')) {
    const reason = get(expected, 'event.reason');
    if (reason !== undefined) t.equal(get(toEcs(eventFromRaw('administrator', line)), 'event.reason'), reason, 'event.reason from a plain-text description');
  }
  // A malformed isotimestamp ("2021-07-20T11: 41: 31+00: 00") must not break mapping: no @timestamp.
  const bad = load('admin', 'test-admin.log')[0];
  t.ok(bad !== undefined);
  const ecs = toEcs(eventFromRaw('administrator', bad?.line ?? '{}'));
  t.equal(get(ecs, '@timestamp'), undefined, 'malformed time gives no @timestamp');
  t.equal(get(ecs, 'event.action'), 'activation_begin');
});

t.test('offline enrollment', async (t) => {
  compare(t, 'offline-enrollment', 'offline_enrollment', 'test-offline-enrollment.log', ['user.name'], 1);
});

t.test('telephony v2', async (t) => {
  compare(t, 'telephony', 'telephony_v2', 'test-telephony-v2.log', ['event.id'], 3);
  for (const { line, expected } of load('telephony_v2', 'test-telephony-v2.log')) {
    const ours = get(toEcs(eventFromRaw('telephony', line)), '@timestamp');
    t.equal(Date.parse(String(ours)), Date.parse(String(get(expected, '@timestamp'))), 'same instant to the millisecond');
  }
});
