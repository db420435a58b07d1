import { eventLogMigration, outboxMigration, postgresEventLogMigration, postgresOutboxMigration } from "../../mesh/events/index.js";

/**
 * The orders schema, one step per entry, applied in order, on each engine:
 * SQLite counts the steps applied in `PRAGMA user_version`, PostgreSQL in
 * schema_migrations. Append only: never edit a step that has shipped; both
 * lists grow together.
 *
 * Step 4 is an expand step (README, "Changing a table replicas still read"):
 * it only adds nullable columns that the code of step 3 never names, so a
 * replica still running that code keeps working against the new schema.
 */
export const migrations: readonly string[] = [
  `CREATE TABLE orders (
     order_id            TEXT PRIMARY KEY,
     customer_id         TEXT NOT NULL,
     request_id          TEXT NOT NULL,
     request_fingerprint TEXT NOT NULL,
     lines               TEXT NOT NULL, -- JSON [{sku, quantity, unitPriceMinor}]
     total_minor         INTEGER NOT NULL,
     currency_code       TEXT NOT NULL,
     state               TEXT NOT NULL CHECK (state IN ('PENDING', 'CONFIRMED', 'CANCELLED')),
     cancel_reason       TEXT,
     cancel_detail       TEXT NOT NULL DEFAULT '',
     payment_id          TEXT,
     cancel_requested    INTEGER NOT NULL DEFAULT 0,
     saga_step           TEXT NOT NULL,
     undo                TEXT NOT NULL DEFAULT '[]', -- JSON compensations still to make
     card_token          TEXT,
     created_at          INTEGER NOT NULL, -- ms since the epoch
     updated_at          INTEGER NOT NULL,
     UNIQUE (customer_id, request_id)
   );
   CREATE INDEX orders_by_customer ON orders (customer_id, created_at DESC, order_id DESC);
   CREATE INDEX orders_pending ON orders (created_at) WHERE state = 'PENDING';`,
  // The order events, written with the changes that cause them.
  outboxMigration,
  // The embedded bus's log of published events, served to consumers from this service's port.
  eventLogMigration,
  // Saga leases: which replica drives a PENDING order's saga, and until when (ms since the epoch).
  `ALTER TABLE orders ADD COLUMN lease_owner TEXT;
   ALTER TABLE orders ADD COLUMN lease_expires_at INTEGER;`,
];

export const postgresMigrations: readonly string[] = [
  `CREATE TABLE orders (
     order_id            text PRIMARY KEY,
     customer_id         text NOT NULL,
     request_id          text NOT NULL,
     request_fingerprint text NOT NULL,
     lines               text NOT NULL,
     total_minor         bigint NOT NULL,
     currency_code       text NOT NULL,
     state               text NOT NULL CHECK (state IN ('PENDING', 'CONFIRMED', 'CANCELLED')),
     cancel_reason       text,
     cancel_detail       text NOT NULL DEFAULT '',
     payment_id          text,
     cancel_requested    integer NOT NULL DEFAULT 0,
     saga_step           text NOT NULL,
     undo                text NOT NULL DEFAULT '[]',
     card_token          text,
     created_at          bigint NOT NULL,
     updated_at          bigint NOT NULL,
     UNIQUE (customer_id, request_id)
   );
   CREATE INDEX orders_by_customer ON orders (customer_id, created_at DESC, order_id DESC);
   CREATE INDEX orders_pending ON orders (created_at) WHERE state = 'PENDING';`,
  postgresOutboxMigration,
  postgresEventLogMigration,
  `ALTER TABLE orders ADD COLUMN lease_owner text;
   ALTER TABLE orders ADD COLUMN lease_expires_at bigint;`,
];
