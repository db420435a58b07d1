import Database from "better-sqlite3";

export type { Database };

export interface OpenDatabaseOptions {
  /** The owning service, for error messages, e.g. "inventory". */
  readonly name: string;
  /**
   * The schema, one SQL step per entry, applied in order. `PRAGMA
   * user_version` is the number of steps applied, so a step never runs twice;
   * steps are only appended, never edited once released.
   */
  readonly migrations: readonly string[];
  /** How long a writer waits for another process's lock. Default: 5 s. */
  readonly busyTimeoutMs?: number;
}

/**
 * Opens (creating if needed) a service's own SQLite database at `path` (or
 * ":memory:") and brings it to the latest schema. WAL lets readers run beside
 * the one writer, and with NORMAL sync it stays durable across process
 * crashes. Several processes of one service may share the file (replicas in
 * split mode): the busy timeout is set first so they wait for each other, and
 * migrations run in one IMMEDIATE transaction, so only one of them migrates.
 * A database migrated by a newer build is refused.
 */
export function openDatabase(path: string, options: OpenDatabaseOptions): Database.Database {
  const db = new Database(path);
  try {
    db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("foreign_keys = ON");
    migrate(db, options);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

function migrate(db: Database.Database, { name, migrations }: OpenDatabaseOptions): void {
  db.transaction(() => {
    const applied = db.pragma("user_version", { simple: true }) as number;
    if (applied > migrations.length) {
      throw new Error(`${name} database is at schema version ${applied}, newer than this build (${migrations.length})`);
    }
    for (const sql of migrations.slice(applied)) {
      db.exec(sql);
    }
    db.pragma(`user_version = ${migrations.length}`);
  }).immediate();
}
