/**
 * What `run` and `backfill` share: the options both accept, the file reads and objects both need
 * (lock, cursors, client), and the lanes for one account.
 */
import { readFile } from 'node:fs/promises';
import type { DuoApiSourceConfig } from '../../config/schema.js';
import type { Logger } from '../../ops/logger.js';
import type { Emit } from '../source.js';
import { RelayError, ErrorCodes, errorMessage } from '../../errors.js';
import { DuoClient } from './client.js';
import { CursorStore, cursorKey, type Cursor } from './cursor.js';
import { HostLock } from './lock.js';
import { endpointFor } from './endpoints.js';
import { Lane } from './lane.js';
import { hostWithoutPort } from './accounts.js';
import type { Target } from './drain.js';

export interface DuoApiContext {
  stateDir: string;
  logger: Logger;
  /** Already resolved by config loading; never logged. */
  skey: string;
  userAgent: string;
  /** Test-only clock for Date headers and windows. @default Date.now */
  now?: () => number;
  /** Environment for HTTPS_PROXY / NO_PROXY. @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Jitter source for backoffs (tests). @default Math.random */
  random?: () => number;
}

export interface Opened {
  lock: HostLock;
  cursors: CursorStore;
  client: DuoClient;
}

/** Takes the host lock, loads the cursors and builds the client; releases the lock if any step fails. */
export async function openHost(cfg: DuoApiSourceConfig, ctx: DuoApiContext): Promise<Opened> {
  const lock = new HostLock(ctx.stateDir, cfg.host);
  await lock.acquire();
  try {
    const cursors = new CursorStore(ctx.stateDir, cfg.host);
    await cursors.load();
    let ca: string | undefined;
    if (cfg.ca !== undefined) {
      try {
        ca = await readFile(cfg.ca, 'utf8');
      } catch (err: unknown) {
        throw new RelayError(ErrorCodes.CONFIG, `Cannot read the CA file ${cfg.ca} for ${cfg.host}: ${errorMessage(err)}; fix the ca path.`, { cause: err });
      }
    }
    const client = new DuoClient({
      ikey: cfg.ikey,
      skey: ctx.skey,
      sigVersion: cfg.sig_version,
      userAgent: ctx.userAgent,
      ca,
      proxy: cfg.proxy,
      connectTimeoutMs: cfg.connect_timeout_ms,
      headersTimeoutMs: cfg.headers_timeout_ms,
      bodyTimeoutMs: cfg.body_timeout_ms,
      ...(ctx.now !== undefined ? { now: ctx.now } : {}),
      ...(ctx.env !== undefined ? { env: ctx.env } : {}),
    });
    await client.ready();
    return { lock, cursors, client };
  } catch (err: unknown) {
    await lock.release();
    throw err;
  }
}

export function targetFor(account: string | null, host: string): Target {
  return { account, host, recordHost: hostWithoutPort(host) };
}

/** One lane per configured log for this account. */
export function lanesFor(
  cfg: DuoApiSourceConfig,
  ctx: DuoApiContext,
  opened: Opened,
  target: Target,
  emit: Emit,
  start: (key: string) => Cursor,
  commitIf?: (stored: Cursor | undefined, next: Cursor) => boolean,
): Lane[] {
  const now = ctx.now ?? Date.now;
  // A log listed twice would be two lanes writing one cursor.
  return [...new Set(cfg.logs)].map((log) => {
    const spec = endpointFor(log, cfg.telephony_version);
    const key = cursorKey(target.account, spec.log);
    return new Lane({
      spec,
      target,
      client: opened.client,
      cursors: opened.cursors,
      emit,
      now,
      requestIntervalMs: cfg.request_interval_ms,
      logger: ctx.logger.child({ endpoint: spec.log, ...(target.account !== null ? { account: target.account } : {}) }),
      start: start(key),
      ...(commitIf !== undefined ? { commitIf } : {}),
    });
  });
}
