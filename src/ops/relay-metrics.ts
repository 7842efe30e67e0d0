/**
 * The metrics the relay's parts update, as they see them. Served by prom-client (metrics.ts) when
 * `metrics_listen` is set; otherwise nothing could read them, and `nullMetrics` keeps prom-client
 * and its default collectors (a GC observer, event-loop timers, ~10 MB) out of the process.
 */
type Labels = Record<string, string>;

export interface CounterLike {
  inc(labels: Labels, value?: number): void;
  inc(value?: number): void;
}

export interface GaugeLike {
  set(labels: Labels, value: number): void;
  set(value: number): void;
}

export interface RelayMetrics {
  readonly eventsIn: CounterLike;
  readonly eventsOut: CounterLike;
  readonly deadLetters: CounterLike;
  readonly errors: CounterLike;
  readonly reconnects: CounterLike;
  readonly truncated: CounterLike;
  readonly replayed: CounterLike;
  readonly dropped: CounterLike;
  readonly queueBytes: GaugeLike;
  readonly queueRecords: GaugeLike;
  readonly queueOldestAge: GaugeLike;
  readonly destinationLag: GaugeLike;
  readonly destinationUp: GaugeLike;
}

const counter: CounterLike = { inc: () => undefined };
const gauge: GaugeLike = { set: () => undefined };

/** Metrics nobody reads: every update is a no-op. */
export function nullMetrics(): RelayMetrics {
  return {
    eventsIn: counter,
    eventsOut: counter,
    deadLetters: counter,
    errors: counter,
    reconnects: counter,
    truncated: counter,
    replayed: counter,
    dropped: counter,
    queueBytes: gauge,
    queueRecords: gauge,
    queueOldestAge: gauge,
    destinationLag: gauge,
    destinationUp: gauge,
  };
}
