import { defaultTextMapGetter, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Link, type Tracer } from "@opentelemetry/api";
import type { Logger } from "pino";
import type { Envelope } from "../../gen/meshwork/events/v1/envelope_pb.js";
import { propagator } from "../telemetry/propagation.js";
import type { Delivery, EventBus, Subscription } from "./event-bus.js";
import type { EventHandler } from "./event-handler.js";
import type { InboxStore } from "./event-stores.js";

export interface ConsumerOptions<Tx = unknown> {
  readonly bus: EventBus;
  /** The consuming service's inbox (its store's `events.inbox`). */
  readonly inbox: InboxStore<Tx>;
  /** The stream to consume, e.g. "orders". */
  readonly stream: string;
  /** The consumer's durable name, e.g. "notifications": its position and its inbox rows go by it. */
  readonly durable: string;
  /** One handler per event type (see `on`); other types are acknowledged unhandled. */
  readonly handlers: readonly EventHandler<Tx>[];
  /**
   * After this many failed deliveries of one event it goes to the dead
   * letters and the consumer moves on. Default: 5 — with the buses' backoff,
   * several seconds, enough to ride out a transient fault without holding
   * the stream for long behind a poison event.
   */
  readonly maxAttempts?: number;
  readonly logger: Logger;
  /** Traces each event's handling with a CONSUMER span linked to the producer's. Default: no tracing. */
  readonly tracer?: Tracer;
}

/**
 * Consumes a stream with effectively-once effects. For each delivery: an
 * event already handled is acknowledged with no second effect; otherwise its
 * type's handler runs and the event id goes into the inbox in one
 * transaction. A handler that throws makes the bus redeliver the event with
 * backoff; on the delivery numbered maxAttempts the event is recorded in the
 * dead letters (an operator lists and replays them through
 * DeadLetterService), logged, and acknowledged. An event type with no handler
 * is acknowledged and logged at debug: producers may add types before
 * consumers learn them.
 */
export function startConsumer<Tx>(options: ConsumerOptions<Tx>): Subscription {
  const { bus, inbox, stream, durable, logger, tracer } = options;
  const maxAttempts = options.maxAttempts ?? 5;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new RangeError(`maxAttempts must be an integer >= 1, got ${maxAttempts}`);
  }
  const handlers = new Map<string, EventHandler<Tx>>();
  for (const handler of options.handlers) {
    if (handlers.has(handler.type)) {
      throw new Error(`consumer ${durable} has two handlers for ${handler.type}`);
    }
    handlers.set(handler.type, handler);
  }

  const consume = async (delivery: Delivery): Promise<void> => {
    const { envelope, attempt } = delivery;
    // Made only when something is logged: most events log nothing, and a
    // child logger per event is a measurable share of a consumer's CPU.
    const log = (): Logger =>
      logger.child({ stream, durable, event_id: envelope.id, event_type: envelope.type, request_id: envelope.requestId || undefined });
    const handler = handlers.get(envelope.type);
    if (handler === undefined) {
      log().debug("no handler for this event type; acknowledged");
      return;
    }
    try {
      const outcome = await inbox.handleOnce(durable, envelope, (tx) => handler.apply(envelope, tx));
      if (outcome !== "handled") {
        log().debug({ outcome }, "event skipped");
      }
    } catch (err) {
      if (attempt < maxAttempts) {
        log().warn({ err, attempt, maxAttempts }, "event handler failed; the bus will redeliver");
        throw err;
      }
      await inbox.recordDeadLetter(durable, envelope, attempt, errorText(err));
      log().error({ err, attempt }, "event dead-lettered after its last attempt");
    }
  };

  return bus.subscribe({
    stream,
    durable,
    handle: async (delivery) =>
      tracer === undefined ? consume(delivery) : traced(tracer, stream, durable, delivery, () => consume(delivery)),
  });
}

/** The error as the dead letters keep it. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Runs `fn` in a CONSUMER span, a new trace linked to the producer's span
 * (from the envelope's traceparent) rather than its child: an event may be
 * handled long after, and many times.
 */
async function traced(tracer: Tracer, stream: string, durable: string, delivery: Delivery, fn: () => Promise<void>): Promise<void> {
  const { envelope } = delivery;
  const links: Link[] = [];
  const producer = producerSpanContext(envelope);
  if (producer !== undefined) {
    links.push({ context: producer });
  }
  const span = tracer.startSpan(
    `process ${stream}`,
    {
      kind: SpanKind.CONSUMER,
      root: true,
      links,
      attributes: {
        "messaging.system": "meshwork",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": stream,
        "messaging.consumer.group.name": durable,
        "messaging.message.id": envelope.id,
        "messaging.message.delivery_attempt": delivery.attempt,
        "cloudevents.event_type": envelope.type,
        "cloudevents.event_subject": envelope.subject,
        "cloudevents.event_source": envelope.source,
      },
    },
    ROOT_CONTEXT,
  );
  try {
    await fn();
    span.end();
  } catch (err) {
    span.recordException(err instanceof Error ? err : String(err));
    span.setStatus({ code: SpanStatusCode.ERROR, message: errorText(err) });
    span.end();
    throw err;
  }
}

function producerSpanContext(envelope: Envelope) {
  if (envelope.traceparent === "") {
    return undefined;
  }
  const carrier: Record<string, string> = { traceparent: envelope.traceparent, tracestate: envelope.tracestate };
  const ctx = propagator.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter);
  return trace.getSpanContext(ctx);
}
