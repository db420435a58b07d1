import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type pg from "pg";
import { EnvelopeSchema } from "../../../gen/meshwork/events/v1/envelope_pb.js";
import { prepared, type PostgresDatabase } from "../../postgres/postgres-database.js";
import type { InboxStore, StoredDeadLetter } from "../event-stores.js";
import { ReplayFailure } from "../replay-failure.js";
import { postgresConsumerPositionMigration } from "./consumer-position.js";

/**
 * A consuming service's schema on PostgreSQL: one migration step it appends.
 * `inbox` holds the ids of the events each consumer has handled;
 * `dead_letters` the events it gave up on (`seq` keeps their arrival order);
 * `consumer_position` where it is in each stream on the embedded bus.
 */
export const postgresInboxMigration = `
CREATE TABLE inbox (
  consumer   text NOT NULL,
  event_id   text NOT NULL,
  handled_at bigint NOT NULL,
  PRIMARY KEY (consumer, event_id)
);
CREATE TABLE dead_letters (
  consumer   text NOT NULL,
  event_id   text NOT NULL,
  envelope   bytea NOT NULL,
  attempts   integer NOT NULL,
  last_error text NOT NULL,
  dead_at    bigint NOT NULL,
  seq        bigint GENERATED ALWAYS AS IDENTITY,
  PRIMARY KEY (consumer, event_id)
);
${postgresConsumerPositionMigration}`;

/**
 * Records the event as handled unless it is dead-lettered; no row when it is
 * already in the inbox or in the dead letters. Inserting first (rather than
 * looking first) makes a concurrent consumer of the same event wait on the
 * unique key until this transaction ends, then find it handled.
 */
const claim = prepared(
  `INSERT INTO inbox (consumer, event_id, handled_at)
   SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM dead_letters WHERE consumer = $1 AND event_id = $2)
   ON CONFLICT (consumer, event_id) DO NOTHING`,
);
const handled = prepared("SELECT 1 FROM inbox WHERE consumer = $1 AND event_id = $2");
const record = prepared("INSERT INTO inbox (consumer, event_id, handled_at) VALUES ($1, $2, $3)");
const recordDeadLetter = prepared(
  `INSERT INTO dead_letters (consumer, event_id, envelope, attempts, last_error, dead_at) VALUES ($1, $2, $3, $4, $5, $6)
   ON CONFLICT (consumer, event_id) DO UPDATE SET attempts = excluded.attempts, last_error = excluded.last_error`,
);
const list = prepared(
  `SELECT consumer, envelope, attempts, last_error, dead_at FROM dead_letters
   WHERE $1 = '' OR consumer = $1 ORDER BY dead_at, seq LIMIT $2`,
);
const find = prepared(
  "SELECT consumer, envelope, attempts, last_error, dead_at FROM dead_letters WHERE consumer = $1 AND event_id = $2 FOR UPDATE",
);
const remove = prepared("DELETE FROM dead_letters WHERE consumer = $1 AND event_id = $2");
const failedReplay = prepared("UPDATE dead_letters SET attempts = attempts + 1, last_error = $1 WHERE consumer = $2 AND event_id = $3");

interface DeadLetterRow {
  consumer: string;
  envelope: Buffer;
  attempts: number;
  last_error: string;
  dead_at: number;
}

/**
 * The inbox and dead letters on PostgreSQL. `txOf` gives the service's view
 * of one transaction's connection: handlers get it, so that their effects
 * commit with the inbox row.
 */
export function postgresInbox<Tx>(db: PostgresDatabase, txOf: (client: pg.PoolClient) => Tx): InboxStore<Tx> {
  return {
    handleOnce(consumer, envelope, apply) {
      return db.transaction(async (client) => {
        const claimed = await client.query(claim([consumer, envelope.id, Date.now()]));
        if (claimed.rowCount === 0) {
          const seen = await client.query(handled([consumer, envelope.id]));
          return seen.rowCount === 0 ? "dead-lettered" : "duplicate";
        }
        await apply(txOf(client));
        return "handled";
      });
    },
    async recordDeadLetter(consumer, envelope, attempts, lastError) {
      await db.pool.query(recordDeadLetter([consumer, envelope.id, toBinary(EnvelopeSchema, envelope), attempts, lastError, Date.now()]));
    },
    async listDeadLetters(consumer, limit) {
      const { rows } = await db.pool.query<DeadLetterRow>(list([consumer, limit]));
      return rows.map(fromRow);
    },
    async replayDeadLetter(consumer, eventId, apply) {
      try {
        return await db.transaction(async (client) => {
          const { rows } = await client.query<DeadLetterRow>(find([consumer, eventId]));
          const seen = await client.query(handled([consumer, eventId]));
          if (seen.rowCount !== 0) {
            await client.query(remove([consumer, eventId]));
            return { handled: true } as const;
          }
          const row = rows[0];
          if (row === undefined) {
            return { handled: false, notFound: true } as const;
          }
          try {
            await apply(fromRow(row).envelope, txOf(client));
          } catch (err) {
            throw new ReplayFailure(err);
          }
          await client.query(record([consumer, eventId, Date.now()]));
          await client.query(remove([consumer, eventId]));
          return { handled: true } as const;
        });
      } catch (err) {
        if (!(err instanceof ReplayFailure)) {
          throw err;
        }
        await db.pool.query(failedReplay([err.message, consumer, eventId]));
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
