import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { EnvelopeSchema, type Envelope } from "../../../gen/meshwork/events/v1/envelope_pb.js";
import { prepared, type PostgresDatabase, type Queryable } from "../../postgres/postgres-database.js";
import type { OutboxRow, OutboxStore } from "../event-stores.js";

/**
 * The outbox's schema on PostgreSQL: one migration step a producing service
 * appends to its migrations. `seq` is the publishing order; `subject` the
 * aggregate, so that relays on several replicas can share the rows without
 * reordering an aggregate's events. A row's seq is drawn when it is inserted,
 * after the change it reports has locked its aggregate's row, so the rows of
 * one subject are numbered in commit order.
 */
export const postgresOutboxMigration = `
CREATE TABLE outbox (
  seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id           text NOT NULL UNIQUE,
  stream       text NOT NULL,
  subject      text NOT NULL,
  envelope     bytea NOT NULL,
  created_at   bigint NOT NULL,
  published_at bigint
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
CREATE INDEX outbox_unpublished_by_subject ON outbox (subject, seq) WHERE published_at IS NULL;
`;

const insert = prepared("INSERT INTO outbox (id, stream, subject, envelope, created_at) VALUES ($1, $2, $3, $4, $5)");

/**
 * The batch a relay takes: the oldest unpublished rows whose subject has no
 * earlier unpublished row (so at most one row per subject, the next one due),
 * locked FOR UPDATE SKIP LOCKED. Another relay skips them, and skips every
 * later row of their subjects too, because the earlier row it cannot take is
 * still unpublished in its snapshot. A relay that dies mid-batch loses its
 * connection, the server rolls its transaction back, and the rows are free
 * again at once: no lease to expire.
 */
const claim = prepared(
  `SELECT o.seq, o.stream, o.envelope FROM outbox o
   WHERE o.published_at IS NULL
     AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.subject = o.subject AND e.published_at IS NULL AND e.seq < o.seq)
   ORDER BY o.seq LIMIT $1
   FOR UPDATE OF o SKIP LOCKED`,
);
const mark = prepared("UPDATE outbox SET published_at = $1 WHERE seq = ANY($2::bigint[])");
const count = prepared("SELECT count(*) AS n FROM outbox WHERE published_at IS NULL");

/**
 * Records `envelope` for publishing to `stream`, on the connection of the
 * transaction that makes the state change it reports (so both commit or
 * neither does). Throws if an event with the same id is already there.
 */
export async function appendToPostgresOutbox(tx: Queryable, stream: string, envelope: Envelope): Promise<void> {
  await tx.query(insert([envelope.id, stream, envelope.subject, toBinary(EnvelopeSchema, envelope), Date.now()]));
}

/**
 * The outbox on PostgreSQL, shared by the relays of every replica: each
 * batch is taken, published and marked in one transaction that holds its
 * rows' locks (see `claim`), so a row is published by one relay, and an
 * aggregate's rows one after the other, in order.
 */
export function postgresOutbox(db: PostgresDatabase): OutboxStore {
  return {
    relayBatch(limit, publish) {
      return db.transaction(async (client) => {
        const { rows } = await client.query<{ seq: number; stream: string; envelope: Buffer }>(claim([limit]));
        if (rows.length === 0) {
          return 0;
        }
        const batch = rows.map((row): OutboxRow => ({ seq: row.seq, stream: row.stream, envelope: fromBinary(EnvelopeSchema, row.envelope) }));
        const acknowledged = await publish(batch);
        if (acknowledged.length > 0) {
          await client.query(mark([Date.now(), acknowledged.map((row) => row.seq)]));
        }
        return batch.length;
      });
    },
    async countUnpublished() {
      const { rows } = await db.pool.query<{ n: number }>(count());
      return rows[0]?.n ?? 0;
    },
  };
}
