import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type Database from "better-sqlite3";
import { EnvelopeSchema, type Envelope } from "../../gen/meshwork/events/v1/envelope_pb.js";

/**
 * The embedded bus's durable log, in the producer's own database: one
 * migration step it appends to its migrations list. Each stream numbers its
 * events from 1 without gaps; an event id appears once per stream, which is
 * the bus's deduplication.
 */
export const eventLogMigration = `
CREATE TABLE event_log (
  stream TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  id TEXT NOT NULL,
  envelope BLOB NOT NULL,
  PRIMARY KEY (stream, sequence),
  UNIQUE (stream, id)
) WITHOUT ROWID;
`;

/** One event of the log and its place in its stream. */
export interface LoggedEvent {
  readonly sequence: number;
  readonly envelope: Envelope;
}

interface LogStatements {
  readonly append: Database.Statement;
  readonly read: Database.Statement;
  readonly last: Database.Statement;
}

/**
 * Safety net for appends this process was not told of (another process
 * sharing the database file): while anyone waits, the log checks each waited
 * stream's end this often. Appends made here wake waiters at once.
 */
const crossProcessCheckMs = 500;

/**
 * A producer's event log: appends are durable when they return, readers get
 * events in sequence order and wait for new ones without polling the
 * database. One instance per database (see `eventLogOf`), so that every
 * append made through it wakes every waiter in the process.
 */
export class EventLog {
  /** Per stream, each waiter's wake-up and the sequence it has read up to. */
  private readonly waiters = new Map<string, Map<() => void, number>>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  // Prepared on first use: a process that only consumes has no event_log table.
  private statements: LogStatements | undefined;

  constructor(private readonly db: Database.Database) {}

  private get sql(): LogStatements {
    this.statements ??= {
      // The next sequence is computed in the same statement as the insert, so
      // that writers (even in other processes) cannot take the same number.
      append: this.db.prepare(
        `INSERT OR IGNORE INTO event_log (stream, sequence, id, envelope)
         SELECT @stream, coalesce(max(sequence), 0) + 1, @id, @envelope FROM event_log WHERE stream = @stream`,
      ),
      read: this.db.prepare(
        "SELECT sequence, envelope FROM event_log WHERE stream = ? AND sequence > ? ORDER BY sequence LIMIT ?",
      ),
      last: this.db.prepare("SELECT coalesce(max(sequence), 0) AS last FROM event_log WHERE stream = ?"),
    };
    return this.statements;
  }

  /**
   * Appends `envelope` to `stream` unless an event with its id is already
   * there; returns whether it was appended. Durable once it returns.
   */
  append(stream: string, envelope: Envelope): boolean {
    const appended = this.sql.append.run({ stream, id: envelope.id, envelope: toBinary(EnvelopeSchema, envelope) }).changes > 0;
    if (appended) {
      this.notify(stream);
    }
    return appended;
  }

  /** Up to `limit` events of `stream` after `afterSequence`, oldest first. */
  read(stream: string, afterSequence: number, limit: number): LoggedEvent[] {
    const rows = this.sql.read.all(stream, afterSequence, limit) as { sequence: number; envelope: Buffer }[];
    return rows.map((row) => ({ sequence: row.sequence, envelope: fromBinary(EnvelopeSchema, row.envelope) }));
  }

  /** The sequence of the stream's last event; 0 when it has none. */
  lastSequence(stream: string): number {
    return (this.sql.last.get(stream) as { last: number }).last;
  }

  /**
   * Resolves when `stream` may have events after `afterSequence`: at once if
   * it has, else on the next append, when `signal` aborts, or when the log
   * closes. The caller reads again to see which.
   */
  waitForAppend(stream: string, afterSequence: number, signal: AbortSignal): Promise<void> {
    if (this.closed || signal.aborted || this.lastSequence(stream) > afterSequence) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      let waiters = this.waiters.get(stream);
      if (waiters === undefined) {
        waiters = new Map();
        this.waiters.set(stream, waiters);
      }
      const wake = (): void => {
        const current = this.waiters.get(stream);
        current?.delete(wake);
        if (current?.size === 0) {
          this.waiters.delete(stream);
        }
        signal.removeEventListener("abort", wake);
        resolve();
      };
      waiters.set(wake, afterSequence);
      signal.addEventListener("abort", wake, { once: true });
      this.startChecking();
    });
  }

  /** Whether `close` was called: readers should end. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Wakes every waiter and makes waits return at once, so that followers end. */
  close(): void {
    this.closed = true;
    for (const stream of [...this.waiters.keys()]) {
      this.notify(stream);
    }
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private notify(stream: string): void {
    const waiters = this.waiters.get(stream);
    if (waiters === undefined) {
      return;
    }
    this.waiters.delete(stream);
    for (const wake of waiters.keys()) {
      wake();
    }
  }

  private startChecking(): void {
    if (this.timer !== undefined || this.closed) {
      return;
    }
    this.timer = setInterval(() => {
      if (this.waiters.size === 0) {
        clearInterval(this.timer);
        this.timer = undefined;
        return;
      }
      for (const [stream, waiters] of [...this.waiters]) {
        const last = this.lastSequence(stream);
        for (const [wake, afterSequence] of [...waiters]) {
          if (last > afterSequence) {
            wake();
          }
        }
      }
    }, crossProcessCheckMs);
    this.timer.unref();
  }
}

const logs = new WeakMap<Database.Database, EventLog>();

/** The event log of `db` (with `eventLogMigration` applied), one per database in a process. */
export function eventLogOf(db: Database.Database): EventLog {
  let log = logs.get(db);
  if (log === undefined || log.isClosed) {
    log = new EventLog(db);
    logs.set(db, log);
  }
  return log;
}
