import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type Database from "better-sqlite3";
import { EnvelopeSchema, type Envelope } from "../../gen/meshwork/events/v1/envelope_pb.js";

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
 * Synchronous, like the rest of a better-sqlite3 transaction. Throws if an
 * event with the same id is already in the outbox.
 */
export function appendToOutbox(db: Database.Database, stream: string, envelope: Envelope): void {
  statements(db).insert.run(envelope.id, stream, toBinary(EnvelopeSchema, envelope), Date.now());
}

/** One unpublished outbox row. */
export interface OutboxRow {
  readonly seq: number;
  readonly stream: string;
  readonly envelope: Envelope;
}

/** Up to `limit` unpublished rows, oldest first; none when everything is published. */
export function nextUnpublished(db: Database.Database, limit: number): OutboxRow[] {
  const rows = statements(db).next.all(limit) as { seq: number; stream: string; envelope: Buffer }[];
  return rows.map((row) => ({ seq: row.seq, stream: row.stream, envelope: fromBinary(EnvelopeSchema, row.envelope) }));
}

/** Marks the rows `seqs` published, in one transaction. */
export function markPublished(db: Database.Database, seqs: readonly number[]): void {
  const { mark } = statements(db);
  const now = Date.now();
  db.transaction(() => {
    for (const seq of seqs) {
      mark.run(now, seq);
    }
  })();
}

export function countUnpublished(db: Database.Database): number {
  return (statements(db).count.get() as { n: number }).n;
}
