/**
 * HTTP layer: the User-Agent, an HTTPS proxy from the config and from HTTPS_PROXY (NO_PROXY honoured),
 * and the clear errors for an untrusted certificate and an unresolvable host.
 */
import t from 'tap';
import { createServer, type Server } from 'node:http';
import { connect, type Socket, type AddressInfo } from 'node:net';
import { DuoClient } from '../../../src/sources/duo-api/client.js';
import { DuoApiError } from '../../../src/sources/duo-api/errors.js';
import { createDuoApiSource } from '../../../src/sources/duo-api/index.js';
import { startMockDuoApi } from '../../mock-duo-api/server.js';
import { mockConfig, tmpState, recorder, waitFor, captureLogger, IKEY, SKEY, UA } from '../../mock-duo-api/helpers.js';
import { readFileSync } from 'node:fs';

/** A plain HTTP CONNECT proxy on 127.0.0.1 that counts the tunnels it opened. */
async function startProxy(): Promise<{ url: string; tunnels: string[]; close: () => Promise<void> }> {
  const tunnels: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((_req, res) => {
    res.writeHead(405);
    res.end();
  });
  server.on('connect', (req, client: Socket) => {
    tunnels.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(':');
    const upstream = connect(Number(port), host ?? '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.pipe(client);
      client.pipe(upstream);
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    tunnels,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function client(over: Partial<ConstructorParameters<typeof DuoClient>[0]> = {}): DuoClient {
  return new DuoClient({ ikey: IKEY, skey: SKEY, sigVersion: 5, userAgent: UA, connectTimeoutMs: 2000, headersTimeoutMs: 2000, bodyTimeoutMs: 2000, env: {}, ...over });
}

t.test('proxy from the config, then from HTTPS_PROXY; NO_PROXY bypasses it', async (t) => {
  const mock = await startMockDuoApi({ ikey: IKEY, skey: SKEY, events: { authentication: 1200 } });
  t.teardown(() => mock.close());
  const proxy = await startProxy();
  t.teardown(() => proxy.close());
  const rec = recorder();
  const source = createDuoApiSource(mockConfig(mock, { proxy: proxy.url }, { logs: ['authentication'] }), { stateDir: tmpState(), logger: captureLogger().logger, skey: SKEY, userAgent: UA, env: {} });
  t.teardown(() => source.close());
  await source.start(rec.emit);
  t.ok(await waitFor(() => rec.records.length === 1200, 10_000), 'records came through the proxy');
  await source.close();
  t.ok(proxy.tunnels.length >= 1 && proxy.tunnels.every((u) => u === mock.host), `tunnelled to ${mock.host}`);

  const ca = readFileSync(mock.ca, 'utf8');
  const before = proxy.tunnels.length;
  const viaEnv = client({ ca, env: { HTTPS_PROXY: proxy.url } });
  t.teardown(() => viaEnv.close());
  const res = await viaEnv.call({ method: 'GET', host: mock.host, path: '/admin/v1/logs/administrator', params: { mintime: String(Math.floor(Date.now() / 1000) - 3600) } });
  t.ok(Array.isArray(res.response));
  t.equal(proxy.tunnels.length, before + 1, 'HTTPS_PROXY was used');
  const bypass = client({ ca, env: { HTTPS_PROXY: proxy.url, NO_PROXY: '127.0.0.1' } });
  t.teardown(() => bypass.close());
  await bypass.call({ method: 'GET', host: mock.host, path: '/admin/v1/logs/administrator', params: { mintime: String(Math.floor(Date.now() / 1000) - 3600) } });
  t.equal(proxy.tunnels.length, before + 1, 'NO_PROXY bypassed it');
  t.same(mock.stats().userAgents, [UA], 'our User-Agent on every request');
});

t.test('an untrusted certificate: a TLS error that says to set ca', async (t) => {
  const mock = await startMockDuoApi({ ikey: IKEY, skey: SKEY });
  t.teardown(() => mock.close());
  const c = client({ ca: readFileSync(mock.pki.otherCa, 'utf8') });
  t.teardown(() => c.close());
  const err = await c.call({ method: 'GET', host: mock.host, path: '/admin/v1/logs/administrator', params: {} }).catch((e: unknown) => e);
  t.type(err, DuoApiError);
  t.match(err, { code: 'DR_ERR_TLS', message: /TLS verification of 127\.0\.0\.1:\d+ failed.*set ca to its CA file/ });
});

t.test('an unresolvable host and a closed port: coded errors, no crash', async (t) => {
  const c = client({ connectTimeoutMs: 3000 });
  t.teardown(() => c.close());
  const dns = await c.call({ method: 'GET', host: 'no-such-host.invalid', path: '/admin/v1/logs/administrator', params: {} }).catch((e: unknown) => e);
  t.type(dns, DuoApiError);
  t.ok(['DR_ERR_CONNECT', 'DR_ERR_CONNECT_TIMEOUT'].includes((dns as DuoApiError).code), `DNS failure → ${(dns as DuoApiError).code}: ${(dns as Error).message}`);
  // A port nobody listens on (bound then released).
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  const refused = await c.call({ method: 'GET', host: `127.0.0.1:${port}`, path: '/admin/v1/logs/administrator', params: {} }).catch((e: unknown) => e);
  t.match(refused, { code: 'DR_ERR_CONNECT', message: /ECONNREFUSED.*retrying next cycle/ });
});

t.test('a caller abort is not reported as a Duo fault', async (t) => {
  const mock = await startMockDuoApi({ ikey: IKEY, skey: SKEY, events: { authentication: 5 } });
  t.teardown(() => mock.close());
  mock.inject('slowHeaders', { ms: 3000 });
  const c = client({ ca: readFileSync(mock.ca, 'utf8') });
  t.teardown(() => c.close());
  const ac = new AbortController();
  const reason = new Error('shutting down');
  setTimeout(() => ac.abort(reason), 100);
  const params = { mintime: String(Math.floor(Date.now() / 1000) - 3600) };
  const err = await c.call({ method: 'GET', host: mock.host, path: '/admin/v1/logs/administrator', params, signal: ac.signal }).catch((e: unknown) => e);
  t.equal(err, reason);
});
