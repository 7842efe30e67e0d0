import t from 'tap';
import type { RelayEvent } from '../../src/event.js';
import type { FormatOptions } from '../../src/config/schema.js';
import { createLeefFormatter, LEEF_TIME_FORMAT } from '../../src/formats/leef.js';
import { messageBody } from '../../src/formats/message.js';

const OPTS: FormatOptions = { format: 'leef', message: 'flattened', facility: 'local0', enterprise_id: 32473, bom: false, max_message_bytes: 65_536 };
const CTX = { fallbackHost: 'relay', software: 'duo|relay', swVersion: '1.2.3' };
const ev = (over: Partial<RelayEvent> = {}): RelayEvent => ({
  kind: 'authproxy', tag: 'auth.duo.authentication-proxy.events', msgid: 'authproxy', host: 'proxyhost', time: '2024-05-14T09:30:00.123456Z', id: 'ap-1',
  fields: { status: 'Reject' },
  raw: JSON.stringify({ msg: 'Login\trequest denied.', username: 'bwayne', status: 'Reject', client_ip: '10.20.30.42', hostname: 'authproxy01', auth_stage: 'Secondary authentication' }),
  ...over,
});

t.test('LEEF 2.0 header with tab delimiter and attributes', async (t) => {
  const f = createLeefFormatter(OPTS, CTX, messageBody('flattened'));
  const line = f(ev());
  t.ok(line.startsWith('<133>May 14 09:30:00 proxyhost LEEF:2.0|Duo Security|duo relay|1.2.3|authproxy:Reject|x09|'), line.slice(0, 120));
  const attrs = line.slice(line.indexOf('|x09|') + 5).split('\t');
  const map = Object.fromEntries(attrs.map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]));
  t.same(map, {
    devTime: '2024-05-14T09:30:00.123Z',
    devTimeFormat: LEEF_TIME_FORMAT,
    cat: 'auth.duo.authentication-proxy.events',
    sev: '5',
    src: '10.20.30.42',
    usrName: 'bwayne',
    identHostName: 'authproxy01',
    externalId: 'ap-1',
    action: 'secondary_authentication',
    outcome: 'failure',
    reason: 'Login request denied.',
    duoKind: 'authproxy',
    msg: '{"status":"Reject"}',
  });
  t.notOk(line.includes('\n'));
});

t.test('byte limit', async (t) => {
  const f = createLeefFormatter({ ...OPTS, max_message_bytes: 500 }, CTX, messageBody('raw'));
  const out = f(ev({ raw: '{"a":"' + '\t'.repeat(3000) + '"}' }));
  t.ok(Buffer.byteLength(out) <= 500);
  t.equal(f.stats.truncated, 1);
  t.equal(out.slice(out.indexOf('\tmsg=') + 5).includes('\t'), false, 'no tab inside msg');
});
