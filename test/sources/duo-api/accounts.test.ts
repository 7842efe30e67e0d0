/**
 * Several accounts: an MSP parent (children listed through the Accounts API, relisted, records tagged
 * with the child account id) and several independent sources in one process.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDuoApiSource } from '../../../src/sources/duo-api/index.js';
import { startMockDuoApi } from '../../mock-duo-api/server.js';
import { recordKey } from '../../mock-duo-api/data.js';
import { mockConfig, tmpState, recorder, waitFor, captureLogger, IKEY, SKEY, UA } from '../../mock-duo-api/helpers.js';

const CHILD_A = 'DA00000000000000000A';
const CHILD_B = 'DA00000000000000000B';
const CHILD_C = 'DA00000000000000000C';

for (const sig of [5, 2] as const) {
  t.test(`MSP parent (v${sig} signing): children listed, relisted, every record tagged with its child`, async (t) => {
    const mock = await startMockDuoApi({
      ikey: IKEY,
      skey: SKEY,
      children: [
        { id: CHILD_A, name: 'Acme', events: { authentication: 1500, administrator: 1200 } },
        { id: CHILD_B, name: 'Bravo', events: { authentication: 300 } },
      ],
    });
    t.teardown(() => mock.close());
    const log = captureLogger();
    const rec = recorder();
    const stateDir = tmpState();
    const source = createDuoApiSource(mockConfig(mock, { msp_relist_interval_ms: 300, sig_version: sig }, { msp: true, logs: ['authentication', 'administrator'] }), {
      stateDir,
      logger: log.logger,
      skey: SKEY,
      userAgent: UA,
    });
    t.teardown(() => source.close());
    await source.start(rec.emit);
    const of = (account: string, kind: 'authentication' | 'administrator'): string[] => rec.records.filter((r) => r.account === account && r.kind === kind).map((r) => recordKey(kind, r.record ?? {}));
    t.ok(await waitFor(() => rec.records.length >= 3000, 10_000), 'both children delivered');
    t.same(new Set(of(CHILD_A, 'authentication')), new Set(mock.settledKeys('authentication', CHILD_A)));
    t.same(new Set(of(CHILD_A, 'administrator')), new Set(mock.settledKeys('administrator', CHILD_A)));
    t.same(new Set(of(CHILD_B, 'authentication')), new Set(mock.settledKeys('authentication', CHILD_B)));
    t.ok(rec.records.every((r) => r.account !== undefined && r.record?.host === '127.0.0.1'), 'every record names its child account');

    mock.addChild({ id: CHILD_C, events: { authentication: 250 } });
    mock.removeChild(CHILD_B);
    t.ok(await waitFor(() => of(CHILD_C, 'authentication').length === 250, 5000), 'a new child is picked up at the next relist');
    t.ok(await waitFor(() => log.lines.some((l) => l.account === CHILD_B && /left the MSP parent/.test(String(l.msg))), 5000), 'a removed child stops');
    await source.close();
    t.equal(rec.records.length, 3250, 'nothing twice');
    const st = mock.stats();
    t.equal(st.badSignatures, 0, 'the Accounts API POST and the child calls verified');
    // Only the removed child, between its removal and the next relist, can be refused.
    t.ok(st.badRequests.every((m) => m.includes(CHILD_B)), 'every child call named a valid account_id');
    t.ok((st.byPath['/accounts/v1/account/list'] ?? 0) >= 2, 'relisted');
    const cursors = JSON.parse(readFileSync(join(stateDir, `duo-api-127.0.0.1_${mock.port}.cursors.json`), 'utf8')) as { cursors: Record<string, unknown> };
    t.ok([`${CHILD_A}/authentication`, `${CHILD_A}/administrator`, `${CHILD_B}/authentication`, `${CHILD_C}/authentication`].every((k) => k in cursors.cursors), 'a cursor per (child, endpoint)');
  });
}

t.test('two accounts in one process, each with its own cursors; one host twice is refused', async (t) => {
  const a = await startMockDuoApi({ ikey: IKEY, skey: SKEY, events: { authentication: 1100 }, seed: 1 });
  const b = await startMockDuoApi({ ikey: 'DIOTHERIKEY000000002', skey: 'otherSkeyOtherSkeyOtherSkey0123456789ab', events: { authentication: 900 }, seed: 2, pki: a.pki });
  t.teardown(() => a.close());
  t.teardown(() => b.close());
  const stateDir = tmpState();
  const rec = recorder();
  const sa = createDuoApiSource(mockConfig(a, {}, { logs: ['authentication'] }), { stateDir, logger: captureLogger().logger, skey: SKEY, userAgent: UA });
  const sb = createDuoApiSource(mockConfig(b, { ikey: 'DIOTHERIKEY000000002' }, { logs: ['authentication'] }), {
    stateDir,
    logger: captureLogger().logger,
    skey: 'otherSkeyOtherSkeyOtherSkey0123456789ab',
    userAgent: UA,
  });
  t.teardown(() => sa.close());
  t.teardown(() => sb.close());
  await sa.start(rec.emit);
  await sb.start(rec.emit);
  t.ok(await waitFor(() => rec.records.length >= 2000, 10_000));
  const keys = rec.records.map((r) => recordKey('authentication', r.record ?? {}));
  t.same(new Set(keys), new Set([...a.settledKeys('authentication'), ...b.settledKeys('authentication')]), 'each account delivered its own records');
  t.equal(new Set(rec.records.map((r) => r.position)).size, 1);
  t.equal(a.stats().badSignatures + b.stats().badSignatures, 0, 'each signed with its own keys');
  const dup = createDuoApiSource(mockConfig(a, {}, { logs: ['authentication'] }), { stateDir, logger: captureLogger().logger, skey: SKEY, userAgent: UA });
  await t.rejects(dup.start(rec.emit), { code: 'DR_ERR_CONFIG', message: /Two duo-api sources in this process poll the same host/ });
  await sa.close();
  await sb.close();
  for (const m of [a, b]) t.ok(readFileSync(join(stateDir, `duo-api-127.0.0.1_${m.port}.cursors.json`), 'utf8').includes('self/authentication'), `cursor file for ${m.host}`);
});
