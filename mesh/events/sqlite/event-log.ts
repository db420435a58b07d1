import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type Database from "better-sqlite3";
import { EnvelopeSchema } from "../../../gen/meshwork/events/v1/envelope_pb.js";
import type { SqliteSession } from "../../sqlite/sqlite-session.js";
import type { EventLogStore } from "../event-stores.js";

/**
 * The embedded bus's durable log, in the producer's own database: one
 * migration step it appends to its migrations list. Each stream numbers its
 * events from 1 without gaps; an event id appears once per stream, which is
 * the bus's deduplication.
 */
export const eventLogMigration = `
CREATE TABLE event_log (
  stream TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  id TEXT NOT NULL,
  envelope BLOB NOT NULL,
  PRIMARY KEY (stream, sequence),
  UNIQUE (stream, id)
) WITHOUT ROWID;
`;

/**
 * The event log on SQLite. Statements are prepared on first use: a process
 * that only consumes has no event_log table. The next sequence is computed
 * in the insert itself, and SQLite has one writer at a time, so writers (even
 * in other processes) never take the same number.
 */
export function sqliteEventLog(session: SqliteSession): EventLogStore {
  const { db } = session;
  let sql: { append: Database.Statement<unknown[]>; read: Database.Statement<unknown[]>; last: Database.Statement<unknown[]> } | undefined;
  const statements = () =>
    (sql ??= {
      append: db.prepare(
        `INSERT OR IGNORE INTO event_log (stream, sequence, id, envelope)
         SELECT @stream, coalesce(max(sequence), 0) + 1, @id, @envelope FROM event_log WHERE stream = @stream`,
      ),
      read: db.prepare("SELECT sequence, envelope FROM event_log WHERE stream = ? AND sequence > ? ORDER BY sequence LIMIT ?"),
      last: db.prepare("SELECT coalesce(max(sequence), 0) AS last FROM event_log WHERE stream = ?"),
    });
  return {
    append: (stream, envelope) =>
      session.run(() => statements().append.run({ stream, id: envelope.id, envelope: toBinary(EnvelopeSchema, envelope) }).changes > 0),
    read: (stream, afterSequence, limit) =>
      session.run(() =>
        (statements().read.all(stream, afterSequence, limit) as { sequence: number; envelope: Buffer }[]).map((row) => ({
          sequence: row.sequence,
          envelope: fromBinary(EnvelopeSchema, row.envelope),
        })),
      ),
    lastSequence: (stream) => session.run(() => (statements().last.get(stream) as { last: number }).last),
  };
}
