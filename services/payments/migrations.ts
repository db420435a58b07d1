import type Database from "better-sqlite3";

/**
 * The payments schema, one step per entry, applied in order. The database's
 * `PRAGMA user_version` is the number of steps applied, so a step never runs
 * twice; steps are only ever appended, never edited once released.
 */
const migrations: readonly string[] = [
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

/** Brings `db` up to the latest schema; each step and its version bump commit together. */
export function migrate(db: Database.Database): void {
  const applied = db.pragma("user_version", { simple: true }) as number;
  if (applied > migrations.length) {
    throw new Error(`payments database is at schema version ${applied}, newer than this build's ${migrations.length}`);
  }
  migrations.slice(applied).forEach((sql, index) => {
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${applied + index + 1}`);
    })();
  });
}
