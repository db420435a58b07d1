import { eventLogMigration, outboxMigration } from "../../mesh/events/index.js";

/**
 * Schema migrations, applied in order; PRAGMA user_version records how many
 * have run. Append only: never edit one that has shipped.
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
];
