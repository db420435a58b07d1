import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type Database from "better-sqlite3";
import { EnvelopeSchema, type Envelope } from "../../../gen/meshwork/events/v1/envelope_pb.js";
import type { SqliteSession } from "../../sqlite/sqlite-session.js";
import type { OutboxRow, OutboxStore } from "../event-stores.js";

/**
 * The outbox's schema: one migration step a producing service appends to its
 * own migrations list. `seq` is the publishing order (AUTOINCREMENT, so a
 * number is never reused even after rows are pruned); the partial index keeps
 * finding the next unpublished row cheap however long the table grows.
 */
export const outboxMigration = `
CREATE TABLE outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  stream TEXT NOT NULL,
  envelope BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  published_at INTEGER
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
`;

interface OutboxStatements {
  readonly insert: Database.Statement;
  readonly next: Database.Statement;
  readonly mark: Database.Statement;
  readonly count: Database.Statement;
}

/**
 * Each database's statements, prepared once: preparing costs about as much
 * as running one of these, and the relay runs two per event.
 */
const prepared = new WeakMap<Database.Database, OutboxStatements>();

function statements(db: Database.Database): OutboxStatements {
  let sql = prepared.get(db);
  if (sql === undefined) {
    sql = {
      insert: db.prepare("INSERT INTO outbox (id, stream, envelope, created_at) VALUES (?, ?, ?, ?)"),
      next: db.prepare("SELECT seq, stream, envelope FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT ?"),
      mark: db.prepare("UPDATE outbox SET published_at = ? WHERE seq = ?"),
      count: db.prepare("SELECT count(*) AS n FROM outbox WHERE published_at IS NULL"),
    };
    prepared.set(db, sql);
  }
  return sql;
}

/**
 * Records `envelope` for publishing to `stream`. Call it inside the
 * transaction that makes the state change the event reports, so that both
 * commit or neither does; the outbox relay publishes it after the commit.
 * Throws if an event with the same id is already in the outbox.
 */
export function appendToOutbox(db: Database.Database, stream: string, envelope: Envelope): void {
  statements(db).insert.run(envelope.id, stream, toBinary(EnvelopeSchema, envelope), Date.now());
}

/**
 * The outbox on SQLite. One writer at a time holds the file, so the relay
 * reads the oldest rows, publishes them strictly in `seq` order (which keeps
 * every subject's order) and marks the acknowledged ones in one transaction.
 * Processes sharing the file each run a relay that may publish a row twice;
 * the bus drops the repeat (deduplication on the event id).
 */
export function sqliteOutbox(session: SqliteSession): OutboxStore {
  const sql = statements(session.db);
  const mark = session.db.transaction((seqs: readonly number[]) => {
    const now = Date.now();
    for (const seq of seqs) {
      sql.mark.run(now, seq);
    }
  });
  return {
    async relayBatch(limit, publish) {
      const rows = await session.run(() =>
        (sql.next.all(limit) as { seq: number; stream: string; envelope: Buffer }[]).map(
          (row): OutboxRow => ({ seq: row.seq, stream: row.stream, envelope: fromBinary(EnvelopeSchema, row.envelope) }),
        ),
      );
      if (rows.length === 0) {
        return 0;
      }
      const acknowledged = await publish(rows);
      if (acknowledged.length > 0) {
        await session.run(() => mark(acknowledged.map((row) => row.seq)));
      }
      return rows.length;
    },
    countUnpublished: () => session.run(() => (sql.count.get() as { n: number }).n),
  };
}
