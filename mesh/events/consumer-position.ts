import type Database from "better-sqlite3";

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

/** A consumer's persisted position in one stream: the sequence of the last event it handled. */
export function consumerPosition(db: Database.Database, stream: string, durable: string): { get(): number; set(sequence: number): void } {
  const select = db.prepare("SELECT sequence FROM consumer_position WHERE stream = ? AND durable = ?");
  const upsert = db.prepare(
    `INSERT INTO consumer_position (stream, durable, sequence) VALUES (?, ?, ?)
     ON CONFLICT (stream, durable) DO UPDATE SET sequence = excluded.sequence`,
  );
  return {
    get: () => (select.get(stream, durable) as { sequence: number } | undefined)?.sequence ?? 0,
    set: (sequence) => {
      upsert.run(stream, durable, sequence);
    },
  };
}
