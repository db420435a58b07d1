import { inboxMigration } from "../../mesh/events/index.js";

/**
 * The notifications schema, applied in order; PRAGMA user_version counts the
 * steps applied. Append only: never edit a step that has shipped.
 */
export const migrations: readonly string[] = [
  `CREATE TABLE notifications (
     sequence        INTEGER PRIMARY KEY AUTOINCREMENT,
     notification_id TEXT NOT NULL UNIQUE,
     order_id        TEXT NOT NULL,
     customer_id     TEXT NOT NULL,
     channel         TEXT NOT NULL CHECK (channel IN ('EMAIL', 'PUSH')),
     event_type      TEXT NOT NULL,
     event_id        TEXT NOT NULL,
     message         TEXT NOT NULL,
     created_at      INTEGER NOT NULL, -- ms since the epoch
     UNIQUE (event_id)
   ) STRICT;
   CREATE INDEX notifications_by_order ON notifications (order_id, customer_id, sequence);`,
  // The event consumer's record of handled events and its dead letters.
  inboxMigration,
];
