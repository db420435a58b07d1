import { prepared, type PostgresDatabase } from "../../postgres/postgres-database.js";
import type { ConsumerPositionStore } from "../event-stores.js";

/**
 * Where an embedded consumer has got to in each stream, on PostgreSQL.
 * `postgresInboxMigration` includes it; a process subscribing without an
 * inbox appends this step instead (IF NOT EXISTS, so having both does no harm).
 */
export const postgresConsumerPositionMigration = `
CREATE TABLE IF NOT EXISTS consumer_position (
  stream   text NOT NULL,
  durable  text NOT NULL,
  sequence bigint NOT NULL,
  PRIMARY KEY (stream, durable)
);
`;

const select = prepared("SELECT sequence FROM consumer_position WHERE stream = $1 AND durable = $2");
const upsert = prepared(
  `INSERT INTO consumer_position (stream, durable, sequence) VALUES ($1, $2, $3)
   ON CONFLICT (stream, durable) DO UPDATE SET sequence = excluded.sequence`,
);

export function postgresConsumerPositions(db: PostgresDatabase): ConsumerPositionStore {
  return {
    async get(stream, durable) {
      const { rows } = await db.pool.query<{ sequence: number }>(select([stream, durable]));
      return rows[0]?.sequence ?? 0;
    },
    async set(stream, durable, sequence) {
      await db.pool.query(upsert([stream, durable, sequence]));
    },
  };
}
