/**
 * The route thread without the disk queue (issue 3): it routes, formats and frames each batch for
 * every destination. What it frames is byte for byte what each destination frames itself, whatever
 * the format and framing; the stream destination sends such batches as they are and gives their
 * buffers back to the thread; the relay builds the thread only when every destination takes
 * framed batches; and the whole pipeline puts the same bytes on the wire with and without it.
 */
import t from 'tap';
import { createServer, type Socket } from 'node:net';
import type { SourceRecord } from '../../src/event.js';
import type { FramingSpec } from '../../src/pipeline/route-protocol.js';
import { RouteThread } from '../../src/pipeline/route-thread.js';
import { createRouter } from '../../src/route/router.js';
import { createFormatter } from '../../src/formats/index.js';
import { MessageFramer } from '../../src/destinations/message-framer.js';
import { StreamSyslogDestination } from '../../src/destinations/stream.js';
import { DirectHandoff } from '../../src/pipeline/direct.js';
import { Metrics } from '../../src/ops/metrics.js';
import { buildDestinations, buildRouteThread } from '../../src/cli/build.js';
import { configSchema } from '../../src/config/schema.js';
import { destConfig, deframeOctets } from '../helpers/syslog-dest.js';
import { FakeDestination, capture, metricValue, tmp, waitFor, type Teardown } from './fakes.js';
import { ROUTER, emitAll, mixedRecords } from './thread-rig.js';

const CONTEXT = { fallbackHost: 'relay01', software: 'duo-relay', swVersion: '0.1.0' };

/** Three destinations that frame differently: RFC 5424 octet-counted, CEF on LF, ECS JSON octet-counted. */
const SPECS: FramingSpec[] = [
  { format: destConfig({ port: 1 }), framing: 'octet-counting', context: CONTEXT },
  { format: destConfig({ port: 1, format: 'cef', framing: 'lf' }), framing: 'lf', context: CONTEXT },
  { format: destConfig({ port: 1, format: 'json', message: 'ecs' }), framing: 'octet-counting', context: CONTEXT },
];

/** What each destination would frame itself from the records (and how many events). */
function framedOnMainThread(records: readonly SourceRecord[], specs: readonly FramingSpec[]): { bufs: Buffer[]; events: number } {
  const router = createRouter(ROUTER);
  const framers = specs.map((s) => new MessageFramer(createFormatter(s.format, s.context), s.framing));
  for (const f of framers) f.begin(records.length);
  let events = 0;
  for (const r of records) {
    const res = router.route(r);
    if (!res.ok) continue;
    for (const f of framers) f.push(res.event);
    events++;
  }
  return { bufs: framers.map((f) => f.finish()), events };
}

function frameThread(t: Teardown, specs: FramingSpec[] = SPECS): RouteThread {
  const rt = new RouteThread({ router: ROUTER, logger: capture().logger, frame: specs });
  t.teardown(() => rt.destroy());
  return rt;
}

t.test('each destination gets from the thread the bytes it would frame itself', async (t) => {
  const rt = frameThread(t);
  await rt.start();
  t.equal(rt.frames, true, 'a thread given frame specs frames');
  const all = mixedRecords();
  // Large batches (buffers worth handing back) and small ones, each more than once: later batches
  // are framed into buffers given back, and must still hold only their own messages.
  const large = [...all, ...all, ...all, ...all];
  const batches = [large, all.slice(0, 9), large, all.slice(9), large];
  let handedBack = 0;
  for (const [i, b] of batches.entries()) {
    const got = await rt.frame(b);
    const want = framedOnMainThread(b, SPECS);
    t.ok(want.events > 0, `batch ${i}: records route`);
    t.equal(got.events, want.events, `batch ${i}: same event count`);
    t.equal(got.dead.length, b.length - want.events, `batch ${i}: the refused ones come back as dead letters`);
    got.bufs.forEach((buf, d) => t.ok(buf.equals(want.bufs[d] as Buffer), `batch ${i}, destination ${d}: same bytes`));
    // Hand each buffer back, as a destination does once the replay window lets it go: batch-sized
    // ones change thread (detached here), small ones are not worth it and stay.
    for (const [d, buf] of got.bufs.entries()) {
      const worth = buf.buffer.byteLength >= 65536;
      const len = buf.length;
      rt.recycler(d)(buf);
      t.equal(buf.length, worth ? 0 : len, `batch ${i}, destination ${d}: ${worth ? 'handed back' : 'kept'}`);
      if (worth) handedBack++;
    }
  }
  t.ok(handedBack >= 6, `large batches' buffers went back to the thread (${handedBack})`);
  const empty = await rt.frame([]);
  t.same([empty.events, empty.dead.length, empty.bufs.length], [0, 0, 3], 'an empty batch is fine');
});

t.test('the recycler keeps what is not a whole buffer of its own; the two modes refuse each other\'s calls', async (t) => {
  const rt = frameThread(t);
  await rt.start();
  const pooled = Buffer.from('a small pooled buffer');
  rt.recycler(0)(pooled);
  t.equal(pooled.toString(), 'a small pooled buffer', 'a slice of Node\'s pool is never transferred');
  const big = Buffer.alloc(128 * 1024, 1);
  const part = big.subarray(10);
  rt.recycler(0)(part);
  t.equal(part.length, 128 * 1024 - 10, 'a view that does not start its ArrayBuffer is kept');
  await t.rejects(rt.encode(mixedRecords().slice(0, 2)), { code: 'DR_ERR_INTERNAL', message: /framed a batch it was to encode/ });
  const queueThread = new RouteThread({ router: ROUTER, logger: capture().logger });
  t.teardown(() => queueThread.destroy());
  await queueThread.start();
  t.equal(queueThread.frames, false, 'a thread without frame specs encodes');
  await t.rejects(queueThread.frame(mixedRecords().slice(0, 2)), { code: 'DR_ERR_INTERNAL', message: /encoded a batch it was to frame/ });
});

t.test('the framed handoff sends each destination its buffer, counts, and refuses a destination without sendFramed', async (t) => {
  const metrics = new Metrics();
  const fake = new FakeDestination('fake');
  await t.rejects(new DirectHandoff([fake], metrics).appendFramed([Buffer.from('x')], 1), { code: 'DR_ERR_INTERNAL', message: /fake was given a framed batch/ });
  await new DirectHandoff([fake], metrics).appendFramed([], 0);
  t.equal(await metricValue(metrics, 'duo_relay_events_out_total', { destination: 'fake' }), 0, 'an empty batch sends nothing');
});

interface Wire {
  port: number;
  bytes(): Buffer;
  close(): Promise<void>;
}

async function wire(t: Teardown): Promise<Wire> {
  const chunks: Buffer[] = [];
  const sockets = new Set<Socket>();
  const srv = createServer((s) => {
    sockets.add(s);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const addr = srv.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  const close = async (): Promise<void> => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => srv.close(() => r()));
  };
  t.teardown(close);
  return { port, bytes: () => Buffer.concat(chunks), close };
}

/** The records through the whole pipeline to a TCP receiver, with or without the thread; the messages it got. */
async function sendThrough(t: Teardown, withThread: boolean, batches: SourceRecord[][]): Promise<{ msgs: string[]; recycled: number; out: number }> {
  const dir = await tmp(t);
  const rx = await wire(t);
  const { logger } = capture();
  const cfg = destConfig({ port: rx.port, transport: 'tcp', settle_ms: 0, name: 'siem' });
  const format = createFormatter(cfg, CONTEXT);
  const dest = new StreamSyslogDestination(cfg, { logger, format });
  const routeThread = withThread ? new RouteThread({ router: ROUTER, logger, frame: [{ format: cfg, framing: cfg.framing, context: CONTEXT }] }) : undefined;
  let recycled = 0;
  if (routeThread !== undefined) {
    const give = routeThread.recycler(0);
    dest.recycleTo((buf) => {
      recycled++;
      give(buf);
    });
  }
  const metrics = new Metrics();
  const pipeline = await emitAll({ dir, handoff: new DirectHandoff([dest], metrics), routeThread, metrics, logger, batches });
  const out = await metricValue(metrics, 'duo_relay_events_out_total', { destination: 'siem' });
  await pipeline.close(2000);
  const want = out;
  await waitFor(() => deframeOctets(rx.bytes()).msgs.length >= want, 'every message at the receiver');
  return { msgs: deframeOctets(rx.bytes()).msgs, recycled, out };
}

t.test('the pipeline puts the same messages on the wire with the thread framing as without it', async (t) => {
  const all = mixedRecords();
  const batches = [all.slice(0, 7), all.slice(7, 20), all.slice(20), all.slice(3, 9)];
  const plain = await sendThrough(t, false, batches);
  const threaded = await sendThrough(t, true, batches);
  t.ok(plain.msgs.length > 30, `messages arrived (${plain.msgs.length})`);
  t.same(threaded.msgs, plain.msgs, 'same messages in the same order');
  t.equal(threaded.out, plain.out, 'same events counted out');
  t.equal(threaded.recycled, batches.length, 'each framed buffer went back once it left the replay window');
});

t.test('the relay builds a framing thread only when every destination takes framed batches', async (t) => {
  const { logger } = capture();
  const tcp = { type: 'syslog', host: '127.0.0.1', port: 6514, transport: 'tcp' };
  const build = async (over: Record<string, unknown>, destinations: unknown[]): Promise<RouteThread | undefined> => {
    const config = configSchema.parse({ state_dir: '/tmp/x', destinations, ...over });
    const dests = buildDestinations(config, logger);
    t.teardown(() => dests.forEach((d) => d.destroy()));
    return buildRouteThread(config, logger, dests);
  };
  t.equal((await build({ queue: { enabled: false } }, [tcp, { ...tcp, transport: 'tls', framing: 'lf' }]))?.frames, true, 'tcp and tls only: it frames');
  t.equal((await build({}, [tcp, { type: 'stdout' }]))?.frames, false, 'with the disk queue: it encodes queue payloads');
  t.equal(await build({ queue: { enabled: false } }, [tcp, { type: 'stdout' }]), undefined, 'a stdout destination: no thread');
  t.equal(await build({ queue: { enabled: false } }, [{ ...tcp, transport: 'udp' }]), undefined, 'udp: no thread');
  t.equal(await build({ queue: { enabled: false } }, [{ ...tcp, transport: 'relp' }]), undefined, 'relp: no thread');
  t.equal(await build({ route_thread: false }, [tcp]), undefined, 'route_thread: false: no thread');
});

t.test('lines as bytes: hashed on this thread when the thread frames (it is the busy one), by the thread when it encodes; the same bytes as the records', async (t) => {
  const prefix = '/var/log/authevents.log@2049:77:';
  const lines = [
    Buffer.from('{"timestamp":"2024-05-14T09:30:00.123456Z","msg":"Duo Push approved","status":"Allow","log_namespace":"duoauthproxy.lib.log"}'),
    Buffer.from('{"timestamp": "2024-05-14T09:30:01Z", "msg": "ünï 🔐", "log_level": {"name": "info"}, "list": [1, [2]]}'),
    Buffer.concat([Buffer.from('{"timestamp":"2024-05-14T09:30:02Z","msg":"bad '), Buffer.from([0xff]), Buffer.from('","log_namespace":"duoauthproxy.lib.log"}')]),
  ];
  const records: SourceRecord[] = [];
  let off = 0;
  for (const l of lines) {
    records.push({ position: `${prefix}${off}`, kind: 'authproxy', host: 'proxy1', text: l.toString('utf8') });
    off += l.length + 1;
  }
  const fill = (rt: RouteThread): ReturnType<RouteThread['lineBatch']> => {
    const b = rt.lineBatch(lines.length, prefix, 'authproxy', 'proxy1');
    let at = 0;
    for (const l of lines) {
      b.pushBytes(l, 0, l.length, at);
      at += l.length + 1;
    }
    return b;
  };
  const rt = frameThread(t, [SPECS[0] as FramingSpec]);
  await rt.start();
  const batch = fill(rt);
  t.ok(batch.packed().hashes !== undefined, 'a framing thread: the batch carries the hashes');
  const got = await rt.frame(fill(rt));
  const want = framedOnMainThread(records, [SPECS[0] as FramingSpec]);
  t.equal(got.events, 3);
  t.equal(got.bufs[0]?.toString('latin1'), want.bufs[0]?.toString('latin1'), 'the same bytes (event ids included) as the records routed on the main thread');

  const queueThread = new RouteThread({ router: ROUTER, logger: capture().logger });
  t.teardown(() => queueThread.destroy());
  t.equal(fill(queueThread).packed().hashes, undefined, 'an encoding thread: no hashes, the thread computes them');
});
