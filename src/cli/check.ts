import type { LoadedConfig } from '../config/load.js';
import type { RelayEvent } from '../event.js';
import type { Logger } from '../ops/logger.js';
import type { Io } from './context.js';
import { buildDestinations } from './build.js';
import { errorMessage } from '../errors.js';
import { SOFTWARE, VERSION } from '../version.js';
import { hostname } from 'node:os';

/** `check-config` succeeded: summarise what would run. */
export function describeConfig(loaded: LoadedConfig, io: Io): number {
  const { config } = loaded;
  io.out(`${loaded.file}: OK`);
  for (const s of config.sources) io.out(`  source      ${s.type}${s.type === 'authproxy' ? ` ${s.path}` : s.type === 'duo-api' ? ` ${s.host} [${s.logs.join(', ')}]` : ` ${s.listen.transport}://${s.listen.host}:${s.listen.port}`}`);
  for (const d of config.destinations) io.out(`  destination ${d.type === 'stdout' ? 'stdout' : `${d.transport}://${d.host}:${d.port}`} format=${d.format} message=${d.message}`);
  io.out(`  state_dir   ${config.state_dir}`);
  return 0;
}

function testEvent(): RelayEvent {
  const now = new Date().toISOString();
  const record = { msg: 'duo-relay test event', time: now };
  return {
    kind: 'authproxy',
    tag: 'auth.duo.relay.test',
    msgid: 'test',
    host: hostname(),
    time: now,
    id: `test-${Date.now()}`,
    fields: { msg: record.msg, software: `${SOFTWARE}/${VERSION}` },
    raw: JSON.stringify(record),
  };
}

/** `test-destination`: one event to each destination, no retries, a clear verdict each. */
export async function testDestinations(loaded: LoadedConfig, logger: Logger, io: Io, timeoutMs: number): Promise<number> {
  const destinations = buildDestinations(loaded.config, logger);
  let failures = 0;
  for (const d of destinations) {
    const ev = testEvent();
    let timer: NodeJS.Timeout | undefined;
    try {
      const probe = d.probe !== undefined ? d.probe(ev) : d.send([ev]);
      await Promise.race([
        probe,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      io.out(`OK    ${d.name}: test event ${ev.id} delivered`);
    } catch (err: unknown) {
      failures++;
      io.out(`FAIL  ${d.name}: ${errorMessage(err)}`);
    } finally {
      clearTimeout(timer);
      d.destroy();
    }
  }
  return failures === 0 ? 0 : 1;
}
