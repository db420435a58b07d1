import type { Envelope } from "../../gen/meshwork/events/v1/envelope_pb.js";

/**
 * One durable event bus, whichever carries it: the embedded bus (each
 * producer keeps its own log and serves it over EventLogService; no server
 * to install) or NATS JetStream (a stream per domain, durable consumers).
 * Delivery is at least once and in order per stream; effects are made
 * effectively once by consumers recording event ids (see inbox).
 */
export interface EventBus {
  /**
   * Publishes one event to `stream` (a domain, e.g. "orders") and resolves
   * once the bus has stored it durably. Publishing the same envelope id again
   * is a no-op for the bus (deduplicated), so an outbox relay that crashed
   * after publishing and before marking may safely publish again.
   */
  publish(stream: string, envelope: Envelope): Promise<void>;

  /**
   * Starts a durable consumer `durable` of `stream`: `handle` is called for
   * each event in order, one at a time. When it resolves the event is
   * acknowledged; when it rejects the event is redelivered later (the
   * consumer, not the bus, decides when to give up; see inbox). The
   * consumer's position survives restarts of either side.
   */
  subscribe(options: SubscribeOptions): Subscription;

  /** Stops every subscription and releases connections. */
  close(): Promise<void>;
}

export interface SubscribeOptions {
  readonly stream: string;
  /** The durable consumer's name, e.g. "notifications". */
  readonly durable: string;
  readonly handle: (delivery: Delivery) => Promise<void>;
}

/** One delivery of an event to a consumer. */
export interface Delivery {
  readonly envelope: Envelope;
  /** 1 on the first delivery, then 2, 3, ... as the bus redelivers it. */
  readonly attempt: number;
}

export interface Subscription {
  /** Stops delivering; resolves once no handler is running. */
  stop(): Promise<void>;
}
