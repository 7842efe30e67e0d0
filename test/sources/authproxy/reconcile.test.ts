/** The identity rules of reconcile.ts on plain data (no files). */
import t from 'tap';
import { hashPrefix } from '../../../src/sources/authproxy/fingerprint.js';
import { reconcile, type KnownFile, type SeenFile } from '../../../src/sources/authproxy/reconcile.js';

const A = Buffer.from('{"timestamp":"2024-05-14T09:30:00.000001Z","msg":"a"}\n');
const B = Buffer.from('{"timestamp":"2024-05-14T09:31:00.000002Z","msg":"b"}\n');

function known(key: string, head: Buffer, offset: number, extra: Partial<KnownFile> = {}): KnownFile {
  return { key, fp: hashPrefix(head, head.length), fpLen: head.length, offset, end: offset, ...extra };
}
const seen = (key: string, suffix: number, size: number, head: Buffer | undefined): SeenFile => ({ key, suffix, size, head });

t.test('same inode and prefix: same file; unchanged stat needs no head', async (t) => {
  const k = known('1:10', A, 100);
  const r = reconcile([k], [seen('1:10', 0, 200, A)], { startup: false });
  t.same(r.decisions, [{ kind: 'same', known: k }]);
  const r2 = reconcile([k], [seen('1:10', 1, 200, undefined)], { startup: false });
  t.equal(r2.decisions[0]?.kind, 'same');
});

t.test('same inode, other content or shorter than read: replaced', async (t) => {
  const k = known('1:10', A, 100);
  t.equal(reconcile([k], [seen('1:10', 0, 300, B)], { startup: false }).decisions[0]?.kind, 'replaced', 'inode reuse');
  t.equal(reconcile([k], [seen('1:10', 0, 50, A)], { startup: false }).decisions[0]?.kind, 'replaced', 'truncated below the offset');
  t.equal(reconcile([k], [seen('1:10', 0, 10, A.subarray(0, 10))], { startup: false }).decisions[0]?.kind, 'replaced', 'shorter than the fingerprint');
});

t.test('a short fingerprint matches a file that grew past it', async (t) => {
  const short = A.subarray(0, 5);
  const k = known('1:10', short, 5);
  t.equal(reconcile([k], [seen('1:10', 1, 400, A)], { startup: true }).decisions[0]?.kind, 'same');
});

t.test('an unknown file is new; the first-run policy is the caller\'s', async (t) => {
  const r = reconcile([], [seen('1:11', 2, 10, A), seen('1:12', 0, 10, B)], { startup: true });
  t.same(r.decisions, [{ kind: 'new' }, { kind: 'new' }]);
});

t.test('truncated file with a copy at .1: the copy resumes at the known offset', async (t) => {
  const k = known('1:10', A, 100);
  const r = reconcile([k], [seen('1:20', 1, 150, A), seen('1:10', 0, 30, B)], { startup: false });
  t.same(r.decisions, [{ kind: 'copy', of: k, offset: 100 }, { kind: 'replaced', known: k }]);
});

t.test('a copy shorter than the offset counts as read', async (t) => {
  const k = known('1:10', A, 100);
  const r = reconcile([k], [seen('1:20', 1, 80, A), seen('1:10', 0, 30, B)], { startup: false });
  t.same(r.decisions[0], { kind: 'copy', of: k, offset: 80 });
});

t.test('at startup, a vanished known file resumes from its copy; not while running', async (t) => {
  const k = known('1:10', A, 100);
  const r = reconcile([k], [seen('1:20', 1, 150, A)], { startup: true });
  t.same(r.decisions, [{ kind: 'copy', of: k, offset: 100 }]);
  t.same(r.unmatched, []);
  const r2 = reconcile([k], [seen('1:20', 1, 150, A)], { startup: false });
  t.same(r2.decisions, [{ kind: 'new' }], 'while running, a file that vanished earlier has no copy');
  t.same(r2.unmatched, [k]);
});

t.test('a copy is never taken at the live name, nor for an empty fingerprint', async (t) => {
  const k = known('1:10', A, 100);
  const r = reconcile([k], [seen('1:20', 0, 150, A)], { startup: true });
  t.same(r.decisions, [{ kind: 'new' }], 'delete+recreate with the same first line is a new file');
  t.same(r.unmatched, [k]);
  const empty = known('1:11', Buffer.alloc(0), 0);
  const r2 = reconcile([empty], [seen('1:21', 1, 150, A)], { startup: true });
  t.same(r2.decisions, [{ kind: 'new' }]);
});

t.test('identical prefixes: an older unknown file is a copy of a present one, a newer one is new', async (t) => {
  const k = known('1:10', A, 100);
  const older = reconcile([k], [seen('1:30', 2, 90, A), seen('1:10', 1, 120, A)], { startup: false });
  t.same(older.decisions[0], { kind: 'copy', of: k, offset: 90 });
  const newer = reconcile([k], [seen('1:10', 1, 120, A), seen('1:30', 0, 90, A)], { startup: false });
  t.same(newer.decisions[1], { kind: 'new' });
});

t.test('a copy recognised earlier is rewound when its original is truncated later', async (t) => {
  const orig = known('1:10', A, 100, { end: 100 });
  const copy = known('1:20', A, 150, { copyOf: '1:10' });
  const r = reconcile([orig, copy], [seen('1:20', 1, 150, undefined), seen('1:10', 0, 20, B)], { startup: false });
  t.same(r.decisions, [{ kind: 'same', known: copy }, { kind: 'replaced', known: orig }]);
  t.same(r.rewinds, [{ known: copy, offset: 100 }]);
});

t.test('a copy first seen half-written (size 0) still resumes at the original\'s offset', async (t) => {
  const orig = known('1:10', A, 100, { end: 100 });
  const copy = known('1:20', A, 0, { copyOf: '1:10' });
  const r = reconcile([orig, copy], [seen('1:20', 1, 150, A), seen('1:10', 0, 20, B)], { startup: false });
  t.same(r.rewinds, [{ known: copy, offset: 100 }]);
  const short = reconcile([orig, copy], [seen('1:20', 1, 60, A), seen('1:10', 0, 20, B)], { startup: false });
  t.same(short.rewinds, [{ known: copy, offset: 60 }], 'never past the copy\'s end');
});

t.test('known files not seen are unmatched', async (t) => {
  const k = known('1:10', A, 100);
  t.same(reconcile([k], [], { startup: false }).unmatched, [k]);
  t.same(reconcile([k], [], { startup: true }).unmatched, [k]);
});
