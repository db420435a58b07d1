import type Database from "better-sqlite3";
import type { SqliteSession } from "../../sqlite/sqlite-session.js";
import type { ConsumerPositionStore } from "../event-stores.js";

/**
 * Where an embedded consumer has got to in each stream, in the consumer's own
 * database. `inboxMigration` includes it, so a service using `startConsumer`
 * needs nothing more; a process subscribing without an inbox appends this
 * step instead (IF NOT EXISTS, so having both does no harm).
 */
export const embeddedConsumerMigration = `
CREATE TABLE IF NOT EXISTS consumer_position (
  stream TEXT NOT NULL,
  durable TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  PRIMARY KEY (stream, durable)
);
`;

/** Consumer positions on SQLite; statements prepared on first use (a producer-only database has no such table). */
export function sqliteConsumerPositions(session: SqliteSession): ConsumerPositionStore {
  let sql: { select: Database.Statement; upsert: Database.Statement } | undefined;
  const statements = () =>
    (sql ??= {
      select: session.db.prepare("SELECT sequence FROM consumer_position WHERE stream = ? AND durable = ?"),
      upsert: session.db.prepare(
        `INSERT INTO consumer_position (stream, durable, sequence) VALUES (?, ?, ?)
         ON CONFLICT (stream, durable) DO UPDATE SET sequence = excluded.sequence`,
      ),
    });
  return {
    get: (stream, durable) =>
      session.run(() => (statements().select.get(stream, durable) as { sequence: number } | undefined)?.sequence ?? 0),
    set: (stream, durable, sequence) =>
      session.run(() => {
        statements().upsert.run(stream, durable, sequence);
      }),
  };
}
