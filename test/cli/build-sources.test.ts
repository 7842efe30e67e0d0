/** buildSources: an authproxy source without batch_lines batches 1000 lines with the disk queue, 500 without; an explicit value wins. */
import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSources } from '../../src/cli/build.js';
import { configSchema } from '../../src/config/schema.js';
import { DeadLetterFile } from '../../src/ops/dead-letter.js';
import type { SourceRecord } from '../../src/event.js';
import { capture, type Teardown } from '../pipeline/fakes.js';

async function batchSizes(t: Teardown, queue: boolean, batchLines?: number): Promise<number[]> {
  const dir = await mkdtemp(join(tmpdir(), 'duo-relay-build-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const log = join(dir, 'authevents.log');
  await writeFile(log, Array.from({ length: 2500 }, (_, i) => `{"msg":"line ${i}"}\n`).join(''));
  const config = configSchema.parse({
    state_dir: join(dir, 'state'),
    queue: { enabled: queue },
    sources: [{ type: 'authproxy', path: log, start_at: 'beginning', poll_interval_ms: 50, ...(batchLines !== undefined ? { batch_lines: batchLines } : {}) }],
    destinations: [{ type: 'stdout' }],
  });
  const { logger } = capture();
  const [source] = await buildSources({ file: 'x.yaml', config, skeys: new Map(), warnings: [] }, logger, new DeadLetterFile(join(dir, 'dead.jsonl'), logger));
  if (source === undefined) throw new Error('no source built');
  const sizes: number[] = [];
  let total = 0;
  let done: () => void = () => undefined;
  const all = new Promise<void>((r) => (done = r));
  await source.start(async (records: SourceRecord[]) => {
    sizes.push(records.length);
    total += records.length;
    if (total >= 2500) done();
  });
  await all;
  await source.close();
  return sizes;
}

t.test('batch_lines defaults by delivery mode', async (t) => {
  t.equal(Math.max(...(await batchSizes(t, true))), 1000, 'disk queue: 1000 lines a batch');
  t.equal(Math.max(...(await batchSizes(t, false))), 500, 'direct: 500 lines a batch');
  t.equal(Math.max(...(await batchSizes(t, false, 700))), 700, 'an explicit batch_lines wins');
});
