/**
 * Independent oracle: rsyslog's own RFC 5424 parser and mmpstrucdata read our messages
 * (octet-counted over loopback TCP) and must see the same header fields, SD values and MSG
 * as our strict parser does. Skipped when rsyslogd is not installed.
 */
import t from 'tap';
import fc from 'fast-check';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LOG_KINDS, type RelayEvent } from '../../src/event.js';
import { createFormatter } from '../../src/formats/index.js';
import { parseRfc5424 } from '../../src/formats/rfc5424-parse.js';

const RSYSLOGD = '/usr/sbin/rsyslogd';

function config(dir: string): string {
  return `
global(workDirectory="${dir}" maxMessageSize="64k" parser.escapeControlCharactersOnReceive="off")
module(load="mmpstrucdata")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName="${dir}/port" ruleset="rx")
template(name="j" type="list") {
  constant(value="{")
  property(name="hostname" format="jsonf" outname="hostname") constant(value=",")
  property(name="app-name" format="jsonf" outname="appName") constant(value=",")
  property(name="procid" format="jsonf" outname="procid") constant(value=",")
  property(name="msgid" format="jsonf" outname="msgid") constant(value=",")
  property(name="pri" format="jsonf" outname="pri") constant(value=",")
  property(name="timereported" dateFormat="rfc3339" format="jsonf" outname="timestamp") constant(value=",")
  property(name="msg" format="jsonf" outname="msg") constant(value=",")
  constant(value="\\"sd\\":") property(name="$!rfc5424-sd")
  constant(value="}\\n")
}
ruleset(name="rx") {
  action(type="mmpstrucdata" sd_name.lowercase="off")
  action(type="omfile" file="${dir}/out.jsonl" template="j")
}
`;
}

async function waitFor<T>(what: string, fn: () => T | undefined, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}.`);
    await sleep(50);
  }
}

// Printable text with the characters that need escaping; no control characters (rsyslog
// drops a trailing LF and cuts at NUL, which says nothing about our format).
const text = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.array(fc.constantFrom('"', ']', '\\', '[', '=', ' ', 'é', '😀', 'a', '-'), { maxLength: 12 }).map((a) => a.join('')),
);
const eventArb: fc.Arbitrary<RelayEvent> = fc.record({
  kind: fc.constantFrom(...LOG_KINDS),
  tag: text,
  msgid: text,
  host: fc.option(text, { nil: undefined }),
  time: fc.option(fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2030-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString()), { nil: undefined }),
  id: text.filter((s) => s.length > 0),
  fields: fc.dictionary(text, text, { maxKeys: 4 }),
  raw: text.map((s) => s.trimEnd()),
});

t.test('rsyslog reads what our parser reads', async (t) => {
  // A missing receiver is a failed test, never a silent skip: CI installs it (.ci/run).
  if (!existsSync(RSYSLOGD)) {
    t.fail(`${RSYSLOGD} not found: install rsyslog rsyslog-gnutls rsyslog-relp (see .ci/run)`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'duo-relay-rsyslog-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'r.conf'), config(dir));
  const child = spawn(RSYSLOGD, ['-n', '-f', join(dir, 'r.conf'), '-i', join(dir, 'pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  t.teardown(() => {
    child.kill('SIGTERM');
  });
  const port = await waitFor('rsyslogd to listen', () => {
    const p = existsSync(join(dir, 'port')) ? Number(readFileSync(join(dir, 'port'), 'utf8')) : 0;
    return p > 0 ? p : undefined;
  }, 15_000).catch((err: unknown) => {
    throw new Error(`${String(err)} rsyslogd said: ${stderr}`);
  });

  const format = createFormatter(
    { format: 'rfc5424', message: 'raw', facility: 'local3', enterprise_id: 32473, bom: false, max_message_bytes: 8192 },
    { fallbackHost: 'relay.example.com', software: 'duo-relay', swVersion: '0.1.0', procid: '4242' },
  );
  const events = fc.sample(eventArb, { numRuns: 150, seed: 5424 });
  const messages = events.map((e) => format(e));
  const frames = Buffer.concat(messages.map((m) => {
    const b = Buffer.from(m, 'utf8');
    return Buffer.concat([Buffer.from(`${b.length} `), b]);
  }));
  await new Promise<void>((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => sock.end(frames, () => resolve()));
    sock.setTimeout(10_000, () => reject(new Error('Sending to rsyslogd timed out.')));
    sock.on('error', reject);
  });
  const lines = await waitFor('rsyslogd output', () => {
    const file = join(dir, 'out.jsonl');
    if (!existsSync(file)) return undefined;
    const l = readFileSync(file, 'utf8').split('\n').filter((x) => x !== '');
    return l.length >= messages.length ? l : undefined;
  }, 20_000);
  t.equal(lines.length, messages.length, 'every message arrived as one record');

  for (const [i, line] of lines.entries()) {
    const got = JSON.parse(line) as { hostname: string; appName: string; procid: string; msgid: string; pri: string; timestamp: string; msg: string; sd: Record<string, Record<string, string>> };
    const ours = parseRfc5424(messages[i] ?? '');
    const sd = Object.fromEntries(ours.sd.map((e) => [e.id, Object.fromEntries(e.params)]));
    const same =
      got.appName === (ours.appName ?? '-') &&
      got.procid === (ours.procid ?? '-') &&
      got.msgid === (ours.msgid ?? '-') &&
      Number(got.pri) === ours.pri &&
      (ours.hostname === null || got.hostname === ours.hostname) &&
      Date.parse(got.timestamp) === Date.parse(ours.timestamp ?? '') &&
      got.msg === ours.msg &&
      JSON.stringify(got.sd) === JSON.stringify(sd);
    if (!same) t.fail(`message ${i} differs:\n  sent ${messages[i]}\n  rsyslog ${line}`);
  }
  t.pass(`${lines.length} messages compared`);
});
