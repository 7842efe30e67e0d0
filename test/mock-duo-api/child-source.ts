/**
 * Child process for crash tests: runs one duo-api source whose emit appends `kind<TAB>key` lines to a
 * file and fsyncs before resolving (a durable hand-off), until it is killed.
 * argv[2]: JSON {host, ca, stateDir, out, logs, requestIntervalMs}.
 */
import { openSync, writeSync, fdatasyncSync } from 'node:fs';
import { pino } from 'pino';
import { createDuoApiSource } from '../../src/sources/duo-api/index.js';
import { duoApiSourceSchema } from '../../src/config/schema.js';
import { recordKey, type MockEndpoint } from './data.js';
import { IKEY, SKEY, UA } from './helpers.js';

interface Args {
  host: string;
  ca: string;
  stateDir: string;
  out: string;
  logs: string[];
  requestIntervalMs: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const fd = openSync(args.out, 'a');
const cfg = {
  ...duoApiSourceSchema.parse({ type: 'duo-api', host: args.host, ikey: IKEY, skey: SKEY, ca: args.ca, logs: args.logs, initial_window: '1d' }),
  request_interval_ms: args.requestIntervalMs,
  poll_interval_ms: 200,
};
const source = createDuoApiSource(cfg, { stateDir: args.stateDir, logger: pino({ level: 'warn' }, pino.destination(2)), skey: SKEY, userAgent: UA });
await source.start(async (batch) => {
  const lines = batch.map((r) => `${r.kind ?? ''}\t${recordKey((r.kind ?? '') as MockEndpoint, r.record ?? {})}\n`).join('');
  writeSync(fd, lines);
  fdatasyncSync(fd);
});
process.stdout.write('started\n');
process.on('SIGTERM', () => {
  void source.close().then(() => process.exit(0));
});
