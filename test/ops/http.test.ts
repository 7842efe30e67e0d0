import t from 'tap';
import { request } from 'node:http';
import { Metrics } from '../../src/ops/metrics.js';
import { startOpsServer } from '../../src/ops/http.js';

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('/metrics, /healthz, /readyz', async (t) => {
  const metrics = new Metrics();
  metrics.eventsIn.inc({ source: 'authproxy' }, 3);
  metrics.deadLetters.inc({ source: 'authproxy' });
  let ready = false;
  const server = await startOpsServer('127.0.0.1:0', metrics, () => ready);
  t.teardown(() => server.close());
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  const m = await get(port, '/metrics');
  t.equal(m.status, 200);
  t.match(m.body, /duo_relay_events_in_total\{source="authproxy"\} 3/);
  t.match(m.body, /duo_relay_dead_letters_total\{source="authproxy"\} 1/);
  t.equal((await get(port, '/healthz')).status, 200);
  t.equal((await get(port, '/readyz')).status, 503, 'not ready');
  ready = true;
  t.equal((await get(port, '/readyz')).status, 200, 'ready');
  t.equal((await get(port, '/nope')).status, 404);
});

t.test('a busy port is a clear startup error', async (t) => {
  const metrics = new Metrics();
  const a = await startOpsServer('127.0.0.1:0', metrics, () => true);
  t.teardown(() => a.close());
  const addr = a.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  await t.rejects(startOpsServer(`127.0.0.1:${port}`, metrics, () => true), { code: 'EADDRINUSE' });
});
