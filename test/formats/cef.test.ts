import t from 'tap';
import fc from 'fast-check';
import type { RelayEvent } from '../../src/event.js';
import type { FormatOptions } from '../../src/config/schema.js';
import { createCefFormatter, cefSeverity } from '../../src/formats/cef.js';
import { messageBody } from '../../src/formats/message.js';

const OPTS: FormatOptions = { format: 'cef', message: 'flattened', facility: 'auth', enterprise_id: 32473, bom: false, max_message_bytes: 65_536 };
const CTX = { fallbackHost: 'relay', software: 'duo-relay', swVersion: '1.2.3' };
const RAW = JSON.stringify({ result: 'denied', reason: 'user_mistake', email: 'a@example.com', access_device: { ip: '10.1.2.3:4444', hostname: 'wks1', browser: 'Edge' }, user: { name: 'jdoe', key: 'DUKEY' } });
const ev = (over: Partial<RelayEvent> = {}): RelayEvent => ({
  kind: 'authentication', tag: 'auth.duo.authentication.events', msgid: 'authentication', host: 'api-1.duosecurity.com',
  time: '2020-02-13T18:56:20.351346+00:00', id: 'tx-1', fields: { result: 'denied' }, raw: RAW, ...over,
});

/** A test-side CEF reader: syslog prefix, 7 unescaped pipes, then key=value pairs. */
function readCef(line: string): { prefix: string; header: string[]; ext: Record<string, string> } {
  const at = line.indexOf('CEF:');
  const header: string[] = [];
  let cur = '';
  let i = at;
  for (; i < line.length && header.length < 7; i++) {
    const c = line[i];
    if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
    } else if (c === '|') {
      header.push(cur);
      cur = '';
    } else cur += c;
  }
  const ext: Record<string, string> = {};
  for (const part of line.slice(i).split(/ (?=[A-Za-z0-9]+=)/)) {
    const eq = part.indexOf('=');
    ext[part.slice(0, eq)] = part.slice(eq + 1).replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c));
  }
  return { prefix: line.slice(0, at), header, ext };
}

t.test('header, severity and standard keys', async (t) => {
  const f = createCefFormatter(OPTS, CTX, messageBody('flattened'));
  const line = f(ev());
  const { prefix, header, ext } = readCef(line);
  t.equal(prefix, '<37>Feb 13 18:56:20 api-1.duosecurity.com ');
  t.same(header, ['CEF:0', 'Duo Security', 'duo-relay', '1.2.3', 'authentication:denied', 'Duo authentication denied', '5']);
  t.same(ext, {
    rt: String(Date.parse('2020-02-13T18:56:20.351Z')),
    cat: 'auth.duo.authentication.events',
    externalId: 'tx-1',
    outcome: 'failure',
    reason: 'user_mistake',
    src: '10.1.2.3',
    spt: '4444',
    suser: 'jdoe',
    suid: 'DUKEY',
    shost: 'wks1',
    dvchost: 'api-1.duosecurity.com',
    requestClientApplication: 'Edge',
    cs1Label: 'duoKind',
    cs1: 'authentication',
    msg: '{"result":"denied"}',
  });
  t.equal(cefSeverity(4), 7);
  t.equal(cefSeverity(6), 3);
  t.match(readCef(f(ev({ kind: 'administrator', fields: { action: 'admin_login' }, raw: '{"action":"admin_login","username":"boss"}', account: 'DA1' }))), {
    header: ['CEF:0', 'Duo Security', 'duo-relay', '1.2.3', 'administrator:admin_login', 'Duo administrator admin_login', '3'],
    ext: { act: 'admin_login', suser: 'boss', cs2Label: 'duoAccount', cs2: 'DA1' },
  });
});

t.test('escaping round-trips through a CEF reader', async (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 60 }), fc.string({ unit: 'grapheme', maxLength: 60 }), (tag, id) => {
      const f = createCefFormatter(OPTS, CTX, messageBody('raw'));
      const raw = JSON.stringify({ reason: id + '=|\\\n', user: { name: tag } });
      const { ext } = readCef(f(ev({ tag, id, raw })));
      return ext['msg'] === raw && (id === '' || ext['externalId'] === id) && (tag === '' || ext['cat'] === tag) && ext['reason'] === id + '=|\\\n';
    }),
  );
  t.pass('property held');
});

t.test('byte limit cuts msg only and never leaves half an escape', async (t) => {
  const f = createCefFormatter({ ...OPTS, max_message_bytes: 600 }, CTX, messageBody('raw'));
  const out = f(ev({ raw: '\\'.repeat(2000) }));
  t.ok(Buffer.byteLength(out) <= 600);
  t.equal(f.stats.truncated, 1);
  const tail = out.slice(out.indexOf(' msg=') + 5);
  t.equal(tail.length % 2, 0, 'backslashes come in escaped pairs');
  t.equal(readCef(out).ext['cs1'], 'authentication', 'keys before msg intact');
});
