/** The small parts on their own: error table, offsets, dedupe memory, durations, cursor file, lock, lifecycle. */
import t from 'tap';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { httpError, bodyError, transportError, failEnvelope, DuoApiError } from '../../../src/sources/duo-api/errors.js';
import { normaliseOffset, endpointFor, contentHash, AUTHENTICATION, TRUST_MONITOR, ADMINISTRATOR } from '../../../src/sources/duo-api/endpoints.js';
import { BoundedIdSet } from '../../../src/sources/duo-api/dedupe.js';
import { parseDuration, formatDuration } from '../../../src/sources/duo-api/duration.js';
import { CursorStore, cursorProgressMs, hostFileTag } from '../../../src/sources/duo-api/cursor.js';
import { HostLock } from '../../../src/sources/duo-api/lock.js';
import { RequestBudget } from '../../../src/sources/duo-api/budget.js';
import { createDuoApiSource } from '../../../src/sources/duo-api/index.js';
import { duoApiSourceSchema } from '../../../src/config/schema.js';
import { silentLogger } from '../../../src/ops/logger.js';
import { tmpState, recorder } from '../../mock-duo-api/helpers.js';
import { DataSet, ENDPOINTS, type MockEndpoint } from '../../mock-duo-api/data.js';

const call = { method: 'GET', path: '/admin/v2/logs/authentication', host: 'api-x.duosecurity.com' };

t.test('HTTP failures map to codes; messages name the call, Duo code and a fix', async (t) => {
  const table: Array<[number, unknown, number | undefined, string, RegExp]> = [
    [429, { stat: 'FAIL', code: 42901, message: 'Too Many Requests' }, undefined, 'DR_ERR_DUO_RATE_LIMIT', /rate-limited GET \/admin\/v2\/logs\/authentication on api-x.*42901/],
    [401, { stat: 'FAIL', code: 40105, message: 'Bad request timestamp' }, -90_000, 'DR_ERR_DUO_CLOCK', /1 min 30 s ahead of Duo's.*Check the clock/],
    [401, { stat: 'FAIL', code: 40103, message: 'Invalid signature' }, 400_000, 'DR_ERR_DUO_CLOCK', /6 min 40 s behind/],
    [401, { stat: 'FAIL', code: 40103, message: 'Invalid signature' }, 0, 'DR_ERR_DUO_AUTH', /check the ikey and skey first, then the clock/],
    [401, { stat: 'FAIL', code: 40105, message: 'Bad request timestamp' }, undefined, 'DR_ERR_DUO_CLOCK', /no Date to measure the skew/],
    [401, { stat: 'FAIL', code: 40101, message: 'Missing request credentials' }, undefined, 'DR_ERR_DUO_AUTH', /check the ikey, the skey/],
    [403, { stat: 'FAIL', code: 40301, message: 'Access forbidden' }, undefined, 'DR_ERR_DUO_AUTH', /"Grant read log".*IP allow-list/],
    [400, { stat: 'FAIL', code: 40002, message: 'Invalid request parameters', message_detail: 'mintime must be within the past 180 days' }, undefined, 'DR_ERR_DUO_API', /40002: Invalid request parameters: mintime must be within/],
    [503, {}, undefined, 'DR_ERR_DUO_API', /a server error: HTTP 503/],
    [200, { stat: 'FAIL' }, undefined, 'DR_ERR_DUO_RESPONSE', /stat is not OK/],
  ];
  for (const [status, body, skew, code, msg] of table) {
    const e = httpError(call, status, body, skew);
    t.match(e, { code, message: msg, status }, `${status} ${JSON.stringify(body)}`);
  }
  t.same(failEnvelope({ code: '42901', message: 'x' }), { code: 42901, message: 'x' });
  t.same(failEnvelope('nope'), {});
  t.match(bodyError(call, 502, 'text/html', '<html><title>502 Bad Gateway</title></html>'), { code: 'DR_ERR_DUO_RESPONSE', message: /HTML page "502 Bad Gateway"/ });
  t.match(bodyError(call, 200, undefined, ''), { message: /an empty body/ });
  t.match(transportError(call, Object.assign(new Error('x'), { code: 'UND_ERR_CONNECT_TIMEOUT' }), 'request'), { code: 'DR_ERR_CONNECT_TIMEOUT' });
  t.match(transportError(call, Object.assign(new Error('x'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }), 'request'), { code: 'DR_ERR_TLS' });
  t.match(transportError(call, Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }), 'body'), { code: 'DR_ERR_DUO_RESPONSE', message: /cut off/ });
  t.ok(new DuoApiError('DR_ERR_DUO_API', 'x').retryable);
  t.notOk(httpError(call, 403, {}, undefined).retryable, 'a 403 is not a transient fault');
});

t.test('offset tokens and record ids', async (t) => {
  t.equal(normaliseOffset(['1532951895000', 'af0b']), '1532951895000,af0b');
  t.equal(normaliseOffset('1666714065304,5bf1'), '1666714065304,5bf1');
  t.equal(normaliseOffset(2), '2');
  for (const none of [null, undefined, '', [], {}]) t.equal(normaliseOffset(none), null);
  t.equal(AUTHENTICATION.nextOffset({ authlogs: [], metadata: { next_offset: ['1', 'a'] } }, undefined), '1,a');
  t.equal(TRUST_MONITOR.nextOffset({ events: [] }, { next_offset: 3 }), '3', 'top-level metadata too');
  t.equal(AUTHENTICATION.idOf({ txid: 'abc' }), 'abc');
  t.equal(AUTHENTICATION.idOf({}), contentHash({}), 'a record without its id falls back to a hash');
  t.equal(ADMINISTRATOR.idOf({ a: 1 }), ADMINISTRATOR.idOf({ a: 1 }));
  t.not(ADMINISTRATOR.idOf({ a: 1 }), ADMINISTRATOR.idOf({ a: 2 }));
  t.equal(AUTHENTICATION.timeMsOf({ isotimestamp: '2021-07-23T07:21:51.271776+00:00', timestamp: 1627024911 }), 1627024911271);
  t.equal(AUTHENTICATION.timeMsOf({ timestamp: 1627024911 }), 1627024911000);
  t.equal(endpointFor('telephony', 1).path, '/admin/v1/logs/telephony');
  t.equal(endpointFor('telephony', 2).path, '/admin/v2/logs/telephony');
  t.equal(AUTHENTICATION.records({ authlogs: 'x' }), undefined);
});

t.test('dedupe memory is bounded: the oldest ids go first', async (t) => {
  const s = new BoundedIdSet(3);
  for (const id of ['a', 'b', 'c', 'a', 'd']) s.add(id);
  t.equal(s.size, 3);
  t.notOk(s.has('a'));
  t.ok(s.has('b') && s.has('c') && s.has('d'));
});

t.test('durations', async (t) => {
  t.equal(parseDuration('30d', 'x'), 30 * 86_400_000);
  t.equal(parseDuration('90s', 'x'), 90_000);
  t.throws(() => parseDuration('3 weeks', 'backfill --since'), { code: 'DR_ERR_CONFIG', message: /backfill --since: "3 weeks" is not a duration/ });
  t.equal(formatDuration(65_000), '1m05s');
  t.equal(formatDuration(3 * 86_400_000 + 7_200_000), '3d02h');
});

t.test('request budget spaces requests', async (t) => {
  const b = new RequestBudget(100);
  const t0 = performance.now();
  await b.take();
  await b.take();
  await b.take();
  t.ok(performance.now() - t0 >= 195, 'three requests take two intervals');
  const ac = new AbortController();
  ac.abort(new Error('stop'));
  await t.rejects(b.take(ac.signal), { message: 'stop' });
});

t.test('cursor file: coalesced atomic writes, progress, corrupt file refused', async (t) => {
  const dir = tmpState();
  t.equal(hostFileTag('API-x.duosecurity.com:8443'), 'api-x.duosecurity.com_8443');
  const store = new CursorStore(dir, 'h:1');
  await store.load();
  await Promise.all(Array.from({ length: 50 }, (_, i) => store.commit(`self/l${i % 5}`, { mintime_ms: i, seen: [] })));
  const saved = JSON.parse(readFileSync(store.path, 'utf8')) as { cursors: Record<string, { mintime_ms: number }> };
  t.equal(Object.keys(saved.cursors).length, 5);
  t.equal(saved.cursors['self/l4']?.mintime_ms, 49, 'the last commit of each lane is on disk');
  const again = new CursorStore(dir, 'h:1');
  await again.load();
  t.same(again.get('self/l0'), { mintime_ms: 45, seen: [] });
  t.equal(cursorProgressMs({ mintime_ms: 5, window: { mintime_ms: 5, maxtime_ms: 9e12, offset: '1700000000000,abc' }, seen: [] }), 1_700_000_000_000);
  t.equal(cursorProgressMs({ mintime_ms: 5, window: { mintime_ms: 5, maxtime_ms: 9, offset: '7' }, seen: [] }), 5);
  writeFileSync(store.path, '{"version":1,"cursors":');
  await t.rejects(new CursorStore(dir, 'h:1').load(), { code: 'DR_ERR_CHECKPOINT', message: /unreadable.*move the file away to start again from initial_window/ });
});

t.test('host lock: stale taken over, live owner refused, released on close', async (t) => {
  const dir = tmpState();
  const lock = new HostLock(dir, 'api-x:1');
  writeFileSync(lock.path, '999999999\n');
  await lock.acquire();
  t.equal(readFileSync(lock.path, 'utf8').trim(), String(process.pid), 'a dead owner’s lock was taken over');
  await t.rejects(new HostLock(dir, 'api-x:1').acquire(), { code: 'DR_ERR_CONFIG' });
  await lock.release();
  t.notOk(existsSync(lock.path));
  writeFileSync(lock.path, `${process.pid}\n`);
  const reused = new HostLock(dir, 'api-x:1');
  await reused.acquire();
  t.pass('our own pid in a lock we do not hold (a container restart) is stale too');
  await reused.release();
});

t.test('source lifecycle: close is idempotent, no restart after close, destroy releases the lock', async (t) => {
  const dir = tmpState();
  const cfg = { ...duoApiSourceSchema.parse({ type: 'duo-api', host: '127.0.0.1:9', ikey: 'DIXXXXXXXXXXXXXXXXXX', skey: 's', logs: ['authentication'] }), poll_interval_ms: 60_000, connect_timeout_ms: 200 };
  const s = createDuoApiSource(cfg, { stateDir: dir, logger: silentLogger(), skey: 's', userAgent: 'ua' });
  t.equal(s.name, '127.0.0.1:9');
  await s.start(recorder().emit);
  await t.rejects(s.start(recorder().emit), { code: 'DR_ERR_CONFIG' });
  await s.close();
  await s.close();
  await t.rejects(s.start(recorder().emit), { code: 'DR_ERR_CLOSED' });
  t.notOk(existsSync(join(dir, 'duo-api-127.0.0.1_9.lock')), 'lock released');
  const d = createDuoApiSource(cfg, { stateDir: dir, logger: silentLogger(), skey: 's', userAgent: 'ua' });
  await d.start(recorder().emit);
  d.destroy(new Error('test'));
  await new Promise((r) => setTimeout(r, 50));
  t.notOk(existsSync(join(dir, 'duo-api-127.0.0.1_9.lock')), 'lock released by destroy');
  t.throws(() => createDuoApiSource({ ...cfg, initial_window: 'soon' }, { stateDir: dir, logger: silentLogger(), skey: 's', userAgent: 'ua' }), { code: 'DR_ERR_CONFIG' });
  const bad = createDuoApiSource({ ...cfg, ca: join(dir, 'missing.pem') }, { stateDir: dir, logger: silentLogger(), skey: 's', userAgent: 'ua' });
  await t.rejects(bad.start(recorder().emit), { code: 'DR_ERR_CONFIG', message: /Cannot read the CA file/ });
  t.notOk(existsSync(join(dir, 'duo-api-127.0.0.1_9.lock')), 'a failed start releases the lock');
});

t.test('real response bodies (Elastic mock fixtures): our endpoint specs read them, our mock serves the same fields', async (t) => {
  const body = (name: string): { response: unknown; metadata?: unknown } => JSON.parse(readFileSync(new URL(`../../fixtures/duo/mock-bodies/${name}.json`, import.meta.url), 'utf8')) as { response: unknown };
  const cases: Array<[string, ReturnType<typeof endpointFor>, MockEndpoint, number, string | null]> = [
    ['admin_v1_logs_administrator', endpointFor('administrator', 2), 'administrator', 2, null],
    ['admin_v1_logs_offline_enrollment', endpointFor('offline-enrollment', 2), 'offline-enrollment', 1, null],
    ['admin_v1_logs_telephony', endpointFor('telephony', 1), 'telephony-v1', 3, null],
    ['admin_v2_logs_authentication', endpointFor('authentication', 2), 'authentication', 5, null],
    ['admin_v2_logs_telephony_page1', endpointFor('telephony', 2), 'telephony', 2, '1666714065304,5bf1a860-fe39-49e3-be29-217659663a74'],
    ['admin_v2_logs_telephony_page2_next_offset', endpointFor('telephony', 2), 'telephony', 1, null],
  ];
  for (const [name, spec, mockEndpoint, n, next] of cases) {
    const b = body(name);
    const rows = spec.records(b.response) ?? [];
    t.equal(rows.length, n, `${name}: records`);
    t.equal(spec.nextOffset(b.response, b.metadata), next, `${name}: next offset`);
    const first = rows[0] as Record<string, unknown>;
    t.ok(Number.isFinite(spec.timeMsOf(first)), `${name}: record time`);
    const info = ENDPOINTS.find((e) => e.endpoint === mockEndpoint);
    if (info === undefined) throw new Error(`no mock endpoint ${mockEndpoint}`);
    const ds = new DataSet(info, null, 10, Date.now() - 3_600_000, Date.now(), 7, 1);
    const mockKeys = Object.keys(ds.record(0)).sort();
    t.same(Object.keys(first).filter((k) => !mockKeys.includes(k)), [], `${name}: the mock serves every field of the real sample`);
  }
});
