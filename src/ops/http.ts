import { createServer, type Server } from 'node:http';
import type { Metrics } from './metrics.js';

/**
 * /metrics (Prometheus), /healthz (the process serves requests: liveness) and /readyz
 * (200 when `ready()` says so: every destination delivered its last batch).
 */
export async function startOpsServer(listen: string, metrics: Metrics, ready: () => boolean): Promise<Server> {
  const idx = listen.lastIndexOf(':');
  const host = listen.slice(0, idx);
  const port = Number(listen.slice(idx + 1));
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (url === '/metrics') {
      metrics.registry.metrics().then(
        (body) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(body);
        },
        () => {
          res.writeHead(500);
          res.end();
        },
      );
    } else if (url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
    } else if (url === '/readyz') {
      const ok = ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(ok ? 'ready\n' : 'not ready\n');
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  server.unref();
  return server;
}
