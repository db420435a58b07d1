import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import type Database from "better-sqlite3";
import type { Envelope } from "../../gen/meshwork/events/v1/envelope_pb.js";
import { unpackEnvelope } from "./envelope.js";

/** A consumer's handler of one event type, made by `on`. */
export interface EventHandler {
  /** The message name it handles, e.g. "meshwork.orders.v1.OrderConfirmed". */
  readonly type: string;
  /** Applies the event's effect; runs inside the consumer's transaction. */
  apply(envelope: Envelope, db: Database.Database): void;
}

/**
 * A handler of `schema`'s events. It gets the typed payload, the envelope
 * (id, subject, time, request id) and the consumer's database, and must do
 * its work synchronously on that database: it runs inside the transaction
 * that also records the event as handled, so its effect happens once. It
 * throws to refuse the event (it is then redelivered, and dead-lettered
 * after the consumer's maxAttempts).
 */
export function on<Desc extends DescMessage>(
  schema: Desc,
  handler: (data: MessageShape<Desc>, envelope: Envelope, db: Database.Database) => void,
): EventHandler {
  return {
    type: schema.typeName,
    apply(envelope, db) {
      const data = unpackEnvelope(envelope, schema);
      if (data === undefined) {
        throw new Error(`event ${envelope.id} of type ${envelope.type} does not carry a ${schema.typeName}`);
      }
      handler(data, envelope, db);
    },
  };
}
