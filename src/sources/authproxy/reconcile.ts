/**
 * Matches the files the tailer knows (from its checkpoint, or from the previous scan) with the
 * files seen now. Pure: no I/O, so every rotation case is unit-tested on plain data.
 *
 * Rules, in order:
 * 1. Same `dev:ino` and the recorded prefix still hashes the same and the file is not shorter
 *    than what was read: the same file (`same`). A seen file whose stat did not change comes
 *    without a head and is trusted.
 * 2. Same `dev:ino` but other content, or shorter than what was read: truncated in place
 *    (copytruncate) or the inode was reused by a new file (`replaced`, read again from 0).
 * 3. An unknown file at a rotated name (suffix ≥ 1) whose prefix matches a known file is a copy
 *    of it (logrotate `copytruncate`, or a file moved across devices):
 *    - of a file that was just `replaced` (or, at startup, is gone): the copy holds the bytes we
 *      had not read yet, so reading resumes there at the known offset (`copy`);
 *    - of a known file that is still present at a newer position: the original still holds
 *      the bytes, so the copy counts as read (`copy` at its size) and shadows the original
 *      (the tailer skips its growth) until the original is truncated; then it resumes at the
 *      original's offset (`rewinds`), whatever its size was when first seen (a `cp` in progress).
 *    An unknown file at a *newer* position than the known file with the same prefix is a new
 *    file that merely starts with the same line (two files with identical first lines).
 * 4. Anything else is `new` (read from 0, or per the first-run policy).
 */
import { prefixMatches } from './fingerprint.js';

export interface KnownFile {
  key: string;
  /** SHA-256 hex of the first `fpLen` bytes. */
  fp: string;
  fpLen: number;
  /** First byte not yet handed off (resume point). */
  offset: number;
  /** Bytes already read (≥ offset when a line fragment is held); a smaller file was truncated. */
  end: number;
  /** Key of the file this one is a copy of, when it was recognised as a copy. */
  copyOf?: string | undefined;
}

export interface SeenFile {
  key: string;
  /** 0 = live, k = `.k`. */
  suffix: number;
  size: number;
  /** Up to `fingerprint_bytes` bytes from the start; undefined = stat unchanged since last verified. */
  head: Buffer | undefined;
}

export type Decision =
  | { kind: 'same'; known: KnownFile }
  | { kind: 'replaced'; known: KnownFile }
  | { kind: 'copy'; of: KnownFile; offset: number }
  | { kind: 'new' };

export interface Reconciled {
  /** One decision per seen file, same order. */
  decisions: Decision[];
  /** Known copies that shadowed an original now truncated: they resume at the original's offset. */
  rewinds: { known: KnownFile; offset: number }[];
  /** Known files not seen, with no copy either (at startup: gone while the relay was stopped). */
  unmatched: KnownFile[];
}

export function reconcile(known: readonly KnownFile[], seen: readonly SeenFile[], opts: { startup: boolean }): Reconciled {
  const byKey = new Map<string, KnownFile>();
  for (const k of known) byKey.set(k.key, k);
  const decisions: (Decision | undefined)[] = seen.map(() => undefined);
  const suffixOf = new Map<KnownFile, number>();
  const replaced: KnownFile[] = [];
  const matched = new Set<KnownFile>();

  // Rules 1 and 2: identity by dev:ino, checked against content.
  seen.forEach((s, i) => {
    const k = byKey.get(s.key);
    if (k === undefined) return;
    matched.add(k);
    const intact = s.head === undefined || (prefixMatches(s.head, k.fpLen, k.fp) && s.size >= k.end);
    if (intact) {
      decisions[i] = { kind: 'same', known: k };
      suffixOf.set(k, s.suffix);
    } else {
      decisions[i] = { kind: 'replaced', known: k };
      replaced.push(k);
    }
  });

  // Rule 3a: the unread rest of a truncated (or, at startup, vanished) file lives on in a copy.
  const gone = opts.startup ? known.filter((k) => !matched.has(k)) : [];
  const rewinds: { known: KnownFile; offset: number }[] = [];
  const unmatched: KnownFile[] = [];
  for (const k of [...replaced, ...gone]) {
    let best = -1;
    // An empty prefix matches everything: no evidence of a copy.
    if (k.fpLen === 0) {
      if (!matched.has(k)) unmatched.push(k);
      continue;
    }
    seen.forEach((s, i) => {
      if (decisions[i] !== undefined || s.suffix === 0 || s.head === undefined) return;
      if (!prefixMatches(s.head, k.fpLen, k.fp)) return;
      if (best === -1 || s.suffix < (seen[best]?.suffix ?? Infinity)) best = i;
    });
    const s = best === -1 ? undefined : seen[best];
    if (s !== undefined) decisions[best] = { kind: 'copy', of: k, offset: Math.min(k.offset, s.size) };
    // A copy found in an earlier scan (before the truncation showed) shadowed the original:
    // it now holds the unread rest, from where the original was left.
    let shadows = 0;
    for (const c of known) {
      if (c.copyOf !== k.key) continue;
      const cs = seen.find((x) => x.key === c.key);
      if (cs === undefined) continue;
      rewinds.push({ known: c, offset: Math.min(k.offset, cs.size) });
      shadows++;
    }
    if (s === undefined && shadows === 0 && !matched.has(k)) unmatched.push(k);
  }
  if (!opts.startup) for (const k of known) if (!matched.has(k)) unmatched.push(k);

  // Rule 3b: an unknown older file with the prefix of a present, newer known file is a copy of it.
  seen.forEach((s, i) => {
    if (decisions[i] !== undefined) return;
    if (s.suffix > 0 && s.head !== undefined) {
      for (const [k, ks] of suffixOf) {
        if (ks < s.suffix && k.fpLen > 0 && prefixMatches(s.head, k.fpLen, k.fp)) {
          decisions[i] = { kind: 'copy', of: k, offset: s.size };
          return;
        }
      }
    }
    decisions[i] = { kind: 'new' };
  });

  return { decisions: decisions.map((d) => d ?? { kind: 'new' }), rewinds, unmatched };
}
