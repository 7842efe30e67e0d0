import type { RelayEvent } from '../event.js';
import type { Logger } from '../ops/logger.js';

/** What a network destination gets from the pipeline besides its config. */
export interface DestinationContext {
  logger: Logger;
  /** Event → one wire message (RFC 5424, CEF…); chosen once per destination. */
  format: (ev: RelayEvent) => string;
  /** Metrics hook: events delivered, reconnect attempts, failures by code, events sent again after a lost connection. Optional. */
  onEvent?: (name: 'sent' | 'reconnect' | 'error' | 'replayed', n: number, code?: string) => void;
}
