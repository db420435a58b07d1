import type Database from "better-sqlite3";
import { openDatabase, SqliteSession } from "../../mesh/index.js";
import { appendToOutbox, sqliteEventStores } from "../../mesh/events/index.js";
import { orderEventEnvelope, ordersStream } from "./events.js";
import { migrations } from "./migrations.js";
import type { Order, OrderEvent } from "./order.js";
import { fromRow, toOrder, toRow, type OrderRow } from "./order-row.js";
import type { OrderCursor, OrderStore, SagaLease } from "./order-store.js";

export interface SqliteOrderStoreOptions {
  /**
   * How long a write waits for another connection's lock before failing with
   * SQLITE_BUSY. Default 5000 ms: far above any write this service makes, so
   * it only trips when something is genuinely stuck.
   */
  readonly busyTimeoutMs?: number;
  /**
   * Called after a write that recorded order events has committed, to wake
   * the outbox relay at once. Default: nothing (the relay polls).
   */
  readonly onEventsCommitted?: () => void;
}

export interface SqliteOrderStore extends OrderStore {
  /** The connection (tests look into it). */
  readonly db: Database.Database;
  /** A trivial query, for readiness: throws at once when the database is closed or unusable. */
  ping(): void;
}

/** Opens (creating and migrating as needed) the orders database at `path`. */
export function openSqliteOrderStore(path: string, options: SqliteOrderStoreOptions = {}): SqliteOrderStore {
  const db = openDatabase(path, { name: "orders", migrations: migrations, busyTimeoutMs: options.busyTimeoutMs });
  const session = new SqliteSession(db);

  const insert = db.prepare(
    `INSERT INTO orders (order_id, customer_id, request_id, request_fingerprint, lines, total_minor, currency_code,
       state, cancel_reason, cancel_detail, payment_id, cancel_requested, saga_step, undo, card_token, created_at, updated_at,
       lease_owner, lease_expires_at)
     VALUES (@order_id, @customer_id, @request_id, @request_fingerprint, @lines, @total_minor, @currency_code,
       @state, @cancel_reason, @cancel_detail, @payment_id, @cancel_requested, @saga_step, @undo, @card_token, @created_at, @updated_at,
       @lease_owner, @lease_expires_at)
     ON CONFLICT (customer_id, request_id) DO NOTHING`,
  );
  const get = db.prepare<[string], OrderRow>(`SELECT * FROM orders WHERE order_id = ?`);
  const findByRequest = db.prepare<[string, string], OrderRow>(
    `SELECT * FROM orders WHERE customer_id = ? AND request_id = ?`,
  );
  const firstPage = db.prepare<[string, number], OrderRow>(
    `SELECT * FROM orders WHERE customer_id = ? ORDER BY created_at DESC, order_id DESC LIMIT ?`,
  );
  const nextPage = db.prepare<[string, number, number, string, number], OrderRow>(
    `SELECT * FROM orders WHERE customer_id = ? AND (created_at < ? OR (created_at = ? AND order_id < ?))
     ORDER BY created_at DESC, order_id DESC LIMIT ?`,
  );
  const resumable = db
    .prepare<[number], string>(
      `SELECT order_id FROM orders WHERE state = 'PENDING' AND (lease_owner IS NULL OR lease_expires_at < ?)
       ORDER BY created_at, order_id`,
    )
    .pluck();
  const update = db.prepare(
    `UPDATE orders SET state = @state, saga_step = @saga_step, undo = @undo, payment_id = @payment_id,
       card_token = @card_token, cancel_reason = @cancel_reason, cancel_detail = @cancel_detail, updated_at = @updated_at,
       lease_owner = CASE WHEN @saga_step = 'DONE' THEN NULL ELSE lease_owner END,
       lease_expires_at = CASE WHEN @saga_step = 'DONE' THEN NULL ELSE lease_expires_at END
     WHERE order_id = @order_id AND saga_step = @expected_step AND (lease_owner IS NULL OR lease_owner = @owner)`,
  );
  const takeLease = db.prepare<[string, number, string, string, number]>(
    `UPDATE orders SET lease_owner = ?, lease_expires_at = ?
     WHERE order_id = ? AND state = 'PENDING' AND (lease_owner IS NULL OR lease_owner = ? OR lease_expires_at < ?)`,
  );
  const releaseLease = db.prepare<[string, string]>(
    "UPDATE orders SET lease_owner = NULL, lease_expires_at = NULL WHERE order_id = ? AND lease_owner = ?",
  );
  const requestCancel = db.prepare<[number, string]>(
    `UPDATE orders SET cancel_requested = 1, updated_at = ? WHERE order_id = ? AND state = 'PENDING'`,
  );

  const ping = db.prepare("SELECT 1");

  /**
   * Runs `write` and, when it changed the row, records `events` about `order`
   * (as written) in the outbox, in one transaction; once that has committed,
   * wakes the relay if there were events. Returns whether the row changed.
   */
  const writeInTransaction = db.transaction((write: () => boolean, order: Order, events: readonly OrderEvent[]): boolean => {
    if (!write()) {
      return false;
    }
    for (const event of events) {
      appendToOutbox(db, ordersStream, orderEventEnvelope(event, order));
    }
    return true;
  });
  const writeWithEvents = (write: () => boolean, order: Order, events: readonly OrderEvent[]): boolean => {
    const changed = writeInTransaction(write, order, events);
    if (changed && events.length > 0) {
      options.onEventsCommitted?.();
    }
    return changed;
  };

  const events = sqliteEventStores(session);
  return {
    db,
    events,
    insert: (order, orderEvents = [], lease?: SagaLease) =>
      session.run(() =>
        writeWithEvents(
          () => insert.run({ ...toRow(order), lease_owner: lease?.owner ?? null, lease_expires_at: lease?.untilMs ?? null }).changes === 1,
          order,
          orderEvents,
        ),
      ),
    get: (orderId) => session.run(() => fromRow(get.get(orderId))),
    findByRequest: (customerId, requestId) => session.run(() => fromRow(findByRequest.get(customerId, requestId))),
    listByCustomer: (customerId, limit, cursor?: OrderCursor) =>
      session.run(() => {
        const rows =
          cursor === undefined
            ? firstPage.all(customerId, limit)
            : nextPage.all(customerId, cursor.createdAt.getTime(), cursor.createdAt.getTime(), cursor.orderId, limit);
        return rows.map(toOrder);
      }),
    resumableOrderIds: (nowMs) => session.run(() => resumable.all(nowMs)),
    update: (order, expectedStep, orderEvents = [], owner) =>
      session.run(() => {
        // The statement leaves cancel_requested alone: CancelOrder owns it.
        const write = (): boolean => update.run({ ...toRow(order), expected_step: expectedStep, owner: owner ?? null }).changes === 1;
        if (!writeWithEvents(write, order, orderEvents)) {
          return undefined;
        }
        return fromRow(get.get(order.orderId));
      }),
    requestCancel: (orderId, at) =>
      session.run(() => {
        requestCancel.run(at.getTime(), orderId);
      }),
    takeLease: (orderId, lease, nowMs) => session.run(() => takeLease.run(lease.owner, lease.untilMs, orderId, lease.owner, nowMs).changes === 1),
    releaseLease: (orderId, owner) =>
      session.run(() => {
        releaseLease.run(orderId, owner);
      }),
    ping() {
      ping.get();
    },
    async close() {
      session.close();
    },
  };
}

