/**
 * The config loader as a short-lived worker thread (load-thread.ts). The validator and the YAML
 * parser are needed once, at start-up; loaded here, their code and heap go away with the thread
 * instead of staying in a relay that runs for years (about 10 MB).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadConfig } from './load.js';
import { ConfigError } from '../errors.js';
import type { LoadReply } from './load-thread.js';

const port = parentPort;
if (port === null) throw new Error('load-worker.js runs as a worker thread (config/load-thread.ts starts it).');
const { file } = workerData as { file: string };

let reply: LoadReply;
try {
  reply = { ok: true, loaded: await loadConfig(file) };
} catch (err: unknown) {
  reply = err instanceof ConfigError ? { ok: false, problems: [...err.problems] } : { ok: false, message: err instanceof Error ? err.message : String(err) };
}
port.postMessage(reply);
