import { inboxMigration, postgresInboxMigration } from "../../mesh/events/index.js";

/**
 * The notifications schema, one step per entry, applied in order, on each
 * engine: SQLite counts the steps applied in `PRAGMA user_version`,
 * PostgreSQL in schema_migrations. Append only: never edit a step that has
 * shipped; both lists grow together.
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

export const postgresMigrations: readonly string[] = [
  `CREATE TABLE notifications (
     sequence        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     notification_id text NOT NULL UNIQUE,
     order_id        text NOT NULL,
     customer_id     text NOT NULL,
     channel         text NOT NULL CHECK (channel IN ('EMAIL', 'PUSH')),
     event_type      text NOT NULL,
     event_id        text NOT NULL,
     message         text NOT NULL,
     created_at      bigint NOT NULL,
     UNIQUE (event_id)
   );
   CREATE INDEX notifications_by_order ON notifications (order_id, customer_id, sequence);`,
  postgresInboxMigration,
];
