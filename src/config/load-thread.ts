/**
 * loadConfig (load.ts) run on a worker thread that ends once the config is read: the relay keeps
 * the validated config and none of the modules that validated it (load-worker.ts). Same results
 * and the same ConfigError as loadConfig.
 */
import { Worker } from 'node:worker_threads';
import type { LoadedConfig } from './load.js';
import { ConfigError, RelayError, ErrorCodes } from '../errors.js';

export type LoadReply = { ok: true; loaded: LoadedConfig } | { ok: false; problems: string[] } | { ok: false; message: string };

/** Reading a config takes milliseconds; a thread that has not answered by then is stuck. */
const LOAD_TIMEOUT_MS = 30_000;

// The compiled worker next to this module; under a TypeScript loader (tests) the build's.
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? '../../dist/src/config/load-worker.js' : './load-worker.js', import.meta.url);

export async function loadConfigOffThread(file: string): Promise<LoadedConfig> {
  const w = new Worker(WORKER_URL, { workerData: { file } });
  let timer: NodeJS.Timeout | undefined;
  try {
    const reply = await new Promise<LoadReply>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
      w.once('exit', (code) => reject(new RelayError(ErrorCodes.INTERNAL, `The config loader thread exited (code ${code}) without an answer for ${file}.`)));
      timer = setTimeout(() => reject(new RelayError(ErrorCodes.INTERNAL, `The config loader thread did not answer within ${LOAD_TIMEOUT_MS} ms for ${file}.`)), LOAD_TIMEOUT_MS);
    });
    if (reply.ok) return reply.loaded;
    if ('problems' in reply) throw new ConfigError(file, reply.problems);
    throw new Error(reply.message);
  } finally {
    clearTimeout(timer);
    void w.terminate();
  }
}
