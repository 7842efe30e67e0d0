import type { RelayEvent } from '../event.js';
import type { Destination, DestinationBatch } from './destination.js';

/** A batch for any destination: its own streaming form when it has one, else an array for send(). */
export function openBatch(d: Destination, expected: number): DestinationBatch {
  if (d.begin !== undefined) return d.begin(expected);
  const events: RelayEvent[] = [];
  return {
    push: (ev) => {
      events.push(ev);
    },
    send: () => d.send(events),
  };
}
