/** line-reader.ts on real files, with chunk buffers small enough to split lines and characters. */
import t from 'tap';
import fc from 'fast-check';
import { open, writeFile } from 'node:fs/promises';
import { LineBatch, RecordPacker, RecordUnpacker } from '../../../src/pipeline/route-protocol.js';
import { contentHash } from '../../../src/route/event-id.js';
import { join } from 'node:path';
import type { SourceRecord } from '../../../src/event.js';
import { LineReader, PREVIEW_BYTES } from '../../../src/sources/authproxy/line-reader.js';
import { tempDir } from '../../fixtures/authproxy/harness.js';

interface Out {
  records: SourceRecord[];
  oversize: { start: number; preview: string; length: number; complete: boolean }[];
}

async function readAll(path: string, opts: { chunk: number; max?: number; from?: number }): Promise<Out & { reader: LineReader }> {
  const out: Out = { records: [], oversize: [] };
  const reader = new LineReader(opts.from ?? 0, {
    maxLineBytes: opts.max ?? 1 << 20,
    makeRecord: (text, start) => ({ text, position: String(start) }),
    onOversize: (start, preview, length, complete) => out.oversize.push({ start, preview, length, complete }),
  });
  const fh = await open(path, 'r');
  const buf = Buffer.alloc(opts.chunk);
  try {
    // Bounded by the file size: every fill either reads bytes or ends the loop.
    for (;;) {
      reader.drain(out.records, Infinity);
      if ((await reader.fill(fh, buf)) === 0) break;
    }
  } finally {
    await fh.close();
  }
  return { ...out, reader };
}

t.test('lines split across chunks keep their text and start offsets', async (t) => {
  const dir = await tempDir(t);
  const p = join(dir, 'f');
  const text = 'alpha\nbravo charlie\n\nδέλτα €uro\nlast';
  await writeFile(p, text);
  const r = await readAll(p, { chunk: 4 });
  t.same(r.records.map((x) => x.text), ['alpha', 'bravo charlie', 'δέλτα €uro']);
  t.same(r.records.map((x) => x.position), ['0', '6', String(Buffer.byteLength('alpha\nbravo charlie\n\n'))]);
  t.equal(r.reader.lineStart, Buffer.byteLength(text) - 4, 'the fragment "last" is not consumed');
  t.ok(r.reader.hasFragment);
  const flushed: SourceRecord[] = [];
  r.reader.flushFragment(flushed);
  t.same(flushed.map((x) => x.text), ['last']);
  t.equal(r.reader.lineStart, Buffer.byteLength(text));
});

t.test('drain stops when the batch is full and resumes where it stopped', async (t) => {
  const dir = await tempDir(t);
  const p = join(dir, 'f');
  await writeFile(p, 'a\nb\nc\nd\ne\n');
  const reader = new LineReader(0, { maxLineBytes: 100, makeRecord: (text, start) => ({ text, position: String(start) }), onOversize: () => {} });
  const fh = await open(p, 'r');
  t.teardown(() => fh.close());
  await reader.fill(fh, Buffer.alloc(64));
  const out: SourceRecord[] = [];
  t.equal(reader.drain(out, 2), true);
  t.same(out.map((x) => x.text), ['a', 'b']);
  t.equal(reader.lineStart, 4, 'lineStart is right after the last line taken');
  t.ok(reader.hasBuffered);
  const more: SourceRecord[] = [];
  t.equal(reader.drain(more, 10), false);
  t.same(more.map((x) => x.text), ['c', 'd', 'e']);
  t.equal(reader.lineStart, 10);
});

t.test('over-long lines: reported once with a preview, skipped, not buffered', async (t) => {
  const dir = await tempDir(t);
  const p = join(dir, 'f');
  const long = 'L'.repeat(5000);
  await writeFile(p, `ok1\n${long}\nok2\n${'M'.repeat(3000)}\nok3\n`);
  const r = await readAll(p, { chunk: 512, max: 2048 });
  t.same(r.records.map((x) => x.text), ['ok1', 'ok2', 'ok3']);
  t.equal(r.oversize.length, 2);
  t.same(r.oversize.map((o) => o.start), [4, 4 + 5001 + 4]);
  t.equal(r.oversize[0]?.preview, 'L'.repeat(PREVIEW_BYTES));
  t.equal(r.oversize[0]?.complete, false, 'detected before its newline');
  // Within one chunk, the size is known.
  const r2 = await readAll(p, { chunk: 65536, max: 2048 });
  t.same(r2.oversize.map((o) => [o.length, o.complete]), [[5000, true], [3000, true]]);
  t.same(r2.records.map((x) => x.text), ['ok1', 'ok2', 'ok3']);
});

t.test('reset forgets the fragment and reads again from the offset', async (t) => {
  const dir = await tempDir(t);
  const p = join(dir, 'f');
  await writeFile(p, 'one\ntwo\nthr');
  const r = await readAll(p, { chunk: 3 });
  r.reader.reset(4);
  t.equal(r.reader.hasFragment, false);
  t.equal(r.reader.readPos, 4);
  const r2 = await readAll(p, { chunk: 3, from: 4 });
  t.same(r2.records.map((x) => x.text), ['two']);
});

t.test('property: any lines, any chunk size → the same records as a plain split', async (t) => {
  const dir = await tempDir(t);
  const p = join(dir, 'f');
  const lineArb = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.constant(''), fc.string({ unit: 'binary', maxLength: 20 }));
  await fc.assert(
    fc.asyncProperty(fc.array(lineArb.map((s) => s.replace(/\n/g, ' ')), { maxLength: 30 }), fc.integer({ min: 1, max: 64 }), async (ls, chunk) => {
      const body = ls.map((l) => `${l}\n`).join('');
      await writeFile(p, body);
      const r = await readAll(p, { chunk });
      const expected: { text: string; position: string }[] = [];
      let off = 0;
      for (const l of ls) {
        const bytes = Buffer.from(l);
        const text = bytes.length > 0 && bytes[bytes.length - 1] === 13 ? bytes.subarray(0, -1).toString('utf8') : l;
        if (text !== '') expected.push({ text, position: String(off) });
        off += bytes.length + 1;
      }
      t.same(r.records, expected);
      t.equal(r.reader.lineStart, Buffer.byteLength(body));
    }),
    { numRuns: 150 },
  );
});

t.test('property: batches of any size, over-long lines among short ones, CRLF → same records, each over-long line reported once', async (t) => {
  const dir = await tempDir(t);
  const p = join(dir, 'f');
  // Chunks up to 256 bytes hold many lines, so most lines come from the chunk's decoded text.
  const lineArb = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.constant(''), fc.string({ unit: 'binary', maxLength: 20 }), fc.string({ maxLength: 12 }).map((x) => `${x}\r`));
  await fc.assert(
    fc.asyncProperty(
      fc.array(lineArb.map((s) => s.replace(/\n/g, ' ')), { maxLength: 40 }),
      fc.integer({ min: 1, max: 256 }),
      fc.integer({ min: 1, max: 7 }),
      fc.integer({ min: 4, max: 60 }),
      async (ls, chunk, batch, maxLine) => {
        const body = ls.map((l) => `${l}\n`).join('');
        await writeFile(p, body);
        const records: SourceRecord[] = [];
        const oversize: number[] = [];
        const reader = new LineReader(0, { maxLineBytes: maxLine, makeRecord: (text, start) => ({ text, position: String(start) }), onOversize: (start) => oversize.push(start) });
        const fh = await open(p, 'r');
        const buf = Buffer.alloc(chunk);
        try {
          for (;;) {
            const out: SourceRecord[] = [];
            while (reader.drain(out, batch)) {
              records.push(...out);
              out.length = 0;
            }
            records.push(...out);
            if ((await reader.fill(fh, buf)) === 0) break;
          }
        } finally {
          await fh.close();
        }
        const expected: { text: string; position: string }[] = [];
        const expectedOversize: number[] = [];
        let off = 0;
        for (const l of ls) {
          const bytes = Buffer.from(l);
          if (bytes.length > maxLine) expectedOversize.push(off);
          else {
            const text = bytes.length > 0 && bytes[bytes.length - 1] === 13 ? bytes.subarray(0, -1).toString('utf8') : l;
            if (text !== '') expected.push({ text, position: String(off) });
          }
          off += bytes.length + 1;
        }
        t.same(records, expected);
        t.same(oversize, expectedOversize);
        t.equal(reader.lineStart, Buffer.byteLength(body));
      },
    ),
    { numRuns: 300 },
  );
});

t.test('property: lines as bytes (a LineBatch, decoded as the route thread does) → the same records as text, any chunk and batch size', async (t) => {
  const dir = await tempDir(t);
  const p = join(dir, 'f');
  // Raw bytes too (invalid UTF-8, lone CR), never LF inside a line.
  const lineArb = fc.oneof(
    fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => Buffer.from(s)),
    fc.constant(Buffer.alloc(0)),
    fc.uint8Array({ maxLength: 30 }).map((a) => Buffer.from(a.map((b) => (b === 10 ? 32 : b)))),
    fc.string({ maxLength: 12 }).map((x) => Buffer.from(`${x}\r`)),
  );
  const packer = new RecordPacker();
  const readAs = async (bytes: boolean, chunk: number, batch: number, maxLine: number, hasTail: boolean): Promise<{ records: SourceRecord[]; oversize: number[]; end: number }> => {
    const records: SourceRecord[] = [];
    const oversize: number[] = [];
    const reader = new LineReader(0, { maxLineBytes: maxLine, makeRecord: (text, start) => ({ position: `f@1:2:${start}`, kind: 'authproxy', host: 'h', text }), onOversize: (start) => oversize.push(start) });
    const fresh = (): SourceRecord[] | LineBatch => (bytes ? packer.lineBatch(batch + 1, 'f@1:2:', 'authproxy', 'h', true) : []);
    const take = (out: SourceRecord[] | LineBatch): void => {
      if (Array.isArray(out)) {
        records.push(...out);
        return;
      }
      const packed = out.packed();
      const u = new RecordUnpacker(packed);
      for (let i = 0; i < u.count; i++) records.push(u.next());
      packer.recycle(packed.buf);
    };
    const fh = await open(p, 'r');
    const buf = Buffer.alloc(chunk);
    let out = fresh();
    try {
      for (;;) {
        while (reader.drain(out, batch)) {
          take(out);
          out = fresh();
        }
        if ((await reader.fill(fh, buf)) === 0) break;
      }
    } finally {
      await fh.close();
    }
    if (hasTail) reader.flushFragment(out);
    take(out);
    return { records, oversize, end: reader.lineStart };
  };
  await fc.assert(
    fc.asyncProperty(fc.array(lineArb, { maxLength: 40 }), fc.boolean(), fc.integer({ min: 1, max: 256 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 4, max: 60 }), async (ls, tail, chunk, batch, maxLine) => {
      const body = Buffer.concat([...ls.flatMap((l) => [l, Buffer.from('\n')]), tail ? Buffer.from('tail fragment') : Buffer.alloc(0)]);
      await writeFile(p, body);
      const text = await readAs(false, chunk, batch, maxLine, tail);
      const bytes = await readAs(true, chunk, batch, maxLine, tail);
      // The bytes path also hashes each line (SourceRecord.contentHash): the text's own hash, and
      // present for every line that had valid UTF-8 (a text without U+FFFD had).
      for (const r of bytes.records) {
        if (r.contentHash !== undefined) t.equal(r.contentHash, contentHash(r.text ?? ''));
        else if (!(r.text ?? '').includes('\ufffd')) t.fail(`no content hash for a valid line: ${JSON.stringify(r.text)}`);
        delete r.contentHash;
      }
      t.strictSame(bytes.records, text.records);
      t.same(bytes.oversize, text.oversize);
      t.equal(bytes.end, text.end);
    }),
    { numRuns: 300 },
  );
});
