import type Database from "better-sqlite3";

/**
 * One better-sqlite3 connection behind the async store ports. Statements run
 * synchronously, but a store transaction is now an async function (the same
 * domain code runs on PostgreSQL, where every query is awaited), so between
 * its statements other callers get the event loop. The session keeps them
 * out of an open transaction: `transaction` and `run` take the connection in
 * turn, first come first served. When nothing is waiting — the common case,
 * since a transaction's awaits here resolve without I/O — `run` executes at
 * once and costs a flag check.
 */
export class SqliteSession {
  private busy = false;
  private readonly waiting: (() => void)[] = [];
  private readonly begin: Database.Statement;
  private readonly commit: Database.Statement;
  private readonly rollback: Database.Statement;

  constructor(readonly db: Database.Database) {
    // IMMEDIATE: take the write lock at the start, so that another process
    // sharing the file (replicas in split mode) waits for it (busy timeout)
    // instead of failing the transaction at its first write.
    this.begin = db.prepare("BEGIN IMMEDIATE");
    this.commit = db.prepare("COMMIT");
    this.rollback = db.prepare("ROLLBACK");
  }

  /** Runs `fn` (synchronous statements) on the connection once no transaction holds it. */
  run<T>(fn: () => T): Promise<Awaited<T>> {
    if (!this.busy) {
      try {
        return Promise.resolve(fn());
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.acquire().then(async () => {
      try {
        return await fn();
      } finally {
        this.release();
      }
    }) as Promise<Awaited<T>>;
  }

  /**
   * Runs `fn` in one IMMEDIATE transaction holding the connection: commits
   * when it resolves, rolls back when it rejects (and rejects with its
   * error). `fn` must reach the database only through statements run
   * directly on `db`, never through `run` or `transaction` (they would wait
   * for this very transaction).
   */
  async transaction<T>(fn: () => Promise<T>): Promise<T> {
    if (this.busy) {
      await this.acquire();
    } else {
      this.busy = true;
    }
    try {
      this.begin.run();
      let result: T;
      try {
        result = await fn();
      } catch (err) {
        if (this.db.inTransaction) {
          this.rollback.run();
        }
        throw err;
      }
      this.commit.run();
      return result;
    } finally {
      this.release();
    }
  }

  close(): void {
    this.db.close();
  }

  private acquire(): Promise<void> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Hands the connection to the next waiter (it stays busy), or frees it. */
  private release(): void {
    const next = this.waiting.shift();
    if (next === undefined) {
      this.busy = false;
    } else {
      next();
    }
  }
}
