/**
 * The Duo Admin API poller (issue 4): every log endpoint, signed, paged, rate-limited, resumable.
 * This file only wires; the work lives in the files it imports.
 */
import type { DuoApiSourceConfig } from '../../config/schema.js';
import type { Source } from '../source.js';
import { DuoApiSource } from './source.js';
import type { DuoApiContext } from './setup.js';

export { runBackfill, type BackfillContext, type BackfillResult } from './backfill.js';
export { signRequest } from './sign.js';
export type { DuoApiContext } from './setup.js';

export function createDuoApiSource(cfg: DuoApiSourceConfig, ctx: DuoApiContext): Source {
  return new DuoApiSource(cfg, ctx);
}
