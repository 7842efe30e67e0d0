/** Turns a validated config into running parts. Wiring only: each part lives in its own module. */
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Config, DestinationConfig } from '../config/schema.js';
import type { LoadedConfig } from '../config/load.js';
import type { Destination } from '../destinations/destination.js';
import type { DestinationContext } from '../destinations/context.js';
import type { Source } from '../sources/source.js';
import type { Logger } from '../ops/logger.js';
import type { RelayMetrics as Metrics } from '../ops/relay-metrics.js';
import { createFormatter } from '../formats/index.js';
import { createSyslogDestination } from '../destinations/syslog.js';
import { createRelpDestination } from '../destinations/relp.js';
import { createStdoutDestination } from '../destinations/stdout.js';
import { createRouter, type RouterOptions } from '../route/router.js';
import type { RouteThread } from '../pipeline/route-thread.js';
import type { FramingSpec } from '../pipeline/route-protocol.js';
import { DeadLetterFile } from '../ops/dead-letter.js';
import { SOFTWARE, VERSION, USER_AGENT } from '../version.js';

export function destinationName(cfg: DestinationConfig, index: number): string {
  if (cfg.type === 'stdout') return cfg.name;
  return cfg.name ?? `${cfg.transport}://${cfg.host}:${cfg.port}#${index}`;
}

export function buildDestinations(config: Config, logger: Logger, metrics?: Metrics): Destination[] {
  return config.destinations.map((cfg, i) => {
    const name = destinationName(cfg, i);
    const format = createFormatter(cfg, formatContext());
    const log = logger.child({ destination: name });
    if (cfg.type === 'stdout') return createStdoutDestination({ ...cfg, name }, { format });
    const named = { ...cfg, name };
    const onEvent: DestinationContext['onEvent'] = (what, n, code) => {
      if (metrics === undefined) return;
      if (what === 'reconnect') metrics.reconnects.inc({ destination: name }, n);
      else if (what === 'error') metrics.errors.inc({ component: name, code: code ?? 'unknown' }, n);
      else if (what === 'replayed') metrics.replayed.inc({ destination: name }, n);
    };
    if (cfg.transport === 'relp') return createRelpDestination(named, { logger: log, format, onEvent });
    return createSyslogDestination(named, { logger: log, format, onEvent });
  });
}

/**
 * Each source type's modules are loaded only when the config has one: the Admin API client
 * (undici) alone adds ~20 MB of RSS and ~170 ms of start-up to a relay that only tails a file.
 */
export async function buildSources(loaded: LoadedConfig, logger: Logger, deadLetters: DeadLetterFile): Promise<Source[]> {
  const { config } = loaded;
  const sources: Source[] = [];
  for (const [i, s] of config.sources.entries()) {
    const log = logger.child({ source: s.name ?? s.type });
    if (s.type === 'authproxy') {
      const { createAuthproxySource, QUEUED_BATCH_LINES, DIRECT_BATCH_LINES } = await import('../sources/authproxy/index.js');
      const batchLines = s.batch_lines ?? (config.queue.enabled ? QUEUED_BATCH_LINES : DIRECT_BATCH_LINES);
      sources.push(createAuthproxySource({ ...s, batch_lines: batchLines }, { stateDir: config.state_dir, logger: log, hostname: s.hostname ?? hostname(), deadLetter: (d) => deadLetters.write(s.name, d) }));
    } else if (s.type === 'duo-api') {
      const skey = loaded.skeys.get(i);
      if (skey === undefined) throw new Error(`sources.${i}: secret key missing after config load`);
      const { createDuoApiSource } = await import('../sources/duo-api/index.js');
      sources.push(createDuoApiSource(s, { stateDir: config.state_dir, logger: log, skey, userAgent: USER_AGENT }));
    } else {
      const { createSyslogSource } = await import('../sources/syslog/index.js');
      sources.push(createSyslogSource(s, { logger: log, deadLetter: (d) => deadLetters.write(s.name, d) }));
    }
  }
  return sources;
}

export function buildRouter(config: Config): ReturnType<typeof createRouter> {
  return createRouter(routerOptions(config));
}

function routerOptions(config: Config): RouterOptions {
  return { tags: config.tags, defaultHost: hostname() };
}

/**
 * The route thread (pipeline/route-thread.ts) unless `route_thread: false`: with the disk queue it
 * encodes queue payloads; without it, it formats and frames for the destinations when every one
 * takes framed batches (tcp and tls syslog), and is not used otherwise.
 */
export async function buildRouteThread(config: Config, logger: Logger, destinations: readonly Destination[]): Promise<RouteThread | undefined> {
  if (!config.route_thread) return undefined;
  const frame = config.queue.enabled ? undefined : framingSpecs(config, destinations);
  if (!config.queue.enabled && frame === undefined) return undefined;
  const { RouteThread } = await import('../pipeline/route-thread.js');
  const rt = new RouteThread({ router: routerOptions(config), logger: logger.child({ component: 'route-thread' }), ...(frame !== undefined ? { frame } : {}) });
  if (frame !== undefined) destinations.forEach((d, i) => d.recycleTo?.(rt.recycler(i)));
  return rt;
}

/** How the route thread formats for each destination, or undefined when one cannot take framed batches. */
function framingSpecs(config: Config, destinations: readonly Destination[]): FramingSpec[] | undefined {
  const specs: FramingSpec[] = [];
  for (const [i, cfg] of config.destinations.entries()) {
    const d = destinations[i];
    if (d?.sendFramed === undefined || d.recycleTo === undefined) return undefined;
    const { format, message, facility, enterprise_id, bom, max_message_bytes, framing } = cfg;
    specs.push({ format: { format, message, facility, enterprise_id, bom, max_message_bytes }, framing, context: formatContext() });
  }
  return specs;
}

function formatContext(): FramingSpec['context'] {
  return { fallbackHost: hostname(), software: SOFTWARE, swVersion: VERSION };
}

export function deadLetterPath(config: Config): string {
  return config.dead_letter_path ?? join(config.state_dir, 'dead-letter.jsonl');
}
