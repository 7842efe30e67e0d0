/**
 * The route thread's body (pipeline/route-thread.ts starts it as a worker): routes each batch of
 * source records and encodes the events as disk-queue payloads, then hands the batch buffer to
 * the main thread by transfer (no copy). What it keeps between batches is the router's learnt
 * proxy layouts and up to MAX_SPARES buffers the main thread gave back.
 *
 * It loads only the router and the event codec: no config validator, logger or metrics, so the
 * second V8 heap stays small.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createRouter } from '../route/router.js';
import { PayloadBatch } from './event-codec.js';
import type { DeadLetter } from '../event.js';
import { RecordUnpacker, type RouteThreadData, type ToRouteThread, type FromRouteThread } from './route-protocol.js';

const MAX_SPARES = 2;

const port = parentPort;
if (port === null) throw new Error('route-worker.js runs as a worker thread (pipeline/route-thread.ts starts it).');
const data = workerData as RouteThreadData;
const router = createRouter(data.router);
const spares: Buffer[] = [];
/** Payload bytes per event of the last batch, to size the next buffer. */
let bytesPerEvent = 1024;

function reply(m: FromRouteThread, transfer?: ArrayBuffer[]): void {
  port?.postMessage(m, transfer);
}

reply({ t: 'ready' });

port.on('message', (m: ToRouteThread) => {
  if (m.t === 'spare') {
    if (spares.length < MAX_SPARES) spares.push(Buffer.from(m.buf));
    return;
  }
  try {
    const records = new RecordUnpacker(m.records);
    const payloads = new PayloadBatch(records.count * bytesPerEvent, spares.pop());
    const dead: DeadLetter[] = [];
    for (let i = 0; i < records.count; i++) {
      const rec = records.next();
      // Test hook (route-thread tests): a thread that dies in the middle of a batch.
      if (data.failOn !== undefined && rec.text === data.failOn) process.exit(70);
      const r = router.route(rec);
      if (r.ok) payloads.push(r.event);
      else dead.push(r.dead);
    }
    if (payloads.count > 0) bytesPerEvent = Math.ceil(payloads.bytes / payloads.count) + 64;
    // PayloadBatch buffers own their ArrayBuffer (never a slice of the shared pool): safe to transfer.
    const ab = payloads.buffer.buffer as ArrayBuffer;
    // postMessage clones `ends` itself: no copy here.
    reply({ t: 'done', id: m.id, buf: ab, ends: payloads.ends, dead }, [ab]);
  } catch (err: unknown) {
    reply({ t: 'fail', id: m.id, message: err instanceof Error ? err.message : String(err) });
  }
});
