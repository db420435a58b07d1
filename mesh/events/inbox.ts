import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type Database from "better-sqlite3";
import { EnvelopeSchema, type Envelope } from "../../gen/meshwork/events/v1/envelope_pb.js";
import { embeddedConsumerMigration } from "./consumer-position.js";
import type { EventHandler } from "./event-handler.js";

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

/** What became of an event given to `handleOnce`. */
export type HandleOutcome = "handled" | "duplicate" | "dead-lettered";

interface InboxStatements {
  readonly handled: Database.Statement;
  readonly deadLettered: Database.Statement;
  readonly record: Database.Statement;
}

/** Each database's statements for `handleOnce`, prepared once (it runs three per event). */
const prepared = new WeakMap<Database.Database, InboxStatements>();

function statements(db: Database.Database): InboxStatements {
  let sql = prepared.get(db);
  if (sql === undefined) {
    sql = {
      handled: db.prepare("SELECT 1 FROM inbox WHERE consumer = ? AND event_id = ?"),
      deadLettered: db.prepare("SELECT 1 FROM dead_letters WHERE consumer = ? AND event_id = ?"),
      record: db.prepare("INSERT INTO inbox (consumer, event_id, handled_at) VALUES (?, ?, ?)"),
    };
    prepared.set(db, sql);
  }
  return sql;
}

/**
 * Applies `handler` to the event and records it in the inbox, in one
 * transaction: either both happen or neither. An event already in the inbox
 * (a redelivery) or in the dead letters (an operator's to replay) is left
 * alone. Throws what the handler threw, after rolling back.
 */
export function handleOnce(db: Database.Database, consumer: string, envelope: Envelope, handler: EventHandler): HandleOutcome {
  const sql = statements(db);
  return db.transaction((): HandleOutcome => {
    if (sql.handled.get(consumer, envelope.id) !== undefined) {
      return "duplicate";
    }
    if (sql.deadLettered.get(consumer, envelope.id) !== undefined) {
      return "dead-lettered";
    }
    handler.apply(envelope, db);
    sql.record.run(consumer, envelope.id, Date.now());
    return "handled";
  }).immediate();
}

/** Records that `consumer` has handled the event; call inside the transaction that made its effects. */
export function recordHandled(db: Database.Database, consumer: string, eventId: string): void {
  statements(db).record.run(consumer, eventId, Date.now());
}

export function isHandled(db: Database.Database, consumer: string, eventId: string): boolean {
  return statements(db).handled.get(consumer, eventId) !== undefined;
}

/** Records that `consumer` gave up on the event after `attempts` tries. */
export function recordDeadLetter(
  db: Database.Database,
  consumer: string,
  envelope: Envelope,
  attempts: number,
  lastError: string,
): void {
  db.prepare(
    `INSERT INTO dead_letters (consumer, event_id, envelope, attempts, last_error, dead_at) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (consumer, event_id) DO UPDATE SET attempts = excluded.attempts, last_error = excluded.last_error`,
  ).run(consumer, envelope.id, toBinary(EnvelopeSchema, envelope), attempts, lastError, Date.now());
}

/** A dead-lettered event as stored. */
export interface StoredDeadLetter {
  readonly consumer: string;
  readonly envelope: Envelope;
  readonly attempts: number;
  readonly lastError: string;
  /** Epoch ms. */
  readonly deadAt: number;
}

interface DeadLetterRow {
  consumer: string;
  envelope: Buffer;
  attempts: number;
  last_error: string;
  dead_at: number;
}

/** Dead letters, oldest first, of one consumer or ("" ) of all. */
export function listDeadLetters(db: Database.Database, consumer: string, limit: number): StoredDeadLetter[] {
  const rows = db
    .prepare(
      `SELECT consumer, envelope, attempts, last_error, dead_at FROM dead_letters
       WHERE @consumer = '' OR consumer = @consumer ORDER BY dead_at, rowid LIMIT @limit`,
    )
    .all({ consumer, limit }) as DeadLetterRow[];
  return rows.map(fromRow);
}

export function findDeadLetter(db: Database.Database, consumer: string, eventId: string): StoredDeadLetter | undefined {
  const row = db
    .prepare("SELECT consumer, envelope, attempts, last_error, dead_at FROM dead_letters WHERE consumer = ? AND event_id = ?")
    .get(consumer, eventId) as DeadLetterRow | undefined;
  return row === undefined ? undefined : fromRow(row);
}

export function deleteDeadLetter(db: Database.Database, consumer: string, eventId: string): void {
  db.prepare("DELETE FROM dead_letters WHERE consumer = ? AND event_id = ?").run(consumer, eventId);
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
