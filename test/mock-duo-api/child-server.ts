/**
 * The mock Admin API in its own process (forked with IPC), so a bench measures the poller's CPU and
 * memory, not the mock's. argv[2]: JSON MockOptions (without `now`/`pki`). Sends `{host, ca}` once
 * listening; answers `'stats'` messages with the stats; exits on `'close'` or when the parent goes.
 */
import { startMockDuoApi, type MockOptions } from './server.js';

const opts = JSON.parse(process.argv[2] ?? '{}') as MockOptions;
const mock = await startMockDuoApi(opts);
const send = (m: unknown): void => {
  process.send?.(m);
};
process.on('message', (m: unknown) => {
  if (m === 'stats') {
    const s = mock.stats();
    send({ type: 'stats', stats: { ...s, log: [] } });
  } else if (m === 'close') {
    void mock.close().then(() => process.exit(0));
  }
});
process.on('disconnect', () => {
  void mock.close().then(() => process.exit(0));
});
send({ type: 'ready', host: mock.host, ca: mock.ca });
