import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import type { Envelope } from "../../gen/meshwork/events/v1/envelope_pb.js";
import { unpackEnvelope } from "./envelope.js";

/**
 * A consumer's handler of one event type, made by `on`. `Tx` is the
 * consuming service's view of the transaction the handler runs in.
 */
export interface EventHandler<Tx = unknown> {
  /** The message name it handles, e.g. "meshwork.orders.v1.OrderConfirmed". */
  readonly type: string;
  /** Applies the event's effect; runs inside the consumer's transaction. */
  apply(envelope: Envelope, tx: Tx): Promise<void>;
}

/**
 * A handler of `schema`'s events. It gets the typed payload, the envelope
 * (id, subject, time, request id) and the consumer's transaction (`tx`, the
 * service's store inside the inbox's transaction), and must make its effect
 * through `tx` only: the transaction also records the event as handled, so
 * its effect happens once. It throws (or rejects) to refuse the event (it is
 * then redelivered, and dead-lettered after the consumer's maxAttempts).
 * On PostgreSQL the transaction may run again after a conflict, so the
 * handler must have no effect outside it.
 */
export function on<Desc extends DescMessage, Tx = unknown>(
  schema: Desc,
  handler: (data: MessageShape<Desc>, envelope: Envelope, tx: Tx) => void | Promise<void>,
): EventHandler<Tx> {
  return {
    type: schema.typeName,
    async apply(envelope, tx) {
      const data = unpackEnvelope(envelope, schema);
      if (data === undefined) {
        throw new Error(`event ${envelope.id} of type ${envelope.type} does not carry a ${schema.typeName}`);
      }
      await handler(data, envelope, tx);
    },
  };
}
