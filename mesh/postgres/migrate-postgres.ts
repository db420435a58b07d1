import type pg from "pg";

/**
 * The advisory lock migrations hold: one number per database (advisory
 * locks are per database), so that replicas starting together migrate one
 * after the other, and the second finds nothing left to do.
 */
const migrationLock = 0x6d657368; // "mesh"

/**
 * Brings the database to `migrations.length` steps. schema_migrations holds
 * one row per step applied (its number and when); each step runs in its own
 * transaction with its row, so a failed step leaves the steps before it
 * applied and itself not. The whole run holds a session advisory lock.
 * Refuses a database with more steps than this build knows (a newer build
 * migrated it): this build's code may not work on that schema.
 */
export async function migratePostgres(pool: pg.Pool, name: string, migrations: readonly string[]): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [migrationLock]);
    try {
      await client.query(
        `CREATE TABLE IF NOT EXISTS schema_migrations (
           version    integer PRIMARY KEY,
           applied_at timestamptz NOT NULL DEFAULT now()
         )`,
      );
      const { rows } = await client.query<{ applied: number }>("SELECT coalesce(max(version), 0)::integer AS applied FROM schema_migrations");
      const applied = rows[0]?.applied ?? 0;
      if (applied > migrations.length) {
        throw new Error(`${name} database is at schema version ${applied}, newer than this build (${migrations.length})`);
      }
      for (let version = applied + 1; version <= migrations.length; version++) {
        await client.query("BEGIN");
        try {
          await client.query(migrations[version - 1]!);
          await client.query("INSERT INTO schema_migrations (version) VALUES ($1)", [version]);
          await client.query("COMMIT");
        } catch (err) {
          await client.query("ROLLBACK");
          throw new Error(`migration ${version} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
        }
      }
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [migrationLock]);
    }
  } finally {
    client.release();
  }
}
