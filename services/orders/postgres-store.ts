import type { Logger } from "pino";
import { appendToPostgresOutbox, postgresEventStores } from "../../mesh/events/index.js";
import { openPostgres, prepared, type Queryable } from "../../mesh/index.js";
import { orderEventEnvelope, ordersStream } from "./events.js";
import { postgresMigrations } from "./migrations.js";
import type { Order, OrderEvent } from "./order.js";
import { fromRow, toOrder, toRow, type OrderRow } from "./order-row.js";
import type { OrderStore } from "./order-store.js";

export interface PostgresOrderStoreOptions {
  /** Called after a write that recorded order events has committed, to wake the outbox relay. */
  readonly onEventsCommitted?: () => void;
  readonly logger?: Logger;
}

const columns = `order_id, customer_id, request_id, request_fingerprint, lines, total_minor, currency_code,
  state, cancel_reason, cancel_detail, payment_id, cancel_requested, saga_step, undo, card_token, created_at, updated_at`;

const sql = {
  insert: prepared(
    `INSERT INTO orders (${columns}, lease_owner, lease_expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
     ON CONFLICT (customer_id, request_id) DO NOTHING`,
  ),
  get: prepared(`SELECT ${columns} FROM orders WHERE order_id = $1`),
  findByRequest: prepared(`SELECT ${columns} FROM orders WHERE customer_id = $1 AND request_id = $2`),
  firstPage: prepared(`SELECT ${columns} FROM orders WHERE customer_id = $1 ORDER BY created_at DESC, order_id DESC LIMIT $2`),
  nextPage: prepared(
    `SELECT ${columns} FROM orders WHERE customer_id = $1 AND (created_at < $2 OR (created_at = $2 AND order_id < $3))
     ORDER BY created_at DESC, order_id DESC LIMIT $4`,
  ),
  resumable: prepared(
    `SELECT order_id FROM orders WHERE state = 'PENDING' AND (lease_owner IS NULL OR lease_expires_at < $1)
     ORDER BY created_at, order_id`,
  ),
  // cancel_requested is left alone: CancelOrder owns it. RETURNING gives the row as stored after the write.
  update: prepared(
    `UPDATE orders SET state = $2, saga_step = $3, undo = $4, payment_id = $5, card_token = $6, cancel_reason = $7,
       cancel_detail = $8, updated_at = $9,
       lease_owner = CASE WHEN $3 = 'DONE' THEN NULL ELSE lease_owner END,
       lease_expires_at = CASE WHEN $3 = 'DONE' THEN NULL ELSE lease_expires_at END
     WHERE order_id = $1 AND saga_step = $10 AND (lease_owner IS NULL OR lease_owner = $11)
     RETURNING ${columns}`,
  ),
  requestCancel: prepared("UPDATE orders SET cancel_requested = 1, updated_at = $1 WHERE order_id = $2 AND state = 'PENDING'"),
  takeLease: prepared(
    `UPDATE orders SET lease_owner = $1, lease_expires_at = $2
     WHERE order_id = $3 AND state = 'PENDING' AND (lease_owner IS NULL OR lease_owner = $1 OR lease_expires_at < $4)`,
  ),
  releaseLease: prepared("UPDATE orders SET lease_owner = NULL, lease_expires_at = NULL WHERE order_id = $1 AND lease_owner = $2"),
};

/**
 * Connects to the orders database `url` names and migrates it. Replicas
 * share it: every write is one conditional statement (the request id's
 * uniqueness, the saga step and its lease), so concurrent writers cannot
 * both win, and each write that records events does so in its transaction.
 */
export async function openPostgresOrderStore(url: string, options: PostgresOrderStoreOptions = {}): Promise<OrderStore> {
  const db = await openPostgres(url, { name: "orders", migrations: postgresMigrations, ...(options.logger ? { logger: options.logger } : {}) });

  /** Runs `write` and, when it changed a row, records `events` about `order` in the same transaction. */
  const writeWithEvents = async <T>(write: (tx: Queryable) => Promise<T | undefined>, order: Order, events: readonly OrderEvent[]): Promise<T | undefined> => {
    if (events.length === 0) {
      return write(db.pool);
    }
    const written = await db.transaction(async (client) => {
      const result = await write(client);
      if (result !== undefined) {
        for (const event of events) {
          await appendToPostgresOutbox(client, ordersStream, orderEventEnvelope(event, order));
        }
      }
      return result;
    });
    if (written !== undefined) {
      options.onEventsCommitted?.();
    }
    return written;
  };

  const one = async (query: Promise<{ rows: OrderRow[] }>): Promise<Order | undefined> => fromRow((await query).rows[0]);

  return {
    events: postgresEventStores(db),
    async insert(order, events = [], lease) {
      const row = toRow(order);
      const inserted = await writeWithEvents(
        async (tx) =>
          (
            await tx.query(
              sql.insert([
                row.order_id,
                row.customer_id,
                row.request_id,
                row.request_fingerprint,
                row.lines,
                row.total_minor,
                row.currency_code,
                row.state,
                row.cancel_reason,
                row.cancel_detail,
                row.payment_id,
                row.cancel_requested,
                row.saga_step,
                row.undo,
                row.card_token,
                row.created_at,
                row.updated_at,
                lease?.owner ?? null,
                lease?.untilMs ?? null,
              ]),
            )
          ).rowCount === 1 || undefined,
        order,
        events,
      );
      return inserted === true;
    },
    get: (orderId) => one(db.pool.query<OrderRow>(sql.get([orderId]))),
    findByRequest: (customerId, requestId) => one(db.pool.query<OrderRow>(sql.findByRequest([customerId, requestId]))),
    async listByCustomer(customerId, limit, cursor) {
      const { rows } = await db.pool.query<OrderRow>(
        cursor === undefined
          ? sql.firstPage([customerId, limit])
          : sql.nextPage([customerId, cursor.createdAt.getTime(), cursor.orderId, limit]),
      );
      return rows.map(toOrder);
    },
    async resumableOrderIds(nowMs) {
      const { rows } = await db.pool.query<{ order_id: string }>(sql.resumable([nowMs]));
      return rows.map((row) => row.order_id);
    },
    update(order, expectedStep, events = [], owner) {
      const row = toRow(order);
      return writeWithEvents(
        (tx) =>
          one(
            tx.query<OrderRow>(
              sql.update([
                row.order_id,
                row.state,
                row.saga_step,
                row.undo,
                row.payment_id,
                row.card_token,
                row.cancel_reason,
                row.cancel_detail,
                row.updated_at,
                expectedStep,
                owner ?? null,
              ]),
            ),
          ),
        order,
        events,
      );
    },
    async requestCancel(orderId, at) {
      await db.pool.query(sql.requestCancel([at.getTime(), orderId]));
    },
    async takeLease(orderId, lease, nowMs) {
      return (await db.pool.query(sql.takeLease([lease.owner, lease.untilMs, orderId, nowMs]))).rowCount === 1;
    },
    async releaseLease(orderId, owner) {
      await db.pool.query(sql.releaseLease([orderId, owner]));
    },
    ping: () => db.ping(),
    close: () => db.close(),
  };
}
