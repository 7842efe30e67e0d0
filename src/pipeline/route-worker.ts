/**
 * The route thread's body (pipeline/route-thread.ts starts it as a worker): routes each batch of
 * source records and either encodes the events as disk-queue payloads or, without the queue,
 * formats and frames them for each destination; then hands the batch buffers to the main thread
 * by transfer (no copy). What it keeps between batches is the router's learnt proxy layouts and a
 * few buffers the main thread gave back.
 *
 * It loads only the router, the event codec and the formatters: no config validator, logger or
 * metrics, so the second V8 heap stays small.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createRouter } from '../route/router.js';
import { PayloadBatch } from './event-codec.js';
import { createFormatter } from '../formats/index.js';
import { MessageFramer } from '../destinations/message-framer.js';
import type { DeadLetter } from '../event.js';
import { RecordUnpacker, type RouteThreadData, type ToRouteThread, type FromRouteThread } from './route-protocol.js';

const MAX_SPARES = 2;

const port = parentPort;
if (port === null) throw new Error('route-worker.js runs as a worker thread (pipeline/route-thread.ts starts it).');
const data = workerData as RouteThreadData;
const router = createRouter(data.router);
const framers = data.frame?.map((f) => new MessageFramer(createFormatter(f.format, f.context), f.framing));
const spares: Buffer[] = [];
/** Payload bytes per event of the last batch, to size the next buffer. */
let bytesPerEvent = 1024;

function reply(m: FromRouteThread, transfer?: ArrayBuffer[]): void {
  port?.postMessage(m, transfer);
}

/** Test hook (route-thread tests): a thread that dies in the middle of a batch. */
function checkFailOn(text: string | undefined): void {
  if (data.failOn !== undefined && text === data.failOn) process.exit(70);
}

function encode(id: number, records: RecordUnpacker, packed: ArrayBuffer): void {
  const payloads = new PayloadBatch(records.count * bytesPerEvent, spares.pop());
  const dead: DeadLetter[] = [];
  for (let i = 0; i < records.count; i++) {
    const rec = records.next();
    checkFailOn(rec.text);
    const r = router.route(rec);
    if (r.ok) payloads.push(r.event);
    else dead.push(r.dead);
  }
  if (payloads.count > 0) bytesPerEvent = Math.ceil(payloads.bytes / payloads.count) + 64;
  // PayloadBatch buffers own their ArrayBuffer (never a slice of the shared pool): safe to transfer.
  const ab = payloads.buffer.buffer as ArrayBuffer;
  // postMessage clones `ends` itself: no copy here.
  reply({ t: 'done', id, buf: ab, ends: payloads.ends, dead, packed }, [ab, packed]);
}

function frame(id: number, records: RecordUnpacker, packed: ArrayBuffer, fs: readonly MessageFramer[]): void {
  for (const f of fs) f.begin(records.count);
  const dead: DeadLetter[] = [];
  let events = 0;
  for (let i = 0; i < records.count; i++) {
    const rec = records.next();
    checkFailOn(rec.text);
    const r = router.route(rec);
    if (!r.ok) {
      dead.push(r.dead);
      continue;
    }
    for (const f of fs) f.push(r.event);
    events++;
  }
  // finish(true): each buffer is a view from byte 0 of an ArrayBuffer of its own, safe to transfer.
  const bufs = fs.map((f) => f.finish(true));
  const abs = bufs.map((b) => b.buffer as ArrayBuffer);
  // The packed records go back too: the main thread packs its next batch into them.
  reply({ t: 'framed', id, bufs: abs, lens: bufs.map((b) => b.length), events, dead, packed }, [...abs, packed]);
}

reply({ t: 'ready' });

port.on('message', (m: ToRouteThread) => {
  if (m.t === 'spare') {
    // A framed buffer goes back to its destination's framer; a payload buffer (no dest) to encode().
    if (m.dest !== undefined) framers?.[m.dest]?.recycle(Buffer.from(m.buf));
    else if (spares.length < MAX_SPARES) spares.push(Buffer.from(m.buf));
    return;
  }
  try {
    const records = new RecordUnpacker(m.records);
    if (framers !== undefined) frame(m.id, records, m.records.buf, framers);
    else encode(m.id, records, m.records.buf);
  } catch (err: unknown) {
    reply({ t: 'fail', id: m.id, message: err instanceof Error ? err.message : String(err) });
  }
});
