import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { DeadLetterSchema, DeadLetterService } from "../../gen/meshwork/events/v1/dead_letters_pb.js";
import { Code, ConnectError } from "../errors.js";
import { registration, type ServiceRegistration } from "../server/serve.js";
import type { EventHandler } from "./event-handler.js";
import type { InboxStore } from "./event-stores.js";

/** What the dead-letter service needs of each consumer: its handlers, by event type. */
export interface DeadLetterConsumer<Tx = unknown> {
  readonly handlers: readonly EventHandler<Tx>[];
}

const defaultPageSize = 100;

/**
 * DeadLetterService over a consuming service's inbox, for `serve`.
 * `consumers` names each consumer (its durable name) and its handlers, the
 * same ones its `startConsumer` runs. ReplayDeadLetter applies the handler,
 * records the event in the inbox and removes the dead letter in one
 * transaction; when the handler fails again the dead letter stays, with one
 * more attempt and the new error.
 */
export function deadLetterService<Tx>(
  inbox: InboxStore<Tx>,
  consumers: Readonly<Record<string, DeadLetterConsumer<Tx>>>,
): ServiceRegistration {
  return registration(DeadLetterService, {
    async listDeadLetters(request) {
      const letters = await inbox.listDeadLetters(request.consumer, request.pageSize === 0 ? defaultPageSize : request.pageSize);
      return {
        deadLetters: letters.map((letter) =>
          create(DeadLetterSchema, {
            consumer: letter.consumer,
            envelope: letter.envelope,
            attempts: letter.attempts,
            lastError: letter.lastError,
            deadAt: timestampFromMs(letter.deadAt),
          }),
        ),
      };
    },

    async replayDeadLetter({ consumer, eventId }) {
      const handlers = consumers[consumer]?.handlers;
      if (handlers === undefined) {
        throw new ConnectError(`no consumer "${consumer}" here`, Code.NotFound);
      }
      const outcome = await inbox.replayDeadLetter(consumer, eventId, async (envelope, tx) => {
        const handler = handlers.find((h) => h.type === envelope.type);
        if (handler === undefined) {
          throw new Error(`consumer "${consumer}" has no handler for ${envelope.type}`);
        }
        await handler.apply(envelope, tx);
      });
      if ("notFound" in outcome) {
        throw new ConnectError(`no dead letter ${eventId} for consumer "${consumer}"`, Code.NotFound);
      }
      return outcome.handled ? { handled: true } : { handled: false, error: outcome.error };
    },
  });
}
