/**
 * The Authentication Proxy source: tails `authevents.log` (JSON lines) and its rotated siblings.
 * Parts: discovery.ts (names → files), fingerprint.ts (identity), reconcile.ts (which file is
 * which after a rotation), line-reader.ts (bytes → lines with offsets), checkpoint.ts (durable
 * offsets), start-policy.ts (first run, corrupt checkpoint), watcher.ts (wake-up hint),
 * tracker.ts (the known files and their offsets), tailer.ts (the loop that ties them together).
 */
import type { DeadLetter } from '../../event.js';
import type { AuthproxySourceConfig } from '../../config/schema.js';
import type { Logger } from '../../ops/logger.js';
import type { Source } from '../source.js';
import { AuthproxyTailer } from './tailer.js';

export { checkpointPath } from './checkpoint.js';
export { QUEUED_BATCH_LINES, DIRECT_BATCH_LINES } from './tailer.js';

/**
 * Builds the source. `ctx.hostname` is the HEADER hostname unless `cfg.hostname` overrides it.
 * Each record: `text` = one line (no LF, one trailing CR dropped, invalid UTF-8 as U+FFFD; empty
 * lines skipped), `kind: 'authproxy'`, `position: "<cfg.path>@<dev>:<ino>:<line start offset>"`
 * (the configured path, so a line keeps its position after its file is renamed to `.1`).
 */
export function createAuthproxySource(
  cfg: AuthproxySourceConfig,
  ctx: { stateDir: string; logger: Logger; deadLetter: (d: DeadLetter) => void; hostname: string },
): Source {
  return new AuthproxyTailer(cfg, ctx);
}
