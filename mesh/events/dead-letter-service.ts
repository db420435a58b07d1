import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type Database from "better-sqlite3";
import { DeadLetterSchema, DeadLetterService } from "../../gen/meshwork/events/v1/dead_letters_pb.js";
import { Code, ConnectError } from "../errors.js";
import { registration, type ServiceRegistration } from "../server/serve.js";
import { errorText } from "./consumer.js";
import type { EventHandler } from "./event-handler.js";
import { deleteDeadLetter, findDeadLetter, isHandled, listDeadLetters, recordHandled } from "./inbox.js";

/** What the dead-letter service needs of each consumer: its handlers, by event type. */
export interface DeadLetterConsumer {
  readonly handlers: readonly EventHandler[];
}

const defaultPageSize = 100;

/**
 * DeadLetterService over a consuming service's database, for `serve`.
 * `consumers` names each consumer (its durable name) and its handlers, the
 * same ones its `startConsumer` runs. ReplayDeadLetter applies the handler,
 * records the event in the inbox and removes the dead letter in one
 * transaction; when the handler fails again the dead letter stays, with one
 * more attempt and the new error.
 */
export function deadLetterService(
  db: Database.Database,
  consumers: Readonly<Record<string, DeadLetterConsumer>>,
): ServiceRegistration {
  return registration(DeadLetterService, {
    listDeadLetters(request) {
      const letters = listDeadLetters(db, request.consumer, request.pageSize === 0 ? defaultPageSize : request.pageSize);
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

    replayDeadLetter({ consumer, eventId }) {
      const handlers = consumers[consumer]?.handlers;
      if (handlers === undefined) {
        throw new ConnectError(`no consumer "${consumer}" here`, Code.NotFound);
      }
      try {
        return db.transaction(() => {
          if (isHandled(db, consumer, eventId)) {
            deleteDeadLetter(db, consumer, eventId);
            return { handled: true };
          }
          const letter = findDeadLetter(db, consumer, eventId);
          if (letter === undefined) {
            throw new ConnectError(`no dead letter ${eventId} for consumer "${consumer}"`, Code.NotFound);
          }
          const handler = handlers.find((h) => h.type === letter.envelope.type);
          if (handler === undefined) {
            throw new ReplayFailure(`consumer "${consumer}" has no handler for ${letter.envelope.type}`);
          }
          try {
            handler.apply(letter.envelope, db);
          } catch (err) {
            throw new ReplayFailure(errorText(err));
          }
          recordHandled(db, consumer, eventId);
          deleteDeadLetter(db, consumer, eventId);
          return { handled: true };
        }).immediate();
      } catch (err) {
        if (!(err instanceof ReplayFailure)) {
          throw err;
        }
        // The handler's work was rolled back; only the attempt is recorded.
        db.prepare(
          "UPDATE dead_letters SET attempts = attempts + 1, last_error = ? WHERE consumer = ? AND event_id = ?",
        ).run(err.message, consumer, eventId);
        return { handled: false, error: err.message };
      }
    },
  });
}

/** The replayed handler failed: roll back its work, keep the dead letter. */
class ReplayFailure extends Error {}
