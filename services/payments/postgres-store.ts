import type { Logger } from "pino";
import { openPostgres, prepared, type PostgresDatabase, type Queryable } from "../../mesh/postgres/postgres-database.js";
import { postgresMigrations } from "./migrations.js";
import type { Payment, PaymentState } from "./model.js";
import type { PaymentRecords, PaymentStore } from "./payment-store.js";

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

const sql = {
  findPayment: prepared("SELECT * FROM payments WHERE payment_id = $1"),
  findPaymentForUpdate: prepared("SELECT * FROM payments WHERE payment_id = $1 FOR UPDATE"),
  findByIdempotencyKey: prepared("SELECT * FROM payments WHERE idempotency_key = $1"),
  insertPayment: prepared(
    `INSERT INTO payments (payment_id, idempotency_key, request_fingerprint, order_id, amount_minor,
                           currency_code, state, created_at_ms, updated_at_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
  ),
  setState: prepared("UPDATE payments SET state = $1, updated_at_ms = $2 WHERE payment_id = $3"),
};

/** The payment records on `db`: the pool (one statement each) or one transaction's connection. */
function records(db: Queryable): PaymentRecords {
  return {
    async findPayment(paymentId, options) {
      const { rows } = await db.query<PaymentRow>((options?.forUpdate === true ? sql.findPaymentForUpdate : sql.findPayment)([paymentId]));
      return rows[0] && toPayment(rows[0]);
    },
    async findByIdempotencyKey(idempotencyKey) {
      const { rows } = await db.query<PaymentRow>(sql.findByIdempotencyKey([idempotencyKey]));
      return rows[0] && { payment: toPayment(rows[0]), fingerprint: rows[0].request_fingerprint };
    },
    async insertPayment(payment, idempotencyKey, fingerprint) {
      await db.query(
        sql.insertPayment([
          payment.paymentId,
          idempotencyKey,
          fingerprint,
          payment.orderId,
          payment.amountMinor,
          payment.currencyCode,
          payment.state,
          payment.createdAtMs,
          payment.updatedAtMs,
        ]),
      );
    },
    async setState(paymentId, state, updatedAtMs) {
      await db.query(sql.setState([state, updatedAtMs, paymentId]));
    },
  };
}

/** Connects to the payments database `url` names and migrates it to the latest schema. */
export async function openPostgresPaymentStore(url: string, options: { logger?: Logger } = {}): Promise<PaymentStore> {
  const db: PostgresDatabase = await openPostgres(url, { name: "payments", migrations: postgresMigrations, ...options });
  return {
    ...records(db.pool),
    transaction: (fn) => db.transaction((client) => fn(records(client))),
    ping: () => db.ping(),
    close: () => db.close(),
  };
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
