/**
 * Syslog destinations by transport: TCP and TLS streams (stream.ts), UDP datagrams (udp.ts).
 * RELP has its own session protocol and factory (relp.ts).
 */
import type { SyslogDestinationConfig } from '../config/schema.js';
import type { Destination } from './destination.js';
import type { DestinationContext } from './context.js';
import { RelayError, ErrorCodes } from '../errors.js';
import { StreamSyslogDestination } from './stream.js';
import { UdpSyslogDestination } from './udp.js';

export type { DestinationContext };

export function createSyslogDestination(cfg: SyslogDestinationConfig, ctx: DestinationContext): Destination {
  switch (cfg.transport) {
    case 'tcp':
    case 'tls':
      return new StreamSyslogDestination(cfg, ctx);
    case 'udp':
      return new UdpSyslogDestination(cfg, ctx);
    case 'relp':
      throw new RelayError(ErrorCodes.CONFIG, `Destination ${cfg.name ?? `${cfg.host}:${cfg.port}`}: transport relp is built by createRelpDestination (src/destinations/relp.ts), not createSyslogDestination.`);
  }
}
