import { Registry, Counter, Gauge, collectDefaultMetrics } from 'prom-client';
import type { RelayMetrics } from './relay-metrics.js';

/** Fixed metric names shared by every component (house style 12). */
export class Metrics implements RelayMetrics {
  readonly registry = new Registry();
  readonly eventsIn = new Counter({ name: 'duo_relay_events_in_total', help: 'Records read by a source.', labelNames: ['source'], registers: [this.registry] });
  readonly eventsOut = new Counter({ name: 'duo_relay_events_out_total', help: 'Events delivered to a destination.', labelNames: ['destination'], registers: [this.registry] });
  readonly deadLetters = new Counter({ name: 'duo_relay_dead_letters_total', help: 'Records written to the dead-letter file.', labelNames: ['source'], registers: [this.registry] });
  readonly errors = new Counter({ name: 'duo_relay_errors_total', help: 'Errors by component and code.', labelNames: ['component', 'code'], registers: [this.registry] });
  readonly reconnects = new Counter({ name: 'duo_relay_reconnects_total', help: 'Destination reconnects.', labelNames: ['destination'], registers: [this.registry] });
  readonly truncated = new Counter({ name: 'duo_relay_truncated_total', help: 'Messages truncated to max_message_bytes.', labelNames: ['destination'], registers: [this.registry] });
  readonly replayed = new Counter({ name: 'duo_relay_replayed_total', help: 'Events sent again after a reconnect.', labelNames: ['destination'], registers: [this.registry] });
  readonly dropped = new Counter({ name: 'duo_relay_queue_dropped_total', help: 'Records dropped by the drop_oldest overflow policy.', registers: [this.registry] });
  readonly queueBytes = new Gauge({ name: 'duo_relay_queue_bytes', help: 'Bytes in the disk queue.', registers: [this.registry] });
  readonly queueRecords = new Gauge({ name: 'duo_relay_queue_records', help: 'Records in the disk queue.', registers: [this.registry] });
  readonly queueOldestAge = new Gauge({ name: 'duo_relay_queue_oldest_age_seconds', help: 'Age of the oldest queued record.', registers: [this.registry] });
  readonly destinationLag = new Gauge({ name: 'duo_relay_destination_lag_records', help: 'Queued records a destination has not yet delivered.', labelNames: ['destination'], registers: [this.registry] });
  readonly destinationUp = new Gauge({ name: 'duo_relay_destination_up', help: '1 when the last delivery to the destination succeeded.', labelNames: ['destination'], registers: [this.registry] });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics === true) collectDefaultMetrics({ register: this.registry, prefix: 'duo_relay_' });
  }
}
