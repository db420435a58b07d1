import type { Logger } from "pino";
import { EventLogService } from "../../gen/meshwork/events/v1/event_log_pb.js";
import { ClientFactory } from "../client/client-factory.js";
import { backoffDelay, sleep, type BackoffOptions } from "./backoff.js";
import type { Delivery, EventBus, SubscribeOptions, Subscription } from "./event-bus.js";
import { EventLog, eventLogOf } from "./event-log.js";
import type { ConsumerPositionStore, EventLogStore } from "./event-stores.js";

export interface EmbeddedBusOptions {
  /**
   * The process's own database (its store's `events`): its event log when it
   * publishes, its consumer positions when it subscribes.
   */
  readonly store: { readonly eventLog: EventLogStore; readonly positions: ConsumerPositionStore };
  /**
   * The producer of each stream this process subscribes to, e.g. { orders:
   * "http://127.0.0.1:50053" }, or a comma-separated list of its replicas
   * when they share a PostgreSQL database (each serves the whole log).
   */
  readonly sources?: Readonly<Record<string, string>>;
  /** Makes the clients to the sources. Default: one of the bus's own, closed with it. */
  readonly clients?: ClientFactory;
  readonly logger: Logger;
  /**
   * Backoff between deliveries of an event whose handler rejected. Default:
   * 200 ms doubling up to 10 s.
   */
  readonly redelivery?: BackoffOptions;
  /**
   * Backoff between attempts to reach a producer that is down. Default:
   * 100 ms doubling up to 5 s: a restarted producer is found within seconds.
   */
  readonly reconnect?: BackoffOptions;
}

/** The embedded bus: an EventBus whose log the process serves with `eventLogService(bus.log)`. */
export interface EmbeddedBus extends EventBus {
  /** This process's event log. */
  readonly log: EventLog;
}

export function isEmbeddedBus(bus: EventBus): bus is EmbeddedBus {
  return "log" in bus && (bus as Partial<EmbeddedBus>).log instanceof EventLog;
}

/**
 * Subscribe streams never end on their own: their deadline only bounds how
 * long one connection lives (a reconnect resumes from the position).
 */
const subscribeTimeoutMs = 24 * 60 * 60 * 1000;

/**
 * An event bus that needs no server of its own. A producer's `publish`
 * appends to the log in its own database (deduplicated on the event id; once
 * committed, the event is acknowledged), and the producer serves that log
 * over EventLogService. A consumer pulls each stream from its producer
 * (`sources`), starting after the position it persisted, handles events one
 * at a time in order, redelivers an event with backoff while its handler
 * rejects, and persists the new position only after the handler resolved:
 * at least once, in order, across restarts of either side. A process may be
 * both producer and consumer.
 */
export function createEmbeddedBus(options: EmbeddedBusOptions): EmbeddedBus {
  const { store, logger } = options;
  const log = eventLogOf(store.eventLog, logger);
  const ownClients = options.clients === undefined ? new ClientFactory() : undefined;
  const clients = options.clients ?? ownClients!;
  const redelivery = options.redelivery ?? { initialMs: 200, maxMs: 10_000 };
  const reconnect = options.reconnect ?? { initialMs: 100, maxMs: 5_000 };
  const subscriptions = new Set<Subscription>();

  const subscribe = ({ stream, durable, handle }: SubscribeOptions): Subscription => {
    const source = options.sources?.[stream];
    if (source === undefined) {
      throw new Error(`no source configured for event stream "${stream}" (embedded bus sources: ${JSON.stringify(options.sources ?? {})})`);
    }
    const client = clients.client(EventLogService, {
      name: `event-log ${source}`,
      // Over mTLS the source must be the stream's producer: a stream is named
      // after the service that publishes it (orders, inventory).
      service: stream,
      // A comma-separated list: producer replicas sharing one database serve the same log; any will do.
      endpoints: source.includes(",") ? source.split(",").map((url) => url.trim()) : source,
      timeouts: { defaultTimeoutMs: subscribeTimeoutMs },
      breaker: false,
      retry: false,
      bulkhead: false,
    });
    const stopping = new AbortController();
    const child = logger.child({ stream, durable, source });

    const run = async (): Promise<void> => {
      let failures = 0;
      while (!stopping.signal.aborted) {
        try {
          let after = await store.positions.get(stream, durable);
          const responses = client.subscribe({ stream, afterSequence: BigInt(after) }, { signal: stopping.signal });
          for await (const { sequence, envelope } of responses) {
            failures = 0;
            const seq = Number(sequence);
            if (seq <= after || envelope === undefined) {
              continue;
            }
            if (seq !== after + 1) {
              throw new Error(`event log of "${stream}" jumped from ${after} to ${seq}`);
            }
            if (!(await deliver({ envelope, attempt: 1 }))) {
              return;
            }
            await store.positions.set(stream, durable, seq);
            after = seq;
          }
        } catch (err) {
          if (stopping.signal.aborted) {
            return;
          }
          failures += 1;
          const delayMs = backoffDelay(reconnect, failures);
          (failures === 1 ? child.warn.bind(child) : child.debug.bind(child))(
            { err, failures, delayMs },
            "event source unreachable; reconnecting",
          );
          await sleep(delayMs, stopping.signal);
          continue;
        }
        // The producer ended the stream (it is shutting down): reconnect.
        failures += 1;
        await sleep(backoffDelay(reconnect, failures), stopping.signal);
      }
    };

    /** Hands the event to `handle` until it resolves; false when stopped first. */
    const deliver = async (first: Delivery): Promise<boolean> => {
      for (let attempt = first.attempt; ; attempt++) {
        try {
          await handle({ envelope: first.envelope, attempt });
          return true;
        } catch (err) {
          const delayMs = backoffDelay(redelivery, attempt);
          child.debug({ err, eventId: first.envelope.id, attempt, delayMs }, "handler rejected the event; redelivering");
          await sleep(delayMs, stopping.signal);
          if (stopping.signal.aborted) {
            return false;
          }
        }
      }
    };

    const running = run().catch((err: unknown) => child.error({ err }, "embedded consumer stopped on an unexpected error"));
    const subscription: Subscription = {
      async stop() {
        stopping.abort();
        await running;
        subscriptions.delete(subscription);
      },
    };
    subscriptions.add(subscription);
    return subscription;
  };

  return {
    log,
    async publish(stream, envelope) {
      await log.append(stream, envelope);
    },
    subscribe,
    async close() {
      await Promise.all([...subscriptions].map((s) => s.stop()));
      await log.close();
      ownClients?.close();
    },
  };
}
