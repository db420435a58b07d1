/**
 * The payments schema, one step per entry, applied in order. The database's
 * `PRAGMA user_version` is the number of steps applied, so a step never runs
 * twice; steps are only ever appended, never edited once released.
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

