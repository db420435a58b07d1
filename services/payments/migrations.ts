/**
 * The payments schema, one step per entry, applied in order, on each engine:
 * SQLite counts the steps applied in `PRAGMA user_version`, PostgreSQL in
 * schema_migrations. A step never runs twice; steps are only ever appended,
 * never edited once released, and both lists grow together.
 */
export const migrations: readonly string[] = [
  // The card token is not stored: the fingerprint (a SHA-256 over order, amount,
  // currency and token) is enough to tell a retry from a reused key.
  `CREATE TABLE payments (
     payment_id          TEXT PRIMARY KEY,
     idempotency_key     TEXT NOT NULL UNIQUE,
     request_fingerprint TEXT NOT NULL,
     order_id            TEXT NOT NULL,
     amount_minor        INTEGER NOT NULL CHECK (amount_minor > 0),
     currency_code       TEXT NOT NULL,
     state               TEXT NOT NULL CHECK (state IN ('AUTHORIZED', 'CAPTURED', 'VOIDED')),
     created_at_ms       INTEGER NOT NULL,
     updated_at_ms       INTEGER NOT NULL
   ) STRICT;`,
];

export const postgresMigrations: readonly string[] = [
  `CREATE TABLE payments (
     payment_id          text PRIMARY KEY,
     idempotency_key     text NOT NULL UNIQUE,
     request_fingerprint text NOT NULL,
     order_id            text NOT NULL,
     amount_minor        bigint NOT NULL CHECK (amount_minor > 0),
     currency_code       text NOT NULL,
     state               text NOT NULL CHECK (state IN ('AUTHORIZED', 'CAPTURED', 'VOIDED')),
     created_at_ms       bigint NOT NULL,
     updated_at_ms       bigint NOT NULL
   );`,
];
