/**
 * `npm run bench`: every hot path, each printing its figures and, where there is one, the ratio
 * against the anchor measured in the same run (rsyslog for the pipeline, direct delivery for the
 * queue, the request minimum for the poller). Numbers go to stdout; targets are printed, not asserted.
 */
import { benchFormat } from './format.js';
import { benchPipeline, benchSizes } from './pipeline.js';
import { benchQueue } from './queue.js';
import { benchDuoApi } from './duo-api.js';

const only = process.argv[2];
const want = (name: string): boolean => only === undefined || only === name;

console.log(`duo-relay bench, node ${process.version}, ${new Date().toISOString()}`);
if (want('format')) {
  const f = await benchFormat();
  console.log(`format: ${f.name}: ${Math.round(f.eventsPerSec)} ev/s (target ≥ 200k on one core)`);
}
if (want('queue')) for (const l of (await benchQueue()).lines) console.log(l);
if (want('duo-api')) for (const l of (await benchDuoApi()).lines) console.log(l);
if (want('pipeline')) for (const n of benchSizes()) for (const l of (await benchPipeline(n)).lines) console.log(l);
