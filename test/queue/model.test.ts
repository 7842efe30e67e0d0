/**
 * Model-based test: random sequences of append / read / ack / rewind / reopen run against the
 * disk queue and an in-memory model; every read and every stats() must agree with the model.
 */
import t from 'tap';
import fc from 'fast-check';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { DiskQueue, type DiskQueueOptions } from '../../src/queue/index.js';

const CONSUMERS = ['x', 'y'] as const;
type Name = (typeof CONSUMERS)[number];

interface Model {
  /** Payload of seq s at index s - 1. */
  records: string[];
  next: Record<Name, number>;
  readPos: Record<Name, number>;
  counter: number;
}

interface Real {
  q: DiskQueue;
  opts: DiskQueueOptions;
}

function checkStats(m: Model, r: Real): void {
  const st = r.q.stats();
  const durable = m.records.length + 1;
  for (const c of CONSUMERS) {
    if (st.perConsumer[c]?.lagRecords !== durable - m.next[c]) throw new Error(`lag of ${c}: ${st.perConsumer[c]?.lagRecords} != ${durable - m.next[c]}`);
  }
  const min = Math.min(...CONSUMERS.map((c) => m.next[c]));
  if (st.records !== durable - min) throw new Error(`records ${st.records} != ${durable - min}`);
  if (st.corrupt !== 0 || st.dropped !== 0) throw new Error('nothing may be corrupt or dropped');
  if ((st.records === 0) !== (st.oldestAgeMs === null)) throw new Error('oldestAgeMs is null exactly when nothing waits');
}

class Append implements fc.AsyncCommand<Model, Real> {
  constructor(readonly sizes: number[]) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    const payloads = this.sizes.map((n) => `${m.counter++}:${'p'.repeat(n)}`);
    await r.q.append(payloads.map((p) => Buffer.from(p)));
    m.records.push(...payloads);
    checkStats(m, r);
  }
  toString(): string {
    return `append(${this.sizes.length})`;
  }
}

class Read implements fc.AsyncCommand<Model, Real> {
  constructor(readonly c: Name, readonly max: number, readonly maxBytes: number) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    const got = await r.q.read(this.c, this.max, this.maxBytes);
    const expected: { seq: number; text: string }[] = [];
    let bytes = 0;
    for (let s = m.readPos[this.c]; s <= m.records.length && expected.length < this.max && bytes < this.maxBytes; s++) {
      const text = m.records[s - 1] ?? '';
      expected.push({ seq: s, text });
      bytes += Buffer.byteLength(text);
    }
    const actual = got.map((x) => ({ seq: x.seq, text: x.payload.toString() }));
    if (JSON.stringify(actual) !== JSON.stringify(expected)) {
      throw new Error(`read ${this.c}: got ${JSON.stringify(actual.map((a) => a.seq))}, expected ${JSON.stringify(expected.map((e) => e.seq))}`);
    }
    m.readPos[this.c] += expected.length;
    checkStats(m, r);
  }
  toString(): string {
    return `read(${this.c}, ${this.max}, ${this.maxBytes})`;
  }
}

class Ack implements fc.AsyncCommand<Model, Real> {
  constructor(readonly c: Name, readonly fraction: number) {}
  check(m: Readonly<Model>): boolean {
    return m.readPos[this.c] > m.next[this.c];
  }
  async run(m: Model, r: Real): Promise<void> {
    const from = m.next[this.c];
    const to = m.readPos[this.c] - 1;
    const upTo = from + Math.floor((to - from) * this.fraction);
    await r.q.ack(this.c, upTo);
    m.next[this.c] = Math.max(m.next[this.c], upTo + 1);
    checkStats(m, r);
    const files = (await readdir(join(r.opts.dir, 'segments'))).filter((f) => f.endsWith('.seg'));
    if (files.length !== r.q.stats().segments) throw new Error(`${files.length} segment files, stats says ${r.q.stats().segments}`);
    // The oldest segment must still hold the oldest record some consumer has not acknowledged.
    const oldest = Math.min(...files.map((f) => Number(f.slice(0, 20))));
    const needed = Math.min(...CONSUMERS.map((c) => m.next[c]));
    if (oldest > needed) throw new Error(`segment starting at ${oldest} is the oldest, but seq ${needed} is still needed`);
  }
  toString(): string {
    return `ack(${this.c}, ${this.fraction.toFixed(2)})`;
  }
}

class Rewind implements fc.AsyncCommand<Model, Real> {
  constructor(readonly c: Name) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    r.q.rewind(this.c);
    m.readPos[this.c] = m.next[this.c];
    return Promise.resolve();
  }
  toString(): string {
    return `rewind(${this.c})`;
  }
}

class Reopen implements fc.AsyncCommand<Model, Real> {
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    await r.q.close();
    r.q = await DiskQueue.open(r.opts);
    for (const c of CONSUMERS) m.readPos[c] = m.next[c];
    checkStats(m, r);
  }
  toString(): string {
    return 'reopen';
  }
}

const name = fc.constantFrom(...CONSUMERS);
const ack = fc.tuple(name, fc.double({ min: 0, max: 1, noNaN: true })).map(([c, f]) => new Ack(c, f));
// Segments hold only a handful of records and acks are frequent, so segment deletion and
// cursors near segment boundaries are exercised in most runs.
const commands = [
  fc.array(fc.integer({ min: 0, max: 1200 }), { minLength: 1, maxLength: 30 }).map((s) => new Append(s)),
  fc.tuple(name, fc.integer({ min: 1, max: 60 }), fc.oneof(fc.constant(1 << 20), fc.integer({ min: 1, max: 3000 }))).map(([c, n, b]) => new Read(c, n, b)),
  fc.tuple(name, fc.integer({ min: 1, max: 60 })).map(([c, n]) => new Read(c, n, 1 << 20)),
  ack,
  ack,
  ack,
  name.map((c) => new Rewind(c)),
  fc.constant(new Reopen()),
];

t.test('the disk queue behaves like its in-memory model', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'drq-model-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.commands(commands, { maxCommands: 100, size: 'large' }), async (cmds) => {
      const dir = join(root, `run-${run++}`);
      const opts: DiskQueueOptions = { dir, maxBytes: 4 << 20, segmentBytes: 4096, overflow: 'block', consumers: [...CONSUMERS], logger: pino({ level: 'silent' }) };
      const real: Real = { q: await DiskQueue.open(opts), opts };
      const model: Model = { records: [], next: { x: 1, y: 1 }, readPos: { x: 1, y: 1 }, counter: 0 };
      try {
        await fc.asyncModelRun(() => ({ model, real }), cmds);
      } finally {
        await real.q.close();
        await rm(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: 60 },
  );
  t.pass('60 random command sequences of up to 100 steps agreed with the model');
});
