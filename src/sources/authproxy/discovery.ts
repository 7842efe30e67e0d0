/**
 * Finds the live log and its rotated siblings by name: `<path>`, `<path>.1` … `<path>.N`
 * (Twisted `LogFile`: a higher suffix is an older file). Only `stat`s by path: identity and
 * order come from here, reading goes through file handles elsewhere.
 */
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { systemCode } from '../../errors.js';
import { fileKey } from './fingerprint.js';

/** A regular file seen at one of the watched names during one scan. */
export interface Candidate {
  path: string;
  /** 0 = the live file, k = `<path>.k`. */
  suffix: number;
  key: string;
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/** Why nothing could be listed: a clear reason for the operator, logged once per streak. */
export interface DiscoveryProblem {
  /** `dir-missing`, `dir-unreadable`, `not-a-directory`, `io`. */
  kind: 'dir-missing' | 'dir-unreadable' | 'not-a-directory' | 'io';
  message: string;
}

export interface Discovery {
  /** Oldest first (highest suffix first), the live file last; one entry per `dev:ino`. */
  candidates: Candidate[];
  /** Set when the directory itself cannot be used; `candidates` is then empty. */
  problem: DiscoveryProblem | undefined;
}

type StatOutcome = { ok: true; c: Candidate | undefined } | { ok: false; code: string | undefined; err: unknown };

async function statCandidate(path: string, suffix: number): Promise<StatOutcome> {
  try {
    const st = await stat(path, { bigint: true });
    if (!st.isFile()) return { ok: true, c: undefined };
    return {
      ok: true,
      c: { path, suffix, key: fileKey(st.dev, st.ino), size: Number(st.size), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs },
    };
  } catch (err: unknown) {
    const code = systemCode(err);
    if (code === 'ENOENT') return { ok: true, c: undefined };
    return { ok: false, code, err };
  }
}

async function explainMissing(path: string): Promise<DiscoveryProblem | undefined> {
  const dir = dirname(path);
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) return { kind: 'not-a-directory', message: `${dir} is not a directory` };
    return undefined;
  } catch (err: unknown) {
    const code = systemCode(err);
    if (code === 'ENOENT') return { kind: 'dir-missing', message: `the log directory ${dir} does not exist (yet)` };
    if (code === 'ENOTDIR') return { kind: 'not-a-directory', message: `a component of ${dir} is not a directory` };
    if (code === 'EACCES' || code === 'EPERM') {
      return { kind: 'dir-unreadable', message: `the log directory ${dir} is not accessible to this user (${code}); grant read and search rights, e.g. add the relay user to the proxy's log group` };
    }
    return { kind: 'io', message: `cannot stat ${dir}: ${code ?? String(err)}` };
  }
}

/** Lists the live file and `.1`…`.maxRotated`. Never throws: problems come back as `problem`. */
export async function discover(path: string, maxRotated: number): Promise<Discovery> {
  const names: Promise<StatOutcome>[] = [];
  for (let i = 0; i <= maxRotated; i++) names.push(statCandidate(i === 0 ? path : `${path}.${i}`, i));
  const outcomes = await Promise.all(names);
  const seen = new Set<string>();
  const live: Candidate[] = [];
  for (const o of outcomes) {
    if (!o.ok) {
      if (o.code === 'EACCES' || o.code === 'EPERM') {
        return { candidates: [], problem: { kind: 'dir-unreadable', message: `cannot stat files in ${dirname(path)} (${o.code}); grant the relay user read and search rights on the log directory` } };
      }
      if (o.code === 'ENOTDIR') return { candidates: [], problem: { kind: 'not-a-directory', message: `a component of ${dirname(path)} is not a directory` } };
      return { candidates: [], problem: { kind: 'io', message: `cannot stat ${path}: ${o.code ?? String(o.err)}` } };
    }
    // A rotation during the scan can show one file under two names: keep its newest name.
    if (o.c !== undefined && !seen.has(o.c.key)) {
      seen.add(o.c.key);
      live.push(o.c);
    }
  }
  if (live.length === 0) {
    const problem = await explainMissing(path);
    if (problem !== undefined) return { candidates: [], problem };
  }
  live.sort((a, b) => b.suffix - a.suffix);
  return { candidates: live, problem: undefined };
}
