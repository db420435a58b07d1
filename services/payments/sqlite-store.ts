import type Database from "better-sqlite3";
import { openDatabase } from "../../mesh/index.js";
import { SqliteSession } from "../../mesh/sqlite/sqlite-session.js";
import { migrations } from "./migrations.js";
import type { Payment, PaymentState } from "./model.js";
import type { KeyedPayment, PaymentRecords, PaymentStore } from "./payment-store.js";

export interface SqlitePaymentStoreOptions {
  /**
   * How long a write waits for another connection's lock before failing with
   * SQLITE_BUSY. Default: 5000 ms, far beyond any of this store's
   * transactions, so only a stuck process makes a call fail.
   */
  readonly busyTimeoutMs?: number;
}

interface PaymentRow {
  payment_id: string;
  idempotency_key: string;
  request_fingerprint: string;
  order_id: string;
  amount_minor: number;
  currency_code: string;
  state: PaymentState;
  created_at_ms: number;
  updated_at_ms: number;
}

/**
 * Opens (creating if needed) the payments database at `path`, or an
 * in-memory one for ":memory:", and migrates it to the latest schema.
 */
export function openSqlitePaymentStore(path: string, options: SqlitePaymentStoreOptions = {}): SqlitePaymentStore {
  const db = openDatabase(path, { name: "payments", migrations: migrations, busyTimeoutMs: options.busyTimeoutMs });
  return new SqlitePaymentStore(db);
}

/** The payment store on one better-sqlite3 connection. Statements are prepared once, at open. */
export class SqlitePaymentStore implements PaymentStore {
  private readonly session: SqliteSession;
  /** The records on the connection itself: what a transaction's `fn` gets. */
  private readonly records: PaymentRecords;

  constructor(db: Database.Database) {
    this.session = new SqliteSession(db);
    const sql = {
      findPayment: db.prepare<[string], PaymentRow>("SELECT * FROM payments WHERE payment_id = ?"),
      findByIdempotencyKey: db.prepare<[string], PaymentRow>("SELECT * FROM payments WHERE idempotency_key = ?"),
      insertPayment: db.prepare<[string, string, string, string, number, string, PaymentState, number, number]>(
        `INSERT INTO payments (payment_id, idempotency_key, request_fingerprint, order_id, amount_minor,
                               currency_code, state, created_at_ms, updated_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      setState: db.prepare<[PaymentState, number, string]>("UPDATE payments SET state = ?, updated_at_ms = ? WHERE payment_id = ?"),
      ping: db.prepare("SELECT 1"),
    };
    // Synchronous, so that a readiness probe sees a closed database at once.
    this.ping = () => {
      sql.ping.get();
    };
    this.records = {
      findPayment: async (paymentId) => {
        const row = sql.findPayment.get(paymentId);
        return row && toPayment(row);
      },
      findByIdempotencyKey: async (idempotencyKey) => {
        const row = sql.findByIdempotencyKey.get(idempotencyKey);
        return row && { payment: toPayment(row), fingerprint: row.request_fingerprint };
      },
      insertPayment: async (payment, idempotencyKey, fingerprint) => {
        sql.insertPayment.run(
          payment.paymentId,
          idempotencyKey,
          fingerprint,
          payment.orderId,
          payment.amountMinor,
          payment.currencyCode,
          payment.state,
          payment.createdAtMs,
          payment.updatedAtMs,
        );
      },
      setState: async (paymentId, state, updatedAtMs) => {
        sql.setState.run(state, updatedAtMs, paymentId);
      },
    };
  }

  readonly ping: () => void;

  transaction<T>(fn: (tx: PaymentRecords) => Promise<T>): Promise<T> {
    return this.session.transaction(() => fn(this.records));
  }

  findPayment(paymentId: string): Promise<Payment | undefined> {
    return this.session.run(() => this.records.findPayment(paymentId));
  }

  findByIdempotencyKey(idempotencyKey: string): Promise<KeyedPayment | undefined> {
    return this.session.run(() => this.records.findByIdempotencyKey(idempotencyKey));
  }

  insertPayment(payment: Payment, idempotencyKey: string, fingerprint: string): Promise<void> {
    return this.session.run(() => this.records.insertPayment(payment, idempotencyKey, fingerprint));
  }

  setState(paymentId: string, state: PaymentState, updatedAtMs: number): Promise<void> {
    return this.session.run(() => this.records.setState(paymentId, state, updatedAtMs));
  }

  async close(): Promise<void> {
    this.session.close();
  }
}

function toPayment(row: PaymentRow): Payment {
  return {
    paymentId: row.payment_id,
    orderId: row.order_id,
    amountMinor: row.amount_minor,
    currencyCode: row.currency_code,
    state: row.state,
    createdAtMs: row.created_at_ms,
    updatedAtMs: row.updated_at_ms,
  };
}
