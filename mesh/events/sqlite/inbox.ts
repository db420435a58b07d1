import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { EnvelopeSchema } from "../../../gen/meshwork/events/v1/envelope_pb.js";
import type { SqliteSession } from "../../sqlite/sqlite-session.js";
import type { InboxStore, StoredDeadLetter } from "../event-stores.js";
import { ReplayFailure } from "../replay-failure.js";
import { embeddedConsumerMigration } from "./consumer-position.js";

/**
 * A consuming service's schema: one migration step it appends to its own
 * migrations list. `inbox` holds the ids of the events each consumer has
 * handled (its effects' deduplication); `dead_letters` the events it gave up
 * on; `consumer_position` where it is in each stream on the embedded bus
 * (unused on NATS, where the server keeps positions).
 */
export const inboxMigration = `
CREATE TABLE inbox (
  consumer TEXT NOT NULL,
  event_id TEXT NOT NULL,
  handled_at INTEGER NOT NULL,
  PRIMARY KEY (consumer, event_id)
) WITHOUT ROWID;
CREATE TABLE dead_letters (
  consumer TEXT NOT NULL,
  event_id TEXT NOT NULL,
  envelope BLOB NOT NULL,
  attempts INTEGER NOT NULL,
  last_error TEXT NOT NULL,
  dead_at INTEGER NOT NULL,
  PRIMARY KEY (consumer, event_id)
);
${embeddedConsumerMigration}`;

interface DeadLetterRow {
  consumer: string;
  envelope: Buffer;
  attempts: number;
  last_error: string;
  dead_at: number;
}

/**
 * The inbox and dead letters on SQLite. `tx` is the service's view of its
 * database inside a transaction (on SQLite, its store on the same
 * connection): handlers get it. Statements are prepared once (the consumer
 * runs three per event).
 */
export function sqliteInbox<Tx>(session: SqliteSession, tx: Tx): InboxStore<Tx> {
  const { db } = session;
  const sql = {
    handled: db.prepare("SELECT 1 FROM inbox WHERE consumer = ? AND event_id = ?"),
    deadLettered: db.prepare("SELECT 1 FROM dead_letters WHERE consumer = ? AND event_id = ?"),
    record: db.prepare("INSERT INTO inbox (consumer, event_id, handled_at) VALUES (?, ?, ?)"),
    recordDeadLetter: db.prepare(
      `INSERT INTO dead_letters (consumer, event_id, envelope, attempts, last_error, dead_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (consumer, event_id) DO UPDATE SET attempts = excluded.attempts, last_error = excluded.last_error`,
    ),
    list: db.prepare(
      `SELECT consumer, envelope, attempts, last_error, dead_at FROM dead_letters
       WHERE @consumer = '' OR consumer = @consumer ORDER BY dead_at, rowid LIMIT @limit`,
    ),
    find: db.prepare("SELECT consumer, envelope, attempts, last_error, dead_at FROM dead_letters WHERE consumer = ? AND event_id = ?"),
    delete: db.prepare("DELETE FROM dead_letters WHERE consumer = ? AND event_id = ?"),
    failedReplay: db.prepare("UPDATE dead_letters SET attempts = attempts + 1, last_error = ? WHERE consumer = ? AND event_id = ?"),
  };

  return {
    handleOnce(consumer, envelope, apply) {
      return session.transaction(async () => {
        if (sql.handled.get(consumer, envelope.id) !== undefined) {
          return "duplicate";
        }
        if (sql.deadLettered.get(consumer, envelope.id) !== undefined) {
          return "dead-lettered";
        }
        await apply(tx);
        sql.record.run(consumer, envelope.id, Date.now());
        return "handled";
      });
    },
    recordDeadLetter: (consumer, envelope, attempts, lastError) =>
      session.run(() => {
        sql.recordDeadLetter.run(consumer, envelope.id, toBinary(EnvelopeSchema, envelope), attempts, lastError, Date.now());
      }),
    listDeadLetters: (consumer, limit) =>
      session.run(() => (sql.list.all({ consumer, limit }) as DeadLetterRow[]).map(fromRow)),
    async replayDeadLetter(consumer, eventId, apply) {
      try {
        return await session.transaction(async () => {
          if (sql.handled.get(consumer, eventId) !== undefined) {
            sql.delete.run(consumer, eventId);
            return { handled: true } as const;
          }
          const row = sql.find.get(consumer, eventId) as DeadLetterRow | undefined;
          if (row === undefined) {
            return { handled: false, notFound: true } as const;
          }
          try {
            await apply(fromRow(row).envelope, tx);
          } catch (err) {
            throw new ReplayFailure(err);
          }
          sql.record.run(consumer, eventId, Date.now());
          sql.delete.run(consumer, eventId);
          return { handled: true } as const;
        });
      } catch (err) {
        if (!(err instanceof ReplayFailure)) {
          throw err;
        }
        // The handler's work was rolled back; only the attempt is recorded.
        await session.run(() => sql.failedReplay.run(err.message, consumer, eventId));
        return { handled: false, error: err.message };
      }
    },
  };
}

function fromRow(row: DeadLetterRow): StoredDeadLetter {
  return {
    consumer: row.consumer,
    envelope: fromBinary(EnvelopeSchema, row.envelope),
    attempts: row.attempts,
    lastError: row.last_error,
    deadAt: row.dead_at,
  };
}
