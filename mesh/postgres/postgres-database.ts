import pg from "pg";
import type { Logger } from "pino";
import { migratePostgres } from "./migrate-postgres.js";

/** What runs a query: the pool (a connection per query) or one transaction's client. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(config: pg.QueryConfig): Promise<pg.QueryResult<R>>;
}

export interface OpenPostgresOptions {
  /** The owning service, for messages and the connections' application_name, e.g. "orders". */
  readonly name: string;
  /**
   * The schema, one SQL step per entry, applied in order under an advisory
   * lock; schema_migrations records each step applied. Steps are only
   * appended, never edited once released.
   */
  readonly migrations: readonly string[];
  /**
   * Connections in the pool. Default: 10, pg's own default: on the 2-core
   * machines measured here a service's throughput stopped growing at about
   * 4 busy connections (measured when the PostgreSQL stores were added,
   * 260e969; bench/stores.ts measures the stores as users run them), and
   * idle ones cost the server little.
   */
  readonly poolSize?: number;
  /** Where pool errors of idle connections (server restart, network) are logged. */
  readonly logger?: Logger;
}

/**
 * pg's default parses int8 (bigint, count(*)) to a string. Every int8 this
 * mesh stores is a count, a sequence or epoch milliseconds, all far below
 * 2^53, so they are read as numbers.
 */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary"): unknown =>
    oid === Number(pg.types.builtins.INT8) ? Number : (pg.types.getTypeParser(oid, format) as unknown)) as pg.CustomTypesConfig["getTypeParser"],
};

/** SQLSTATEs after which a transaction is run again from the start (see `transaction`). */
const retryableCodes = new Set([
  // serialization_failure, deadlock_detected: the server aborted it to break a conflict.
  "40001",
  "40P01",
  // unique_violation: its check "is there one already?" raced with another
  // transaction's insert; run again, the check sees the winner's row.
  "23505",
]);

/** Tries per transaction before its last error is thrown: contention here resolves within a few. */
const maxAttempts = 8;

let statementNames = 0;

/**
 * A statement prepared once per connection (pg's named statements): parse
 * and plan are paid on a connection's first use, not on every call.
 */
export function prepared(text: string): (values?: unknown[]) => pg.QueryConfig {
  const name = `meshwork_${++statementNames}`;
  return (values = []) => ({ name, text, values });
}

/**
 * A service's own PostgreSQL database, named by its connection string: a
 * pool of connections and transactions that retry on conflicts.
 *
 * Store transactions run at READ COMMITTED, PostgreSQL's default. A store
 * reads with FOR UPDATE the rows it decides on and then changes, so two
 * transactions deciding on one row take turns, as SQLite's single writer
 * makes them; the invariants the database guards (unique keys, CHECKs) catch
 * what a read could not lock (a row not there yet).
 */
export class PostgresDatabase {
  constructor(
    readonly pool: pg.Pool,
    readonly name: string,
    /** The connection string, for connections outside the pool (LISTEN). */
    readonly url: string,
  ) {}

  /**
   * Runs `fn` in one transaction on one connection: commits when it
   * resolves, rolls back when it rejects. When the server aborts it to break
   * a conflict (serialization failure, deadlock) or a unique key it checked
   * for was taken meanwhile, it runs again from the start, up to 8 tries, so
   * `fn` must have no effect outside the transaction.
   */
  async transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      let broken = false;
      try {
        await client.query("BEGIN");
        const result = await fn(client);
        await client.query("COMMIT");
        return result;
      } catch (err) {
        await client.query("ROLLBACK").catch(() => {
          broken = true;
        });
        if (attempt >= maxAttempts || !isRetryable(err)) {
          throw err;
        }
      } finally {
        client.release(broken);
      }
      // A little jitter so that two transactions that collided do not collide again.
      // eslint-disable-next-line @microsoft/sdl/no-insecure-random -- jitter before a retried transaction, not a secret
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * attempt));
    }
  }

  /** A trivial query, for readiness: throws when no connection can be had or the server does not answer. */
  async ping(): Promise<void> {
    await this.pool.query("SELECT 1");
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

export function isRetryable(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && retryableCodes.has(code);
}

/**
 * Connects to the database `url` names and brings it to the latest schema;
 * fails (closing the pool) when the server cannot be reached, the database
 * does not exist, or its schema is newer than `migrations`.
 */
export async function openPostgres(url: string, options: OpenPostgresOptions): Promise<PostgresDatabase> {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    application_name: options.name,
    types,
    // A server that does not answer fails a call in seconds, not never.
    connectionTimeoutMillis: 10_000,
  });
  pool.on("error", (err) => options.logger?.warn({ err }, "PostgreSQL connection lost; the pool reconnects on next use"));
  try {
    await migratePostgres(pool, options.name, options.migrations);
  } catch (err) {
    await pool.end().catch(() => {});
    throw new Error(`${options.name} database at ${redact(url)}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  return new PostgresDatabase(pool, options.name, url);
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") {
      parsed.password = "***";
    }
    return parsed.toString();
  } catch {
    return "(unparsable URL)";
  }
}
