/**
 * The undici dispatcher for one Duo source: timeouts on every phase, the system CAs plus an optional
 * extra CA (TLS-inspecting proxy, test server), and an HTTPS proxy from the config or `HTTPS_PROXY`
 * (honouring `NO_PROXY`).
 */
import { rootCertificates } from 'node:tls';
import type { Dispatcher } from 'undici';

export interface DispatcherOptions {
  /** Extra trusted CA, PEM text. */
  ca?: string | undefined;
  /** Proxy URL from the config; wins over the environment. */
  proxy?: string | undefined;
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  /** Sockets per origin: Duo rate-limits anyway, so a few are plenty. @default 4 */
  connections?: number;
  env?: NodeJS.ProcessEnv;
}

export function proxyFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  const v = env.HTTPS_PROXY ?? env.https_proxy;
  return v !== undefined && v !== '' ? v : undefined;
}

/**
 * undici is loaded here, on first use, not at startup: a relay without a duo-api source never
 * needs it, and it is the heaviest module of the process (about 100 ms and 20 MB RSS to load).
 */
export async function buildDispatcher(o: DispatcherOptions): Promise<Dispatcher> {
  const { Agent, ProxyAgent, EnvHttpProxyAgent } = await import('undici');
  const env = o.env ?? process.env;
  // An extra CA must add to the system roots, not replace them: Duo's own certificate still has to verify.
  const tls = o.ca !== undefined ? { ca: [...rootCertificates, o.ca] } : {};
  const common = {
    headersTimeout: o.headersTimeoutMs,
    bodyTimeout: o.bodyTimeoutMs,
    connections: o.connections ?? 4,
    connect: { timeout: o.connectTimeoutMs, ...tls },
  };
  if (o.proxy !== undefined) {
    return new ProxyAgent({ ...common, uri: o.proxy, requestTls: { timeout: o.connectTimeoutMs, ...tls }, proxyTls: { timeout: o.connectTimeoutMs, ...tls } });
  }
  const envProxy = proxyFromEnv(env);
  if (envProxy !== undefined) {
    const noProxy = env.NO_PROXY ?? env.no_proxy;
    return new EnvHttpProxyAgent({
      ...common,
      httpsProxy: envProxy,
      ...(noProxy !== undefined ? { noProxy } : {}),
      requestTls: { timeout: o.connectTimeoutMs, ...tls },
      proxyTls: { timeout: o.connectTimeoutMs, ...tls },
    });
  }
  return new Agent(common);
}
