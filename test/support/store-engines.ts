import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import type { StoreLocation } from "../../mesh/store/store-from-env.js";
import { sharedPostgres } from "./postgres-server.js";

/** The engines every store suite runs on. */
export const storeEngines = ["sqlite", "postgres"] as const;
export type StoreEngine = (typeof storeEngines)[number];

/** A new, empty place for one service's store, and a way to look into it from outside the store. */
export interface FreshStore {
  readonly engine: StoreEngine;
  readonly location: StoreLocation;
  /**
   * Runs `sql` (portable SQL without parameters) on a connection of its own,
   * as an operator or a test inspecting the data would, and returns the rows.
   */
  query<Row = Record<string, unknown>>(sql: string): Promise<Row[]>;
  /** How many schema steps the database records as applied (SQLite: user_version; PostgreSQL: schema_migrations). */
  schemaVersion(): Promise<number>;
  /** Records `version` steps as applied, as a newer build would have (call after the store created its schema). */
  pretendSchemaVersion(version: number): Promise<void>;
  /** Removes the SQLite file's directory, or closes the look-in connection (the database is left to the server's end). */
  dispose(): Promise<void>;
}

/**
 * A fresh store location on `engine`: an SQLite file in a new temporary
 * directory, or a new database on the test run's PostgreSQL server (one
 * server per run, started on first use).
 */
export async function freshStore(engine: StoreEngine, name: string): Promise<FreshStore> {
  if (engine === "sqlite") {
    const dir = mkdtempSync(path.join(os.tmpdir(), `${name}-`));
    const file = path.join(dir, `${name}.db`);
    return {
      engine,
      location: { engine, path: file },
      async query<Row>(sql: string) {
        const db = new Database(file, { readonly: true });
        try {
          return db.prepare(sql).all() as Row[];
        } finally {
          db.close();
        }
      },
      async schemaVersion() {
        const db = new Database(file, { readonly: true });
        try {
          return db.pragma("user_version", { simple: true }) as number;
        } finally {
          db.close();
        }
      },
      async pretendSchemaVersion(version) {
        const db = new Database(file);
        try {
          db.pragma(`user_version = ${version}`);
        } finally {
          db.close();
        }
      },
      async dispose() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const server = await sharedPostgres();
  const url = await server.createDatabase(name);
  // One connection of its own for every look, closed by dispose.
  let client: Promise<pg.Client> | undefined;
  const connect = async (): Promise<pg.Client> => {
    const c = new pg.Client({ connectionString: url, types: { getTypeParser: int8AsNumber } as pg.CustomTypesConfig });
    await c.connect();
    return c;
  };
  const query = async <Row>(sql: string): Promise<Row[]> => {
    client ??= connect();
    return (await (await client).query(sql)).rows as Row[];
  };
  return {
    engine,
    location: { engine, url },
    query,
    async schemaVersion() {
      return (await query<{ v: number | null }>("SELECT max(version) AS v FROM schema_migrations"))[0]?.v ?? 0;
    },
    async pretendSchemaVersion(version) {
      await query(`INSERT INTO schema_migrations (version) VALUES (${version})`);
    },
    async dispose() {
      const c = client;
      client = undefined;
      await (await c)?.end();
    },
  };
}

/** int8 as numbers, as the stores read them. */
function int8AsNumber(oid: number, format?: "text" | "binary"): unknown {
  return oid === pg.types.builtins.INT8 ? Number : pg.types.getTypeParser(oid, format);
}
